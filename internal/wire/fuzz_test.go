package wire

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzDecode(f *testing.F) {
	f.Add("telemetry.anvil.label.submitted", []byte(contractExample), "")
	f.Add("telemetry.ingot.label.submit", []byte(`{"v":1,"event":["ingot","label","submit"],"measurements":{"duration_ms":1},"metadata":{"method":"keyboard"}}`),
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	f.Add("telemetry.ingot.forge_client.get_sample", []byte(`{"v":1,"event":["ingot","forge_client","get_sample"],"measurements":{"duration_ms":2.5},"metadata":{"result":"error","reason":"\u001b]0;x\u0007"}}`), "")
	for _, tc := range badCases {
		if len(tc.body) < 4096 {
			f.Add(tc.subject, []byte(tc.body), "")
		}
	}
	d := NewDecoder("telemetry")
	f.Fuzz(func(t *testing.T, subject string, data []byte, traceparent string) {
		ev, err := d.Decode(subject, data, traceparent, received)
		if err != nil {
			if ev.Name != "" || ev.Metadata != nil {
				t.Fatalf("error %v with non-empty event", err)
			}
			if !IsSafe(err.Detail) || utf8.RuneCountInString(err.Detail) > MaxDetailRunes {
				t.Fatalf("unsafe detail %q", err.Detail)
			}
			return
		}
		assertEventSafe(t, ev)
		if len(ev.Segments) < 2 || len(ev.Segments) > 6 || ev.Name == "" {
			t.Fatalf("bad name %q %q", ev.Name, ev.Segments)
		}
		if ev.HasTime && ev.Time.Location().String() != "UTC" {
			t.Fatalf("time not UTC: %v", ev.Time)
		}
	})
}

// FuzzDecodeMatchesReference checks the single-pass decoder against the fastjson decoder it
// replaced (reference_test.go): the same payloads are accepted, with the same event, and the
// same are refused, for the same reason (and, except for syntax errors, whose wording comes
// from the parser, the same detail).
func FuzzDecodeMatchesReference(f *testing.F) {
	for _, seed := range referenceSeeds() {
		f.Add(seed.subject, []byte(seed.body), seed.traceparent)
	}
	d, ref := NewDecoder("telemetry"), newRefDecoder("telemetry")
	f.Fuzz(func(t *testing.T, subject string, data []byte, traceparent string) {
		compareWithReference(t, d, ref, subject, data, traceparent)
	})
}

type referenceSeed struct{ subject, body, traceparent string }

func referenceSeeds() []referenceSeed {
	seeds := []referenceSeed{
		{"telemetry.anvil.label.submitted", contractExample, ""},
		{"telemetry.ingot.label.submit", benchPayload, ""},
		{"telemetry.ingot.label.submit", `{"v":1,"event":["ingot","label","submit"],"measurements":{"duration_ms":1},"metadata":{"method":"keyboard"}}`, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
		{"telemetry.ingot.forge_client.get_sample", `{"v":1,"event":["ingot","forge_client","get_sample"],"measurements":{"duration_ms":2.5},"metadata":{"result":"error","reason":"\u001b]0;x\u0007"}}`, ""},
		{"telemetry.a.b", ` {"\u0076" : 1.0 , "event":["\u0061","b"],"event":3,"measurements":{"d":1E2,"d":-0,"x_ms":12.25},"metadata":{"k\ud83d\ude00":"\ud800x","n":-1.5e3,"t":true,"f":false,"z":null,"s":"\ud83d\u0041"},"node":null,"trace":{"trace_id":null,"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","x":[{}]},"extra":[[1,[2,{"a":"\/"}]]]}` + "\n", ""},
		{"telemetry.a.b", `{"v":1,"event":["a","b"],"measurements":{"d":.5,"e":1.,"f":01,"g":+1,"h":1e,"i":-inf,"j":nan,"k":1234567890123456.5,"l":0.1234567890123456},"metadata":{}}`, ""},
		{"telemetry.a.b", `{"v":1,"event":["a","b"],"measurements":{},"metadata":{"a":1.2.3}}`, ""},
		{"telemetry.a.b", `-`, ""},
		{"telemetry.a.b", `[` + strings.Repeat("[", 305) + strings.Repeat("]", 306), ""},
		{"telemetry.a.b", `{"v":1,"event":["a","b"],"measurements":{},"metadata":{}} x`, ""},
		{"telemetry.a.b", `{"v":1,"event":["a","b"],"measurements":{},"metadata":{},"time":"2026-12-01T10:30:45+02:00"}`, ""},
		{"telemetry.a.b", `{"v":1,"event":["a","b"],"measurements":{},"metadata":{"x":truex}}`, ""},
	}
	for _, tc := range badCases {
		if len(tc.body) < 4096 {
			seeds = append(seeds, referenceSeed{tc.subject, tc.body, ""})
		}
	}
	return seeds
}

func compareWithReference(t *testing.T, d *Decoder, ref *refDecoder, subject string, data []byte, traceparent string) {
	t.Helper()
	got, gotErr := d.Decode(subject, data, traceparent, received)
	want, wantErr := ref.Decode(subject, data, traceparent, received)
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("%q: decoder says %v, reference says %v", data, gotErr, wantErr)
	}
	if gotErr != nil {
		if gotErr.Reason != wantErr.Reason {
			t.Fatalf("%q: reason %s (%s), reference %s (%s)", data, gotErr.Reason, gotErr.Detail, wantErr.Reason, wantErr.Detail)
		}
		if gotErr.Reason != ReasonNotJSON && gotErr.Detail != wantErr.Detail {
			t.Fatalf("%q: detail %q, reference %q", data, gotErr.Detail, wantErr.Detail)
		}
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\n got %#v\nwant %#v", data, got, want)
	}
}
