package demo

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/nsai/ingot-top/internal/audit"
	"github.com/nsai/ingot-top/internal/daemon"
	"github.com/nsai/ingot-top/internal/feed"
	"github.com/nsai/ingot-top/internal/testkit"
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

// Issue 9, defect 7: `demo --port` on a port in use said "did not become ready within 10s".
func TestDemoPortInUseSaysAddressInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := busy.Addr().(*net.TCPAddr).Port

	env, err := Start(context.Background(), Config{Port: port, Rate: 10})
	if err == nil {
		env.Close()
		t.Fatalf("the demo started on port %d, which is in use", port)
	}
	msg := err.Error()
	if !strings.Contains(msg, "address already in use") || !strings.Contains(msg, strconv.Itoa(port)) ||
		strings.Contains(msg, "did not become ready") {
		t.Fatalf("error %q: want the port and \"address already in use\"", msg)
	}
}

// Issue 9, defect 7: the example `demo --help` prints, `ingot-top daemon -s URL --durable
// demo`, must work as printed: the durable consumer it names exists on the demo's stream.
func TestDemoHelpExampleDurableDaemonConsumes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env, err := Start(ctx, Config{Rate: 200, Queues: 2, Labelers: 4, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()

	dir := t.TempDir()
	d, err := daemon.New(daemon.Config{
		Feed:   feed.Options{Server: env.URL, Subject: "telemetry.>", ConnectTimeout: 2 * time.Second},
		Ingest: feed.Config{Durable: DurableConsumer, Stream: Stream}, // no --create, as in the help
		Web:    daemon.WebConfig{ListenAddresses: []string{"127.0.0.1:0"}},
		Log:    daemon.LogConfig{Level: slog.LevelInfo, Format: daemon.LogFormatJSON, SampleRate: 0.1},
		Audit:  daemon.AuditConfig{Dir: filepath.Join(dir, "audit"), Fsync: audit.FsyncBatch},
	}, daemon.Deps{Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
	}()
	url := "http://" + d.Addrs()[0].String()
	testkit.Eventually(t, 20*time.Second, "the daemon of the help example ready", func() (bool, string) {
		resp, err := http.Get(url + "/-/ready")
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == http.StatusOK, string(body)
	})
	testkit.Eventually(t, 20*time.Second, "demo events consumed", func() (bool, string) {
		st := d.Registry()
		mfs, err := st.Gather()
		if err != nil {
			return false, err.Error()
		}
		for _, mf := range mfs {
			if mf.GetName() == "ingot_top_events_received_total" {
				total := 0.0
				for _, m := range mf.GetMetric() {
					total += m.GetCounter().GetValue()
				}
				return total > 0, fmt.Sprint(total)
			}
		}
		return false, "no ingot_top_events_received_total yet"
	})
}
