package app

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/nsai/ingot-top/internal/daemonsrc"
	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/feed"
	"github.com/nsai/ingot-top/internal/ingest"
	"github.com/nsai/ingot-top/internal/testkit"
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
