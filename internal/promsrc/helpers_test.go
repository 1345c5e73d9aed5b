package promsrc

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/nsai/ingot-top/internal/metrics"
	"github.com/nsai/ingot-top/internal/sim"
	"github.com/nsai/ingot-top/internal/testkit"
	"github.com/nsai/ingot-top/internal/wire"
)

// exporterEndpoint is the real ADR-008 exporter (internal/metrics on a private registry)
// served on a real loopback listener, as the daemon serves it. swap replaces the registry
// behind the endpoint, which is what a daemon restart looks like to a scraper.
type exporterEndpoint struct {
	*httptest.Server
	mu  sync.Mutex
	exp *metrics.Exporter
	h   http.Handler
	// sampleRate is the exporter's INGOT_METRICS_SAMPLE_RATE; 0 means 1.
	sampleRate float64
}

func newExporterEndpoint(t *testing.T) *exporterEndpoint {
	t.Helper()
	return newSampledExporterEndpoint(t, 0)
}

// newSampledExporterEndpoint serves an exporter with INGOT_METRICS_SAMPLE_RATE = rate (0: 1).
func newSampledExporterEndpoint(t *testing.T, rate float64) *exporterEndpoint {
	t.Helper()
	e := &exporterEndpoint{sampleRate: rate}
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
	exp, err := metrics.New(reg, metrics.Config{SampleRate: e.sampleRate})
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

type apiSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// queryByHand runs PromQL through the HTTP API with plain net/http and encoding/json,
// independently of the client under test.
func queryByHand(t *testing.T, base, q string, at time.Time) []apiSample {
	t.Helper()
	u := fmt.Sprintf("%s/api/v1/query?query=%s&time=%.3f", base, url.QueryEscape(q), float64(at.UnixMilli())/1000)
	var result []apiSample
	if err := testkit.QueryAPI(u, &result); err != nil {
		t.Fatalf("query %s: %v", q, err)
	}
	return result
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
