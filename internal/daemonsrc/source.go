// Package daemonsrc owns consuming daemon republications: it subscribes to the 1 Hz mergeable
// aggregates (engine.Aggregate) that `ingot-top daemon` instances publish on the snapshot
// subject, and to their throttled error records on the errors subject, merges the latest
// aggregate of every live daemon (engine.Merger: a daemon silent for 5 s is stale, left out
// of the merge and listed as such for 10 min), and serves
// the merged engine.Snapshot to the dashboard in place of a feed and an engine of its own.
// A hundred viewers this way cost the telemetry stream nothing.
package daemonsrc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/nsai/ingot-top/internal/alerts"
	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/feed"
	"github.com/nsai/ingot-top/internal/health"
	"github.com/nsai/ingot-top/internal/ingest"
	"github.com/nsai/ingot-top/internal/wire"
)

// Defaults match the daemon's --republish.* flags.
const (
	DefaultSnapshotSubject = "ingot_top.snapshot"
	DefaultErrorsSubject   = "ingot_top.errors"
	DefaultClientName      = "ingot-top fleet viewer"
)

// Config is what a Source needs.
type Config struct {
	// Feed holds the connection flags (server, context, credentials, TLS); its Subject is
	// not used.
	Feed feed.Options
	// SnapshotSubject carries the daemons' aggregates; "" means DefaultSnapshotSubject.
	SnapshotSubject string
	// ErrorsSubject carries their error batches; "" means no subscription to errors.
	ErrorsSubject string
	ClientName    string
	// ExpireAfter marks a daemon not heard from for this long stale, leaving its share out
	// of the merge; 0 means the merger's 5 s.
	ExpireAfter time.Duration
	// RebuildEvery bounds how often Snapshot re-merges (default 250 ms): a merge of three
	// 1000-queue aggregates costs a few milliseconds, and viewers poll.
	RebuildEvery time.Duration
	// Now is the clock for expiry; nil means time.Now.
	Now func() time.Time
}

// Source merges daemon republications. Run it once; Snapshot and State are safe from any
// goroutine.
type Source struct {
	cfg    Config
	merger *engine.Merger

	received atomic.Uint64
	rejected atomic.Uint64
	// Each subscription reports its own cumulative drop count; State sums them.
	snapshotDrops atomic.Uint64
	errorDrops    atomic.Uint64

	mu        sync.Mutex
	state     ingest.ConnState
	connected bool // ever: before the first connection a retrying client is "connecting"
	nc        *nats.Conn
	snap      *engine.Snapshot
	builtAt   time.Time
	dirty     bool
}

// New validates cfg; nothing connects before Run.
func New(cfg Config) (*Source, error) {
	if cfg.SnapshotSubject == "" {
		cfg.SnapshotSubject = DefaultSnapshotSubject
	}
	if err := validSubject(cfg.SnapshotSubject); err != nil {
		return nil, fmt.Errorf("--from-daemon.subject %q: %w", cfg.SnapshotSubject, err)
	}
	if cfg.ErrorsSubject != "" {
		if err := validSubject(cfg.ErrorsSubject); err != nil {
			return nil, fmt.Errorf("errors subject %q: %w", cfg.ErrorsSubject, err)
		}
	}
	if cfg.ClientName == "" {
		cfg.ClientName = DefaultClientName
	}
	if cfg.RebuildEvery <= 0 {
		cfg.RebuildEvery = 250 * time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Source{
		cfg:    cfg,
		merger: engine.NewMerger(engine.MergerConfig{ExpireAfter: cfg.ExpireAfter, Now: cfg.Now}),
		dirty:  true,
	}
	s.state = ingest.ConnState{Phase: ingest.PhaseConnecting, Server: feed.RedactURLs(cfg.Feed.Server), Since: cfg.Now(), Subject: cfg.SnapshotSubject}
	return s, nil
}

func validSubject(subject string) error {
	if subject == "" {
		return errors.New("empty subject")
	}
	for i := 0; i < len(subject); i++ {
		if c := subject[i]; c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			return errors.New("subjects cannot contain white space")
		}
	}
	return nil
}

