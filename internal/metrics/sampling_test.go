package metrics

import (
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/nsai/ingot-top/internal/wire"
)

func traceID(i int) string { return fmt.Sprintf("%032x", uint64(i)*0x9e3779b97f4a7c15) }

func sampledMix(n int) []wire.Event {
	var evs []wire.Event
	for i := range n {
		evs = append(evs, withTrace(event("ingot.label.submit", ms(125), "queue_id=q1", "method=keyboard"), traceID(i)))
	}
	for i := range 100 {
		evs = append(evs, withTrace(event("ingot.forge_client.get_sample", ms(125), "result=error", "reason=x"), traceID(n+i)))
	}
	for range 40 {
		evs = append(evs, event("anvil.queue.modified", nil, "queue_id=q1", "change=pause"))
	}
	return evs
}

func TestSamplingScalesCountersAndKeepsErrors(t *testing.T) {
	const n, rate = 8000, 0.25
	e, reg := newExporter(t, Config{SampleRate: rate})
	feedAll(t, e, sampledMix(n)...)

	kept := histogramCount(t, reg, "ingot_label_submit_duration_seconds")
	// Binomial(8000, 0.25): mean 2000, sd ≈ 39; a hash that ignored the rate fails this.
	if kept < 1850 || kept > 2150 {
		t.Fatalf("kept %d of %d label.submit events at rate %v", kept, n, rate)
	}
	labels := testutil.ToFloat64(e.labelsSubmitted.children[[2]string{"q1", "keyboard"}])
	if labels != float64(kept)/rate {
		t.Errorf("ingot_labels_submitted_total = %v, want kept/rate = %v", labels, float64(kept)/rate)
	}
	sampledOut := testutil.ToFloat64(e.eventsSampledOut.children["ingot.label.submit"])
	if sampledOut != float64(n)-float64(kept) {
		t.Errorf("sampled out %v, want %v", sampledOut, n-int(kept))
	}
	// Errors and audit events are never sampled out.
	if got := testutil.ToFloat64(e.forgeClientErrors.children["get_sample"]); got != 100 {
		t.Errorf("forge client errors %v, want 100", got)
	}
	if got := histogramCount(t, reg, "ingot_forge_client_duration_seconds"); got != 100 {
		t.Errorf("error durations observed %d, want 100", got)
	}
	if got := testutil.ToFloat64(e.queueModifications.children[[2]string{"q1", "pause"}]); got != 40 {
		t.Errorf("queue modifications %v, want 40", got)
	}

	// Deterministic: a second exporter makes the same decisions on the same stream.
	e2, reg2 := newExporter(t, Config{SampleRate: rate})
	feedAll(t, e2, sampledMix(n)...)
	if again := histogramCount(t, reg2, "ingot_label_submit_duration_seconds"); again != kept {
		t.Errorf("second run kept %d, first %d", again, kept)
	}
}

func TestSamplingWithoutIDsUsesACounter(t *testing.T) {
	e, reg := newExporter(t, Config{SampleRate: 0.1})
	var evs []wire.Event
	for range 1000 {
		evs = append(evs, event("ingot.live_view.mount", ms(125), "view=V"))
	}
	feedAll(t, e, evs...)
	if got := histogramCount(t, reg, "ingot_live_view_mount_duration_seconds"); got < 99 || got > 100 {
		t.Errorf("kept %d of 1000 id-less events at rate 0.1, want 100 (±1 for float carry)", got)
	}
	want := `
# HELP ingot_top_metrics_sample_ratio Share of metric events recorded (INGOT_METRICS_SAMPLE_RATE); errors and state events are always recorded
# TYPE ingot_top_metrics_sample_ratio gauge
ingot_top_metrics_sample_ratio 0.1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "ingot_top_metrics_sample_ratio"); err != nil {
		t.Error(err)
	}
}
