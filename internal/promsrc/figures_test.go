package promsrc

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/testkit"
	"github.com/nsai/ingot-top/internal/wire"
)

// timeoutMix is submit_label calls of which 45 % time out at 5.07 s, beyond the ADR's top
// client bucket (2 s): p50 is a reading, p95 and p99 fall in the +Inf bucket.
func timeoutMix() []wire.Event {
	evs := repeat(30, event("ingot.label.submit", 900, "queue_id=q1", "method=keyboard"))
	for i := 0; i < 100; i++ {
		if i%20 < 9 {
			evs = append(evs, event("ingot.anvil_client.submit_label", 5070, "result=error", "reason=timeout"))
		} else {
			evs = append(evs, event("ingot.anvil_client.submit_label", 80, "result=ok"))
		}
	}
	return evs
}

// textOnly serves h as the text exposition format whatever the scraper asks for, so a
// Prometheus with native histograms on stores this instance's histograms as classic buckets.
func textOnly(t *testing.T, h http.Handler) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Set("Accept", "text/plain;version=0.0.4")
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// TestQuantilesThatDoNotLie runs the real Prometheus in three ways: classic buckets only, a
// quantile past the top bucket is flagged (histogram_quantile returns the bound, a floor,
// not a reading); native only, the quantile is a reading; both stored at once, the native
// figure is the one shown.
func TestQuantilesThatDoNotLie(t *testing.T) {
	testkit.RequirePrometheus(t)
	const truth = 5070.0
	for _, tc := range []struct {
		name     string
		features []string
		both     bool
	}{
		{name: "classic"},
		{name: "native", features: []string{"native-histograms"}},
		{name: "both", features: []string{"native-histograms"}, both: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := newExporterEndpoint(t)
			cfg := testkit.PrometheusConfig{Target: target.URL, Features: tc.features}
			if tc.both {
				cfg.MoreTargets = []string{textOnly(t, target.Config.Handler).URL}
			}
			base := testkit.StartPrometheus(t, cfg).URL
			src, err := New(Flags{Prometheus: base, PrometheusTimeout: 10 * time.Second, PrometheusHistory: 10 * time.Minute},
				nil, func() time.Time { return time.Now().Add(-2 * time.Second) })
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			// Two feeds a few scrapes apart, so that rate() sees the mix
			target.feed(t, timeoutMix())
			var op *OpFleet
			testkit.EventuallyTrue(t, 60*time.Second, "submit_label in Prometheus", func() bool {
				src.pollAll(ctx)
				_, ok := src.Snapshot().Op("ingot.anvil_client.submit_label")
				return ok
			})
			target.feed(t, timeoutMix())
			testkit.EventuallyTrue(t, 60*time.Second, "the second feed in the rate", func() bool {
				src.pollAll(ctx)
				var ok bool
				op, ok = src.Snapshot().Op("ingot.anvil_client.submit_label")
				return ok && op.P95 > 0 && op.PerSec > 0 && op.P50 > 0
			})
			t.Logf("%s: p50 %.0f p95 %.0f p99 %.0f ms, at top %v, top bound %v ms (p95 off the true %.0f ms by %.1f%%)",
				tc.name, op.P50, op.P95, op.P99, op.AtTop, op.TopBound, truth, 100*math.Abs(op.P95-truth)/truth)
			if op.P50 >= 2000 || op.AtTop[0] {
				t.Errorf("p50 %v at top %v: it is a reading below the top bucket", op.P50, op.AtTop[0])
			}
			switch tc.name {
			case "classic":
				if !op.AtTop[1] || !op.AtTop[2] || op.TopBound != 2000 || op.P95 != 2000 {
					t.Errorf("classic p95 %v p99 %v: want both flagged at the top bound of 2000 ms, got at top %v bound %v",
						op.P95, op.P99, op.AtTop, op.TopBound)
				}
			default:
				if op.AtTop != [3]bool{} || op.TopBound != 0 {
					t.Errorf("native: at top %v bound %v, want readings", op.AtTop, op.TopBound)
				}
				if math.Abs(op.P95-truth)/truth > 0.1 {
					t.Errorf("native p95 %v, want within 10%% of %v", op.P95, truth)
				}
			}
			// Prometheus has had the series for seconds: the 5m rate covers a sliver of its
			// window and reads low, and says so
			q, ok := src.Snapshot().Queue("q1")
			if !ok || !q.Partial || q.Covered <= 0 || q.Covered >= 2*time.Minute {
				t.Errorf("queue q1 %+v: want a partial window covered for seconds", q)
			}
			if tc.both {
				// the figure is the native one, not the classic one the other instance gives
				at := src.Snapshot().FiguresAt
				native := queryByHand(t, base, `histogram_quantile(0.95, sum(rate(ingot_anvil_client_duration_seconds{operation="submit_label"}[5m])))`, at)
				classic := queryByHand(t, base, `histogram_quantile(0.95, sum by (le) (rate(ingot_anvil_client_duration_seconds_bucket{operation="submit_label"}[5m])))`, at)
				if len(native) != 1 || len(classic) != 1 {
					t.Fatalf("by hand: %d native, %d classic samples; want both stored", len(native), len(classic))
				}
				n, c := sampleValue(t, native[0])*1000, sampleValue(t, classic[0])*1000
				if n == c || !nearlyEqual(op.P95, n) {
					t.Errorf("p95 %v; native by hand %v, classic by hand %v: want the native one", op.P95, n, c)
				}
			}
		})
	}
}

