package app

import (
	"context"
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/feed"
	"github.com/nsai/ingot-top/internal/testkit"
)

// TestFramesCarryTheHistory runs a session on a real NATS server: every frame carries the
// session's history ring, and the ring has the frames' seconds.
func TestFramesCarryTheHistory(t *testing.T) {
	srv := testkit.StartNATS(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sess, err := Start(ctx, Config{Refresh: 50 * time.Millisecond,
		Feed: feed.Options{Server: srv.ClientURL(), Subject: "telemetry.>", ConnectTimeout: 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for {
		select {
		case f := <-sess.Frames():
			if f.History == nil || f.History != sess.History() {
				t.Fatal("frame without the session's history")
			}
			if _, last, ok := f.History.Bounds(); ok && !last.Before(f.At.Truncate(time.Second)) {
				if _, ok := f.History.Moment(f.At); !ok {
					t.Fatal("the frame's second is not in the history")
				}
				cancel()
				if err := sess.Wait(); err != nil {
					t.Errorf("Wait: %v", err)
				}
				return
			}
		case <-deadline:
			t.Fatal("no frame recorded in the history")
		}
	}
}
