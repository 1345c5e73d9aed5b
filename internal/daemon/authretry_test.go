package daemon

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/nsai/ingot-top/internal/testkit"
)

// Issue 9: with a token the server refuses, the daemon showed "connection closed" and
// ingot_top_nats_up stayed 0 after the server was restarted with the matching token. The
// server's reason must be in /health and in the log, and the daemon must come back.
func TestDaemonComesBackAfterCredentialsAreFixed(t *testing.T) {
	port := testkit.FreePort(t)
	srv := testkit.StartNATS(t, &server.Options{Port: port, Authorization: "their-token"})
	cfg := testConfig(t, fmt.Sprintf("nats://127.0.0.1:%d", port))
	cfg.Feed.Token = "my-token"
	rd := startDaemon(t, cfg, Deps{Stderr: io.Discard})
	natsUp := func() float64 { return sumMetric(scrapeFamilies(t, rd.url), "ingot_top_nats_up", nil) }

	testkit.Eventually(t, 20*time.Second, "the server's reason in /health", func() (bool, string) {
		_, rep := getHealth(t, rd.url)
		return strings.Contains(rep.Services["pubsub"].Reason, "Authorization Violation"), fmt.Sprintf("%+v", rep.Services["pubsub"])
	})
	testkit.Eventually(t, 20*time.Second, "the server's reason in the log", func() (bool, string) {
		for _, l := range logLines(t, cfg.Log.File, "NATS still unreachable") {
			if e, _ := l["error"].(string); strings.Contains(e, "Authorization Violation") {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%v", logLines(t, cfg.Log.File, "NATS still unreachable"))
	})
	if up := natsUp(); up != 0 {
		t.Errorf("ingot_top_nats_up %v while refused", up)
	}

	srv.Shutdown()
	srv.WaitForShutdown()
	testkit.StartNATS(t, &server.Options{Port: port, Authorization: "my-token"})
	testkit.Eventually(t, 30*time.Second, "ingot_top_nats_up back to 1", func() (bool, string) {
		up := natsUp()
		return up == 1, fmt.Sprintf("ingot_top_nats_up %v", up)
	})
	if err := rd.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
}
