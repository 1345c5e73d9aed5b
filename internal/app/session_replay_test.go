package app

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/alerts"
	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/record/recordtest"
	"github.com/nsai/ingot-top/internal/replay"
	"github.com/nsai/ingot-top/internal/sim"
)

// A replaying session runs on the recorded clock: its frames carry the recorded time and
// the REPLAY status, every recorded message reaches the engine, the alert that fired in
// the recording fires in the frames, and the last moment stays once the recording ended.
func TestReplaySessionRunsOnTheRecordedClock(t *testing.T) {
	file := filepath.Join(t.TempDir(), "r.itr")
	start := time.Date(2026, 3, 14, 3, 0, 0, 0, time.UTC)
	n, err := recordtest.Write(file, start, 100, 5,
		recordtest.Segment{Scenario: sim.ScenarioDegradedAnvil, Span: 4 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	infos, err := replay.Scan([]string{file})
	if err != nil {
		t.Fatal(err)
	}
	pacer := replay.NewPacer(0, time.Time{}, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sess, err := Start(ctx, Config{Refresh: 20 * time.Millisecond, Engine: engine.DefaultConfig(), Rules: alerts.DefaultRules(),
		Replay: &ReplayConfig{Files: infos, Pacer: pacer}})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.After(30 * time.Second)
	fired := false
	for {
		select {
		case f := <-sess.Frames():
			if f.Replay == nil {
				t.Fatal("a replay frame without the REPLAY status")
			}
			if f.At.Before(start) || f.At.After(start.Add(4*time.Minute+time.Second)) {
				t.Fatalf("frame at %s: not on the recorded clock (%s + 4m)", f.At, start)
			}
			fired = fired || f.Alerts.Firing()
			if f.Replay.Ended && f.Conn.Received == uint64(n) && f.Stream != nil && f.Stream.Totals.Events+f.Stream.Totals.Invalid == uint64(n) {
				if !fired {
					t.Fatal("degraded Anvil for 4 recorded minutes, and no alert fired in the frames")
				}
				cancel()
				if err := sess.Wait(); err != nil {
					t.Errorf("Wait: %v", err)
				}
				return
			}
		case <-deadline:
			t.Fatalf("the replay did not end with all %d messages in the engine", n)
		}
	}
}
