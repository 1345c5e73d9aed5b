package wire

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"unsafe"

	"github.com/nsai/ingot-top/internal/sim"
)

// shapeHits is how many payloads d has decoded through its templates.
func shapeHits(d *Decoder) uint64 {
	var n uint64
	for i := range d.shapes {
		for w := range d.shapes[i].ways {
			n += d.shapes[i].ways[w].hits
		}
	}
	return n
}

// decodeWithoutShapes decodes as a decoder that has never recorded a template: ref's
// templates are dropped first, so ref only ever takes the general path.
func decodeWithoutShapes(ref *Decoder, subject string, data []byte, traceparent string) (Event, *DecodeError) {
	ref.shapes = [shapeSets]shapeSet{}
	return ref.Decode(subject, data, traceparent, received)
}

// sameDecode fails t unless the two decodes gave the same event, or the same error (reason
// and detail).
func sameDecode(t testing.TB, what string, got Event, gotErr *DecodeError, want Event, wantErr *DecodeError) {
	t.Helper()
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("%s: with templates %v, without %v", what, gotErr, wantErr)
	}
	if gotErr != nil {
		if *gotErr != *wantErr {
			t.Fatalf("%s: with templates %s (%s), without %s (%s)", what, gotErr.Reason, gotErr.Detail, wantErr.Reason, wantErr.Detail)
		}
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\nwith templates %#v\n      without %#v", what, got, want)
	}
}

// Mutations of a simulated payload that a template could take for its own shape: other values
// in its holes (numbers of every spelling, strings that are not plain, too long, empty),
// other spellings of the trace, and changes to the structure around them.
var (
	numberHoleRe = regexp.MustCompile(`":(-?[0-9][0-9.eE+-]*)`)
	stringHoleRe = regexp.MustCompile(`":"([^"]*)"`)
	traceRe      = regexp.MustCompile(`,"trace":\{[^}]*\}`)
	parentRe     = regexp.MustCompile(`,"parent_span_id":"[0-9a-f]*"`)
)

var holeNumbers = []string{
	"0", "-0", "01", "1e3", "1E3", "1.", ".5", "1.5e2", "-1", "-1.5", "1.5", "86400000", "86400000.0001",
	"1e400", "-1e400", "0.1234567890123456", "12345678901234567", "9007199254740992", "9007199254740993",
	"2e53", "-", "-inf", "+1", "1e", "1.2.3", "1-", "0.000", "123456789012345.6", "1234567890123456",
}

var holeStrings = []string{
	"", "x", "ok", "error", `a\"b`, `\u0041`, `\\`, "é", "\x7f", "\x01", "\xff", " ", "2026-12-07T21:57:56Z",
	"2026-12-07T21:57:61.1Z", "2026-12-07T21:57:56.123+02:00", "2026-02-30T10:00:00Z", "0af7651916cd43dd8448eb211c80319c",
	"0AF7651916CD43DD8448EB211C80319C", "b7ad6b7169203331", strings.Repeat("v", MaxValueRunes),
	strings.Repeat("v", MaxValueRunes+1), strings.Repeat("r", MaxReasonRunes+1), strings.Repeat("é", 300),
}

