// Package engine owns live aggregation of the telemetry stream: one goroutine holds all
// state (per-queue velocity and time per sample, per-operation latency sketches, error log,
// trace lineage, stream lag, invalid and unknown counts), driven by an injected clock, with
// every dimension capped so memory stays flat whatever the stream does. Viewers read
// immutable Snapshots published through an atomic pointer.
package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nsai/ingot-top/internal/ingest"
	"github.com/nsai/ingot-top/internal/wire"
)

// Clock is the engine's notion of now. Aggregation windows advance only with this clock,
// so tests drive time deterministically.
type Clock interface {
	Now() time.Time
}

// TickerClock is a Clock that also drives the snapshot cadence. When the clock passed to New
// implements it, Run publishes on its ticks; otherwise Run uses a wall-clock time.Ticker.
type TickerClock interface {
	Clock
	// NewTicker returns a channel that receives at least once per period, and a stop func.
	NewTicker(period time.Duration) (ticks <-chan time.Time, stop func())
}

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// Config holds the engine's caps. Zero fields take the defaults of DefaultConfig.
type Config struct {
	MaxQueues           int // tracked queues; the rest fold into OtherID
	MaxLabelersPerQueue int // tracked labelers per queue; the rest fold into OtherID
	MaxOps              int // operation rows; the rest fold into OtherID
	MaxUnknownNames     int // distinct unknown event names listed; the rest fold into OtherID
	ErrorLogSize        int // rolling error log length
	MaxErrorGroups      int // error signatures counted apart; the rest fold into OtherID
	BadSamples          int // recent invalid messages kept
	TraceHorizon        time.Duration
	MaxTraces           int // trace ids indexed at once
	MaxSpansPerTrace    int
	DedupeAssignments   int // (queue, assignment_id) pairs remembered to count a label once
	SnapshotEvery       time.Duration
	InputBuffer         int // batches queued between the feed and Run before HandleBatch blocks
	// MaxAffectedUsers is how many distinct failing users are counted exactly; past it the
	// count is a HyperLogLog estimate and marked so.
	MaxAffectedUsers int
}

