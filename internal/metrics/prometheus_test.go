package metrics

import (
	"fmt"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/nsai/ingot-top/internal/testkit"
)

// TestRealPrometheusScrapes runs the Debian Prometheus against the exporter's handler and
// checks, through its HTTP API, what it ingested. Prometheus 2.42 stores no exemplars of a
// histogram it ingests as native, so two servers run: one with native histograms (protobuf
// scrape) for the counter and the native histogram, one with exemplar storage only
// (OpenMetrics scrape) for the trace_id exemplar.
func TestRealPrometheusScrapes(t *testing.T) {
	testkit.RequirePrometheus(t)
	e, reg := newExporter(t, Config{})
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	feedAll(t, e,
		withTrace(event("ingot.label.submit", ms(250), "queue_id=q1", "method=keyboard"), traceID),
		event("ingot.label.submit", ms(62.5), "queue_id=q1", "method=mouse"),
	)
	target := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	defer target.Close()

	t.Run("native-histograms", func(t *testing.T) {
		api := testkit.StartPrometheus(t, testkit.PrometheusConfig{Target: target.URL, Features: []string{"native-histograms"}}).URL + "/api/v1/"
		var counter []struct {
			Metric map[string]string `json:"metric"`
			Value  []any             `json:"value"`
		}
		testkit.EventuallyTrue(t, 60*time.Second, "both counter series ingested", func() bool {
			return testkit.QueryAPI(api+"query?query="+url.QueryEscape(`ingot_labels_submitted_total{queue_id="q1"}`), &counter) == nil && len(counter) == 2
		})
		for _, s := range counter {
			if s.Value[1] != "1" {
				t.Errorf("ingot_labels_submitted_total%v = %v, want 1", s.Metric, s.Value[1])
			}
		}
		var native []struct {
			Histogram []any `json:"histogram"`
		}
		if err := testkit.QueryAPI(api+"query?query="+url.QueryEscape(`ingot_label_submit_duration_seconds{queue_id="q1"}`), &native); err != nil {
			t.Fatal(err)
		}
		if len(native) != 1 || len(native[0].Histogram) != 2 {
			t.Fatalf("want one native histogram sample, got %+v", native)
		}
		if got := fmt.Sprint(native[0].Histogram[1].(map[string]any)["count"]); got != "2" {
			t.Errorf("native histogram count %s, want 2", got)
		}
	})

	t.Run("exemplars", func(t *testing.T) {
		api := testkit.StartPrometheus(t, testkit.PrometheusConfig{Target: target.URL, Features: []string{"exemplar-storage"}}).URL + "/api/v1/"
		var exemplars []struct {
			Exemplars []struct {
				Labels map[string]string `json:"labels"`
				Value  string            `json:"value"`
			} `json:"exemplars"`
		}
		now := time.Now()
		exemplarURL := api + "query_exemplars?query=" + url.QueryEscape(`ingot_label_submit_duration_seconds_bucket`) +
			fmt.Sprintf("&start=%d&end=%d", now.Add(-time.Hour).Unix(), now.Add(time.Hour).Unix())
		found := ""
		testkit.EventuallyTrue(t, 60*time.Second, "the trace_id exemplar stored", func() bool {
			if err := testkit.QueryAPI(exemplarURL, &exemplars); err != nil {
				return false
			}
			for _, series := range exemplars {
				for _, ex := range series.Exemplars {
					if ex.Labels["trace_id"] == traceID {
						found = ex.Value
						return true
					}
				}
			}
			return false
		})
		if found != "0.25" {
			t.Errorf("exemplar value %q, want 0.25", found)
		}
	})
}
