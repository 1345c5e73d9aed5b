package promsrc

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
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/nsai/ingot-top/internal/metrics"
	"github.com/nsai/ingot-top/internal/sim"
	"github.com/nsai/ingot-top/internal/wire"
)

const prometheusBinary = "/usr/bin/prometheus"

// needPrometheus skips without the Debian Prometheus, except in CI where it must be there.
func needPrometheus(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(prometheusBinary); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is absent in CI (scripts/install-test-deps.sh installs it): %v", prometheusBinary, err)
		}
		t.Skipf("skipped: %s is absent (scripts/install-test-deps.sh installs it): %v", prometheusBinary, err)
	}
}

// exporterEndpoint is the real ADR-008 exporter (internal/metrics on a private registry)
// served on a real loopback listener, as the daemon serves it. swap replaces the registry
// behind the endpoint, which is what a daemon restart looks like to a scraper.
type exporterEndpoint struct {
	*httptest.Server
	mu  sync.Mutex
	exp *metrics.Exporter
	h   http.Handler
}

func newExporterEndpoint(t *testing.T) *exporterEndpoint {
	t.Helper()
	e := &exporterEndpoint{}
	e.swap(t)
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		h := e.h
		e.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(e.Close)
	return e
}

func (e *exporterEndpoint) swap(t *testing.T) {
	t.Helper()
	reg := prometheus.NewRegistry()
	exp, err := metrics.New(reg, metrics.Config{})
	if err != nil {
		t.Fatalf("metrics.New: %v", err)
	}
	e.mu.Lock()
	e.exp, e.h = exp, promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true})
	e.mu.Unlock()
}

func (e *exporterEndpoint) feed(t *testing.T, events []wire.Event) {
	t.Helper()
	e.mu.Lock()
	exp := e.exp
	e.mu.Unlock()
	if err := exp.HandleBatch(events); err != nil {
		t.Fatalf("HandleBatch: %v", err)
	}
}

// simulated decodes n messages of simulator traffic (fixed seed) into events.
func simulated(t *testing.T, seed int64, n int) []wire.Event {
	t.Helper()
	cfg := sim.DefaultConfig()
	cfg.Seed, cfg.Queues, cfg.Labelers, cfg.ErrorRate = seed, 4, 12, 0.05
	msgs, err := sim.Pregenerate(cfg, n)
	if err != nil {
		t.Fatalf("sim.Pregenerate: %v", err)
	}
	dec := wire.NewDecoder(cfg.Prefix)
	now := time.Now()
	events := make([]wire.Event, 0, n)
	for _, m := range msgs {
		tp := ""
		if m.Header != nil {
			tp = m.Header.Get("traceparent")
		}
		ev, derr := dec.Decode(m.Subject, m.Data, tp, now)
		if derr != nil {
			t.Fatalf("simulator message %s does not decode: %v", m.Subject, derr)
		}
		events = append(events, ev)
	}
	return events
}

// submitsByQueue counts ingot.label.submit events per queue_id: the known published totals.
func submitsByQueue(events []wire.Event) map[string]float64 {
	out := map[string]float64{}
	for i := range events {
		if events[i].Name == "ingot.label.submit" {
			q, _ := events[i].Meta("queue_id")
			out[q]++
		}
	}
	return out
}

func event(name string, durationMS float64, metadata ...string) wire.Event {
	ev := wire.Event{Name: name, Segments: strings.Split(name, "."), Time: time.Now(), Received: time.Now()}
	ev.Measurements = []wire.Measurement{{Key: "duration_ms", Value: durationMS}}
	for _, kv := range metadata {
		k, v, _ := strings.Cut(kv, "=")
		ev.Metadata = append(ev.Metadata, wire.KV{Key: k, Value: v})
	}
	return ev
}

func repeat(n int, ev wire.Event) []wire.Event {
	out := make([]wire.Event, n)
	for i := range out {
		out[i] = ev
	}
	return out
}

// startPrometheus runs the real Prometheus scraping target every second, with rules
// evaluated every second, and returns its base URL. It stops when the test ends.
func startPrometheus(t *testing.T, target string, rules string, features ...string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 900ms
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
  - job_name: ingot-top
    static_configs:
      - targets: [%q]
`, filepath.Join(dir, "rules.yml"), strings.TrimPrefix(target, "http://"))
	if rules == "" {
		rules = "groups: []\n"
	}
	for name, body := range map[string]string{"prometheus.yml": cfg, "rules.yml": rules} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	listen := freeLoopbackAddr(t)
	args := []string{
		"--config.file=" + filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + listen,
		"--log.level=warn",
	}
	for _, f := range features {
		args = append(args, "--enable-feature="+f)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, prometheusBinary, args...)
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
	base := "http://" + listen
	eventually(t, 30*time.Second, "prometheus ready", func() bool {
		resp, err := http.Get(base + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return base
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

// eventually calls ready until it returns true, failing the test at the deadline. The
// ticker paces the polling; it does not stand in for synchronisation.
func eventually(t *testing.T, deadline time.Duration, what string, ready func() bool) {
	t.Helper()
	timeout := time.After(deadline)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !ready() {
		select {
		case <-timeout:
			t.Fatalf("%s: not within %v", what, deadline)
		case <-tick.C:
		}
	}
}

type apiSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// queryByHand runs PromQL through the HTTP API with plain net/http and encoding/json,
// independently of the client under test.
func queryByHand(t *testing.T, base, q string, at time.Time) []apiSample {
	t.Helper()
	u := fmt.Sprintf("%s/api/v1/query?query=%s&time=%.3f", base, url.QueryEscape(q), float64(at.UnixMilli())/1000)
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("query %s: %v", q, err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []apiSample `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("query %s: decode: %v", q, err)
	}
	if body.Status != "success" {
		t.Fatalf("query %s: %s", q, body.Error)
	}
	return body.Data.Result
}

func sampleValue(t *testing.T, s apiSample) float64 {
	t.Helper()
	str, _ := s.Value[1].(string)
	v, err := strconv.ParseFloat(str, 64)
	if err != nil {
		t.Fatalf("sample value %v: %v", s.Value, err)
	}
	return v
}

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func writeFile(path, body string) error { return os.WriteFile(path, []byte(body), 0o600) }
