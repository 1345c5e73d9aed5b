package app

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/feed"
	"github.com/nsai/ingot-top/internal/testkit"
)

// A session opened on the past (--since) reads the stream on the stream's clock, marked
// REPLAY, then goes live on the wall clock: the history and what is published afterwards
// are each counted once.
func TestSinceSessionReadsThePastThenGoesLive(t *testing.T) {
	srv, js := testkit.StartTelemetryStream(t)
	bg := context.Background()
	publish := func(from, to int) {
		for i := from; i < to; i++ {
			body := fmt.Sprintf(`{"v":1,"event":["anvil","label","submitted"],"measurements":{"duration_ms":12},"metadata":{"queue_id":"q1","assignment_id":"a%d","labeler_id":"u1"}}`, i)
			if _, err := js.Publish(bg, "telemetry.anvil.label.submitted", []byte(body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	since := time.Now().Add(-time.Minute)
	publish(0, 300)
	storedBy := time.Now()

	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	sess, err := Start(ctx, Config{Refresh: 20 * time.Millisecond, Engine: engine.DefaultConfig(), Since: since,
		Feed: feed.Options{Server: srv.ClientURL(), Subject: "telemetry.>", ConnectTimeout: 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	events := func(want uint64, what string) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			select {
			case f := <-sess.Frames():
				if f.Replay != nil && f.At.After(storedBy) {
					t.Fatalf("reading the past, yet the frame is at %s, after everything was stored (%s)", f.At, storedBy)
				}
				if f.Replay == nil && f.Stream != nil && f.Stream.Totals.Events == want {
					if f.At.Before(storedBy) {
						t.Fatalf("live, yet the frame is at %s: not the wall clock", f.At)
					}
					return
				}
				if f.Stream != nil && f.Stream.Totals.Events > want {
					t.Fatalf("%s: %d events, want %d", what, f.Stream.Totals.Events, want)
				}
			case <-deadline:
				t.Fatalf("%s: no live frame with %d events", what, want)
			}
		}
	}
	events(300, "the history")
	publish(300, 350)
	events(350, "history and live")
	cancel()
	if err := sess.Wait(); err != nil {
		t.Errorf("Wait: %v", err)
	}
}