func shapeMutations(body string) []string {
	var out []string
	// Each number hole, and each string, with each replacement (the first few holes of each
	// kind, to keep the count in check).
	for i, m := range numberHoleRe.FindAllStringSubmatchIndex(body, 4) {
		for j, n := range holeNumbers {
			if (i+j)%2 == 0 {
				out = append(out, body[:m[2]]+n+body[m[3]:])
			}
		}
	}
	for i, m := range stringHoleRe.FindAllStringSubmatchIndex(body, -1) {
		for j, s := range holeStrings {
			if (i+j)%3 == 0 {
				out = append(out, body[:m[2]]+s+body[m[3]:])
			}
		}
	}
	trace := `,"trace":{"trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"b7ad6b7169203331"}`
	withoutTrace := traceRe.ReplaceAllString(body, "")
	last := len(withoutTrace) - 1
	out = append(out,
		withoutTrace,
		withoutTrace[:last]+trace+"}",
		withoutTrace[:last]+`,"trace":null}`,
		withoutTrace[:last]+`,"trace":{"trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"b7ad6b7169203331","parent_span_id":null}}`,
		withoutTrace[:last]+`,"trace":{"span_id":"b7ad6b7169203331","trace_id":"0af7651916cd43dd8448eb211c80319c"}}`,
		withoutTrace[:last]+`,"trace":{"trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"b7ad6b716920333"}}`,
		withoutTrace[:last]+`,"trace":{"trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"b7ad6b7169203331","x":1}}`,
		withoutTrace[:last]+`,"trace":{"trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"b7ad6b7169203331"},"trace":null}`,
		withoutTrace[:last]+`,"trace":{ "trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"b7ad6b7169203331"}}`,
		withoutTrace[:last]+`,"trace":{}}`,
		withoutTrace[:last]+`,"trace":[]}`,
		withoutTrace[:last]+`,"trace" :null}`,
		`{"trace":null,`+withoutTrace[1:],
		parentRe.ReplaceAllString(body, ""),
		parentRe.ReplaceAllString(body, `,"parent_span_id":null`),
		parentRe.ReplaceAllString(body, `,"parent_span_id":"9dc4c4ffe88db21"`),
		parentRe.ReplaceAllString(body, `,"parent_span_id":"9dc4c4ffe88db21dd"`),
		parentRe.ReplaceAllString(body, `,"parent_span_id":"9dc4c4ffe88db21d","parent_span_id":"x"`),
		// Whitespace, duplicates, reordering, unknown fields, the end.
		strings.Replace(body, `":`, `": `, 1),
		strings.Replace(body, `,"`, `, "`, 3),
		strings.Replace(body, `{"v":1`, `{ "v":1`, 1),
		body+" ",
		body+"x",
		body+"}",
		body[:len(body)-1],
		body[:len(body)/2],
		body[:len(body)/3]+`"`,
		strings.Replace(body, `"time":`, `"time":"2026-12-07T21:57:56Z","time":`, 1),
		strings.Replace(body, `"node":`, `"node":null,"node":`, 1),
		strings.Replace(body, `"metadata":{`, `"metadata":{"queue_id":"first",`, 1),
		strings.Replace(body, `"measurements":{`, `"measurements":{"duration_ms":1,`, 1),
		strings.Replace(body, `"measurements":{`, `"measurements":{"x":"y",`, 1),
		strings.Replace(body, `"metadata":{`, `"metadata":{"n":12,"t":true,"f":false,"z":null,"o":{},`, 1),
		strings.Replace(body, `"metadata":{`, `"metadata":{"a":[1],`, 1),
		strings.Replace(body, `"v":1`, `"v":1.0`, 1),
		strings.Replace(body, `"v":1`, `"v":2`, 1),
		strings.Replace(body, `"v":1,`, ``, 1),
		strings.Replace(body, `"v":1`, `"v":1,"extra":{"a":[1,"b",null]}`, 1),
		strings.Replace(body, `"node":`, `"x":"`+strings.Repeat("x", 900)+`","node":`, 1),
		strings.Replace(body, `"event":["`, `"event":["X`, 1),
		strings.Replace(body, `"],"time"`, `","x"],"time"`, 1),
		strings.Replace(body, `"measurements":{`, `"measurements":{}, "m":{`, 1),
		strings.Replace(body, `"metadata":{`, `"metadata":{},"x":{`, 1),
	)
	// Time and node moved to the front: the same fields, another order.
	if i := strings.Index(body, `"time":"`); i > 0 {
		end := i + strings.IndexByte(body[i+8:], '"') + 9
		out = append(out, `{`+body[i:end]+`,`+body[1:i]+body[end+1:])
	}
	return out
}

// shapeSubjectVariants are subjects a template of subject could be mistaken for.
func shapeSubjectVariants(subject string) []string {
	return []string{subject, subject + "x", strings.Replace(subject, ".", ".x", 2), "telemetry", ""}
}

