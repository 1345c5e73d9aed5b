package metrics

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const prometheusBinary = "/usr/bin/prometheus"

// TestRealPrometheusScrapes runs the Debian Prometheus against the exporter's handler and
// checks, through its HTTP API, what it ingested. Prometheus 2.42 stores no exemplars of a
// histogram it ingests as native, so two servers run: one with native histograms (protobuf
// scrape) for the counter and the native histogram, one with exemplar storage only
// (OpenMetrics scrape) for the trace_id exemplar.
func TestRealPrometheusScrapes(t *testing.T) {
	if _, err := os.Stat(prometheusBinary); err != nil {
		t.Skipf("skipped: %s is absent (scripts/install-test-deps.sh installs it, as CI does): %v", prometheusBinary, err)
	}
	e, reg := newExporter(t, Config{})
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	feedAll(t, e,
		withTrace(event("ingot.label.submit", ms(250), "queue_id=q1", "method=keyboard"), traceID),
		event("ingot.label.submit", ms(62.5), "queue_id=q1", "method=mouse"),
	)
	target := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	defer target.Close()

	t.Run("native-histograms", func(t *testing.T) {
		api := startPrometheus(t, target.URL, "native-histograms")
		var counter []struct {
			Metric map[string]string `json:"metric"`
			Value  []any             `json:"value"`
		}
		poll(t, 60*time.Second, func() bool {
			return queryAPI(api+"query?query="+url.QueryEscape(`ingot_labels_submitted_total{queue_id="q1"}`), &counter) == nil && len(counter) == 2
		})
		for _, s := range counter {
			if s.Value[1] != "1" {
				t.Errorf("ingot_labels_submitted_total%v = %v, want 1", s.Metric, s.Value[1])
			}
		}
		var native []struct {
			Histogram []any `json:"histogram"`
		}
		if err := queryAPI(api+"query?query="+url.QueryEscape(`ingot_label_submit_duration_seconds{queue_id="q1"}`), &native); err != nil {
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
		api := startPrometheus(t, target.URL, "exemplar-storage")
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
		poll(t, 60*time.Second, func() bool {
			if err := queryAPI(exemplarURL, &exemplars); err != nil {
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

// startPrometheus runs Prometheus scraping targetURL every second with the given feature
// flags, and returns the base URL of its API. The server stops when the test ends.
func startPrometheus(t *testing.T, targetURL, features string) string {
	t.Helper()
	dir := t.TempDir()
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 900ms
scrape_configs:
  - job_name: ingot-top
    static_configs:
      - targets: [%q]
`, strings.TrimPrefix(targetURL, "http://"))
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	listen := freeLoopbackAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, prometheusBinary,
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+listen,
		"--enable-feature="+features,
		"--log.level=warn",
	)
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start prometheus: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus logs:\n%s", logs.String())
		}
	})
	return "http://" + listen + "/api/v1/"
}

func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// poll calls ready until it returns true, failing the test at the deadline. The short wait
// between tries paces the polling; it does not stand in for synchronisation.
func poll(t *testing.T, deadline time.Duration, ready func() bool) {
	t.Helper()
	timeout := time.After(deadline)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for !ready() {
		select {
		case <-timeout:
			t.Fatalf("condition not met within %v", deadline)
		case <-tick.C:
		}
	}
}

func queryAPI(u string, result any) error {
	resp, err := http.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return fmt.Errorf("decode %s: %w", u, err)
	}
	if body.Status != "success" {
		return fmt.Errorf("%s: %s", u, body.Error)
	}
	var data struct {
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(body.Data, &data); err == nil && data.Result != nil {
		return json.Unmarshal(data.Result, result)
	}
	return json.Unmarshal(body.Data, result)
}