// TestScrapeTopBucket: a quantile past the top bucket of a scraped histogram is flagged too.
func TestScrapeTopBucket(t *testing.T) {
	target := newExporterEndpoint(t)
	clock := &fakeClock{now: time.Date(2026, 11, 28, 14, 0, 0, 0, time.UTC)}
	s, err := New(Flags{Scrape: []string{target.URL + "/metrics"}, ScrapeInterval: 10 * time.Second}, nil, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	target.feed(t, repeat(1, event("ingot.anvil_client.submit_label", 30, "result=ok")))
	s.pollAll(ctx)
	target.feed(t, timeoutMix())
	clock.Add(10 * time.Second)
	s.pollAll(ctx)
	op, ok := s.Snapshot().Op("ingot.anvil_client.submit_label")
	if !ok {
		t.Fatal("no submit_label")
	}
	if op.AtTop != [3]bool{false, true, true} || op.TopBound != 2000 || op.P95 != 2000 {
		t.Errorf("scraped p50 %v p95 %v p99 %v at top %v bound %v; want p95 and p99 flagged at 2000 ms", op.P50, op.P95, op.P99, op.AtTop, op.TopBound)
	}
}

func TestCoverageFromHistory(t *testing.T) {
	at := time.Date(2026, 11, 28, 14, 0, 0, 0, time.UTC)
	step := 10 * time.Second
	nan := math.NaN()
	for _, tc := range []struct {
		name    string
		vals    []float64
		covered time.Duration
		partial bool
	}{
		// 360 points ending at `at`: the series had data all along
		{"an hour", append(make([]float64, 359), 5), rateWindow, false},
		// first point 60 s before `at`: the series began up to a step before it
		{"a minute", []float64{nan, nan, 1, 2, 3, 4, 5, 6, 7}, 70 * time.Second, true},
		{"no data", []float64{nan, nan}, 0, false},
	} {
		start := at.Add(-time.Duration(len(tc.vals)-1) * step)
		covered, partial := coverage(Series{Start: start, Step: step, Values: tc.vals}, at)
		if covered != tc.covered || partial != tc.partial {
			t.Errorf("%s: covered %v partial %v, want %v %v", tc.name, covered, partial, tc.covered, tc.partial)
		}
	}
}