// Run connects (retrying in the background while NATS is down, like the feed), subscribes
// and merges until ctx ends.
func (s *Source) Run(ctx context.Context) error {
	nc, err := feed.Dial(s.cfg.Feed, s.cfg.ClientName)
	if err != nil {
		s.setError("connecting", err)
		return fmt.Errorf("daemon snapshots: %w", err)
	}
	defer nc.Close()
	nc.SetDisconnectErrHandler(func(_ *nats.Conn, err error) { s.setError("disconnected", err) })
	nc.SetErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrSlowConsumer) && sub != nil {
			if n, derr := sub.Dropped(); derr == nil && n > 0 {
				if sub.Subject == s.cfg.SnapshotSubject {
					s.snapshotDrops.Store(uint64(n))
				} else {
					s.errorDrops.Store(uint64(n))
				}
			}
		}
		s.setError("", err)
	})
	s.mu.Lock()
	s.nc = nc
	s.mu.Unlock()

	// Aggregates are large and arrive once a second per daemon: a small pending limit keeps
	// memory bounded if merging falls behind, and dropped aggregates are superseded anyway.
	sub, err := nc.Subscribe(s.cfg.SnapshotSubject, func(m *nats.Msg) { s.handleSnapshot(m.Data) })
	if err != nil {
		return fmt.Errorf("subscribing to %s: %w", s.cfg.SnapshotSubject, err)
	}
	_ = sub.SetPendingLimits(64, 64*engine.MaxAggregateBytes)
	if s.cfg.ErrorsSubject != "" {
		esub, err := nc.Subscribe(s.cfg.ErrorsSubject, func(m *nats.Msg) { s.handleErrors(m.Data) })
		if err != nil {
			return fmt.Errorf("subscribing to %s: %w", s.cfg.ErrorsSubject, err)
		}
		_ = esub.SetPendingLimits(1024, 64<<20)
	}
	<-ctx.Done()
	return nil
}

func (s *Source) handleSnapshot(data []byte) {
	s.received.Add(1)
	if err := s.merger.AddEncoded(data); err != nil {
		s.rejected.Add(1)
		s.setError("rejected daemon snapshot", err)
		return
	}
	s.mu.Lock()
	s.dirty = true
	s.mu.Unlock()
}

// Caps on one error batch from an untrusted publisher. maxErrorBatchDecode bounds what
// decoding may allocate: 1000 records of 64 metadata keys need about 6 MiB.
const (
	maxErrorBatchBytes   = 4 << 20
	maxErrorBatchDecode  = 16 << 20
	maxRecordsPerBatch   = 1000
	maxMetadataPerRecord = 64
)

func (s *Source) handleErrors(data []byte) {
	s.received.Add(1)
	entries, err := decodeErrorBatch(data)
	if err != nil {
		s.rejected.Add(1)
		s.setError("rejected daemon error batch", err)
		return
	}
	s.merger.AddErrors(entries...)
	s.mu.Lock()
	s.dirty = true
	s.mu.Unlock()
}

// decodeErrorBatch turns an ingest.ErrorBatch into error log entries, made safe to print.
func decodeErrorBatch(data []byte) ([]engine.ErrorEntry, error) {
	if len(data) > maxErrorBatchBytes {
		return nil, fmt.Errorf("error batch of %d bytes exceeds %d", len(data), maxErrorBatchBytes)
	}
	// encoding/json allocates a whole record per array element before the caps below are
	// checked: 4 MiB of "{}," would have cost a few hundred MB.
	if !json.Valid(data) {
		return nil, errors.New("decoding error batch: not valid JSON")
	}
	if err := engine.CheckDecodeCost[ingest.ErrorBatch](data, maxErrorBatchDecode); err != nil {
		return nil, fmt.Errorf("error batch refused before decoding: %w", err)
	}
	var batch ingest.ErrorBatch
	if err := json.Unmarshal(data, &batch); err != nil {
		return nil, fmt.Errorf("decoding error batch: %w", err)
	}
	if batch.V != 1 {
		return nil, fmt.Errorf("error batch version %d, this ingot-top reads version 1", batch.V)
	}
	if len(batch.Errors) > maxRecordsPerBatch {
		return nil, fmt.Errorf("error batch of %d records exceeds %d", len(batch.Errors), maxRecordsPerBatch)
	}
	out := make([]engine.ErrorEntry, 0, len(batch.Errors))
	for _, r := range batch.Errors {
		if len(r.Metadata) > maxMetadataPerRecord {
			return nil, fmt.Errorf("error record with %d metadata keys exceeds %d", len(r.Metadata), maxMetadataPerRecord)
		}
		event := wire.SafeString(r.Event, 256)
		e := engine.ErrorEntry{
			Time:      r.Timestamp,
			Received:  r.Timestamp, // the record does not say; event time orders it well enough
			Event:     event,
			Operation: wire.SafeString(r.Operation, 256),
			Service:   wire.ServiceOf(event),
			Reason:    wire.SafeString(r.Reason, 2048),
			TraceID:   wire.SafeString(r.TraceID, 256),
			SpanID:    wire.SafeString(r.SpanID, 256),
			Node:      wire.SafeString(r.Node, 256),
			StreamSeq: r.StreamSeq,
		}
		// The daemon lifts reason out of the metadata; put it back so that the entry reads
		// as the engine's would.
		keys := slices.Sorted(maps.Keys(r.Metadata))
		e.Metadata = make([]engine.KVPair, 0, len(keys)+1)
		if r.Reason != "" {
			e.Metadata = append(e.Metadata, engine.KVPair{Key: "reason", Value: e.Reason})
		}
		for _, k := range keys {
			e.Metadata = append(e.Metadata, engine.KVPair{Key: wire.SafeString(k, 256), Value: wire.SafeString(r.Metadata[k], 2048)})
		}
		e.IDs = engine.LiftIDs(e.Metadata)
		out = append(out, e)
	}
	return out, nil
}

