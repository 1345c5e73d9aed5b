package promsrc

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
)

// newMetricsServer is a real HTTP server answering every request with ctype and body.
func newMetricsServer(t *testing.T, ctype, body string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if ctype != "" {
			w.Header().Set("Content-Type", ctype)
		} else {
			w.Header()["Content-Type"] = nil // no type at all, not net/http's sniffed one
		}
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv
}

const textPlain = "text/plain; version=0.0.4; charset=utf-8"

// TestScrapeUntrustedAnswers: what a --scrape URL can answer that is not a /metrics body:
// each makes the endpoint failing with a reason, and nothing panics. The protobuf answer,
// whose first varint claims a message of 2^63 bytes, used to panic in expfmt's decoder
// (makeslice); the long line and the many samples were parsed whole.
func TestScrapeUntrustedAnswers(t *testing.T) {
	var many strings.Builder
	for i := range maxScrapeSamples + 1 {
		fmt.Fprintf(&many, "ingot_labels_submitted_total{queue_id=\"q%d\"} 1\n", i)
	}
	for _, tc := range []struct {
		name, ctype, body, want string
	}{
		{"protobuf with a huge length", "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited",
			"\xff\xff\xff\xff\xff\xff\xff\xff\x7f", "answered in protobuf (application/vnd.google.protobuf); ingot-top asks for and reads the text format"},
		{"captive portal", "text/html; charset=utf-8", "<!DOCTYPE html>\n<html>Sign in</html>",
			"answered Content-Type text/html, not the Prometheus text format"},
		{"HTML without a type", "", "<!DOCTYPE html>\n<html>Sign in</html>",
			`line 1 is not the text exposition format (no metric name): "<!DOCTYPE html>"`},
		{"JSON", "application/json", `{"status":"ok"}`, "answered Content-Type application/json"},
		{"JSON as text", textPlain, "# HELP x y\n{\"status\":\"ok\"}", "line 2 is not the text exposition format (a '{' that does not start a quoted metric name)"},
		{"dotted name unquoted", textPlain, "ingot.labels 1\n", "a metric name with a character not allowed unquoted"},
		{"line too long", textPlain, "ingot_labels_submitted_total{queue_id=\"" + strings.Repeat("q", 100<<10) + "\"} 1\n", "a line longer than 64 KiB"},
		{"too many samples", textPlain, many.String(), fmt.Sprintf("more than %d samples of the dashboard's metrics", maxScrapeSamples)},
		{"body over the bound", textPlain, "ingot_labels_submitted_total{queue_id=\"q\"} 1\n" + strings.Repeat("# padding padding padding\n", maxScrapeBytes/26+1),
			"body larger than 16 MiB, not read"},
		{"broken sample of ours", textPlain, "# TYPE ingot_labels_submitted_total counter\ningot_labels_submitted_total{queue_id=\"q\"} one\n", "parsing: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newMetricsServer(t, tc.ctype, tc.body)
			s, err := New(Flags{Scrape: []string{srv.URL + "/metrics"}, PrometheusTimeout: 10 * time.Second}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			s.pollAll(context.Background())
			st := s.Snapshot().Sources[0]
			if st.OK || !st.Stale || !strings.Contains(st.LastError, tc.want) {
				t.Fatalf("status OK=%v stale=%v error %q\nwant failing with %q", st.OK, st.Stale, st.LastError, tc.want)
			}
		})
	}
}

// TestScrapeNonFiniteValues: NaN and infinite counters, gauges and bucket bounds are valid
// exposition format; they are left out rather than turned into NaN rates on the screen.
func TestScrapeNonFiniteValues(t *testing.T) {
	body := func(n int) string {
		return fmt.Sprintf(`# TYPE ingot_labels_submitted_total counter
ingot_labels_submitted_total{queue_id="ok"} %d
ingot_labels_submitted_total{queue_id="nan"} NaN
ingot_labels_submitted_total{queue_id="inf"} +Inf
# TYPE anvil_queue_pending_assignments gauge
anvil_queue_pending_assignments{queue_id="ok"} NaN
# TYPE ingot_label_submit_duration_seconds histogram
ingot_label_submit_duration_seconds_bucket{queue_id="ok",le="0.5"} %d
ingot_label_submit_duration_seconds_bucket{queue_id="ok",le="NaN"} %d
ingot_label_submit_duration_seconds_bucket{queue_id="ok",le="+Inf"} %d
ingot_label_submit_duration_seconds_sum{queue_id="ok"} 1
ingot_label_submit_duration_seconds_count{queue_id="ok"} %d
`, n, n, n, n, n)
	}
	cur := body(10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", textPlain)
		_, _ = w.Write([]byte(cur))
	}))
	defer srv.Close()
	clock := &fakeClock{now: time.Date(2026, 11, 28, 14, 0, 0, 0, time.UTC)}
	s, err := New(Flags{Scrape: []string{srv.URL}}, nil, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	s.pollAll(context.Background())
	clock.Add(10 * time.Second)
	cur = body(70)
	s.pollAll(context.Background())
	snap := s.Snapshot()
	if st := snap.Sources[0]; !st.OK {
		t.Fatalf("status %+v", st)
	}
	for _, q := range snap.Queues {
		for _, v := range []float64{q.LabelsPerMin, q.Total, q.Pending, q.P50MS} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Errorf("queue %q: figure %v", q.ID, v)
			}
		}
	}
	for _, op := range snap.Ops {
		for _, v := range []float64{op.P50, op.P95, op.P99, op.PerSec, op.ErrorRatio} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Errorf("op %q: figure %v", op.Name, v)
			}
		}
	}
	if q, ok := snap.Queue("ok"); !ok || q.LabelsPerMin != 360 || q.Pending != -1 {
		t.Errorf("queue ok: %+v, want 360 labels/min and pending unknown", q)
	}
}

// TestScrapeReadsOnlyItsFamilies: an endpoint exporting megabytes of other metrics costs
// the scraper about what it reads them with, not a parsed form of all of them (expfmt's text
// parser holds every family of a body at once, ~15 times its size).
func TestScrapeReadsOnlyItsFamilies(t *testing.T) {
	var b strings.Builder
	b.WriteString("# TYPE ingot_labels_submitted_total counter\ningot_labels_submitted_total{queue_id=\"q\"} 5\n")
	for i := 0; b.Len() < 8<<20; i++ {
		fmt.Fprintf(&b, "other_metric{i=\"%d\"} 1\n", i)
	}
	srv := newMetricsServer(t, textPlain, b.String())
	s, err := New(Flags{Scrape: []string{srv.URL}, PrometheusTimeout: 30 * time.Second}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s.pollAll(context.Background())
	runtime.ReadMemStats(&after)
	snap := s.Snapshot()
	if st := snap.Sources[0]; !st.OK {
		t.Fatalf("status %+v", st)
	}
	if q, ok := snap.Queue("q"); !ok || q.Total != 5 {
		t.Errorf("queue q: %+v", q)
	}
	// The body is 8 MiB; reading it through net/http and a 64 KiB line buffer is a little
	// more. Parsing every family allocated over 150 MiB.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 32<<20 {
		t.Errorf("%d MiB allocated scraping an 8 MiB body", alloc>>20)
	}
}
