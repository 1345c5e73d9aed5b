// Package history owns the dashboard's look-back: a bounded record of the figures the
// dashboard shows (status line, every queue and operation row, health probes, error
// signatures, alerts, fleet figures), kept for at least 15 minutes, from which a past moment
// is rebuilt as the panes draw it. The status line is kept for every second; the rows for
// every second of the last 5 minutes and every 5 s before (Config.FullResolution). Memory is fixed by the configured caps and the ring
// length, never by the event rate: each second stores compact figures per row (quantiles and
// counts as the panes show them), not events or sketches.
//
// The session records one Input a second (package app); the UI reads moments, trends and
// chart series from any goroutine.
package history

import (
	"sync"
	"time"
	"unsafe"

	"github.com/nsai/ingot-top/internal/alerts"
	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/health"
	"github.com/nsai/ingot-top/internal/ingest"
	"github.com/nsai/ingot-top/internal/promsrc"
)

// Config sizes the ring. Zero fields take DefaultConfig's values.
type Config struct {
	// Seconds is the ring length. The default keeps 16 minutes, so that a 15-minute window's
	// figures and their trend reach back to the start of the window.
	Seconds int
	// FullResolution is how many of the newest seconds keep every second's queue, operation,
	// probe and signature rows; older ones keep one row per CoarseStep seconds (the status
	// line's figures keep every second for the whole ring). The default is the last 5
	// minutes, in steps of 5 s: the rows are most of the ring's memory, and a moment older
	// than 5 minutes shows its rows as of the start of its 5 s.
	FullResolution, CoarseStep int
	// Caps on rows kept per second: a queue, operation, probe target or error signature past
	// its cap is not recorded (the moment says how many were left out).
	MaxOps, MaxQueues, MaxHealth, MaxGroups int
	// MaxReasons and MaxUnknown cap the invalid-message reasons and unknown event names.
	MaxReasons, MaxUnknown int
	// MaxAlertChanges is how many changes of the active alert set are kept, each with at
	// most MaxActiveAlerts alerts.
	MaxAlertChanges, MaxActiveAlerts int
}

// DefaultConfig is 16 minutes of 48 operations, 32 queues, 16 probe targets and 24 error
// signatures, the newest 5 minutes second by second and the rest every 5 s.
func DefaultConfig() Config {
	return Config{Seconds: 16 * 60, FullResolution: 5 * 60, CoarseStep: 5, MaxOps: 48, MaxQueues: 32, MaxHealth: 16, MaxGroups: 24,
		MaxReasons: 16, MaxUnknown: 8, MaxAlertChanges: 128, MaxActiveAlerts: 24}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	for _, p := range []struct{ v, def *int }{
		{&c.Seconds, &d.Seconds}, {&c.FullResolution, &d.FullResolution}, {&c.CoarseStep, &d.CoarseStep}, {&c.MaxOps, &d.MaxOps}, {&c.MaxQueues, &d.MaxQueues},
		{&c.MaxHealth, &d.MaxHealth}, {&c.MaxGroups, &d.MaxGroups}, {&c.MaxReasons, &d.MaxReasons},
		{&c.MaxUnknown, &d.MaxUnknown}, {&c.MaxAlertChanges, &d.MaxAlertChanges},
		{&c.MaxActiveAlerts, &d.MaxActiveAlerts},
	} {
		if *p.v <= 0 {
			*p.v = *p.def
		}
	}
	c.Seconds = max(c.Seconds, 2)
	c.FullResolution = min(c.FullResolution, c.Seconds)
	return c
}

// Input is what the dashboard shows at one instant, as the session has it.
type Input struct {
	At     time.Time
	Stream *engine.Snapshot
	Conn   ingest.ConnState
	Health []health.Status
	Alerts alerts.State
	Prom   *promsrc.Snapshot
}

