package app

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/ingest"
	"github.com/nsai/ingot-top/internal/replay"
	"github.com/nsai/ingot-top/internal/view"
	"github.com/nsai/ingot-top/internal/wire"
)

// ReplayConfig makes a session play recordings instead of consuming the stream: the engine
// and the frames run on the recorded clock, paced by Pacer, which the dashboard's keys
// control.
type ReplayConfig struct {
	Files []replay.Info // in recorded order (replay.Scan)
	Pacer *replay.Pacer
}

// replayStream is the stream source of a replay: the engine fed by the recording, and a
// connection state that names the files instead of a server.
type replayStream struct {
	engine   *engine.Engine
	pacer    *replay.Pacer
	counted  *countingSink
	started  time.Time
	server   string
	subject  string
	wait     time.Duration
	mu       sync.Mutex
	result   replay.Result
	finished bool
}

func (r *replayStream) State() ingest.ConnState {
	st := ingest.ConnState{
		Phase: ingest.PhaseConnected, Server: r.server, Subject: r.subject, Since: r.started,
		Received: r.counted.n.Load(),
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.finished {
		st.SlowConsumerDrops = r.result.Drops
		var notes []string
		for _, f := range r.result.Files {
			if !f.Stop.Complete {
				notes = append(notes, f.Stop.String())
			}
		}
		st.LastError = wire.SafeString(strings.Join(notes, "; "), wire.MaxReasonRunes)
	}
	return st
}

func (r *replayStream) Snapshot() *engine.Snapshot {
	ctx, cancel := context.WithTimeout(context.Background(), r.wait)
	defer cancel()
	if snap, err := r.engine.Fresh(ctx); err == nil {
		return snap
	}
	return r.engine.Snapshot()
}

// status is the frame's replay marker.
func (r *replayStream) status() *view.ReplayStatus {
	ps := r.pacer.Status()
	return &view.ReplayStatus{Speed: ps.Speed, Paused: ps.Paused, Ended: ps.Ended, Recording: true}
}

// run plays the files into the engine, then leaves the last moment on screen.
func (r *replayStream) run(ctx context.Context, files []replay.Info, clock *engine.ManualClock) error {
	res, err := replay.Run(ctx, files, replay.Options{SetClock: clock.Set, Pace: r.pacer.Pace}, r.counted)
	r.mu.Lock()
	r.result, r.finished = res, true
	r.mu.Unlock()
	r.pacer.End()
	return err
}

// countingSink hands events on to the engine and counts the messages, so frames see the
// replay's progress as they see a live feed's received count.
type countingSink struct {
	next ingest.Sink
	n    atomic.Uint64
}

func (c *countingSink) HandleBatch(evs []wire.Event) error {
	c.n.Add(uint64(len(evs)))
	return c.next.HandleBatch(evs)
}

func (c *countingSink) HandleInvalid(bad ingest.Invalid) error {
	c.n.Add(1)
	return c.next.HandleInvalid(bad)
}

// historyClock is the clock of a session that opened the past (--since, --at): the stream
// time of the messages handed on while the history is read, the wall clock once the read
// has caught up with the stream.
type historyClock struct {
	since time.Time
	wall  func() time.Time
	mu    sync.Mutex
	at    time.Time
	live  bool
}

// set is the feed's OnHistory.
func (h *historyClock) set(at time.Time, caughtUp bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if at.After(h.at) {
		h.at = at
	}
	h.live = h.live || caughtUp
}

func (h *historyClock) Now() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.nowLocked()
}

func (h *historyClock) nowLocked() time.Time {
	switch {
	case h.live:
		return h.wall()
	case h.at.IsZero():
		return h.since
	}
	return h.at
}

// nowAndReading is Now, and the frame's marker while the history is being read (a replay at
// full speed; nil once live), from one look at the clock.
func (h *historyClock) nowAndReading() (time.Time, *view.ReplayStatus) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.live {
		return h.nowLocked(), nil
	}
	return h.nowLocked(), &view.ReplayStatus{}
}
