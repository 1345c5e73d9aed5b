package wire

import (
	"bytes"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

const contractExample = `{"v":1,"event":["anvil","label","submitted"],"time":"2026-12-01T10:30:45.123Z",
 "measurements":{"duration_ms":245},
 "metadata":{"queue_id":"queue_123","assignment_id":"asg_456","labeler_id":"user_789"},
 "node":"anvil@10.0.0.5",
 "trace":{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","parent_span_id":"b7ad6b7169203331"}}`

var received = time.Date(2026, 12, 1, 10, 30, 46, 0, time.UTC)

func TestDecodeContractExample(t *testing.T) {
	d := NewDecoder("telemetry")
	ev, err := d.Decode("telemetry.anvil.label.submitted", []byte(contractExample), "", received)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if ev.Name != "anvil.label.submitted" || strings.Join(ev.Segments, "|") != "anvil|label|submitted" || ev.App() != "anvil" {
		t.Errorf("name %q segments %q", ev.Name, ev.Segments)
	}
	wantTime := time.Date(2026, 12, 1, 10, 30, 45, 123e6, time.UTC)
	if !ev.HasTime || !ev.Time.Equal(wantTime) || ev.Time.Location() != time.UTC {
		t.Errorf("time %v hasTime %v, want %v", ev.Time, ev.HasTime, wantTime)
	}
	if !ev.Received.Equal(received) {
		t.Errorf("received %v", ev.Received)
	}
	if v, ok := ev.Measure("duration_ms"); !ok || v != 245 {
		t.Errorf("duration_ms = %v, %v", v, ok)
	}
	for k, want := range map[string]string{"queue_id": "queue_123", "assignment_id": "asg_456", "labeler_id": "user_789"} {
		if got, ok := ev.Meta(k); !ok || got != want {
			t.Errorf("meta %s = %q, %v", k, got, ok)
		}
	}
	if len(ev.Metadata) != 3 || ev.Metadata[0].Key != "queue_id" {
		t.Errorf("metadata order/size: %+v", ev.Metadata)
	}
	if ev.Node != "anvil@10.0.0.5" {
		t.Errorf("node %q", ev.Node)
	}
	want := Trace{TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", SpanID: "00f067aa0ba902b7", ParentSpanID: "b7ad6b7169203331"}
	if ev.Trace != want {
		t.Errorf("trace %+v", ev.Trace)
	}
	if ev.StreamSeq != 0 {
		t.Errorf("StreamSeq %d", ev.StreamSeq)
	}
}

func TestDecodeValidVariants(t *testing.T) {
	const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	tests := []struct {
		name, subject, body, traceparent string
		check                            func(t *testing.T, ev Event)
	}{
		{"no time uses received", "telemetry.forge.sample.created",
			`{"v":1,"event":["forge","sample","created"],"measurements":{},"metadata":{"sample_id":"s1","pipeline_id":"p1"}}`, "",
			func(t *testing.T, ev Event) {
				if ev.HasTime || !ev.Time.Equal(received) {
					t.Errorf("time %v hasTime %v", ev.Time, ev.HasTime)
				}
				if ev.Measurements != nil {
					t.Errorf("measurements %v", ev.Measurements)
				}
			}},
		{"time without fraction and with offset becomes UTC", "telemetry.anvil.queue.modified",
			`{"v":1,"event":["anvil","queue","modified"],"time":"2026-12-01T12:30:45+02:00","measurements":{},"metadata":{}}`, "",
			func(t *testing.T, ev Event) {
				want := time.Date(2026, 12, 1, 10, 30, 45, 0, time.UTC)
				if !ev.Time.Equal(want) || ev.Time.Location() != time.UTC {
					t.Errorf("time %v", ev.Time)
				}
			}},
		{"nanosecond fraction", "telemetry.anvil.queue.modified",
			`{"v":1,"event":["anvil","queue","modified"],"time":"2026-12-01T10:30:45.123456789Z","measurements":{},"metadata":{}}`, "",
			func(t *testing.T, ev Event) {
				if ev.Time.Nanosecond() != 123456789 {
					t.Errorf("time %v", ev.Time)
				}
			}},
		{"metadata scalars become JSON text", "telemetry.ingot.forge_client.get_sample",
			`{"v":1,"event":["ingot","forge_client","get_sample"],"measurements":{"duration_ms":1.5,"payload_bytes":2e3},
			  "metadata":{"n":12,"f":-0.5e1,"ok":true,"no":false,"nil":null,"result":"error","reason":"timeout"}}`, "",
			func(t *testing.T, ev Event) {
				for k, want := range map[string]string{"n": "12", "f": "-0.5e1", "ok": "true", "no": "false", "nil": "null", "result": "error", "reason": "timeout"} {
					if got, _ := ev.Meta(k); got != want {
						t.Errorf("meta %s = %q, want %q", k, got, want)
					}
				}
				if v, _ := ev.Measure("payload_bytes"); v != 2000 {
					t.Errorf("payload_bytes %v", v)
				}
				if !ev.IsError() {
					t.Error("IsError false")
				}
			}},
		{"traceparent header used when body has none", "telemetry.ingot.label.submit",
			`{"v":1,"event":["ingot","label","submit"],"measurements":{},"metadata":{}}`, tp,
			func(t *testing.T, ev Event) {
				if ev.Trace.TraceID != "0af7651916cd43dd8448eb211c80319c" || ev.Trace.SpanID != "b7ad6b7169203331" || ev.Trace.ParentSpanID != "" {
					t.Errorf("trace %+v", ev.Trace)
				}
			}},
		{"body trace wins over header", "telemetry.ingot.label.submit",
			`{"v":1,"event":["ingot","label","submit"],"measurements":{},"metadata":{},"trace":{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7"}}`, tp,
			func(t *testing.T, ev Event) {
				if ev.Trace.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" || ev.Trace.ParentSpanID != "" {
					t.Errorf("trace %+v", ev.Trace)
				}
			}},
		{"malformed traceparent ignored", "telemetry.ingot.label.submit",
			`{"v":1,"event":["ingot","label","submit"],"measurements":{},"metadata":{}}`, "00-XYZ-b7ad6b7169203331-01",
			func(t *testing.T, ev Event) {
				if ev.Trace != (Trace{}) {
					t.Errorf("trace %+v", ev.Trace)
				}
			}},
		{"unknown fields and null optionals ignored", "telemetry.acme.thing.happened",
			`{"v":1,"event":["acme","thing","happened"],"measurements":{},"metadata":{},"extra":[1,{"x":2}],"node":null,"time":null,"trace":null}`, "",
			func(t *testing.T, ev Event) {
				if ev.App() != "acme" || ev.Node != "" || ev.HasTime {
					t.Errorf("%+v", ev)
				}
			}},
		{"hostile strings are sanitised and capped", "telemetry.ingot.anvil_client.submit_label",
			`{"v":1,"event":["ingot","anvil_client","submit_label"],"measurements":{"duration_ms":3},
			  "metadata":{"result":"error","reason":"\u001b[2J\u202eboom\nline","user_id":"` + strings.Repeat("x", 300) + `","k\u0007":"v"},"node":"n\u009b1"}`, "",
			func(t *testing.T, ev Event) {
				r, _ := ev.Meta("reason")
				if r != `\x1b[2J\u202eboom\nline` {
					t.Errorf("reason %q", r)
				}
				u, _ := ev.Meta("user_id")
				if n := len([]rune(u)); n != MaxValueRunes || !strings.HasSuffix(u, "…") {
					t.Errorf("user_id has %d runes", n)
				}
				if v, ok := ev.Meta(`k\x07`); !ok || v != "v" {
					t.Errorf("escaped key missing: %+v", ev.Metadata)
				}
				if ev.Node != `n\u009b1` {
					t.Errorf("node %q", ev.Node)
				}
			}},
		{"six segments", "telemetry.a.b.c.d.e.f",
			`{"v":1,"event":["a","b","c","d","e","f"],"measurements":{},"metadata":{}}`, "",
			func(t *testing.T, ev Event) {
				if len(ev.Segments) != 6 {
					t.Errorf("segments %q", ev.Segments)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := NewDecoder("telemetry").Decode(tc.subject, []byte(tc.body), tc.traceparent, received)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			assertEventSafe(t, ev)
			tc.check(t, ev)
		})
	}
}

// badCases has one or more payloads per reason; FuzzDecode uses them as seeds too.
var badCases = []struct {
	reason  Reason
	subject string
	body    string
	detail  string // substring expected in Detail
}{
	{ReasonTooLarge, "telemetry.a.b", `{"v":1,"event":["a","b"],"measurements":{},"metadata":{"x":"` + strings.Repeat("y", MaxPayloadBytes) + `"}}`, "limit 65536"},
	{ReasonBadUTF8, "telemetry.a.b", "{\"v\":1,\"event\":[\"a\",\"b\"],\"measurements\":{},\"metadata\":{\"x\":\"\xff\"}}", "UTF-8"},
	{ReasonBadUTF8, "telemetry.a.\xff", `{"v":1,"event":["a","b"],"measurements":{},"metadata":{}}`, "subject"},
	{ReasonBadUTF8, "telemetry.a.\xff", `{"v":1,"event":["a","b"],"measurements":{},"metadata":{}} x`, "subject"},
	{ReasonBadUTF8, "telemetry.a.\xff", `{"v":2,"event":["a","b"],"measurements":{},"metadata":{}}`, "subject"},
	{ReasonNotJSON, "telemetry.a.b", `{"v":1,`, ""},
	{ReasonNotJSON, "telemetry.a.b", `hello`, ""},
	{ReasonNotJSON, "telemetry.a.b", ``, ""},
	{ReasonNotObject, "telemetry.a.b", `[1,2]`, "array"},
	{ReasonNotObject, "telemetry.a.b", `"s"`, "string"},
	{ReasonMissingField, "telemetry.a.b", `{"event":["a","b"],"measurements":{},"metadata":{}}`, "v"},
	{ReasonMissingField, "telemetry.a.b", `{"v":1,"measurements":{},"metadata":{}}`, "event"},
	{ReasonMissingField, "telemetry.a.b", `{"v":1,"event":["a","b"],"metadata":{}}`, "measurements"},
	{ReasonMissingField, "telemetry.a.b", `{"v":1,"event":["a","b"],"measurements":{}}`, "metadata"},
	{ReasonBadType, "telemetry.a.b", `{"v":"1","event":["a","b"],"measurements":{},"metadata":{}}`, "v:"},
	{ReasonBadType, "telemetry.a.b", `{"v":1,"event":"a.b","measurements":{},"metadata":{}}`, "event:"},
	{ReasonBadType, "telemetry.a.b", `{"v":1,"event":["a",2],"measurements":{},"metadata":{}}`, "event[1]"},
	{ReasonBadType, "telemetry.a.b", `{"v":1,"event":["a","b"],"measurements":[],"metadata":{}}`, "measurements:"},
	{ReasonBadType, "telemetry.a.b", `{"v":1,"event":["a","b"],"measurements":{"d":"3"},"metadata":{}}`, "measurements.d"},
	{ReasonBadType, "telemetry.a.b", `{"v":1,"event":["a","b"],"measurements":{"d":NaN},"metadata":{}}`, "measurements.d"},
	{ReasonBadType, "telemetry.a.b", `{"v":1,"event":["a","b"],"measurements":{"d":-Inf},"metadata":{}}`, "measurements.d"},
	{ReasonBadType, "telemetry.a.b", `{"v":1,"event":["a","b"],"measurements":{"d":1e999},"metadata":{}}`, "measurements.d"},
	{ReasonBadType, "telemetry.a.b", `{"v":1,"event":["a","b"],"measurements":{},"metadata":null}`, "metadata:"},
	{ReasonBadType, "telemetry.a.b", `{"v":1,"event":["a","b"],"measurements":{},"metadata":{"q":{"x":1}}}`, "metadata.q"},
	{ReasonBadType, "telemetry.a.b", `{"v":1,"event":["a","b"],"measurements":{},"metadata":{"q":[1]}}`, "metadata.q"},
	{ReasonBadType, "telemetry.a.b", `{"v":1,"event":["a","b"],"measurements":{},"metadata":{},"time":12}`, "time:"},
	{ReasonBadType, "telemetry.a.b", `{"v":1,"event":["a","b"],"measurements":{},"metadata":{},"node":1}`, "node:"},
	{ReasonBadType, "telemetry.a.b", `{"v":1,"event":["a","b"],"measurements":{},"metadata":{},"trace":"x"}`, "trace:"},
	{ReasonBadVersion, "telemetry.a.b", `{"v":2,"event":["a","b"],"measurements":{},"metadata":{}}`, "v is 2"},
	{ReasonBadVersion, "telemetry.a.b", `{"v":1.5,"event":["a","b"],"measurements":{},"metadata":{}}`, "v is 1.5"},
	{ReasonBadEventName, "telemetry.a", `{"v":1,"event":["a"],"measurements":{},"metadata":{}}`, "1 segments"},
	{ReasonBadEventName, "telemetry.a.b.c.d.e.f.g", `{"v":1,"event":["a","b","c","d","e","f","g"],"measurements":{},"metadata":{}}`, "7 segments"},
	{ReasonBadEventName, "telemetry.A.b", `{"v":1,"event":["A","b"],"measurements":{},"metadata":{}}`, "event[0]"},
	{ReasonBadEventName, "telemetry.a.b", `{"v":1,"event":["a",""],"measurements":{},"metadata":{}}`, "event[1]"},
	{ReasonBadEventName, "telemetry.a.b", `{"v":1,"event":["a","b.c"],"measurements":{},"metadata":{}}`, "event[1]"},
	{ReasonSubjectMismatch, "telemetry.a.c", `{"v":1,"event":["a","b"],"measurements":{},"metadata":{}}`, "telemetry.a.c"},
	{ReasonSubjectMismatch, "telemetry.a.b.c", `{"v":1,"event":["a","b"],"measurements":{},"metadata":{}}`, ""},
	{ReasonSubjectMismatch, "other.a.b", `{"v":1,"event":["a","b"],"measurements":{},"metadata":{}}`, ""},
	{ReasonSubjectMismatch, "telemetry.ab", `{"v":1,"event":["a","b"],"measurements":{},"metadata":{}}`, ""},
	{ReasonBadTime, "telemetry.a.b", `{"v":1,"event":["a","b"],"measurements":{},"metadata":{},"time":"yesterday"}`, "yesterday"},
	{ReasonBadTime, "telemetry.a.b", `{"v":1,"event":["a","b"],"measurements":{},"metadata":{},"time":"2026-13-01T00:00:00Z"}`, ""},
	{ReasonBadTime, "telemetry.a.b", `{"v":1,"event":["a","b"],"measurements":{},"metadata":{},"time":"2026-12-01 10:30:45Z"}`, ""},
	{ReasonBadTrace, "telemetry.a.b", `{"v":1,"event":["a","b"],"measurements":{},"metadata":{},"trace":{"trace_id":"4BF92F3577B34DA6A3CE929D0E0E4736","span_id":"00f067aa0ba902b7"}}`, "trace.trace_id"},
	{ReasonBadTrace, "telemetry.a.b", `{"v":1,"event":["a","b"],"measurements":{},"metadata":{},"trace":{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa"}}`, "trace.span_id"},
	{ReasonBadTrace, "telemetry.a.b", `{"v":1,"event":["a","b"],"measurements":{},"metadata":{},"trace":{"span_id":"00f067aa0ba902b7"}}`, "trace.trace_id missing"},
	{ReasonBadTrace, "telemetry.a.b", `{"v":1,"event":["a","b"],"measurements":{},"metadata":{},"trace":{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","parent_span_id":"zzzzzzzzzzzzzzzz"}}`, "parent_span_id"},
	// Ranges of measurements (docs/telemetry-wire.md): the values the issue found wrapped or
	// exported as nonsense.
	{ReasonBadValue, "telemetry.anvil.queue.stats_updated", `{"v":1,"event":["anvil","queue","stats_updated"],"measurements":{"active_labelers":1e300},"metadata":{}}`, "measurements.active_labelers: 1e+300"},
	{ReasonBadValue, "telemetry.anvil.queue.stats_updated", `{"v":1,"event":["anvil","queue","stats_updated"],"measurements":{"pending":1e308},"metadata":{}}`, "measurements.pending"},
	{ReasonBadValue, "telemetry.anvil.queue.stats_updated", `{"v":1,"event":["anvil","queue","stats_updated"],"measurements":{"in_progress":-1},"metadata":{}}`, "measurements.in_progress: -1 is not a whole number"},
	{ReasonBadValue, "telemetry.anvil.queue.stats_updated", `{"v":1,"event":["anvil","queue","stats_updated"],"measurements":{"completed":2.5},"metadata":{}}`, "measurements.completed"},
	{ReasonBadValue, "telemetry.anvil.queue.stats_updated", `{"v":1,"event":["anvil","queue","stats_updated"],"measurements":{"pending":9007199254740994},"metadata":{}}`, "2^53"},
	{ReasonBadValue, "telemetry.anvil.label.submitted", `{"v":1,"event":["anvil","label","submitted"],"measurements":{"duration_ms":-5},"metadata":{}}`, "measurements.duration_ms: -5 is outside the duration range"},
	{ReasonBadValue, "telemetry.ingot.label.submit", `{"v":1,"event":["ingot","label","submit"],"measurements":{"client_latency_ms":86400001},"metadata":{}}`, "client_latency_ms"},
	{ReasonBadValue, "telemetry.ingot.assignment.abandoned", `{"v":1,"event":["ingot","assignment","abandoned"],"measurements":{"held_ms":1e19},"metadata":{}}`, "held_ms"},
	{ReasonBadValue, "telemetry.anvil.agreement.calculated", `{"v":1,"event":["anvil","agreement","calculated"],"measurements":{"score":1.5},"metadata":{}}`, "score range"},
	{ReasonBadValue, "telemetry.forge.artifact.uploaded", `{"v":1,"event":["forge","artifact","uploaded"],"measurements":{"bytes":-1,"duration_ms":3},"metadata":{}}`, "measurements.bytes"},
}

// TestDecodeMeasurementRangeEdges accepts the bounds themselves and leaves keys the contract
// gives no range (only finiteness) alone.
func TestDecodeMeasurementRangeEdges(t *testing.T) {
	d := NewDecoder("telemetry")
	for _, m := range []string{
		`"duration_ms":0`, `"duration_ms":86400000`, `"duration_ms":0.25`, `"held_ms":1e3`,
		`"pending":0`, `"pending":9007199254740992`, `"active_labelers":12`, `"rows":1e6`,
		`"score":-1`, `"score":1`, `"score":0.734`,
		`"temperature":-40`, `"ratio":1e300`, // unknown keys: finite is enough
	} {
		body := `{"v":1,"event":["a","b"],"measurements":{` + m + `},"metadata":{}}`
		if _, err := d.Decode("telemetry.a.b", []byte(body), "", received); err != nil {
			t.Errorf("%s: %v, want valid", m, err)
		}
	}
}

func TestDecodeBadReasons(t *testing.T) {
	seen := map[Reason]bool{}
	d := NewDecoder("telemetry") // one decoder for all: state must not leak between messages
	for _, tc := range badCases {
		_, err := d.Decode(tc.subject, []byte(tc.body), "", received)
		if err == nil {
			t.Errorf("%s: %.60q decoded, want error", tc.reason, tc.body)
			continue
		}
		seen[err.Reason] = true
		if err.Reason != tc.reason || !strings.Contains(err.Detail, tc.detail) {
			t.Errorf("%.60q: got %s %q, want %s containing %q", tc.body, err.Reason, err.Detail, tc.reason, tc.detail)
		}
		if !IsSafe(err.Detail) || len([]rune(err.Detail)) > MaxDetailRunes {
			t.Errorf("unsafe or long detail %q", err.Detail)
		}
	}
	for _, r := range AllReasons {
		if !seen[r] {
			t.Errorf("no case produced reason %s", r)
		}
	}
	// The decoder still works after all that.
	if _, err := d.Decode("telemetry.anvil.label.submitted", []byte(contractExample), "", received); err != nil {
		t.Fatalf("valid after invalid: %v", err)
	}
}

func TestDecodeEmptyPrefix(t *testing.T) {
	ev, err := NewDecoder("").Decode("anvil.label.submitted", []byte(contractExample), "", received)
	if err != nil || ev.Name != "anvil.label.submitted" {
		t.Fatalf("got %q, %v", ev.Name, err)
	}
}

func TestDecodedStringsDoNotAliasParser(t *testing.T) {
	d := NewDecoder("telemetry")
	first, err := d.Decode("telemetry.anvil.label.submitted", []byte(contractExample), "", received)
	if err != nil {
		t.Fatal(err)
	}
	other := strings.NewReplacer("queue_123", "QQQQQQQQQ", "anvil@10.0.0.5", "XXXXXXXXXXXXXX", "duration_ms", "DDDDDDDDDDD").Replace(contractExample)
	// The events' strings share blocks of the decoder's: neither a refused message (whose
	// bytes the next event reuses), nor enough events to fill several blocks, nor one that
	// outgrows its block may write where an earlier event's strings are.
	refused := strings.Replace(other, `"measurements":{`, `"measurements":{"x":"y",`, 1)
	huge := strings.Replace(other, `"node":"`, `"metadata2":0,"node":"`+strings.Repeat("N", 200), 1)
	huge = strings.Replace(huge, `"queue_id":"`, `"reason":"`+strings.Repeat("R", 1000)+`","queue_id":"`, 1)
	for i := range 3 * arenaBlock / 64 {
		body := other
		switch i % 7 {
		case 3:
			body = refused
		case 5:
			body = huge
		}
		if _, err := d.Decode("telemetry.anvil.label.submitted", []byte(body), "", received); (err == nil) == (body == refused) {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if q, _ := first.Meta("queue_id"); q != "queue_123" || first.Node != "anvil@10.0.0.5" || first.Measurements[0].Key != "duration_ms" {
		t.Fatalf("first event changed by a later decode: %+v", first)
	}
}

// TestFastTimeMatchesTimeParse: the allocation-free path for "…Z" timestamps gives what
// time.Parse gives, over every month's edges, leap years and fractions of each length.
func TestFastTimeMatchesTimeParse(t *testing.T) {
	checked := 0
	for _, year := range []int{0, 1, 1600, 1899, 1900, 1969, 1970, 1999, 2000, 2024, 2026, 2100, 2400, 9999} {
		for month := 1; month <= 12; month++ {
			for _, day := range []int{1, 15, 28, 29, 30, 31} {
				for _, frac := range []string{"", ".1", ".123", ".123456", ".123456789"} {
					s := fmt.Sprintf("%04d-%02d-%02dT23:59:58%sZ", year, month, day, frac)
					want, wantErr := time.Parse(time.RFC3339Nano, s)
					got, ok := parseUTCFast([]byte(s))
					if wantErr != nil {
						if ok {
							t.Errorf("%s: fast path accepted what time.Parse refuses", s)
						}
						continue
					}
					if !ok || !got.Equal(want) || got.Location() != time.UTC {
						t.Errorf("%s: fast path %v (%v), time.Parse %v", s, got, ok, want)
					}
					checked++
				}
			}
		}
	}
	if checked < 1000 {
		t.Fatalf("only %d timestamps checked", checked)
	}
}

// TestSubjectUTF8WithInvalidPrefix: an event whose name matches the subject proves the
// subject valid only after a valid prefix; with an invalid one the subject is still checked.
func TestSubjectUTF8WithInvalidPrefix(t *testing.T) {
	d := NewDecoder("t\xff")
	_, err := d.Decode("t\xff.a.b", []byte(`{"v":1,"event":["a","b"],"measurements":{},"metadata":{}}`), "", received)
	if err == nil || err.Reason != ReasonBadUTF8 {
		t.Fatalf("got %v, want bad_utf8", err)
	}
}

// TestCarvedSlicesAreIsolated: events share the blocks their metadata and measurements are
// carved from, so an append to one event's slices must not reach the next event's.
func TestCarvedSlicesAreIsolated(t *testing.T) {
	d := NewDecoder("telemetry")
	first, err := d.Decode("telemetry.anvil.label.submitted", []byte(contractExample), "", received)
	if err != nil {
		t.Fatal(err)
	}
	second, err := d.Decode("telemetry.anvil.label.submitted", []byte(contractExample), "", received)
	if err != nil {
		t.Fatal(err)
	}
	_ = append(first.Metadata, KV{Key: "x", Value: "y"})
	_ = append(first.Measurements, Measurement{Key: "x", Value: -1})
	_ = append(first.Raw, 'x')
	if !reflect.DeepEqual(first, second) {
		t.Fatalf("an append to one event changed the next:\n%+v\n%+v", first, second)
	}
	// An audit event's Raw shares the block of the events' strings: the consumer owns its
	// bytes, and writing them changes no string of any event.
	if len(first.Raw) == 0 {
		t.Fatal("the contract example is an audit event, and has no Raw")
	}
	for i := range first.Raw {
		first.Raw[i] = 'Z'
	}
	third, err := d.Decode("telemetry.anvil.label.submitted", []byte(contractExample), "", received)
	if err != nil {
		t.Fatal(err)
	}
	first.Raw = third.Raw
	if !reflect.DeepEqual(first, third) || !reflect.DeepEqual(second, third) {
		t.Fatalf("a write to one event's Raw changed an event:\n%+v\n%+v\n%+v", first, second, third)
	}
}

func TestInternTablesAreBounded(t *testing.T) {
	d := NewDecoder("telemetry")
	for i := range 3 * maxInternedKeys {
		seg := "e" + strings.Repeat("x", i%7) + strconv.Itoa(i)
		body := `{"v":1,"event":["a","` + seg + `"],"measurements":{"m` + strconv.Itoa(i) + `":1},"metadata":{"k` + strconv.Itoa(i) + `":"v"}}`
		if _, err := d.Decode("telemetry.a."+seg, []byte(body), "", received); err != nil {
			t.Fatal(err)
		}
		if len(d.names) > maxInternedNames || len(d.keys) > maxInternedKeys {
			t.Fatalf("intern tables grew to %d names, %d keys", len(d.names), len(d.keys))
		}
	}
}

func assertEventSafe(t testing.TB, ev Event) {
	t.Helper()
	check := func(what, s string) {
		if !IsSafe(s) {
			t.Errorf("%s not safe: %q", what, s)
		}
	}
	check("name", ev.Name)
	for _, s := range ev.Segments {
		check("segment", s)
	}
	for _, kv := range ev.Metadata {
		check("meta key", kv.Key)
		check("meta value", kv.Value)
		if n := len([]rune(kv.Value)); n > MaxReasonRunes {
			t.Errorf("meta value of %d runes", n)
		}
	}
	for _, m := range ev.Measurements {
		check("measurement key", m.Key)
	}
	check("node", ev.Node)
	check("trace", ev.Trace.TraceID+ev.Trace.SpanID+ev.Trace.ParentSpanID)
}

// fastjson tolerates these; the contract's "not JSON" does not.
func TestStrictJSONRejectsWhatRFC8259Forbids(t *testing.T) {
	d := NewDecoder("telemetry")
	bad := map[string]string{
		"invalid escape":          `{"v":1,"event":["anvil","label","submitted"],"measurements":{},"metadata":{"queue_id":"qq\qz"}}`,
		"escaped x":               `{"v":1,"event":["anvil","label","submitted"],"measurements":{},"metadata":{"queue_id":"\xff"}}`,
		"short unicode escape":    `{"v":1,"event":["anvil","label","submitted"],"measurements":{},"metadata":{"queue_id":"\u12"}}`,
		"raw ESC in a string":     "{\"v\":1,\"event\":[\"anvil\",\"label\",\"submitted\"],\"measurements\":{},\"metadata\":{\"queue_id\":\"a\x1b[2Jb\"}}",
		"raw newline in a string": "{\"v\":1,\"event\":[\"anvil\",\"label\",\"submitted\"],\"measurements\":{},\"metadata\":{\"queue_id\":\"a\nb\"}}",
	}
	for name, payload := range bad {
		_, err := d.Decode("telemetry.anvil.label.submitted", []byte(payload), "", time.Now())
		if err == nil || err.Reason != ReasonNotJSON {
			t.Errorf("%s: got %v, want not_json", name, err)
		} else if !IsSafe(err.Detail) {
			t.Errorf("%s: detail not safe: %q", name, err.Detail)
		}
	}
	good := `{"v":1,"event":["anvil","label","submitted"],"measurements":{},"metadata":{"queue_id":"a\"b\\c\/d\u00e9\n\t","x":"\u001b"}}` + "\n"
	ev, err := d.Decode("telemetry.anvil.label.submitted", []byte(good), "", time.Now())
	if err != nil {
		t.Fatalf("valid escapes rejected: %v", err)
	}
	if q, _ := ev.Meta("queue_id"); q != `a"b\c/dé\n ` {
		t.Errorf("queue_id = %q", q)
	}
}

func TestHasControlByte(t *testing.T) {
	for n := 0; n < 20; n++ {
		clean := bytes.Repeat([]byte{'a'}, n)
		if hasControlByte(clean) {
			t.Fatalf("len %d: false positive", n)
		}
		for pos := 0; pos < n; pos++ {
			for _, c := range []byte{0x00, 0x09, 0x0a, 0x1b, 0x1f} {
				b := bytes.Clone(clean)
				b[pos] = c
				if !hasControlByte(b) {
					t.Fatalf("len %d: byte %#x at %d missed", n, c, pos)
				}
			}
			for _, c := range []byte{0x20, 0x7f, 0x80, 0xff, 0xa0} {
				b := bytes.Clone(clean)
				b[pos] = c
				if hasControlByte(b) {
					t.Fatalf("len %d: byte %#x at %d flagged", n, c, pos)
				}
			}
		}
	}
}

// TestDecodeMatchesReference runs the differential fuzz seeds as a plain test.
func TestDecodeMatchesReference(t *testing.T) {
	d, ref := NewDecoder("telemetry"), newRefDecoder("telemetry")
	for _, seed := range referenceSeeds() {
		compareWithReference(t, d, ref, seed.subject, []byte(seed.body), seed.traceparent)
	}
}

// TestIsLowerHexBytes: the word-at-a-time check agrees with the byte test for every byte
// value at every position of trace and span ids, and of lengths that leave a tail.
func TestIsLowerHexBytes(t *testing.T) {
	for _, size := range []int{0, 1, 7, 8, 9, 16, 31, 32} {
		id := []byte(strings.Repeat("0123456789abcdef", 3)[:size])
		if !isLowerHex(id) {
			t.Fatalf("%q refused", id)
		}
		for pos := range size {
			for c := range 256 {
				b := bytes.Clone(id)
				b[pos] = byte(c)
				want := c >= '0' && c <= '9' || c >= 'a' && c <= 'f'
				if got := isLowerHex(b); got != want {
					t.Fatalf("%q: got %v, want %v", b, got, want)
				}
				if got := isLowerHex(string(b)); got != want {
					t.Fatalf("string %q: got %v, want %v", b, got, want)
				}
			}
		}
	}
}

// TestMinuteCacheMatchesParse: timestamps through the decoder's minute cache parse as
// parseRFC3339 parses them, when the minute repeats, changes, or repeats with a bad rest.
func TestMinuteCacheMatchesParse(t *testing.T) {
	var c minuteCache
	for _, s := range []string{
		"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00:00Z",
		"2026-12-01T10:30:45.123Z", "2026-12-01T10:30:46Z", "2026-12-01T10:30:59.999999999Z",
		"2026-12-01T10:30:60Z", "2026-12-01T10:30:5xZ", "2026-12-01T10:30:45.Z", "2026-12-01T10:30:45.1234567890Z",
		"2026-12-01T10:30:45+02:00", "2026-12-01T10:31:00Z", "2026-12-01T10:30:45.5Z",
		"2026-02-29T10:30:45Z", "2024-02-29T10:30:45Z", "2024-02-29T10:30:45.1Z", "2024-02-29T10:30:45.1",
		"0000-01-01T00:00:00Z", "0000-01-01T00:00:01Z", "9999-12-31T23:59:59Z", "2024-02-29T10:30:45z",
	} {
		want, wantErr := parseRFC3339([]byte(s))
		got, err := c.parseRFC3339([]byte(s))
		if (err == nil) != (wantErr == nil) || !got.Equal(want) || got.Location() != want.Location() {
			t.Errorf("%s: cached %v (%v), uncached %v (%v)", s, got, err, want, wantErr)
		}
	}
}