// Ring is the per-second record. Its methods are safe from any goroutine.
type Ring struct {
	cfg Config

	mu sync.RWMutex
	// status is one row per second, indexed by unix second modulo the ring length.
	status  []statusRow
	last    int64 // newest second recorded, 0 before the first
	first   int64 // oldest second recorded that is still in the ring
	latest  Input // the newest input: the template for what is not stored per second
	started time.Time

	ops     table[opRow]
	queues  table[queueRow]
	probes  table[probeRow]
	groups  table[groupRow]
	reasons table[countRow]
	unknown table[countRow]
	// groupMeta is each signature slot's identity and newest occurrence.
	groupMeta []engine.ErrorGroup

	alertLog          []alertChange // ring, oldest at alertHead
	alertHead, alertN int
}

// New builds an empty ring; the per-second rows of a queue or operation are allocated when
// one is first recorded, up to the caps.
func New(cfg Config) *Ring {
	cfg = cfg.withDefaults()
	r := &Ring{cfg: cfg, status: make([]statusRow, cfg.Seconds)}
	r.ops = newTable(cfg.MaxOps, cfg, func(o *opRow) int64 { return o.sec })
	r.queues = newTable(cfg.MaxQueues, cfg, func(q *queueRow) int64 { return q.sec })
	r.probes = newTable(cfg.MaxHealth, cfg, func(p *probeRow) int64 { return p.sec })
	r.groups = newTable(cfg.MaxGroups, cfg, func(g *groupRow) int64 { return g.sec })
	r.reasons = newTable(cfg.MaxReasons, cfg, func(c *countRow) int64 { return c.sec })
	r.unknown = newTable(cfg.MaxUnknown, cfg, func(c *countRow) int64 { return c.sec })
	r.groupMeta = make([]engine.ErrorGroup, cfg.MaxGroups)
	r.alertLog = make([]alertChange, cfg.MaxAlertChanges)
	return r
}

// Span is how much history the ring holds.
func (r *Ring) Span() time.Duration { return time.Duration(r.cfg.Seconds) * time.Second }

// Bounds returns the oldest and newest recorded seconds; ok is false before the first record.
func (r *Ring) Bounds() (first, last time.Time, ok bool) {
	if r == nil {
		return time.Time{}, time.Time{}, false
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.last == 0 {
		return time.Time{}, time.Time{}, false
	}
	return r.timeOf(r.first), r.timeOf(r.last), true
}

func (r *Ring) timeOf(sec int64) time.Time {
	loc := r.latest.At.Location()
	return time.Unix(sec, 0).In(loc)
}

// Bytes is the memory the ring holds: its per-second arrays (allocated ones only), the names
// and signature templates they refer to, and the alert change log. It is the figure the
// memory bound is tested on: it depends on the caps and the ring length, not on the rate.
func (r *Ring) Bytes() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	n := len(r.status) * int(unsafe.Sizeof(statusRow{}))
	n += r.ops.bytes() + r.queues.bytes() + r.probes.bytes() + r.groups.bytes() + r.reasons.bytes() + r.unknown.bytes()
	for i := range r.groupMeta {
		g := &r.groupMeta[i]
		n += int(unsafe.Sizeof(*g)) + len(g.Service) + len(g.Event) + len(g.Operation) + len(g.Signature) + entryBytes(&g.Latest)
	}
	for i := range r.alertLog {
		n += int(unsafe.Sizeof(alertChange{}))
		for _, a := range r.alertLog[i].active {
			n += alertBytes(&a)
		}
	}
	return n
}

func entryBytes(e *engine.ErrorEntry) int {
	n := len(e.Event) + len(e.Operation) + len(e.Service) + len(e.Reason) + len(e.TraceID) + len(e.SpanID) + len(e.Node)
	for _, kv := range e.IDs {
		n += len(kv.Key) + len(kv.Value) + int(unsafe.Sizeof(kv))
	}
	for _, kv := range e.Metadata {
		n += len(kv.Key) + len(kv.Value) + int(unsafe.Sizeof(kv))
	}
	return n
}

func alertBytes(a *alerts.Alert) int {
	n := int(unsafe.Sizeof(*a)) + len(a.Name) + len(a.Summary) + len(a.Severity)
	for k, v := range a.Labels {
		n += len(k) + len(v) + 16
	}
	return n
}