// DefaultConfig returns the documented caps.
func DefaultConfig() Config {
	return Config{
		MaxQueues:           1000,
		MaxLabelersPerQueue: 50,
		MaxOps:              64,
		MaxUnknownNames:     100,
		ErrorLogSize:        1000,
		MaxErrorGroups:      100,
		BadSamples:          20,
		TraceHorizon:        15 * time.Minute,
		MaxTraces:           6000,
		MaxSpansPerTrace:    16,
		DedupeAssignments:   32768,
		MaxAffectedUsers:    10000,
		SnapshotEvery:       250 * time.Millisecond,
		InputBuffer:         64,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	pick := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	pick(&c.MaxQueues, d.MaxQueues)
	pick(&c.MaxLabelersPerQueue, d.MaxLabelersPerQueue)
	pick(&c.MaxOps, d.MaxOps)
	pick(&c.MaxUnknownNames, d.MaxUnknownNames)
	pick(&c.ErrorLogSize, d.ErrorLogSize)
	pick(&c.MaxErrorGroups, d.MaxErrorGroups)
	pick(&c.BadSamples, d.BadSamples)
	pick(&c.MaxTraces, d.MaxTraces)
	pick(&c.MaxSpansPerTrace, d.MaxSpansPerTrace)
	pick(&c.DedupeAssignments, d.DedupeAssignments)
	pick(&c.MaxAffectedUsers, d.MaxAffectedUsers)
	pick(&c.InputBuffer, d.InputBuffer)
	if c.TraceHorizon <= 0 {
		c.TraceHorizon = d.TraceHorizon
	}
	if c.SnapshotEvery <= 0 {
		c.SnapshotEvery = d.SnapshotEvery
	}
	if c.DedupeAssignments < 2 {
		c.DedupeAssignments = 2
	}
	return c
}

// ErrStopped is returned by HandleBatch, HandleInvalid and Sync once Run has returned.
var ErrStopped = errors.New("engine: stopped")

// Engine aggregates the stream. HandleBatch, HandleInvalid, Sync and Snapshot are safe from
// any goroutine; all aggregation happens in Run.
type Engine struct {
	cfg   Config
	clock Clock

	in      chan *item
	stopped chan struct{}
	running atomic.Bool
	pool    sync.Pool

	snap atomic.Pointer[Snapshot]

	st *state // owned by Run
}

type itemKind uint8

const (
	itemBatch itemKind = iota
	itemInvalid
	itemSync
	itemFresh
	itemCall
)

// item is one unit handed to Run. A batch is a copy of the events (see HandleBatch).
type item struct {
	kind    itemKind
	events  []wire.Event
	invalid ingest.Invalid
	reply   chan *Snapshot
	call    func(*state) // itemCall: runs on Run's goroutine, then closes done
	done    chan struct{}
	// callCtx is the caller's context: a call whose caller gave up while it waited in the
	// queue is skipped, so timed-out aggregates cannot pile up behind a busy engine.
	callCtx context.Context
}

var _ ingest.Sink = (*Engine)(nil)

// New returns an engine with an empty snapshot already published.
func New(cfg Config, clock Clock) *Engine {
	if clock == nil {
		clock = SystemClock{}
	}
	cfg = cfg.withDefaults()
	e := &Engine{
		cfg:     cfg,
		clock:   clock,
		in:      make(chan *item, cfg.InputBuffer),
		stopped: make(chan struct{}),
	}
	e.pool.New = func() any { return new(item) }
	e.st = newState(cfg, clock.Now())
	e.snap.Store(e.st.build(clock.Now(), true))
	return e
}

// Config returns the effective configuration (defaults filled in).
func (e *Engine) Config() Config { return e.cfg }

// Snapshot returns the latest published snapshot; never nil.
func (e *Engine) Snapshot() *Snapshot { return e.snap.Load() }

// HandleBatch hands a batch to the engine and blocks while the input queue is full. It
// copies the events, so the caller may reuse the slice at once, but not what the events
// point to: their Metadata and Measurements are read later, on Run's goroutine, and must
// not be written again. The wire decoder never writes an event's slices after Decode
// returned it (each is carved from a block and never handed out twice); copying them here
// cost 3 % of the consumer's CPU in scripts/bench-e2e.sh.
func (e *Engine) HandleBatch(events []wire.Event) error {
	if len(events) == 0 {
		return nil
	}
	it := e.pool.Get().(*item)
	it.kind = itemBatch
	it.events = append(it.events[:0], events...)
	return e.send(it)
}

// HandleInvalid counts a message that broke the contract.
func (e *Engine) HandleInvalid(bad ingest.Invalid) error {
	it := e.pool.Get().(*item)
	it.kind = itemInvalid
	it.invalid = bad
	return e.send(it)
}

func (e *Engine) send(it *item) error {
	select {
	case <-e.stopped:
		return ErrStopped
	default:
	}
	select {
	case e.in <- it:
		return nil
	case <-e.stopped:
		return ErrStopped
	}
}

// Sync waits until everything handed in before the call has been aggregated, then builds,
// publishes and returns a fresh snapshot with every part recomputed. Run must be running.
func (e *Engine) Sync(ctx context.Context) (*Snapshot, error) {
	return e.request(ctx, itemSync)
}

// Fresh is Sync at the cost of a periodic build (slow-moving parts may be up to a few seconds
// old). A reader that needs one snapshot per refresh asks with Fresh instead of relying on
// SnapshotEvery, so the engine builds once per refresh, not several times, and the snapshot
// is never a tick behind.
func (e *Engine) Fresh(ctx context.Context) (*Snapshot, error) {
	return e.request(ctx, itemFresh)
}

func (e *Engine) request(ctx context.Context, kind itemKind) (*Snapshot, error) {
	reply := make(chan *Snapshot, 1)
	it := &item{kind: kind, reply: reply}
	select {
	case e.in <- it:
	case <-e.stopped:
		return nil, ErrStopped
	case <-ctx.Done():
		return nil, fmt.Errorf("engine sync: %w", ctx.Err())
	}
	select {
	case s := <-reply:
		return s, nil
	case <-e.stopped:
		return nil, ErrStopped
	case <-ctx.Done():
		return nil, fmt.Errorf("engine sync: %w", ctx.Err())
	}
}

// onLoop runs fn on Run's goroutine after everything handed in before the call, and waits
// for it: readers that need more than a Snapshot (Aggregate) see consistent state this way.
func (e *Engine) onLoop(ctx context.Context, what string, fn func(*state)) error {
	it := &item{kind: itemCall, call: fn, done: make(chan struct{}), callCtx: ctx}
	select {
	case e.in <- it:
	case <-e.stopped:
		return ErrStopped
	case <-ctx.Done():
		return fmt.Errorf("engine %s: %w", what, ctx.Err())
	}
	select {
	case <-it.done:
		return nil
	case <-e.stopped:
		return ErrStopped
	case <-ctx.Done():
		// fn may still run later; callers must not share what fn writes until it has.
		return fmt.Errorf("engine %s: %w", what, ctx.Err())
	}
}

// Run aggregates until ctx is done, publishing a snapshot every SnapshotEvery. It returns nil
// on cancellation. It may be called once.
func (e *Engine) Run(ctx context.Context) error {
	if !e.running.CompareAndSwap(false, true) {
		return errors.New("engine: Run called twice")
	}
	defer close(e.stopped)

	var ticks <-chan time.Time
	if tc, ok := e.clock.(TickerClock); ok {
		c, stop := tc.NewTicker(e.cfg.SnapshotEvery)
		defer stop()
		ticks = c
	} else {
		t := time.NewTicker(e.cfg.SnapshotEvery)
		defer t.Stop()
		ticks = t.C
	}

	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticks:
			e.publish(false)
		case it := <-e.in:
			e.process(it)
		}
	}
}

func (e *Engine) process(it *item) {
	now := e.clock.Now()
	switch it.kind {
	case itemBatch:
		e.st.advance(now)
		for i := range it.events {
			e.st.event(&it.events[i])
		}
		// Drop string references so pooled items do not pin old events.
		clear(it.events)
		it.events = it.events[:0]
		e.pool.Put(it)
	case itemInvalid:
		e.st.advance(now)
		e.st.invalidMsg(&it.invalid)
		it.invalid = ingest.Invalid{}
		e.pool.Put(it)
	case itemSync:
		it.reply <- e.publish(true)
	case itemFresh:
		it.reply <- e.publish(false)
	case itemCall:
		if it.callCtx.Err() == nil {
			e.st.advance(now)
			it.call(e.st)
		}
		close(it.done)
	}
}

// publish builds and stores a snapshot; force recomputes parts that periodic builds refresh
// at a slower pace.
func (e *Engine) publish(force bool) *Snapshot {
	s := e.st.build(e.clock.Now(), force)
	e.snap.Store(s)
	return s
}
