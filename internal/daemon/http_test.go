package daemon

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nsai/ingot-top/internal/health"
	"github.com/nsai/ingot-top/internal/ingest"
)

// settableState is a feed state the test flips; the full daemon tests use the real feed.
type settableState struct {
	mu sync.Mutex
	cs ingest.ConnState
}

func (s *settableState) State() ingest.ConnState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cs
}

func (s *settableState) set(cs ingest.ConnState) {
	s.mu.Lock()
	s.cs = cs
	s.mu.Unlock()
}

// switchable is a real HTTP /health endpoint that can be made to fail.
func switchable(t *testing.T) (*httptest.Server, func(code int)) {
	var mu sync.Mutex
	code := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		c := code
		mu.Unlock()
		w.WriteHeader(c)
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	}))
	t.Cleanup(srv.Close)
	return srv, func(c int) { mu.Lock(); code = c; mu.Unlock() }
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func getHealth(t *testing.T, url string) (int, HealthReport) {
	t.Helper()
	code, body := get(t, url+"/health")
	var rep HealthReport
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatalf("/health body is not JSON: %v: %q", err, body)
	}
	return code, rep
}

func TestHealthEndpointsAgainstRealProbes(t *testing.T) {
	forge, setForge := switchable(t)
	anvil, _ := switchable(t)
	prober := health.New([]health.Target{
		{Name: "forge", URL: forge.URL + "/health"},
		{Name: "anvil", URL: anvil.URL + "/health"},
	}, health.Config{Timeout: time.Second}, nil, nil)
	state := &settableState{cs: ingest.ConnState{Phase: ingest.PhaseConnected, Server: "nats://127.0.0.1:4222", Subject: "telemetry.>"}}
	endpoints := &healthEndpoints{feed: state, probes: prober, probed: map[string]bool{"forge": true, "anvil": true}, now: time.Now}
	mux, err := newMux(prometheus.NewRegistry(), endpoints, "test", promhttpLogger{slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()

	// Before any probe finished nobody can vouch for Forge/Anvil.
	if code, rep := getHealth(t, srv.URL); code != 503 || rep.Services["forge"].Status != "unknown" {
		t.Fatalf("before probes: %d %+v", code, rep)
	}

	prober.CheckNow(context.Background())
	code, rep := getHealth(t, srv.URL)
	if code != 200 || rep.Status != "ok" {
		t.Fatalf("all up: %d %+v", code, rep)
	}
	if _, err := time.Parse(time.RFC3339, rep.Timestamp); err != nil {
		t.Fatalf("timestamp %q: %v", rep.Timestamp, err)
	}
	for _, name := range []string{"forge", "anvil", "pubsub"} {
		if rep.Services[name].Status != "healthy" {
			t.Fatalf("%s: %+v", name, rep.Services[name])
		}
	}
	if rep.Services["forge"].LatencyMS == nil {
		t.Fatal("healthy forge without latency_ms")
	}

	setForge(http.StatusInternalServerError)
	anvil.Close() // connection refused from now on
	prober.CheckNow(context.Background())
	code, rep = getHealth(t, srv.URL)
	if code != 503 || rep.Status != "degraded" {
		t.Fatalf("forge 500 and anvil down: %d %+v", code, rep)
	}
	if rep.Services["forge"].Status != "unhealthy" || rep.Services["anvil"].Status != "unhealthy" || rep.Services["anvil"].Reason == "" {
		t.Fatalf("services %+v", rep.Services)
	}

	setForge(http.StatusOK)
	prober.CheckNow(context.Background())
	if code, _ := getHealth(t, srv.URL); code != 503 {
		t.Fatalf("anvil still down but /health %d", code)
	}

	// Readiness follows the feed only.
	if code, body := get(t, srv.URL+"/-/ready"); code != 200 || !strings.Contains(body, "telemetry.>") {
		t.Fatalf("ready: %d %q", code, body)
	}
	state.set(ingest.ConnState{Phase: ingest.PhaseReconnecting, Server: "nats://127.0.0.1:4222", LastError: "connection refused"})
	if code, body := get(t, srv.URL+"/-/ready"); code != 503 || !strings.Contains(body, "reconnecting") || !strings.Contains(body, "connection refused") {
		t.Fatalf("not ready: %d %q", code, body)
	}
	if code, _ := get(t, srv.URL+"/-/healthy"); code != 200 {
		t.Fatalf("liveness %d", code)
	}
	if code, body := get(t, srv.URL+"/"); code != 200 || !strings.Contains(body, "/metrics") {
		t.Fatalf("landing page %d %q", code, body)
	}
	if code, _ := get(t, srv.URL+"/nope"); code != 404 {
		t.Fatalf("unknown path %d", code)
	}
}

func TestHealthNotConfiguredServicesDoNotFail(t *testing.T) {
	state := &settableState{cs: ingest.ConnState{Phase: ingest.PhaseConnected}}
	endpoints := &healthEndpoints{feed: state, probed: map[string]bool{}, now: time.Now}
	rep, ok := endpoints.report(context.Background())
	if !ok || rep.Status != "ok" {
		t.Fatalf("no probes configured and NATS up must be ok: %+v", rep)
	}
	for _, name := range []string{"forge", "anvil"} {
		if s := rep.Services[name]; s.Status != "unknown" || s.Reason != "not configured" {
			t.Fatalf("%s: %+v", name, s)
		}
	}
	state.set(ingest.ConnState{Phase: ingest.PhaseConnecting, LastError: "dial tcp: connection refused"})
	rep, ok = endpoints.report(context.Background())
	if ok || rep.Status != "degraded" || rep.Services["pubsub"].Status != "unhealthy" {
		t.Fatalf("NATS down must degrade: %+v", rep)
	}
}
