package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/nsai/ingot-top/internal/testkit"
)

// Issue 9: with a wrong token, snapshot said "could not connect ...: subscription: nats:
// connection closed". It must print the server's reason before exiting 3.
func TestSnapshotWrongTokenPrintsTheServersReason(t *testing.T) {
	s := testkit.StartNATS(t, &server.Options{Authorization: "right-token"})
	res := runCmd(context.Background(), "snapshot", "-s", s.ClientURL(), "--token", "wrong-token", "--duration", "2s", "--quiet")
	if res.code != ExitNoConnect {
		t.Fatalf("exit %d, want %d (no connection); stderr: %s", res.code, ExitNoConnect, res.stderr)
	}
	if !strings.Contains(res.stderr, "Authorization Violation") || strings.Contains(res.stderr, "connection closed") {
		t.Errorf("stderr %q, want the server's reason (Authorization Violation)", res.stderr)
	}
	if strings.Contains(res.stderr, "wrong-token") {
		t.Errorf("stderr shows the token: %q", res.stderr)
	}
}
