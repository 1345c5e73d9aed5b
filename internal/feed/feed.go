package feed

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/nsai/ingot-top/internal/ingest"
	"github.com/nsai/ingot-top/internal/wire"
)

// Defaults of Config.
const (
	DefaultBatchSize  = 256
	DefaultFlushDelay = 5 * time.Millisecond
	// DaemonFlushDelay is the daemon's batching delay (and twice its read coalescing). What
	// reads the daemon's figures (Prometheus scrapes, aggregates, alerts) runs every second
	// or more, so 10 ms of latency costs nothing, and each batch wakes the engine, the
	// exporter, the event log and the fsynced audit trail once: at 2,000 events/s the
	// daemon's CPU fell from 12–14 % to 10 % of a core against 5 ms (8 % at 20 ms).
	DaemonFlushDelay = 10 * time.Millisecond
	// DefaultPendingMsgs and DefaultPendingBytes bound the core subscription's client-side
	// buffer, whichever is reached first (bytes, for events of the usual 300–400 bytes;
	// messages, for tiny ones). A buffered message costs its size plus about 200 bytes of
	// heap (message struct, subject, payload copy), and the heap grows to about twice what
	// is live between collections: with 8 MiB an unpaced 1M-event burst peaks the daemon at
	// 103–124 MiB RSS (150 MiB budget; scripts/bench-burst.sh), where the old 512 MiB took it
	// to 710 MiB. 8 MiB is about 22,000 events: a consumer stall of 0.15 s at 150,000
	// events/s, or of seconds at ordinary rates, is absorbed; past that core NATS drops, and
	// the drops are counted (SlowConsumerDrops). A burst that must not lose anything belongs
	// in JetStream (Durable), which buffers on the server.
	DefaultPendingMsgs  = 32 << 10
	DefaultPendingBytes = 8 << 20
	// MaxPendingMsgs caps PendingMsgs: a sync subscription allocates a channel of that many
	// slots up front.
	MaxPendingMsgs    = 4 << 20
	DefaultStream     = "TELEMETRY"
	DefaultClientName = "ingot-top"
	DefaultAckWait    = 30 * time.Second

	// excerptRunes is how much of a bad payload an Invalid shows.
	excerptRunes = 120
	// shutdownBudget bounds how long Run keeps handling already-received messages after its
	// context is cancelled.
	shutdownBudget = time.Second
)

// Config is how the feed batches and subscribes; Options is where it connects.
type Config struct {
	ClientName string
	// BatchSize is the most events handed to a sink at once. A batch is also flushed after
	// FlushDelay, so latency stays low at low rates.
	BatchSize int
	// FlushDelay is the longest a started batch waits for more events before it is handed
	// to the sinks; negative means hand it over as soon as nothing more is waiting.
	FlushDelay time.Duration
	// PendingMsgs and PendingBytes are the client-side buffer of the core subscription; past
	// them the client drops messages and counts them in ConnState.SlowConsumerDrops. Zero
	// means the default; PendingMsgs is capped at MaxPendingMsgs. Raising them trades memory
	// (about 3 times PendingBytes at peak) for fewer drops in a burst.
	PendingMsgs  int
	PendingBytes int
	// Clock stamps the receive time of every message; tests inject it.
	Clock func() time.Time

	// Durable selects JetStream mode with this durable pull consumer; empty means a core
	// subscription. Every feed that pulls the same durable shares its messages: JetStream
	// hands each message to one puller.
	Durable string
	// Group, in core mode, makes the subscription a queue subscription in this queue group:
	// the server hands each message to one member of the group. Empty: every message.
	Group string
	// Stream is the JetStream stream holding Options.Subject.
	Stream string
	// CreateStream creates the stream (on Options.Subject) and the durable consumer when they
	// do not exist; otherwise both must exist and the feed binds to them.
	CreateStream bool
	// NakDelay is how long JetStream waits before redelivering a batch a sink failed.
	NakDelay time.Duration
	// ReadCoalesce, when positive, delays a socket read that follows one which drained the
	// socket by up to this long, so a steady stream is read in a few large reads instead of
	// one per TCP segment (events are late by at most this much). Core mode only: JetStream
	// pull requests are round trips it would slow down.
	ReadCoalesce time.Duration
	// Since, when set (and Durable is empty), reads Stream from this time on with an
	// ordered consumer and stays on it for the live traffic: the dashboard's --since/--at.
	Since time.Time
	// OnHistory is called, in a Since read, before each batch or invalid message is handed
	// on, with the stream time of its last message and whether the read has caught up with
	// the stream (sticky): the reader's clock follows the first, and goes live at the second.
	OnHistory func(at time.Time, caughtUp bool)
	// HistoryReadAhead caps the messages a Since read holds in the client (default
	// DefaultHistoryReadAhead).
	HistoryReadAhead int
	// AckWait is the created consumer's ack wait: a message not acknowledged in time (a sink
	// blocked that long) is redelivered, and the de-dup keeps it from reaching sinks twice.
	AckWait time.Duration
}

