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

// The history clock answers a frame's time and its replay marker together: a frame is
// either the stream's time marked REPLAY or the wall clock marked live, even while the feed
// catches up between the two (the race TestSinceSessionReadsThePastThenGoesLive once lost).
func TestHistoryClockTimeAndMarkerAgree(t *testing.T) {
	wall := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	h := &historyClock{since: wall.Add(-time.Hour), wall: func() time.Time { return wall }}
	stored := wall.Add(-30 * time.Minute)
	h.set(stored, false)
	if at, marker := h.nowAndReading(); !at.Equal(stored) || marker == nil {
		t.Fatalf("reading the past: %s, marker %v; want %s marked", at, marker, stored)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.set(stored.Add(time.Second), true)
	}()
	for {
		at, marker := h.nowAndReading()
		if live := marker == nil; live != at.Equal(wall) {
			t.Fatalf("frame at %s with marker %v: the time and the marker disagree", at, marker)
		}
		if marker == nil {
			break
		}
	}
	<-done
}
