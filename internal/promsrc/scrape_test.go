package promsrc

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/testkit"
	"github.com/nsai/ingot-top/internal/wire"
)

// TestScrapeDeltas scrapes the real exporter endpoint with a controlled clock: rates are the
// published increase over the clock's elapsed time, quantiles are histogram_quantile's
// interpolation of the bucket deltas, and a counter reset (the process restarted) counts
// the new value as the increase.
func TestScrapeDeltas(t *testing.T) {
	target := newExporterEndpoint(t)
	clock := &fakeClock{now: time.Date(2026, 11, 28, 14, 0, 0, 0, time.UTC)}
	s, err := New(Flags{Scrape: []string{target.URL + "/metrics"}, ScrapeInterval: 10 * time.Second}, nil, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// history before the first scrape: it must not count
	target.feed(t, repeat(5, event("ingot.label.submit", 1000, "queue_id=q1", "method=keyboard")))
	target.feed(t, repeat(7, event("ingot.anvil_client.submit_label", 30, "result=ok")))
	s.pollAll(ctx)
	snap := s.Snapshot()
	if snap.Kind != KindScrape || len(snap.Sources) != 1 || !snap.Sources[0].OK {
		t.Fatalf("after one scrape: %+v", snap)
	}
	if q, ok := snap.Queue("q1"); !ok || q.LabelsPerMin != -1 || q.Total != 5 {
		t.Fatalf("one scrape gives totals but no rate yet: %+v", q)
	}

	target.feed(t, repeat(120, event("ingot.label.submit", 1000, "queue_id=q1", "method=keyboard")))
	target.feed(t, repeat(30, event("ingot.label.submit", 1000, "queue_id=q2", "method=api")))
	target.feed(t, repeat(80, event("ingot.anvil_client.submit_label", 30, "result=ok")))
	target.feed(t, repeat(20, event("ingot.anvil_client.submit_label", 300, "result=error")))
	clock.Add(10 * time.Second)
	s.pollAll(ctx)
	snap = s.Snapshot()
	for id, want := range map[string]float64{"q1": 120.0 / 10 * 60, "q2": 30.0 / 10 * 60} {
		if q, ok := snap.Queue(id); !ok || !nearlyEqual(q.LabelsPerMin, want) {
			t.Errorf("%s labels/min %+v, want %v", id, q, want)
		}
	}
	op, ok := snap.Op("ingot.anvil_client.submit_label")
	if !ok {
		t.Fatalf("no submit_label op in %s", opNames(snap))
	}
	// buckets 0.01 0.05 0.1 0.25 0.5 ...: 80 in (0.01, 0.05], 20 in (0.25, 0.5]
	want := OpFleet{Name: op.Name, P50: (0.01 + 0.04*50.0/80) * 1000, P95: (0.25 + 0.25*15.0/20) * 1000,
		P99: (0.25 + 0.25*19.0/20) * 1000, PerSec: 10, ErrorRatio: 0.2}
	if !nearlyEqual(op.P50, want.P50) || !nearlyEqual(op.P95, want.P95) || !nearlyEqual(op.P99, want.P99) ||
		!nearlyEqual(op.PerSec, want.PerSec) || !nearlyEqual(op.ErrorRatio, want.ErrorRatio) {
		t.Errorf("op %+v, want %+v", *op, want)
	}
	if op, ok := snap.Op("ingot.label.submit"); !ok || op.ErrorRatio != -1 || !nearlyEqual(op.PerSec, 15) {
		t.Errorf("label.submit (no result label): %+v, want error ratio unknown and 15/s", op)
	}
	if q, _ := snap.Queue("q1"); q.P50MS != 750 || len(q.History.Values) != 2 || q.History.Values[1] != 720 {
		t.Errorf("q1 p50 %v, want 750 (all in (0.5, 1]: halfway), history %+v", q.P50MS, q.History)
	}

	// restart: a fresh registry behind the same URL, with a smaller counter
	target.swap(t)
	target.feed(t, repeat(60, event("ingot.label.submit", 1000, "queue_id=q1", "method=keyboard")))
	clock.Add(10 * time.Second)
	s.pollAll(ctx)
	snap = s.Snapshot()
	// window = both deltas: (120 + 60) over 20 s for q1; q2's 30 over 20 s
	for id, want := range map[string]float64{"q1": 180.0 / 20 * 60, "q2": 30.0 / 20 * 60} {
		if q, ok := snap.Queue(id); !ok || !nearlyEqual(q.LabelsPerMin, want) {
			t.Errorf("after reset %s labels/min %+v, want %v", id, q, want)
		}
	}
	if snap.Sources[0].Stale || snap.Sources[0].Age != 0 {
		t.Errorf("status %+v", snap.Sources[0])
	}
	clock.Add(time.Minute)
	if st := s.Snapshot().Sources[0]; !st.Stale || st.Age != time.Minute {
		t.Errorf("a minute without scrapes: %+v, want stale", st)
	}
}

func TestScrapeFailures(t *testing.T) {
	addr := testkit.FreeLoopbackAddr(t)
	s, err := New(Flags{Scrape: []string{"http://" + addr + "/metrics"}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.pollAll(context.Background())
	if st := s.Snapshot().Sources[0]; !st.Stale || !strings.Contains(st.LastError, "connection refused") || st.Kind != KindScrape {
		t.Errorf("down endpoint: %+v", st)
	}
	target := newExporterEndpoint(t)
	s, err = New(Flags{Scrape: []string{target.URL + "/nope"}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	target.Config.Handler = nil // the default mux: 404 for everything
	s.pollAll(context.Background())
	if st := s.Snapshot().Sources[0]; !st.Stale || !strings.Contains(st.LastError, "404") {
		t.Errorf("404 endpoint: %+v", st)
	}
}

func TestBucketQuantileMatchesPrometheus(t *testing.T) {
	inf := math.Inf(+1)
	for _, tc := range []struct {
		q    float64
		bs   []bucket
		want float64
	}{
		{0.5, []bucket{{1, 10}, {2, 20}, {inf, 20}}, 1},
		{0.75, []bucket{{1, 10}, {2, 20}, {inf, 20}}, 1.5},
		{0.99, []bucket{{1, 10}, {2, 10}, {inf, 20}}, 2}, // in +Inf: the highest finite bound
		{0.5, []bucket{{1, 0}, {inf, 0}}, math.NaN()},
		{0.5, []bucket{{1, 3}}, math.NaN()}, // no +Inf bucket
		{0.5, []bucket{{-1, 10}, {inf, 10}}, -1},
		{0.5, []bucket{{2, 20}, {1, 10}, {inf, 20}}, 1}, // unsorted
	} {
		got := bucketQuantile(tc.q, append([]bucket(nil), tc.bs...))
		if !(got == tc.want || math.IsNaN(got) && math.IsNaN(tc.want)) {
			t.Errorf("q %v %v: %v, want %v", tc.q, tc.bs, got, tc.want)
		}
	}
}

// With INGOT_METRICS_SAMPLE_RATE below 1 the exporter keeps a sample of successes and every
// error; the scrape source weights successes back up by the exported ratio.
func TestScrapeRescalesSampledSuccesses(t *testing.T) {
	target := newSampledExporterEndpoint(t, 0.25)
	clock := &fakeClock{now: time.Date(2026, 11, 28, 14, 0, 0, 0, time.UTC)}
	s, err := New(Flags{Scrape: []string{target.URL + "/metrics"}, ScrapeInterval: 10 * time.Second}, nil, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s.pollAll(ctx)
	var evs []wire.Event
	for i := 0; i < 400; i++ {
		e := event("ingot.anvil_client.submit_label", 30, "result=ok")
		e.Trace.TraceID = fmt.Sprintf("%032x", i+1) // sampling hashes the trace id
		evs = append(evs, e)
	}
	target.feed(t, evs)
	target.feed(t, repeat(20, event("ingot.anvil_client.submit_label", 300, "result=error")))
	clock.Add(10 * time.Second)
	s.pollAll(ctx)
	op, ok := s.Snapshot().Op("ingot.anvil_client.submit_label")
	if !ok {
		t.Fatal("no submit_label op")
	}
	// About 100 of the 400 successes were observed; weighted ×4 they stand for ~400 again.
	if op.PerSec < 36 || op.PerSec > 48 {
		t.Errorf("rate %v/s, want about 42/s (420 calls in 10 s)", op.PerSec)
	}
	if op.ErrorRatio < 0.04 || op.ErrorRatio > 0.06 {
		t.Errorf("error ratio %v, want about 20/420 ≈ 0.048 (unscaled it would read ≈ 0.17)", op.ErrorRatio)
	}
}