func (c Config) withDefaults() Config {
	if c.ClientName == "" {
		c.ClientName = DefaultClientName
	}
	if c.FlushDelay == 0 {
		c.FlushDelay = DefaultFlushDelay
	}
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.PendingMsgs <= 0 {
		c.PendingMsgs = DefaultPendingMsgs
	}
	c.PendingMsgs = min(c.PendingMsgs, MaxPendingMsgs)
	if c.PendingBytes <= 0 {
		c.PendingBytes = DefaultPendingBytes
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Stream == "" {
		c.Stream = DefaultStream
	}
	if c.NakDelay <= 0 {
		c.NakDelay = time.Second
	}
	if c.AckWait <= 0 {
		c.AckWait = DefaultAckWait
	}
	if c.HistoryReadAhead <= 0 {
		c.HistoryReadAhead = DefaultHistoryReadAhead
	}
	return c
}

// Feed consumes the telemetry stream and hands decoded events to its sinks.
type Feed struct {
	opts    Options
	cfg     Config
	sinks   []ingest.Sink
	prefix  string
	servers string // redacted

	conn atomic.Pointer[nats.Conn]
	// gen numbers the connections Run dials; callbacks of an older one are ignored.
	gen atomic.Uint64
	// coreSub is the core subscription whose drops the ErrorHandler counts.
	coreSub atomic.Pointer[nats.Subscription]

	mu    sync.Mutex
	state ingest.ConnState // counters below are kept apart so the hot path never takes mu

	received   atomic.Uint64
	drops      atomic.Uint64
	dropsBase  atomic.Uint64 // drops of the core subscriptions on earlier connections
	sinkErrors atomic.Uint64
	abandoned  atomic.Uint64
	reconnects atomic.Uint64

	// Used only by the goroutine that runs the subscription.
	decoder *wire.Decoder
	batch   []wire.Event
	// Where the JetStream API is reached (--js-domain or the context), fixed at New.
	jsDomain, jsAPI string
	// The JetStream de-dup tracker outlives a connection; see trackerFor.
	tracker        *seqTracker
	trackerStream  string
	trackerCreated time.Time
	// A Since read: the last stream sequence handed on (a new connection resumes after
	// it), the stream time of the last message, and whether it has caught up.
	histSeq      uint64
	histAt       time.Time
	histCaughtUp bool
}

// New validates the options (reading every credentials file named) and returns a feed that
// starts consuming when Run is called.
func New(opts Options, cfg Config, sinks ...ingest.Sink) (*Feed, error) {
	if cfg.PendingBytes == 0 { // the flags, unless the caller chose
		cfg.PendingBytes = int(opts.PendingBytes)
	}
	if cfg.PendingMsgs == 0 {
		cfg.PendingMsgs = opts.PendingMsgs
	}
	cfg = cfg.withDefaults()
	if opts.Subject == "" {
		return nil, errors.New("feed: --subject is empty")
	}
	cs, err := opts.resolve(cfg.ClientName)
	if err != nil {
		return nil, fmt.Errorf("feed: %w", err)
	}
	servers := cs.servers
	prefix := SubjectPrefix(opts.Subject)
	f := &Feed{
		opts:     opts,
		cfg:      cfg,
		sinks:    sinks,
		prefix:   prefix,
		servers:  RedactURLs(servers),
		jsDomain: cs.jsDomain,
		jsAPI:    cs.jsAPI,
		decoder:  wire.NewDecoder(prefix),
		batch:    make([]wire.Event, 0, cfg.BatchSize),
	}
	f.state = ingest.ConnState{
		Phase:   ingest.PhaseConnecting,
		Server:  f.servers,
		Since:   cfg.Clock(),
		Subject: wire.SafeString(opts.Subject, wire.MaxValueRunes),
	}
	return f, nil
}

// SubjectPrefix is the literal part of a subscription subject before its first wildcard
// token: "telemetry.>" → "telemetry". A subject without wildcards names one event, so its
// first token is taken as the prefix.
func SubjectPrefix(subject string) string {
	tokens := strings.Split(subject, ".")
	for i, t := range tokens {
		if t == "*" || t == ">" {
			return strings.Join(tokens[:i], ".")
		}
	}
	return tokens[0]
}

// Conn is the connection Run made, nil before Run connects. It is closed when Run returns,
// and replaced by a new one when the client library closes it while Run goes on.
func (f *Feed) Conn() *nats.Conn { return f.conn.Load() }

// State returns the connection state; it is safe for concurrent use and cheap.
func (f *Feed) State() ingest.ConnState {
	f.mu.Lock()
	s := f.state
	f.mu.Unlock()
	s.Received = f.received.Load()
	s.SlowConsumerDrops = f.drops.Load()
	s.SinkErrors = f.sinkErrors.Load()
	s.AbandonedAtShutdown = f.abandoned.Load()
	s.Reconnects = f.reconnects.Load()
	return s
}

func (f *Feed) setPhase(p ingest.Phase, server string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.state.Phase != p {
		f.state.Phase = p
		f.state.Since = f.cfg.Clock()
	}
	if server != "" {
		// The server may come from a cluster's INFO (connect_urls): not ours to trust.
		f.state.Server = wire.SafeString(server, wire.MaxValueRunes)
	}
}

func (f *Feed) setError(prefix string, err error) {
	if err == nil {
		return
	}
	msg := err.Error()
	if prefix != "" {
		msg = prefix + ": " + msg
	}
	f.mu.Lock()
	f.state.LastError = wire.SafeString(msg, wire.MaxReasonRunes)
	f.state.LastErrorAt = f.cfg.Clock()
	f.mu.Unlock()
}

// dialing is one connection Run dials.
type dialing struct {
	gen       uint64                    // Feed.gen when it was dialled
	nc        atomic.Pointer[nats.Conn] // set once nats.Connect has returned it
	connected atomic.Bool               // it was up at least once
}

// connOptions are the handlers that keep ConnState current for the connection d; once Run
// has moved on to a newer connection, an older one's late callbacks are ignored.
func (f *Feed) connOptions(d *dialing) []nats.Option {
	current := func() bool { return f.gen.Load() == d.gen }
	return []nats.Option{
		// A sync subscription buffers in a channel of this length; without it the client would
		// drop at its 64k default long before PendingMsgs.
		nats.SyncQueueLen(f.cfg.PendingMsgs),
		nats.ConnectHandler(func(nc *nats.Conn) {
			d.connected.Store(true)
			if current() {
				f.setPhase(ingest.PhaseConnected, nc.ConnectedUrlRedacted())
			}
		}),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if !current() {
				return
			}
			f.setError("disconnected", err)
			if !nc.IsClosed() {
				f.notConnected()
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			d.connected.Store(true)
			if current() {
				f.reconnects.Add(1)
				f.setPhase(ingest.PhaseConnected, nc.ConnectedUrlRedacted())
			}
		}),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) {
			if current() {
				f.setError("connecting", err)
			}
		}),
		// nats.go reports a refused handshake (the server's -ERR, e.g. "Authorization
		// Violation", or a TLS failure) through no callback while it retries a first connect,
		// and through ErrorHandler only in its own lower-case words after one. The attempt's
		// error is in LastError until the next attempt, and this is called between attempts:
		// the state gets the server's exact reason every time.
		nats.CustomReconnectDelay(func(attempts int) time.Duration {
			if nc := d.nc.Load(); nc != nil && current() {
				if err := nc.LastError(); err != nil {
					f.setError("connecting", err)
				}
			}
			return reconnectDelay(attempts)
		}),
		nats.ErrorHandler(func(nc *nats.Conn, sub *nats.Subscription, err error) {
			if !current() {
				return
			}
			if sub == nil && isAuthError(err) && !nc.IsConnected() {
				// A refused reconnect: CustomReconnectDelay above puts the server's own words
				// in the state; this is nats.go's lower-case copy of them.
				return
			}
			if errors.Is(err, nats.ErrSlowConsumer) && sub != nil && sub == f.coreSub.Load() {
				f.noteDrops(sub)
			}
			f.setError("", err)
		}),
	}
}