// TestShapesMatchGeneralPath: decoding through a template gives exactly what the general path
// gives (the same event, or the same reason and detail), for the simulator's payloads and for
// every mutation of them, each decoded after its original has recorded (or refreshed) the
// template, and then again on the same decoder. The decoder without templates is the general
// path alone.
func TestShapesMatchGeneralPath(t *testing.T) {
	msgs, err := sim.Pregenerate(sim.Config{Rate: 2000, Queues: 200, Labelers: 400, Seed: 11}, 4000)
	if err != nil {
		t.Fatal(err)
	}
	d, ref := NewDecoder("telemetry"), NewDecoder("telemetry")
	checked, accepted := 0, 0
	for i := range msgs {
		m := &msgs[i]
		traceparent := ""
		if m.Header != nil {
			traceparent = m.Header.Get("traceparent")
		}
		got, gotErr := d.Decode(m.Subject, m.Data, traceparent, received)
		want, wantErr := decodeWithoutShapes(ref, m.Subject, m.Data, traceparent)
		sameDecode(t, string(m.Data), got, gotErr, want, wantErr)
		if i%40 != 0 {
			continue
		}
		for _, body := range shapeMutations(string(m.Data)) {
			for _, tp := range []string{traceparent, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "00-bad"} {
				// Warm the template with the original, then the mutation, twice.
				d.Decode(m.Subject, m.Data, traceparent, received)
				want, wantErr := decodeWithoutShapes(ref, m.Subject, []byte(body), tp)
				for range 2 {
					got, gotErr := d.Decode(m.Subject, []byte(body), tp, received)
					sameDecode(t, fmt.Sprintf("%q after %q", body, m.Data), got, gotErr, want, wantErr)
				}
				checked++
				if wantErr == nil {
					accepted++
				}
			}
		}
		for _, subject := range shapeSubjectVariants(m.Subject) {
			d.Decode(m.Subject, m.Data, traceparent, received)
			got, gotErr := d.Decode(subject, m.Data, traceparent, received)
			want, wantErr := decodeWithoutShapes(ref, subject, m.Data, traceparent)
			sameDecode(t, fmt.Sprintf("%q on %q", m.Data, subject), got, gotErr, want, wantErr)
		}
	}
	if checked < 10_000 || accepted < checked/5 || accepted > checked*9/10 {
		t.Fatalf("%d mutations checked, %d of them accepted: the mutations no longer test both outcomes", checked, accepted)
	}
	if hits := shapeHits(d); hits < uint64(len(msgs)) {
		t.Fatalf("templates served %d payloads of %d and more mutations", hits, len(msgs))
	}
}

// TestShapesServeTheMix: the simulator's platform mix, compact payloads whose shapes repeat
// per event name (with and without a trace or its parent, an error's reason now and then),
// is nearly all decoded through templates.
func TestShapesServeTheMix(t *testing.T) {
	const n = 20_000
	msgs, err := sim.Pregenerate(sim.Config{Rate: 2000, Queues: 200, Labelers: 400, Seed: 7}, n)
	if err != nil {
		t.Fatal(err)
	}
	d := NewDecoder("telemetry")
	for i := range msgs {
		m := &msgs[i]
		traceparent := ""
		if m.Header != nil {
			traceparent = m.Header.Get("traceparent")
		}
		if _, err := d.Decode(m.Subject, m.Data, traceparent, received); err != nil {
			t.Fatal(err)
		}
	}
	if hits := shapeHits(d); hits < n*97/100 {
		t.Fatalf("templates served %d of %d payloads", hits, n)
	}
}

