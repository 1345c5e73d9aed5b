package app

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/nsai/ingot-top/internal/daemonsrc"
	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/feed"
	"github.com/nsai/ingot-top/internal/ingest"
	"github.com/nsai/ingot-top/internal/testkit"
	"github.com/nsai/ingot-top/internal/ui"
	"github.com/nsai/ingot-top/internal/wire"
)

// TestFromDaemonFramesShowMergedAggregates runs a session in FromDaemon mode: no feed and no
// engine of its own, frames carry what a daemon's aggregate says.
func TestFromDaemonFramesShowMergedAggregates(t *testing.T) {
	srv := testkit.StartNATS(t, nil)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sess, err := Start(ctx, Config{
		Refresh:    50 * time.Millisecond,
		FromDaemon: &daemonsrc.Config{Feed: feed.Options{Server: srv.ClientURL(), ConnectTimeout: 2 * time.Second}, SnapshotSubject: "fleet.snap"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if sess.Engine() != nil || sess.Feed() != nil || sess.Fleet() == nil {
		t.Fatal("FromDaemon session runs a feed or engine of its own")
	}

	// A daemon's aggregate: one engine that saw three events.
	eng := engine.New(engine.Config{}, nil)
	engCtx, engStop := context.WithCancel(context.Background())
	engDone := make(chan error, 1)
	go func() { engDone <- eng.Run(engCtx) }()
	defer func() { engStop(); <-engDone }()
	now := time.Now()
	for i := 0; i < 3; i++ {
		ev := wire.Event{Name: wire.EventLiveViewMount, Segments: []string{"ingot", "live_view", "mount"}, Time: now, HasTime: true, Received: now,
			Measurements: []wire.Measurement{{Key: "duration_ms", Value: 40}}}
		if err := eng.HandleBatch([]wire.Event{ev}); err != nil {
			t.Fatal(err)
		}
	}
	x, err := eng.Aggregate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	x.Producer = "daemon-1"
	data, err := x.Encode()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()

	deadline := time.After(15 * time.Second)
	for {
		// Publish until a frame shows it: the viewer may not have subscribed yet.
		if err := pub.Publish("fleet.snap", data); err != nil {
			t.Fatal(err)
		}
		select {
		case f := <-sess.Frames():
			if f.Stream != nil && f.Stream.Totals.Events == 3 {
				if len(f.Sources) == 0 || f.Sources[0].Name != "daemons" || f.Conn.Phase != ingest.PhaseConnected {
					t.Errorf("sources %+v conn %+v, want the daemons source, connected", f.Sources, f.Conn)
				}
				cancel()
				if err := sess.Wait(); err != nil {
					t.Errorf("Wait: %v", err)
				}
				return
			}
		case <-deadline:
			t.Fatalf("no frame with the aggregate's 3 events; last conn %+v", sess.Fleet().State())
		}
	}
}

// aggregateOf is one daemon's encoded aggregate: an engine that saw n mounts.
func aggregateOf(t *testing.T, producer string, n int) []byte {
	t.Helper()
	eng := engine.New(engine.Config{}, nil)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	defer func() { stop(); <-done }()
	now := time.Now()
	for i := 0; i < n; i++ {
		ev := wire.Event{Name: wire.EventLiveViewMount, Segments: []string{"ingot", "live_view", "mount"}, Time: now, HasTime: true, Received: now,
			Measurements: []wire.Measurement{{Key: "duration_ms", Value: 40}}}
		if err := eng.HandleBatch([]wire.Event{ev}); err != nil {
			t.Fatal(err)
		}
	}
	x, err := eng.Aggregate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	x.Producer, x.Host = producer, "host-"+producer
	data, err := x.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestFromDaemonFramesShowStaleDaemon: a daemon that stops publishing is shown stale in
// the frame's sources, with how long it has been silent, and its share leaves the totals.
// The viewer's clock is manual: the test decides when the daemon has been silent too long.
func TestFromDaemonFramesShowStaleDaemon(t *testing.T) {
	srv := testkit.StartNATS(t, nil)
	clock := engine.NewManualClock(time.Now())
	const expireAfter = 3 * time.Second
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sess, err := Start(ctx, Config{
		Refresh: 50 * time.Millisecond,
		FromDaemon: &daemonsrc.Config{Feed: feed.Options{Server: srv.ClientURL(), ConnectTimeout: 2 * time.Second}, SnapshotSubject: "fleet.snap",
			ExpireAfter: expireAfter, Now: clock.Now},
	})
	if err != nil {
		t.Fatal(err)
	}
	a, b := aggregateOf(t, "daemon-a", 3), aggregateOf(t, "daemon-b", 5)
	pub, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	// waitFrame publishes the live daemons' aggregates, as they do every second, until a
	// frame satisfies ok.
	waitFrame := func(what string, live [][]byte, ok func(f ui.Frame) bool) ui.Frame {
		t.Helper()
		deadline := time.After(15 * time.Second)
		for {
			for _, data := range live {
				if err := pub.Publish("fleet.snap", data); err != nil {
					t.Fatal(err)
				}
			}
			select {
			case f := <-sess.Frames():
				if f.Stream != nil && ok(f) {
					return f
				}
			case <-deadline:
				f := sess.Current()
				t.Fatalf("no frame with %s; last sources %+v", what, f.Sources)
			}
		}
	}
	source := func(f ui.Frame, name string) (ui.SourceInfo, bool) {
		for _, s := range f.Sources {
			if s.Name == name {
				return s, true
			}
		}
		return ui.SourceInfo{}, false
	}
	waitFrame("both daemons merged", [][]byte{a, b}, func(f ui.Frame) bool {
		sa, okA := source(f, ui.DaemonSourcePrefix+"daemon-a")
		sb, okB := source(f, ui.DaemonSourcePrefix+"daemon-b")
		return f.Stream.Totals.Events == 8 && okA && okB && !sa.Stale && !sb.Stale
	})
	// An aggregate of a's published above may still arrive: then a has been heard again,
	// and the clock moves on again.
	f := waitFrame("daemon-a stale and out of the totals", [][]byte{b}, func(f ui.Frame) bool {
		for _, p := range sess.Fleet().Producers() {
			if p.Producer == "daemon-a" && !p.Stale {
				clock.Advance(expireAfter + time.Second - p.Silent)
			}
		}
		sa, _ := source(f, ui.DaemonSourcePrefix+"daemon-a")
		sb, _ := source(f, ui.DaemonSourcePrefix+"daemon-b")
		return f.Stream.Totals.Events == 5 && sa.Stale && !sb.Stale
	})
	sa, _ := source(f, ui.DaemonSourcePrefix+"daemon-a")
	if sa.Age != expireAfter+time.Second || !strings.Contains(sa.Detail, "host-daemon-a") {
		t.Errorf("stale daemon source = %+v, want silent %s on host-daemon-a", sa, expireAfter+time.Second)
	}
	if st, _ := source(f, "daemons"); !strings.Contains(st.Detail, "1 merged, 1 stale") {
		t.Errorf("daemons source detail = %q, want 1 merged, 1 stale", st.Detail)
	}
	cancel()
	if err := sess.Wait(); err != nil {
		t.Errorf("Wait: %v", err)
	}
}