func isAuthError(err error) bool {
	return errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) ||
		errors.Is(err, nats.ErrAuthRevoked) || errors.Is(err, nats.ErrAccountAuthExpired)
}

// notConnected sets the phase for a connection that is down but being retried.
func (f *Feed) notConnected() {
	f.mu.Lock()
	everConnected := f.state.Phase != ingest.PhaseConnecting
	f.mu.Unlock()
	if everConnected {
		f.setPhase(ingest.PhaseReconnecting, "")
	}
}

// noteDrops folds the core subscription's cumulative drop count into the state. The counts
// of subscriptions on earlier connections are in dropsBase.
func (f *Feed) noteDrops(sub *nats.Subscription) {
	n, err := sub.Dropped()
	if err != nil || n <= 0 {
		return
	}
	total := f.dropsBase.Load() + uint64(n)
	for {
		old := f.drops.Load()
		if total <= old || f.drops.CompareAndSwap(old, total) {
			return
		}
	}
}

// Run connects, subscribes and feeds the sinks until ctx is done. Before returning it
// handles what was already received (for at most about a second), flushes the last batch
// and closes the connection. Connection, subscription and JetStream binding problems
// (server down, credentials refused, stream or consumer missing) are retried with backoff
// forever and shown in State; when the client library closes the connection for good, Run
// builds a new one. An error is returned only when the feed cannot start at all (options
// nats.go rejects).
func (f *Feed) Run(ctx context.Context) error {
	for attempt := 0; ; {
		d := &dialing{gen: f.gen.Add(1)}
		connOpts := f.connOptions(d)
		if f.cfg.ReadCoalesce > 0 && f.cfg.Durable == "" && f.cfg.Since.IsZero() {
			connOpts = append(connOpts, coalescingOption(f.cfg.ReadCoalesce, f.opts.ConnectTimeout))
		}
		nc, err := dial(f.opts, f.cfg.ClientName, connOpts...)
		if err != nil {
			f.setError("", err)
			return fmt.Errorf("feed: %w", err)
		}
		d.nc.Store(nc)
		f.conn.Store(nc)
		if nc.IsConnected() {
			d.connected.Store(true)
			f.setPhase(ingest.PhaseConnected, nc.ConnectedUrlRedacted())
		}
		var reason error
		switch {
		case f.cfg.Durable != "":
			f.runJetStream(ctx, nc)
		case !f.cfg.Since.IsZero():
			f.runHistory(ctx, nc)
		default:
			reason = f.runCore(ctx, nc)
		}
		if reason == nil {
			// Why nats.go closed the connection, if it did.
			reason = nc.LastError()
		}
		nc.Close()
		if ctx.Err() != nil {
			f.setPhase(ingest.PhaseDisconnected, "")
			return nil
		}
		// nats.go gave up on this connection (a server error it treats as final): the README
		// promises retrying forever, so dial again, keeping the reason in the state.
		if reason == nil {
			reason = nats.ErrConnectionClosed
		}
		f.setError("closed", reason)
		f.notConnected()
		if d.connected.Load() {
			attempt = 0
		}
		if !sleepCtx(ctx, reconnectDelay(attempt)) {
			f.setPhase(ingest.PhaseDisconnected, "")
			return nil
		}
		attempt++
	}
}

