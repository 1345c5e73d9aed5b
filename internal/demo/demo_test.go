package demo

import (
	"context"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/nsai/ingot-top/internal/wire"
)

// The demo is what a new user runs first: real traffic on a real server, health endpoints
// that follow the scenario, and nothing left behind.
func TestDemoRunsAndCleansUp(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env, err := Start(ctx, Config{Rate: 500, Queues: 4, Labelers: 8, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			env.Close()
		}
	}()

	nc, err := nats.Connect(env.URL)
	if err != nil {
		t.Fatalf("joining the demo at %s: %v", env.URL, err)
	}
	defer nc.Close()
	msgs := make(chan *nats.Msg, 4096)
	if _, err := nc.ChanSubscribe("telemetry.>", msgs); err != nil {
		t.Fatal(err)
	}
	dec := wire.NewDecoder("telemetry")
	deadline := time.After(20 * time.Second)
	for got := 0; got < 50; got++ {
		select {
		case m := <-msgs:
			if _, derr := dec.Decode(m.Subject, m.Data, m.Header.Get("traceparent"), time.Now()); derr != nil {
				t.Fatalf("demo published a contract violation on %s: %v", m.Subject, derr)
			}
		case <-deadline:
			t.Fatalf("only %d demo events in 20s", got)
		}
	}

	client := &http.Client{Timeout: 3 * time.Second}
	status := func(url string) int {
		t.Helper()
		resp, err := client.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := status(env.Health.AnvilURL); code != http.StatusOK {
		t.Fatalf("anvil health %d before the scenario switch", code)
	}
	if err := env.SetScenario("degraded-anvil"); err != nil {
		t.Fatal(err)
	}
	if code := status(env.Health.AnvilURL); code != http.StatusServiceUnavailable {
		t.Errorf("anvil health %d in degraded-anvil, want 503", code)
	}
	if err := env.SetScenario("meltdown"); err == nil {
		t.Error("an unknown scenario was accepted")
	}

	store := env.storeDir
	if err := env.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	closed = true
	if _, err := os.Stat(store); !os.IsNotExist(err) {
		t.Errorf("JetStream store %s left behind (stat: %v)", store, err)
	}
}
