package sim

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"
)

type healthReply struct {
	code int
	body map[string]any
	took time.Duration
}

func getHealth(t *testing.T, client *http.Client, u string) (healthReply, error) {
	t.Helper()
	start := time.Now()
	resp, err := client.Get(u)
	if err != nil {
		return healthReply{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return healthReply{}, err
	}
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("%s: body is not JSON: %v: %q", u, err, raw)
	}
	return healthReply{code: resp.StatusCode, body: body, took: time.Since(start)}, nil
}

func startHealth(t *testing.T, service string) *HealthServer {
	t.Helper()
	h := NewHealthServer(service)
	if err := h.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestHealthServerStates(t *testing.T) {
	h := startHealth(t, "anvil")
	client := &http.Client{Timeout: 3 * time.Second}

	r, err := getHealth(t, client, h.URL()+"/health")
	if err != nil || r.code != 200 || r.body["status"] != "ok" || r.body["service"] != "anvil" {
		t.Fatalf("healthy: %+v %v", r, err)
	}

	h.SetState(HealthFailing, "")
	r, err = getHealth(t, client, h.URL()+"/health")
	if err != nil || r.code != 503 || r.body["status"] != "error" || r.body["reason"] == "" || r.body["reason"] == nil {
		t.Fatalf("failing: %+v %v", r, err)
	}

	h.SetSlowDelay(300 * time.Millisecond)
	h.SetState(HealthSlow, "")
	r, err = getHealth(t, client, h.URL()+"/health")
	if err != nil || r.code != 200 || r.took < 300*time.Millisecond {
		t.Fatalf("slow: %+v %v", r, err)
	}
	impatient := &http.Client{Timeout: 100 * time.Millisecond}
	if _, err := getHealth(t, impatient, h.URL()+"/health"); !isTimeout(err) {
		t.Fatalf("slow endpoint with a 100ms client: %v, want timeout", err)
	}

	h.SetState(HealthHanging, "")
	if _, err := getHealth(t, impatient, h.URL()+"/health"); !isTimeout(err) {
		t.Fatalf("hanging endpoint: %v, want timeout", err)
	}
}

func TestHealthStateSwitchOverHTTP(t *testing.T) {
	h := startHealth(t, "forge")
	client := &http.Client{Timeout: 3 * time.Second}
	post := func(q string) int {
		resp, err := client.Post(h.URL()+"/-/state?"+q, "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("state=failing&reason=" + url.QueryEscape("disk full")); code != 200 {
		t.Fatalf("POST state=failing: %d", code)
	}
	r, _ := getHealth(t, client, h.URL()+"/health")
	if r.code != 503 || r.body["reason"] != "disk full" {
		t.Fatalf("after POST failing: %+v", r)
	}
	if code := post("state=bogus"); code != 400 {
		t.Fatalf("POST state=bogus: %d, want 400", code)
	}
	if code := post("state=slow&delay=xyz"); code != 400 {
		t.Fatalf("POST bad delay: %d, want 400", code)
	}
	if code := post("state=slow&delay=50ms"); code != 200 {
		t.Fatalf("POST slow: %d", code)
	}
	if st, _, d := h.State(); st != HealthSlow || d != 50*time.Millisecond {
		t.Fatalf("state %s delay %v", st, d)
	}
	req, _ := http.NewRequest(http.MethodDelete, h.URL()+"/-/state", nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("DELETE: %d", resp.StatusCode)
	}
}

func TestHangingHealthDoesNotLeakPastClose(t *testing.T) {
	before := runtime.NumGoroutine()
	h := NewHealthServer("anvil")
	if err := h.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	h.SetState(HealthHanging, "")
	patient := &http.Client{Timeout: time.Minute}
	errc := make(chan error, 1)
	go func() {
		resp, err := patient.Get(h.URL() + "/health")
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	// Wait until the request is inside the handler.
	deadline := time.Now().Add(5 * time.Second)
	for {
		h.handlers.mu.Lock()
		n := h.handlers.n
		h.handlers.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("request never reached the handler")
		}
		runtime.Gosched()
	}
	closed := make(chan error, 1)
	go func() { closed <- h.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close blocked on a hanging request")
	}
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("hanging request got an answer")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("client still waiting after Close")
	}
	patient.CloseIdleConnections()
	deadline = time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		runtime.Gosched()
	}
}

func TestIngotCompositeHealth(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hs, err := StartHealthServers(ctx, "127.0.0.1:0", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hs.Close()
	hs.Ingot.probeTimeout = 200 * time.Millisecond
	if !strings.HasSuffix(hs.ForgeURL, "/health") || hs.AnvilURL == "" || hs.IngotURL == "" {
		t.Fatalf("URLs: %s", hs.URLs())
	}
	client := &http.Client{Timeout: 3 * time.Second}
	services := func(r healthReply) map[string]any {
		s, ok := r.body["services"].(map[string]any)
		if !ok {
			t.Fatalf("no services in %v", r.body)
		}
		return s
	}
	svc := func(r healthReply, name string) map[string]any {
		s, _ := services(r)[name].(map[string]any)
		return s
	}

	r, err := getHealth(t, client, hs.IngotURL)
	if err != nil || r.code != 200 || r.body["status"] != "ok" {
		t.Fatalf("all healthy: %+v %v", r, err)
	}
	if _, err := time.Parse(time.RFC3339, r.body["timestamp"].(string)); err != nil {
		t.Fatalf("timestamp: %v", err)
	}
	for _, name := range []string{"forge", "anvil", "pubsub"} {
		if svc(r, name)["status"] != "healthy" {
			t.Fatalf("%s: %v", name, svc(r, name))
		}
	}

	hs.ApplyScenario(ScenarioForgeDown)
	r, _ = getHealth(t, client, hs.IngotURL)
	if r.code != 503 || svc(r, "forge")["status"] != "unhealthy" || svc(r, "forge")["reason"] != "econnrefused forge:4001" || svc(r, "anvil")["status"] != "healthy" {
		t.Fatalf("forge-down: %+v", r)
	}
	fr, _ := getHealth(t, client, hs.ForgeURL)
	if fr.code != 503 {
		t.Fatalf("forge /health in forge-down: %d", fr.code)
	}

	hs.ApplyScenario(ScenarioNormal)
	hs.Anvil.SetState(HealthHanging, "")
	r, _ = getHealth(t, client, hs.IngotURL)
	if r.code != 503 || svc(r, "anvil")["reason"] != "timeout" || svc(r, "forge")["status"] != "healthy" {
		t.Fatalf("anvil hanging: %+v", r)
	}

	hs.ApplyScenario(ScenarioDegradedAnvil)
	if st, _, _ := hs.Anvil.State(); st != HealthFailing {
		t.Fatalf("degraded-anvil: anvil %s", st)
	}

	// Cancelling the context stops every server.
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := client.Get(hs.IngotURL)
		if err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("servers still answer after the context ended")
		}
		runtime.Gosched()
	}
}

func TestHealthServersOffWhenAddressEmpty(t *testing.T) {
	hs, err := StartHealthServersAt(context.Background(), HealthAddrs{Anvil: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer hs.Close()
	if hs.ForgeURL != "" || hs.IngotURL != "" || hs.AnvilURL == "" {
		t.Fatalf("URLs: %q", hs.URLs())
	}
	if _, err := StartHealthServersAt(context.Background(), HealthAddrs{Forge: "256.0.0.1:1"}); err == nil {
		t.Fatal("bad address accepted")
	}
}
