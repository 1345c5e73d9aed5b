package promsrc

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/alerts"
	"github.com/nsai/ingot-top/internal/testkit"
)

const testRules = `groups:
  - name: test
    interval: 1s
    rules:
      - alert: IngotTestFiring
        expr: sum(ingot_labels_submitted_total) > 0
        labels: {severity: page}
        annotations: {summary: "labels are flowing"}
      - alert: IngotTestPending
        expr: vector(1)
        for: 1h
        labels: {severity: ticket}
        annotations: {summary: "always pending"}
`

// TestPrometheusFleetFigures runs the real Prometheus against the real exporter endpoint
// fed with simulator traffic, in both histogram modes: the Source's totals equal the known
// published ones, its rates and percentiles equal PromQL run by hand at the same evaluation
// time, a fresh Source has history after one poll, and Prometheus's alerts come through.
func TestPrometheusFleetFigures(t *testing.T) {
	testkit.RequirePrometheus(t)
	for _, tc := range []struct {
		name     string
		features []string
		// p95ByHand is written independently of DefaultQueries, in the form that matches
		// what this Prometheus stores.
		p95ByHand string
	}{
		{"classic", nil,
			`histogram_quantile(0.95, sum by (le) (rate(ingot_anvil_client_duration_seconds_bucket{operation="submit_label"}[5m])))`},
		{"native", []string{"native-histograms"},
			`histogram_quantile(0.95, sum(rate(ingot_anvil_client_duration_seconds{operation="submit_label"}[5m])))`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := newExporterEndpoint(t)
			events := simulated(t, 7, 4000)
			half := len(events) / 2
			base := testkit.StartPrometheus(t, testkit.PrometheusConfig{Target: target.URL, Rules: testRules, Features: tc.features}).URL

			flags := Flags{Prometheus: base, PrometheusTimeout: 10 * time.Second, PrometheusHistory: 10 * time.Minute}
			// Evaluate a few scrapes in the past: a query at "now" can miss a scrape that is
			// still being appended, and the hand-run query comes later.
			settled := func() time.Time { return time.Now().Add(-3 * time.Second) }
			src, err := New(flags, nil, settled)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			// Two halves a scrape apart, so that rate() sees an increase.
			target.feed(t, events[:half])
			wantHalf := submitsByQueue(events[:half])
			testkit.EventuallyTrue(t, 60*time.Second, "first half ingested", func() bool {
				src.pollAll(ctx)
				return totalsEqual(src.Snapshot(), wantHalf)
			})
			target.feed(t, events[half:])
			want := submitsByQueue(events)
			var snap *Snapshot
			testkit.EventuallyTrue(t, 60*time.Second, "totals equal the published ones", func() bool {
				src.pollAll(ctx)
				snap = src.Snapshot()
				return totalsEqual(snap, want)
			})
			st := snap.Sources[0]
			if !st.OK || st.Stale || st.LastError != "" || snap.Kind != KindPrometheus {
				t.Fatalf("source status %+v kind %s, want OK and fresh", st, snap.Kind)
			}

			// rates: by hand, per series, summed here
			rates := map[string]float64{}
			for _, s := range queryByHand(t, base, `rate(ingot_labels_submitted_total[5m])`, snap.FiguresAt) {
				rates[s.Metric["queue_id"]] += sampleValue(t, s) * 60
			}
			if len(rates) == 0 {
				t.Fatal("no rates by hand")
			}
			for id, r := range rates {
				q, ok := snap.Queue(id)
				if !ok || !nearlyEqual(q.LabelsPerMin, r) || r <= 0 {
					t.Errorf("queue %s labels/min: source %+v, by hand %v", id, q, r)
				}
			}

			// percentiles: by hand, in the form this server stores
			hand := queryByHand(t, base, tc.p95ByHand, snap.FiguresAt)
			if len(hand) != 1 {
				t.Fatalf("%s by hand: %d samples, want 1 (is the histogram stored as expected?)", tc.p95ByHand, len(hand))
			}
			p95 := sampleValue(t, hand[0]) * 1000
			op, ok := snap.Op("ingot.anvil_client.submit_label")
			if !ok || math.IsNaN(p95) || p95 <= 0 || !nearlyEqual(op.P95, p95) {
				t.Errorf("submit_label p95: source %+v, by hand %v ms", op, p95)
			}
			if !(op.P50 > 0 && op.P50 <= op.P95 && op.P95 <= op.P99) || op.PerSec <= 0 || op.ErrorRatio < 0 || op.ErrorRatio > 1 {
				t.Errorf("submit_label figures inconsistent: %+v", op)
			}
			if _, ok := snap.Op("ingot.label.submit"); !ok {
				t.Errorf("ops %v lack ingot.label.submit", opNames(snap))
			}

			// alerts: one firing, one pending, both from Prometheus
			testkit.EventuallyTrue(t, 30*time.Second, "alerts", func() bool {
				src.pollAll(ctx)
				return hasAlert(src.Snapshot(), "IngotTestFiring", alerts.StateFiring) && hasAlert(src.Snapshot(), "IngotTestPending", alerts.StatePending)
			})
			for _, a := range src.Snapshot().Alerts {
				if a.Source != alerts.SourcePrometheus || a.Severity == "" || a.Summary == "" || a.ActiveAt.IsZero() {
					t.Errorf("alert %+v: want source prometheus, severity, summary, active time", a)
				}
			}
			if first := src.Snapshot().Alerts[0]; first.State != alerts.StateFiring {
				t.Errorf("firing alerts come first, got %+v", first)
			}

			// A fresh dashboard: after New and one poll, every queue has the history that
			// query_range returns by hand (at least a few points once Prometheus has them).
			testkit.EventuallyTrue(t, 30*time.Second, "history of several points", func() bool {
				fresh, err := New(flags, nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				fresh.pollAll(ctx)
				fs := fresh.Snapshot()
				if len(fs.Queues) != len(want) {
					return false
				}
				for _, q := range fs.Queues {
					if finite(q.History.Values) < 3 || finite(q.P50History.Values) < 3 || q.History.Step != time.Second {
						return false
					}
				}
				return true
			})
		})
	}
}

func totalsEqual(s *Snapshot, want map[string]float64) bool {
	if s == nil || len(s.Queues) != len(want) {
		return false
	}
	for _, q := range s.Queues {
		if q.Total != want[q.ID] {
			return false
		}
	}
	return true
}

func nearlyEqual(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b)) }

func finite(v []float64) int {
	n := 0
	for _, x := range v {
		if !math.IsNaN(x) {
			n++
		}
	}
	return n
}

func opNames(s *Snapshot) string {
	var names []string
	for _, o := range s.Ops {
		names = append(names, o.Name)
	}
	return strings.Join(names, ",")
}

func hasAlert(s *Snapshot, name string, state alerts.AlertState) bool {
	for _, a := range s.Alerts {
		if a.Name == name && a.State == state {
			return true
		}
	}
	return false
}
