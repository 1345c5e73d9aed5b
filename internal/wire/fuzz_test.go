package wire

import (
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
