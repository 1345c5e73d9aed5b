package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/feed"
	"github.com/nsai/ingot-top/internal/testkit"
)

func TestConnChangesAreLogged(t *testing.T) {
	states := make(chan feed.ConnState, 1)
	var mu sync.Mutex
	cur := feed.ConnState{Phase: feed.PhaseConnected, Server: "nats://x:4222"}
	state := func() feed.ConnState {
		mu.Lock()
		defer mu.Unlock()
		return cur
	}
	set := func(s feed.ConnState) {
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
	set(feed.ConnState{Phase: feed.PhaseReconnecting, Server: "nats://x:4222", LastError: "connection refused", Since: time.Unix(100, 0)})
	<-states
	waitFor(`"msg":"NATS connection lost"`)
	waitFor(`connection refused`)
	set(feed.ConnState{Phase: feed.PhaseConnected, Server: "nats://x:4222", Reconnects: 1, Since: time.Unix(130, 0)})
	<-states
	waitFor(`"msg":"NATS connected"`)
	waitFor(`"down_for":30000000000`)
	cancel()
	<-done
}