// TestShapeServesMutatedValues: a template serves payloads of its shape with other values in
// its holes, and gives each what the general path gives, not what the recorded payload had.
func TestShapeServesMutatedValues(t *testing.T) {
	const subject = "telemetry.ingot.anvil_client.fetch_assignment"
	base := `{"v":1,"event":["ingot","anvil_client","fetch_assignment"],"time":"2026-12-07T21:57:56.710840Z","measurements":{"duration_ms":20.301},"metadata":{"assignment_id":"asg_5o6x4rs3","queue_id":"queue_sentiment_en","user_id":"user_257","result":"ok"},"node":"ingot@10.0.0.2","trace":{"trace_id":"f5dfefceb57fe78987ef4d8a778d5360","span_id":"3fda1959feff6a58","parent_span_id":"9dc4c4ffe88db21d"}}`
	d, ref := NewDecoder("telemetry"), NewDecoder("telemetry")
	if _, err := d.Decode(subject, []byte(base), "", received); err != nil {
		t.Fatal(err)
	}
	r := strings.NewReplacer("20.301", "7", "asg_5o6x4rs3", "a", "queue_sentiment_en", "", "user_257", strings.Repeat("u", 300),
		"2026-12-07T21:57:56.710840Z", "2026-12-08T00:00:00Z", "ingot@10.0.0.2", "n",
		`,"parent_span_id":"9dc4c4ffe88db21d"`, "")
	served := 0
	for _, body := range []string{base, r.Replace(base), strings.Replace(base, `,"trace":{"trace_id":"f5dfefceb57fe78987ef4d8a778d5360","span_id":"3fda1959feff6a58","parent_span_id":"9dc4c4ffe88db21d"}`, "", 1)} {
		before := shapeHits(d)
		got, gotErr := d.Decode(subject, []byte(body), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", received)
		want, wantErr := decodeWithoutShapes(ref, subject, []byte(body), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
		sameDecode(t, body, got, gotErr, want, wantErr)
		if shapeHits(d) == before+1 {
			served++
		}
	}
	if served != 3 {
		t.Fatalf("the template served %d of 3 payloads of its shape", served)
	}
}

// TestShapeMemoryBounded: a hostile stream of ever new subjects and shapes, the largest a
// template takes, does not grow the templates past their fixed bound.
func TestShapeMemoryBounded(t *testing.T) {
	d := NewDecoder("telemetry")
	holeSize := int(unsafe.Sizeof(shapeHole{}))
	perTemplate := maxShapeSubject + maxShapeBytes + maxShapeHoles*holeSize
	bound := (shapeSets*shapeWays + 1) * perTemplate
	recorded := 0
	for i := range 20 * shapeSets * shapeWays {
		seg := fmt.Sprintf("e%d", i)
		var meta strings.Builder
		for k := range 8 + i%24 {
			fmt.Fprintf(&meta, `"k%d_%d":"%s",`, k, i%5, strings.Repeat("v", i%17))
		}
		body := `{"v":1,"event":["a","` + seg + `"],"time":"2026-12-07T21:57:56Z","measurements":{"m_ms":1},"metadata":{` +
			strings.TrimSuffix(meta.String(), ",") + `},"node":"n"}`
		subject := "telemetry.a." + seg
		before := shapeHits(d)
		for range 2 {
			if _, err := d.Decode(subject, []byte(body), "", received); err != nil {
				t.Fatal(err)
			}
		}
		if shapeHits(d) > before {
			recorded++
		}
		total, live := 0, 0
		for _, tmpl := range append(allTemplates(d), &d.shapeScratch) {
			total += cap(tmpl.subject) + cap(tmpl.lits) + cap(tmpl.holes)*holeSize
			if cap(tmpl.subject) > maxShapeSubject || cap(tmpl.lits) > maxShapeBytes || cap(tmpl.holes) > maxShapeHoles {
				t.Fatalf("a template's buffers grew: %d, %d, %d", cap(tmpl.subject), cap(tmpl.lits), cap(tmpl.holes))
			}
			if tmpl.live {
				live++
			}
		}
		if total > bound || live > shapeSets*shapeWays {
			t.Fatalf("after %d subjects the templates hold %d bytes (%d live), bound %d", i+1, total, live, bound)
		}
	}
	if recorded < 100 {
		t.Fatalf("only %d of the stream's shapes were recorded: the stream does not test the bound", recorded)
	}
	if bound > 300<<10 {
		t.Fatalf("the bound is %d bytes, more than the 300 KiB shape.go promises", bound)
	}
}

func allTemplates(d *Decoder) []*shapeTemplate {
	var out []*shapeTemplate
	for i := range d.shapes {
		for w := range d.shapes[i].ways {
			out = append(out, &d.shapes[i].ways[w])
		}
	}
	return out
}

// TestShapeRecordsOnlyItsShapes: payloads a template cannot hold are decoded and never
// recorded, and a set backs off after one (the stream of them pays no recording each time).
func TestShapeRecordsOnlyItsShapes(t *testing.T) {
	const subject = "telemetry.ingot.label.submit"
	for _, body := range []string{
		` {"v":1,"event":["ingot","label","submit"],"measurements":{},"metadata":{}}`,
		`{"v":1,"event":["ingot","label","submit"],"measurements":{},"metadata":{"reason":"a\"b"}}`,
		`{"v":1,"event":["ingot","label","submit"],"measurements":{},"metadata":{"m":"é"}}`,
		`{"v":1,"event":["ingot","label","submit"],"measurements":{"x":1e3},"metadata":{},"time":null,"time":"x"}`,
		`{"trace":null,"v":1,"event":["ingot","label","submit"],"measurements":{},"metadata":{}}`,
		`{"v":1,"event":["ingot","label","submit"],"measurements":{},"metadata":{},"trace":{"trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"b7ad6b7169203331","x":1}}`,
		`{"v":1,"event":["ingot","label","submit"],"measurements":{"d":.5},"metadata":{}}`,
	} {
		d := NewDecoder("telemetry")
		if _, err := d.Decode(subject, []byte(body), "", received); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		set := &d.shapes[shapeSetOf(subject)]
		for _, tmpl := range allTemplates(d) {
			if tmpl.live {
				t.Fatalf("%s: recorded as %q", body, tmpl.lits)
			}
		}
		if set.skip != shapeBackoff {
			t.Fatalf("%s: the set does not back off (skip %d)", body, set.skip)
		}
	}
}

// FuzzShapeMatchesGeneral: for any subject, payload and header, a decoder whose template was
// recorded from warm (when warm is accepted) decodes data twice exactly as a fresh decoder,
// which has no template, decodes it once.
func FuzzShapeMatchesGeneral(f *testing.F) {
	msgs, err := sim.Pregenerate(sim.Config{Rate: 2000, Queues: 200, Labelers: 400, Seed: 5}, 400)
	if err != nil {
		f.Fatal(err)
	}
	seen := map[string]bool{}
	for i := range msgs {
		m := &msgs[i]
		if seen[m.Subject] {
			continue
		}
		seen[m.Subject] = true
		traceparent := ""
		if m.Header != nil {
			traceparent = m.Header.Get("traceparent")
		}
		f.Add(m.Subject, m.Data, m.Data, traceparent)
		for j, body := range shapeMutations(string(m.Data)) {
			if j%7 == 0 {
				f.Add(m.Subject, m.Data, []byte(body), traceparent)
			}
		}
	}
	d := NewDecoder("telemetry")
	f.Fuzz(func(t *testing.T, subject string, warm, data []byte, traceparent string) {
		d.Decode(subject, warm, traceparent, received)
		want, wantErr := NewDecoder("telemetry").Decode(subject, data, traceparent, received)
		for range 2 {
			got, gotErr := d.Decode(subject, data, traceparent, received)
			sameDecode(t, fmt.Sprintf("%q after %q", data, warm), got, gotErr, want, wantErr)
		}
		// The owned decode of a copy gives the same event, whatever its strings point into.
		owned := bytes.Clone(data)
		got, gotErr := d.DecodeOwned(subject, owned, traceparent, received)
		sameDecode(t, fmt.Sprintf("owned %q after %q", data, warm), got, gotErr, want, wantErr)
	})
}

// TestDecodeOwnedReadsThePayload: DecodeOwned's strings point into the payload it was
// handed (what it saves), and Decode's never do, so a caller that reuses its buffer after
// Decode cannot change an event.
func TestDecodeOwnedReadsThePayload(t *testing.T) {
	msgs, err := sim.Pregenerate(sim.Config{Rate: 2000, Queues: 20, Labelers: 40, Seed: 3}, 2000)
	if err != nil {
		t.Fatal(err)
	}
	inside := func(s string, data []byte) bool {
		if s == "" || len(data) == 0 {
			return false
		}
		p, lo := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(&data[0]))
		return p >= lo && p < lo+uintptr(len(data))
	}
	owned, plain := NewDecoder("telemetry"), NewDecoder("telemetry")
	aliased := 0
	for i := range msgs {
		m := &msgs[i]
		traceparent := ""
		if m.Header != nil {
			traceparent = m.Header.Get("traceparent")
		}
		data := bytes.Clone(m.Data)
		ev, decErr := owned.DecodeOwned(m.Subject, data, traceparent, received)
		if decErr != nil {
			t.Fatalf("%s: %v", m.Data, decErr)
		}
		if len(ev.Metadata) > 0 && inside(ev.Node, data) && inside(ev.Metadata[0].Value, data) {
			aliased++
		}
		copied := bytes.Clone(m.Data)
		ev, decErr = plain.Decode(m.Subject, copied, traceparent, received)
		if decErr != nil {
			t.Fatalf("%s: %v", m.Data, decErr)
		}
		want := fmt.Sprintf("%+v", ev)
		for j := range copied {
			copied[j] = 'X'
		}
		if got := fmt.Sprintf("%+v", ev); got != want {
			t.Fatalf("Decode's event changed with its payload:\n%s\nwas\n%s", got, want)
		}
	}
	// Nearly all of the mix goes through a template, where the owned payload is read in place.
	if aliased < len(msgs)*9/10 {
		t.Errorf("%d of %d owned events read their node and first value from the payload", aliased, len(msgs))
	}
}

// TestShortDecimalWordsMatchesByteLoop holds the word-at-a-time number reader to numberAt's
// byte loop (readShortDecimal and value, ending where the number token ends): every token it
// accepts must read the same end and the same float bits. The tokens are random runs of
// digits, '.', '-', 'e', '+', and other bytes (',', '}', 0xb5, 0xff: a high byte must not
// pass for a digit or carry into one), at every length, followed by up to nine bytes, so
// that words run past the data's end as well as past the token's.
func TestShortDecimalWordsMatchesByteLoop(t *testing.T) {
	alphabet := []byte("0123456789012345678901234567890123456789.-e+,}\"\xb5\xff:")
	rng := rand.New(rand.NewPCG(1, 2))
	accepted := 0
	for range 400_000 {
		data := make([]byte, rng.IntN(24))
		for i := range data {
			data[i] = alphabet[rng.IntN(len(alphabet))]
		}
		if rng.IntN(3) == 0 && len(data) > 0 {
			data[0] = '-'
		}
		p := 0
		if len(data) > 0 {
			p = rng.IntN(len(data))
		}
		end, f, ok := shortDecimalWords(data, p)
		if !ok {
			continue
		}
		accepted++
		d := readShortDecimal(data, p)
		if d.end < len(data) && numberByte[data[d.end]] {
			t.Fatalf("%q at %d: words accepted a token the byte loop leaves to parseNumber", data, p)
		}
		want, wantOK := d.value(data)
		if !wantOK || d.end != end || math.Float64bits(f) != math.Float64bits(want) {
			t.Fatalf("%q at %d: words read %v to %d, the byte loop %v (ok %v) to %d", data, p, f, end, want, wantOK, d.end)
		}
	}
	if accepted < 10_000 {
		t.Fatalf("only %d tokens took the word path: the test does not exercise it", accepted)
	}
	for _, tc := range []struct {
		in   string
		want float64
	}{
		{"20.301,\"x\":1}", 20.301}, {"-3}xxxxxxxxx", -3}, {"2845875,\"bytes\"", 2845875},
		{"0.5}}}}}}}}}}", 0.5}, {"1234567.1234567}xxxxxxx", 1234567.1234567},
	} {
		end, f, ok := shortDecimalWords([]byte(tc.in), 0)
		if !ok || f != tc.want || tc.in[end] != ',' && tc.in[end] != '}' {
			t.Errorf("%q: got %v to %d (ok %v), want %v", tc.in, f, end, ok, tc.want)
		}
	}
}

// TestMatchTraceIDsAreLowerHex: matchTrace's in-line check of the ids refuses a byte that
// is not 0-9 or a-f at every position of every id (the neighbours of the ranges, upper
// case, a high byte), with and without a parent span, as isLowerHex does.
func TestMatchTraceIDsAreLowerHex(t *testing.T) {
	const traceID, spanID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "0123456789abcdef"
	for _, member := range []string{
		traceOpen + traceID + traceSpan + spanID + traceClose,
		traceOpen + traceID + traceSpan + spanID + traceParent + parentID + traceClose,
	} {
		data := []byte(member + "}")
		var trace [3]span
		if end, ok := matchTrace(data, 0, &trace); !ok || end != len(member) {
			t.Fatalf("%s: not matched (%d, %v)", member, end, ok)
		}
		for _, id := range trace {
			for i := id.start; i < id.end; i++ {
				for _, c := range []byte{'/', ':', '`', 'g', 'A', 'F', 0x80 | data[i], 0xff} {
					was := data[i]
					data[i] = c
					var trace [3]span
					if _, ok := matchTrace(data, 0, &trace); ok {
						t.Fatalf("%q: an id with %q at %d matched", data, c, i)
					}
					data[i] = was
				}
			}
		}
	}
}
