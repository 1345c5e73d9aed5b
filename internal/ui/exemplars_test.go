package ui

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/promsrc"
)

// TestExemplarOpensItsTrace: with Prometheus exemplars, the focused chart lists the slowest
// traced observations, and t opens the slowest one's trace as a waterfall (from the
// session's stream); y copies its id, esc goes back to the chart.
func TestExemplarOpensItsTrace(t *testing.T) {
	const slow = "4bf92f3577b34da6a3ce929d0e0e4736"
	var asked string
	var copied string
	act := Actions{
		Exemplars: func(op string, from, to time.Time) ([]promsrc.Exemplar, error) {
			asked = op
			return []promsrc.Exemplar{
				{TraceID: slow, ValueMS: 5070, At: fixedAt.Add(-time.Minute), BucketMS: math.Inf(1)},
				{TraceID: "0000000000000000000000000000beef", ValueMS: 1900, At: fixedAt.Add(-2 * time.Minute), BucketMS: 2000},
			}, nil
		},
		Trace: func(id string) ([]engine.TraceSpan, bool) {
			if id == slow {
				return timeoutTrace(fixedAt.Add(-time.Minute)), true
			}
			return nil, false
		},
		Copy: func(s string) error { copied = s; return nil },
	}
	f := recordedFrames(t, 5*60)
	m := withFrame(t, sized(t, New(Options{NoColor: true, Actions: act}), 160, 48), f)
	m = press(t, m, "2", "j", "j", "j")
	m, cmd := pressCmd(t, m, "enter")
	m = run(t, m, cmd)
	if asked != "ingot.anvil_client.submit_label" {
		t.Fatalf("exemplars asked for %q", asked)
	}
	v := m.View()
	if !strings.Contains(v, "exemplars·P, slowest first:  5.07s 4bf92f35…  1.90s 00000000…") {
		t.Fatalf("chart lacks the exemplars:\n%s", v)
	}
	m, cmd = pressCmd(t, m, "t")
	m = run(t, m, cmd)
	v = m.View()
	for _, want := range []string{"exemplar 1 of 2: 5.07s in bucket +Inf", "trace_id " + slow, "trace waterfall: 5 spans seen", "anvil_client.submit_label"} {
		if !strings.Contains(v, want) {
			t.Fatalf("exemplar trace view lacks %q:\n%s", want, v)
		}
	}
	m, cmd = pressCmd(t, m, "y")
	_ = run(t, m, cmd)
	if copied != slow {
		t.Errorf("copied %q", copied)
	}
	// the next exemplar's trace is not in the stream: said so, not an empty screen
	m, cmd = pressCmd(t, m, "t")
	m = run(t, m, cmd)
	if v := m.View(); !strings.Contains(v, "exemplar 2 of 2") || !strings.Contains(v, "has no spans of this trace") {
		t.Fatalf("second exemplar:\n%s", v)
	}
	m = press(t, m, "esc")
	if v := m.View(); !strings.Contains(v, "latency, ms") {
		t.Fatalf("esc did not return to the chart:\n%s", v)
	}
}