// flush hands the current batch to every sink and reports whether all returned nil.
//
// In JetStream mode a failed batch is redelivered, so the first failing sink stops it: the
// sinks after it (metrics, logs, republishing) must not count a batch that will come back.
// Sinks are ordered with the durable one (the audit trail) first for that reason. Core NATS
// cannot redeliver, so there every sink still gets the batch.
func (f *Feed) flush() bool {
	if len(f.batch) == 0 {
		return true
	}
	ok := true
	for _, s := range f.sinks {
		if err := s.HandleBatch(f.batch); err != nil {
			ok = false
			f.sinkErrors.Add(1)
			f.setError("sink", err)
			if f.cfg.Durable != "" {
				break
			}
		}
	}
	clear(f.batch) // drop references so events can be collected
	f.batch = f.batch[:0]
	return ok
}

func (f *Feed) deliverInvalid(bad ingest.Invalid) bool {
	ok := true
	for _, s := range f.sinks {
		if err := s.HandleInvalid(bad); err != nil {
			ok = false
			f.sinkErrors.Add(1)
			f.setError("sink", err)
			if f.cfg.Durable != "" {
				break
			}
		}
	}
	return ok
}

func (f *Feed) invalid(subject string, data []byte, received time.Time, decErr *wire.DecodeError, seq uint64) ingest.Invalid {
	return ingest.Invalid{
		Received:  received,
		Subject:   wire.SafeString(subject, wire.MaxValueRunes),
		Reason:    decErr.Reason,
		Detail:    decErr.Detail,
		Excerpt:   wire.Excerpt(data, excerptRunes),
		StreamSeq: seq,
	}
}
