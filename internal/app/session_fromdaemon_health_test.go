package app

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/daemon"
	"github.com/nsai/ingot-top/internal/daemonsrc"
	"github.com/nsai/ingot-top/internal/feed"
	"github.com/nsai/ingot-top/internal/health"
	"github.com/nsai/ingot-top/internal/testkit"
)

// TestFromDaemonShowsTheDaemonsProbes runs a real daemon that probes a Forge answering 200
// and an Anvil answering 503, and a --from-daemon viewer that probes nothing itself: the
// viewer's frames show both probes as the daemon sees them, not "unknown" (its alert
// rules then see them too: the frame's probes are what the evaluator reads).
func TestFromDaemonShowsTheDaemonsProbes(t *testing.T) {
	ns := testkit.StartNATS(t, nil)
	forge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	defer forge.Close()
	anvil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"status":"degraded","db":"pool exhausted"}`)
	}))
	defer anvil.Close()

	startRepublishingDaemon(t, ns.ClientURL(), func(c *daemon.Config) {
		c.ForgeHealthURL = forge.URL
		c.AnvilHealthURL = anvil.URL
		c.Health = health.Config{Interval: 200 * time.Millisecond, Timeout: time.Second}
	})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sess, err := Start(ctx, Config{
		Refresh:    100 * time.Millisecond,
		FromDaemon: &daemonsrc.Config{Feed: feed.Options{Server: ns.ClientURL(), ConnectTimeout: 2 * time.Second}, SnapshotSubject: "fleet.snap"},
	})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.After(30 * time.Second)
	for {
		select {
		case f := <-sess.Frames():
			states := map[string]health.State{}
			for _, h := range f.Health {
				states[h.Name] = h.State
			}
			if states["forge"] != health.StateHealthy || states["anvil"] != health.StateUnhealthy {
				continue
			}
			for _, h := range f.Health {
				if h.Name == "anvil" && h.LastError == "" {
					t.Errorf("anvil probe without its error: %+v", h)
				}
			}
			cancel()
			if err := sess.Wait(); err != nil {
				t.Errorf("Wait: %v", err)
			}
			return
		case <-deadline:
			f := sess.Current()
			t.Fatalf("the viewer never showed the daemon's probes (forge healthy, anvil unhealthy); health %+v", f.Health)
		}
	}
}
