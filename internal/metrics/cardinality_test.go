package metrics

import (
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/nsai/ingot-top/internal/wire"
)

func seriesCount(t testing.TB, reg prometheus.Gatherer, name string) int {
	t.Helper()
	mf := gather(t, reg, name)
	if mf == nil {
		return 0
	}
	return len(mf.Metric)
}

func overflowOf(t testing.TB, reg prometheus.Gatherer, metric string) float64 {
	t.Helper()
	for _, m := range gather(t, reg, "ingot_top_series_overflow_total").GetMetric() {
		if m.Label[0].GetValue() == metric {
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no overflow series for %s", metric)
	return 0
}

// TestCapsFoldFirstComeIntoOther pins the fold rule on small caps: the first distinct values
// win, later ones go to "other", and every folded event is counted once per metric.
func TestCapsFoldFirstComeIntoOther(t *testing.T) {
	e, reg := newExporter(t, Config{MaxSeriesPerMetric: 3, MaxQueueIDs: 2})
	submit := func(q, method string) wire.Event {
		return event("ingot.label.submit", ms(62.5), "queue_id="+q, "method="+method)
	}
	feedAll(t, e,
		submit("q1", "keyboard"), submit("q2", "keyboard"), // 2 sets; queue cap now full
		submit("q3", "keyboard"), // q3 → other: set {other,keyboard} is new, but slot 3 is reserved → all-other
		submit("q1", "mouse"),    // new set past the cap → {other,other}
		submit("q1", "keyboard"), // admitted earlier: stays
	)
	const want = `
# HELP ingot_labels_submitted_total Total labels submitted
# TYPE ingot_labels_submitted_total counter
ingot_labels_submitted_total{method="keyboard",queue_id="q1"} 2
ingot_labels_submitted_total{method="keyboard",queue_id="q2"} 1
ingot_labels_submitted_total{method="other",queue_id="other"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "ingot_labels_submitted_total"); err != nil {
		t.Fatal(err)
	}
	if got := overflowOf(t, reg, "ingot_labels_submitted_total"); got != 2 {
		t.Errorf("overflow of ingot_labels_submitted_total = %v, want 2", got)
	}
	// The duration histogram is keyed on queue_id only: q1, q2, then q3 folded to other.
	if got := seriesCount(t, reg, "ingot_label_submit_duration_seconds"); got != 3 {
		t.Errorf("ingot_label_submit_duration_seconds has %d series, want 3", got)
	}
	if got := overflowOf(t, reg, "ingot_label_submit_duration_seconds"); got != 1 {
		t.Errorf("overflow of ingot_label_submit_duration_seconds = %v, want 1 (q3)", got)
	}

	// Gauges drop updates past the cap instead of showing a meaningless "other" value.
	feedAll(t, e,
		event("anvil.queue.stats_updated", map[string]float64{"pending": 1}, "queue_id=q1"),
		event("anvil.queue.stats_updated", map[string]float64{"pending": 2}, "queue_id=q9"),
	)
	if got := seriesCount(t, reg, "anvil_queue_pending_assignments"); got != 1 {
		t.Errorf("anvil_queue_pending_assignments has %d series, want 1", got)
	}
	if got := overflowOf(t, reg, "anvil_queue_pending_assignments"); got != 1 {
		t.Errorf("overflow of anvil_queue_pending_assignments = %v, want 1", got)
	}
}

// TestMillionQueueIDFlood: a flood of 1,000,000 distinct queue_ids (and as many view names and
// agreement metrics) leaves every metric at or under its caps, and the heap flat once the
// caps are full.
func TestMillionQueueIDFlood(t *testing.T) {
	const total = 1_000_000
	const batch = 1000
	e, reg := newExporter(t, Config{})

	events := make([]wire.Event, batch)
	for i := range events {
		events[i] = event("ingot.label.submit", ms(125), "queue_id=", "method=keyboard", "assignment_id=")
	}
	kinds := []string{"ingot.label.submit", "anvil.label.submitted", "anvil.queue.stats_updated", "anvil.agreement.calculated", "ingot.live_view.mount"}
	fill := func(start int) {
		for i := range events {
			n := start + i
			id := strconv.Itoa(n)
			ev := &events[i]
			ev.Name = kinds[n%len(kinds)]
			ev.Segments = strings.Split(ev.Name, ".")
			ev.Measurements = append(ev.Measurements[:0],
				wire.Measurement{Key: "duration_ms", Value: float64(n % 3000)},
				wire.Measurement{Key: "pending", Value: 1},
				wire.Measurement{Key: "score", Value: 0.5})
			ev.Metadata = append(ev.Metadata[:0],
				wire.KV{Key: "queue_id", Value: "queue-" + id},
				wire.KV{Key: "method", Value: "keyboard"},
				wire.KV{Key: "view", Value: "View" + id},
				wire.KV{Key: "metric", Value: "metric-" + id})
		}
	}
	heapAfterGC := func() uint64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}

	// Fill every cap first, then measure: what follows may not retain anything.
	const warmup = 20 * batch
	for start := 0; start < warmup; start += batch {
		fill(start)
		feedAll(t, e, events...)
	}
	before := heapAfterGC()
	for start := warmup; start < total; start += batch {
		fill(start)
		feedAll(t, e, events...)
	}
	after := heapAfterGC()
	t.Logf("heap after GC: %.1f MiB after %d events (caps full), %.1f MiB after %d events (growth %+.1f KiB)",
		float64(before)/(1<<20), warmup, float64(after)/(1<<20), total, (float64(after)-float64(before))/1024)
	if growth := int64(after) - int64(before); growth > 1<<20 {
		t.Errorf("heap grew by %d bytes over %d distinct ids after the caps were full", growth, total-warmup)
	}

	for name, max := range map[string]int{
		"ingot_labels_submitted_total":           DefaultMaxQueueIDs + 1,
		"ingot_label_submit_duration_seconds":    DefaultMaxQueueIDs + 1,
		"anvil_labels_submitted_total":           DefaultMaxQueueIDs + 1,
		"anvil_queue_pending_assignments":        DefaultMaxQueueIDs,
		"anvil_agreement_score":                  DefaultMaxQueueIDs,
		"ingot_live_view_mount_duration_seconds": DefaultMaxSeriesPerMetric,
	} {
		got := seriesCount(t, reg, name)
		if got == 0 || got > max {
			t.Errorf("%s: %d series, want 1..%d", name, got, max)
		}
		if overflowOf(t, reg, name) == 0 {
			t.Errorf("%s: no overflow counted", name)
		}
	}
	if got := seriesCount(t, reg, "ingot_live_view_mount_duration_seconds"); got != DefaultMaxSeriesPerMetric {
		t.Errorf("mount histogram: %d series, want exactly the cap %d (999 views + other)", got, DefaultMaxSeriesPerMetric)
	}
	// Every event is still counted: 200,000 label.submit events, folded or not.
	var submitted float64
	for _, m := range gather(t, reg, "ingot_labels_submitted_total").Metric {
		submitted += m.GetCounter().GetValue()
	}
	if submitted != float64(total/len(kinds)) {
		t.Errorf("sum of ingot_labels_submitted_total = %v, want %d", submitted, total/len(kinds))
	}
}
