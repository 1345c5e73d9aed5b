package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/health"
	"github.com/nsai/ingot-top/internal/ingest"
	"github.com/nsai/ingot-top/internal/wire"
)

// DefaultSnapshotBudget is the largest encoded aggregate the daemon publishes: well under
// NATS's default 1 MiB max payload, so that a server with the default refuses nothing.
const DefaultSnapshotBudget = 768 << 10

// AggregateSource is the daemon's SnapshotSource: an aggregation engine run as one more
// feed sink, whose mergeable engine.Aggregate is what goes out on the snapshot
// subject. Viewers started with --from-daemon merge the aggregates of every daemon.
type AggregateSource struct {
	eng      *engine.Engine
	producer string
	host     string
	limits   engine.AggregateLimits
	budget   int
	logger   *slog.Logger

	lastSize   atomic.Int64
	lastShrink atomic.Int64 // how many times the last aggregate had to be cut to fit

	// probes are the daemon's /health probes, republished in every aggregate so that
	// --from-daemon viewers show them; nil without probes.
	probes atomic.Pointer[HealthStatuser]
}

// SetProbes makes every aggregate carry p's statuses.
func (a *AggregateSource) SetProbes(p HealthStatuser) { a.probes.Store(&p) }

// aggregateProbes converts the probes' statuses for an aggregate.
func aggregateProbes(sts []health.Status) []engine.AggregateProbe {
	out := make([]engine.AggregateProbe, 0, len(sts))
	for _, st := range sts {
		p := engine.AggregateProbe{Name: st.Name, State: string(st.State), Since: st.Since, LastError: st.LastError,
			LastErrorAt: st.LastErrorAt, Detail: st.Detail, LatencyMS: float64(st.Latency) / float64(time.Millisecond), Uptime: st.Uptime}
		if p.State == "" {
			p.State = string(health.StateUnknown)
		}
		if n := len(st.Recent); n > 0 {
			p.CheckedAt, p.Code = st.Recent[n-1].At, st.Recent[n-1].Code
		}
		out = append(out, p)
	}
	return out
}

var (
	_ ingest.Sink    = (*AggregateSource)(nil)
	_ SnapshotSource = (*AggregateSource)(nil)
)

// NewAggregateSource returns the source with a fresh engine on clock (nil: the wall clock).
// Its producer id is host:pid:random, unique per daemon process, so that aggregates of a
// restarted daemon never merge with the previous run's (that one expires).
func NewAggregateSource(clock engine.Clock, logger *slog.Logger) *AggregateSource {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	var suffix [3]byte
	_, _ = rand.Read(suffix[:]) // crypto/rand.Read does not fail on supported platforms
	cfg := engine.DefaultConfig()
	// Nobody reads the engine's own snapshots here: building one every 250 ms would be
	// wasted work. Aggregates are built on demand.
	cfg.SnapshotEvery = time.Hour
	return &AggregateSource{
		eng:      engine.New(cfg, clock),
		producer: fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(suffix[:])),
		host:     host,
		limits:   engine.DefaultAggregateLimits(),
		budget:   DefaultSnapshotBudget,
		logger:   logger,
	}
}

// Producer is the id this daemon's aggregates carry.
func (a *AggregateSource) Producer() string { return a.producer }

// Engine is the aggregation engine (for tests and for a final Sync).
func (a *AggregateSource) Engine() *engine.Engine { return a.eng }

// LastSize is the byte size of the last published aggregate.
func (a *AggregateSource) LastSize() int { return int(a.lastSize.Load()) }

// HandleBatch hands events to the engine.
func (a *AggregateSource) HandleBatch(events []wire.Event) error { return a.eng.HandleBatch(events) }

// HandleInvalid hands an invalid message to the engine.
func (a *AggregateSource) HandleInvalid(bad ingest.Invalid) error { return a.eng.HandleInvalid(bad) }

// Run runs the engine until ctx ends. The daemon stops it only after the feed has drained.
func (a *AggregateSource) Run(ctx context.Context) error { return a.eng.Run(ctx) }

// MergeableSnapshot builds and encodes an aggregate. An aggregate over the budget is rebuilt with
// half the queues, labelers, errors and error signatures, up to three times; if it still does not fit, or
// the engine does not answer within a publishing period, the tick is skipped (nil).
func (a *AggregateSource) MergeableSnapshot() []byte {
	ctx, cancel := context.WithTimeout(context.Background(), 900*time.Millisecond)
	defer cancel()
	limits := a.limits
	for shrink := 0; shrink < 4; shrink++ {
		x, err := a.eng.AggregateLimited(ctx, limits)
		if err != nil {
			a.logger.Warn("Snapshot republishing: aggregate failed", "error", err.Error())
			return nil
		}
		x.Producer, x.Host = a.producer, a.host
		if p := a.probes.Load(); p != nil {
			x.Health = aggregateProbes((*p).Statuses())
		}
		data, err := x.Encode()
		if err != nil {
			a.logger.Error("Snapshot republishing: encoding failed", "error", err.Error())
			return nil
		}
		if len(data) <= a.budget {
			a.lastSize.Store(int64(len(data)))
			if prev := a.lastShrink.Swap(int64(shrink)); shrink > 0 && prev == 0 {
				a.logger.Warn("Snapshot republishing: aggregate cut to fit the payload budget",
					"bytes", len(data), "budget", a.budget, "queues", limits.MaxQueues, "errors", limits.MaxErrors)
			}
			return data
		}
		limits.MaxQueues = max(limits.MaxQueues/2, 1)
		limits.MaxLabelerRows = max(limits.MaxLabelerRows/2, 1)
		limits.MaxErrors /= 2
		limits.MaxErrorGroups /= 2
	}
	a.logger.Error("Snapshot republishing: aggregate does not fit the payload budget; skipped", "budget", a.budget)
	return nil
}

// Aggregate is the engine-backed snapshot source, nil when Deps.Snapshots was given or the
// snapshot subject is disabled.
func (d *Daemon) Aggregate() *AggregateSource { return d.aggregate }
