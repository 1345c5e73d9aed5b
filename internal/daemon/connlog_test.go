package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/ingest"
	"github.com/nsai/ingot-top/internal/testkit"
)

func TestConnChangesAreLogged(t *testing.T) {
	states := make(chan ingest.ConnState, 1)
	var mu sync.Mutex
	cur := ingest.ConnState{Phase: ingest.PhaseConnected, Server: "nats://x:4222"}
	state := func() ingest.ConnState {
		mu.Lock()
		defer mu.Unlock()
		return cur
	}
	set := func(s ingest.ConnState) {
		mu.Lock()
		cur = s
		mu.Unlock()
		states <- s
	}
	var out testkit.SyncBuffer
	logger := slog.New(slog.NewJSONHandler(&out, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	initial := state()
	go func() { logConnChanges(ctx, initial, state, logger, time.Millisecond); close(done) }()

	waitFor := func(text string) {
		t.Helper()
		testkit.Eventually(t, 5*time.Second, fmt.Sprintf("log says %q", text), func() (bool, string) {
			logged := out.String()
			return strings.Contains(logged, text), "log:\n" + logged
		})
	}
	set(ingest.ConnState{Phase: ingest.PhaseReconnecting, Server: "nats://x:4222", LastError: "connection refused", Since: time.Unix(100, 0)})
	<-states
	waitFor(`"msg":"NATS connection lost"`)
	waitFor(`connection refused`)
	set(ingest.ConnState{Phase: ingest.PhaseConnected, Server: "nats://x:4222", Reconnects: 1, Since: time.Unix(130, 0)})
	<-states
	waitFor(`"msg":"NATS connected"`)
	waitFor(`"down_for":30000000000`)
	cancel()
	<-done
}

// Issue 9: a daemon started with a wrong token stays "connecting" while the server refuses
// it, so a log written on phase changes only never said why. Each new reason is logged once
// (the server's exact words), not once per attempt.
func TestRefusedConnectionReasonIsLogged(t *testing.T) {
	var mu sync.Mutex
	cur := ingest.ConnState{Phase: ingest.PhaseConnecting, Server: "nats://x:4222"}
	polled := make(chan struct{}, 1)
	state := func() ingest.ConnState {
		mu.Lock()
		defer mu.Unlock()
		select {
		case polled <- struct{}{}:
		default:
		}
		return cur
	}
	set := func(err string) {
		mu.Lock()
		cur.LastError = err
		mu.Unlock()
	}
	var out testkit.SyncBuffer
	logger := slog.New(slog.NewJSONHandler(&out, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	initial := state()
	<-polled
	go func() { logConnChanges(ctx, initial, state, logger, time.Millisecond); close(done) }()
	// Several polls with each error, so a line per poll would show.
	polls := func(n int) {
		for range n {
			<-polled
		}
	}
	set("connecting: nats: Authorization Violation")
	polls(5)
	set("connecting: dial tcp 127.0.0.1:4222: connect: connection refused")
	polls(5)
	set("connecting: nats: Authorization Violation")
	polls(5)
	cancel()
	<-done
	logged := out.String()
	if n := strings.Count(logged, "nats: Authorization Violation"); n != 1 {
		t.Errorf("the auth reason logged %d times, want once:\n%s", n, logged)
	}
	if n := strings.Count(logged, "connection refused"); n != 1 {
		t.Errorf("the refused dial logged %d times, want once:\n%s", n, logged)
	}
	if !strings.Contains(logged, `"msg":"NATS still unreachable"`) {
		t.Errorf("no line says NATS is unreachable:\n%s", logged)
	}
}