func (s *Source) setError(prefix string, err error) {
	if err == nil {
		return
	}
	msg := err.Error()
	if prefix != "" {
		msg = prefix + ": " + msg
	}
	s.mu.Lock()
	s.state.LastError = wire.SafeString(msg, 512)
	s.state.LastErrorAt = s.cfg.Now()
	s.mu.Unlock()
}

// Snapshot returns the merged snapshot of the live daemons, never nil. It re-merges when
// an aggregate arrived since, or when RebuildEvery passed (daemons may have expired).
func (s *Source) Snapshot() *engine.Snapshot {
	now := s.cfg.Now()
	s.mu.Lock()
	if s.snap != nil && !s.dirty && now.Sub(s.builtAt) < s.cfg.RebuildEvery {
		snap := s.snap
		s.mu.Unlock()
		return snap
	}
	s.dirty = false
	s.mu.Unlock()
	snap := s.merger.SnapshotWithImpact()
	s.mu.Lock()
	s.snap, s.builtAt = snap, now
	s.mu.Unlock()
	return snap
}

// Health is the daemons' /health probes (the newest check of each service among them), for
// a viewer that probes nothing itself; empty when no daemon probes.
func (s *Source) Health() []health.Status {
	probes := s.merger.Health()
	out := make([]health.Status, 0, len(probes))
	for _, p := range probes {
		st := health.Status{Name: p.Name, State: health.State(p.State), Since: p.Since,
			Latency: time.Duration(p.LatencyMS * float64(time.Millisecond)), LastError: p.LastError,
			LastErrorAt: p.LastErrorAt, Detail: p.Detail, Uptime: p.Uptime, URL: "probed by a daemon"}
		if !p.CheckedAt.IsZero() {
			st.Recent = []health.Check{{At: p.CheckedAt, State: st.State, Latency: st.Latency, Code: p.Code}}
			st.LatencyHistory = []float64{p.LatencyMS}
		}
		out = append(out, st)
	}
	return out
}

// Alerts is the daemons' alerts merged (one alert per rule and labels: the earliest onset,
// the most urgent state), marked alerts.SourceDaemon; ok is false when no live daemon
// republishes alerts (all older than that), and the viewer evaluates its own.
func (s *Source) Alerts() (st alerts.State, ok bool) {
	merged, ok := s.merger.Alerts()
	if !ok {
		return alerts.State{}, false
	}
	return alerts.FromAggregate(merged), true
}

// Producers lists the daemons heard lately, by id: those merged now, and the stale ones
// (silent for ExpireAfter, out of the merge).
func (s *Source) Producers() []engine.ProducerStatus { return s.merger.Producers() }

// Rejected counts messages refused (wrong version, invalid, clock skew, too many daemons);
// the last reason is State().LastError.
func (s *Source) Rejected() uint64 { return s.rejected.Load() }

// State is the connection as the dashboard shows it. Received counts messages taken from
// the snapshot and errors subjects; SinkErrors counts rejected ones.
func (s *Source) State() ingest.ConnState {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nc != nil {
		phase := phaseOf(s.nc.Status())
		if phase == ingest.PhaseConnected {
			s.connected = true
		}
		if phase == ingest.PhaseReconnecting && !s.connected {
			phase = ingest.PhaseConnecting
		}
		if phase != s.state.Phase {
			s.state.Phase, s.state.Since = phase, s.cfg.Now()
		}
		if url := s.nc.ConnectedUrlRedacted(); url != "" {
			s.state.Server = wire.SafeString(url, wire.MaxValueRunes)
		}
		s.state.Reconnects = s.nc.Stats().Reconnects
	}
	st := s.state
	st.Received = s.received.Load()
	st.SinkErrors = s.rejected.Load()
	st.SlowConsumerDrops = s.snapshotDrops.Load() + s.errorDrops.Load()
	return st
}

func phaseOf(st nats.Status) ingest.Phase {
	switch st {
	case nats.CONNECTED, nats.DRAINING_SUBS, nats.DRAINING_PUBS:
		return ingest.PhaseConnected
	case nats.RECONNECTING:
		return ingest.PhaseReconnecting
	case nats.CLOSED:
		return ingest.PhaseDisconnected
	default:
		return ingest.PhaseConnecting
	}
}
