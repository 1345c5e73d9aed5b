// Package app owns a running dashboard session: it starts the data sources (the feed into
// the engine, the health prober), evaluates the live alerts, and hands the UI one built,
// immutable Frame per refresh (view.Build joins the sources once, for every viewer). It is
// the only place where the sources meet, so the UI stays free of I/O and the sources stay
// free of each other.
package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/nsai/ingot-top/internal/alerts"
	"github.com/nsai/ingot-top/internal/daemonsrc"
	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/feed"
	"github.com/nsai/ingot-top/internal/health"
	"github.com/nsai/ingot-top/internal/history"
	"github.com/nsai/ingot-top/internal/ingest"
	"github.com/nsai/ingot-top/internal/promsrc"
	"github.com/nsai/ingot-top/internal/replay"
	"github.com/nsai/ingot-top/internal/view"
	"github.com/nsai/ingot-top/internal/wire"
)

// Config is what a session needs.
type Config struct {
	Feed         feed.Options
	FeedConfig   feed.Config
	Engine       engine.Config
	Probes       []health.Target
	Health       health.Config
	Rules        alerts.Rules
	AlertHistory int
	Refresh      time.Duration
	// Clock is the wall clock for frames and alerts; nil means time.Now.
	Clock func() time.Time
	// FromDaemon, when set, replaces the feed and the engine: the stream comes from the
	// merged 1 Hz snapshots that daemons republish (package daemonsrc). Feed, FeedConfig and
	// Engine are then unused; FromDaemon.Feed holds the connection flags.
	FromDaemon *daemonsrc.Config
	// Prometheus and PromQueries configure the fleet sources (--prometheus, --scrape); with
	// neither URL set there is no such source.
	Prometheus  promsrc.Flags
	PromQueries map[string]string
	// History sizes the per-second record behind look-back and the charts; zero values
	// take history.DefaultConfig.
	History history.Config
	// Since, when set, opens the past: the feed reads FeedConfig.Stream from this time on
	// (feed.Config.Since), the engine and the frames follow the stream time of what is read,
	// and go live once the read has caught up.
	Since time.Time
	// Replay, when set, replaces the feed: the engine is fed by recordings on their
	// recorded clock, which also becomes Clock. Feed and FeedConfig are then unused.
	Replay *ReplayConfig
	// Attached, when set, replaces the feed, the engine and the probes with ones the caller
	// already runs (the daemon's, for the dashboards it serves over SSH): the session starts
	// none of them and only builds frames. Feed, FeedConfig, Engine and Probes are unused.
	Attached *Attached
}

// Attached are sources run by someone else.
type Attached struct {
	Engine *engine.Engine
	State  func() ingest.ConnState
	// Health returns the probe statuses; nil means no probes.
	Health func() []health.Status
}

// streamSource is where frames take the stream view and its connection state from: the
// session's own feed and engine, or the fleet of daemons.
type streamSource interface {
	State() ingest.ConnState
	Snapshot() *engine.Snapshot
}

type localStream struct {
	state  func() ingest.ConnState
	engine *engine.Engine
	// wait bounds how long a frame waits for the engine's fresh build; a busy engine's
	// frame falls back to its last periodic snapshot instead of arriving late.
	wait time.Duration
}

func (l localStream) State() ingest.ConnState { return l.state() }

func (l localStream) Snapshot() *engine.Snapshot {
	ctx, cancel := context.WithTimeout(context.Background(), l.wait)
	defer cancel()
	if snap, err := l.engine.Fresh(ctx); err == nil {
		return snap
	}
	return l.engine.Snapshot()
}

// Session runs the sources until its context ends.
type Session struct {
	cfg       Config
	engine    *engine.Engine
	feed      *feed.Feed
	fleet     *daemonsrc.Source
	stream    streamSource
	prober    *health.Prober
	prom      *promsrc.Source
	evaluator *alerts.Evaluator
	hist      *history.Ring
	replay    *replayStream
	history   *historyClock // nil unless Since
	frames    chan view.Frame
	// hold keeps noisy figures still between frames (view.Holder), once for every viewer.
	hold *view.Holder

	mu       sync.Mutex
	current  view.Frame
	lastRecv uint64
	lastData time.Time

	wg   sync.WaitGroup
	errs chan error
}

type wallClock struct{ now func() time.Time }

func (c wallClock) Now() time.Time { return c.now() }

// Start validates the configuration and starts every source. It returns promptly even when
// NATS or the probed services are down: the frames say so.
func Start(ctx context.Context, cfg Config) (*Session, error) {
	if cfg.Refresh <= 0 {
		return nil, errors.New("refresh interval must be positive")
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.AlertHistory <= 0 {
		cfg.AlertHistory = 200
	}
	var replayClock *engine.ManualClock
	if cfg.Replay != nil {
		if len(cfg.Replay.Files) == 0 || cfg.Replay.Pacer == nil {
			return nil, errors.New("replay: no recordings")
		}
		// Frames, alerts and windows all run on the recorded clock.
		replayClock = engine.NewManualClock(cfg.Replay.Files[0].Header.Created)
		cfg.Clock = replayClock.Now
	}
	var past *historyClock
	if !cfg.Since.IsZero() && cfg.Replay == nil && cfg.FromDaemon == nil {
		past = &historyClock{since: cfg.Since, wall: cfg.Clock}
		cfg.Clock = past.Now
		cfg.FeedConfig.Since, cfg.FeedConfig.OnHistory = cfg.Since, past.set
	}
	clock := wallClock{cfg.Clock}
	s := &Session{
		cfg:       cfg,
		evaluator: alerts.NewEvaluator(cfg.Rules, cfg.AlertHistory),
		hist:      history.New(cfg.History),
		history:   past,
		frames:    make(chan view.Frame, 1),
		hold:      view.NewHolder(),
		errs:      make(chan error, 3),
	}
	if a := cfg.Attached; a != nil {
		s.engine, s.stream = a.Engine, localStream{state: a.State, engine: a.Engine, wait: cfg.Refresh / 2}
	} else if cfg.FromDaemon != nil {
		fl, err := daemonsrc.New(*cfg.FromDaemon)
		if err != nil {
			return nil, fmt.Errorf("daemon snapshots: %w", err)
		}
		s.fleet, s.stream = fl, fl
	} else if cfg.Replay != nil {
		cfg.Engine.SnapshotEvery = max(5*cfg.Refresh, 5*time.Second)
		eng := engine.New(cfg.Engine, replayClock)
		names := make([]string, len(cfg.Replay.Files))
		for i, f := range cfg.Replay.Files {
			names[i] = f.Path
		}
		s.replay = &replayStream{
			engine: eng, pacer: cfg.Replay.Pacer, counted: &countingSink{next: eng},
			started: cfg.Replay.Files[0].Header.Created,
			server:  wire.SafeString(strings.Join(names, ", "), wire.MaxValueRunes),
			subject: wire.SafeString(cfg.Replay.Files[0].Header.Subject, wire.MaxValueRunes),
			wait:    cfg.Refresh / 2,
		}
		s.engine, s.stream = eng, s.replay
	} else {
		// Frames ask the engine for a fresh build each refresh; the periodic build is only
		// the fallback for a frame whose request times out, so it can be rare.
		cfg.Engine.SnapshotEvery = max(5*cfg.Refresh, 5*time.Second)
		// A frame needs its events within a refresh, not within milliseconds: fewer, larger
		// batches wake the engine less often for the same work.
		if cfg.FeedConfig.FlushDelay == 0 {
			cfg.FeedConfig.FlushDelay = FlushDelayFor(cfg.Refresh)
		}
		if cfg.FeedConfig.ReadCoalesce == 0 {
			cfg.FeedConfig.ReadCoalesce = cfg.FeedConfig.FlushDelay / 2
		}
		eng := engine.New(cfg.Engine, clock)
		fd, err := feed.New(cfg.Feed, cfg.FeedConfig, eng)
		if err != nil {
			return nil, fmt.Errorf("starting the feed: %w", err)
		}
		s.engine, s.feed, s.stream = eng, fd, localStream{state: fd.State, engine: eng, wait: cfg.Refresh / 2}
	}
	if len(cfg.Probes) > 0 && cfg.Attached == nil {
		s.prober = health.New(cfg.Probes, cfg.Health, clock, &http.Client{})
	}
	prom, err := promsrc.New(cfg.Prometheus, cfg.PromQueries, cfg.Clock)
	if err != nil {
		return nil, err
	}
	s.prom = prom
	switch {
	case cfg.Attached != nil:
	case s.fleet != nil:
		s.run(ctx, "daemon snapshots", s.fleet.Run)
	case s.replay != nil:
		s.run(ctx, "engine", s.engine.Run)
		files := cfg.Replay.Files
		s.run(ctx, "replay", func(ctx context.Context) error { return s.replay.run(ctx, files, replayClock) })
	default:
		s.run(ctx, "engine", s.engine.Run)
		s.run(ctx, "feed", s.feed.Run)
	}
	if s.prober != nil {
		s.run(ctx, "health probes", s.prober.Run)
	}
	if s.prom != nil {
		s.run(ctx, "prometheus", s.prom.Run)
	}
	s.run(ctx, "frames", s.loop)
	return s, nil
}

// FlushDelayFor is the feed batching delay for a viewer that redraws every refresh: a tenth
// of it, between the feed's default and 100ms.
func FlushDelayFor(refresh time.Duration) time.Duration {
	return min(max(refresh/10, feed.DefaultFlushDelay), 100*time.Millisecond)
}

func (s *Session) run(ctx context.Context, name string, fn func(context.Context) error) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := fn(ctx); err != nil && !errors.Is(err, context.Canceled) {
			select {
			case s.errs <- fmt.Errorf("%s: %w", name, err):
			default:
			}
		}
	}()
}

// Frames delivers at most one built frame per refresh; a slow reader gets the latest, never
// a backlog. A frame is shared and immutable: fan it out to any number of viewers.
func (s *Session) Frames() <-chan view.Frame { return s.frames }

// Current is the latest frame (for the incident report).
func (s *Session) Current() view.Frame {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.current
}

// Engine exposes the engine for a final Sync (snapshot-style reports); nil in FromDaemon mode.
func (s *Session) Engine() *engine.Engine { return s.engine }

// Pacer controls a replay's speed and pauses; nil unless the session replays recordings.
func (s *Session) Pacer() *replay.Pacer {
	if s.replay == nil {
		return nil
	}
	return s.replay.pacer
}

// Feed exposes the feed state; nil in FromDaemon mode.
func (s *Session) Feed() *feed.Feed { return s.feed }

// Fleet exposes the daemon snapshot source; nil unless in FromDaemon mode.
func (s *Session) Fleet() *daemonsrc.Source { return s.fleet }

// Wait blocks until every source has stopped after the context ended, and returns the first
// source failure, if any.
func (s *Session) Wait() error {
	s.wg.Wait()
	select {
	case err := <-s.errs:
		return err
	default:
		return nil
	}
}

// firstDataPoll is how often the loop looks for data while the last frame showed none new
// (at start, after an outage, before Prometheus first answers), so that the first data is
// drawn when it arrives instead of up to a refresh later.
const firstDataPoll = 20 * time.Millisecond

// firstDataRetries bounds the frames built for one arrival that the engine has not counted
// yet (messages a daemon merged without events, a batch still in the feed).
const firstDataRetries = 3

// dataMarks is what data a frame had: what the feed had received, the events the engine had
// counted, and when the fleet figures were computed.
type dataMarks struct {
	received, events uint64
	promAt           time.Time
}

func marksOf(f view.Frame) dataMarks {
	m := dataMarks{received: f.Conn.Received}
	if f.Stream != nil {
		m.events = f.Stream.Totals.Events + f.Stream.Totals.Invalid
	}
	if f.Prom != nil {
		m.promAt = f.Prom.FiguresAt
	}
	return m
}

// waiting reports whether a frame with marks m, after one with prev, is still waiting for
// data: nothing arrived between them (at start, during an outage, before Prometheus answers),
// or the feed has received events the engine has not counted yet (the first batch on its
// way). A busy stream never waits, whatever the engine's pace: the poll must not turn into
// frames at its own rate when builds fall behind.
func waiting(m, prev dataMarks) bool {
	return m.received == prev.received && m.promAt.Equal(prev.promAt) || m.received > 0 && m.events == 0
}

func (s *Session) loop(ctx context.Context) error {
	if s.prober != nil {
		// A first round right away, bounded by the probe timeout, so the first frames have health.
		go s.prober.CheckNow(ctx)
	}
	t := time.NewTicker(s.cfg.Refresh)
	defer t.Stop()
	// History is per second: with a slower refresh, a second ticker records between frames.
	var rec <-chan time.Time
	if s.cfg.Refresh > time.Second {
		rt := time.NewTicker(time.Second)
		defer rt.Stop()
		rec = rt.C
	}
	poll := time.NewTicker(firstDataPoll)
	defer poll.Stop()
	var shown dataMarks
	// What the feed had received and when Prometheus had answered at the last look.
	var polledRecv uint64
	var polledPromAt time.Time
	look := func() (uint64, time.Time) {
		var promAt time.Time
		if prom := s.prom.Snapshot(); prom != nil {
			promAt = prom.FiguresAt
		}
		return s.stream.State().Received, promAt
	}
	// frame publishes a frame and reports whether it showed new data; while frames show none,
	// the poll ticker runs.
	frame := func() bool {
		f := s.buildFrame()
		s.publish(f)
		m := marksOf(f)
		fresh := !waiting(m, shown)
		shown = m
		if fresh {
			poll.Stop()
		} else {
			poll.Reset(firstDataPoll)
		}
		return fresh
	}
	if !frame() {
		polledRecv, polledPromAt = look()
	}
	retries := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if !frame() {
				polledRecv, polledPromAt = look()
			}
		case <-poll.C:
			// A frame costs a snapshot: build one only when the feed has received something or
			// Prometheus has answered since the last look.
			recv, promAt := look()
			if recv == polledRecv && promAt.Equal(polledPromAt) {
				continue
			}
			if frame() {
				t.Reset(s.cfg.Refresh)
				retries = 0
				continue
			}
			// Received by the feed but not yet in the engine (a batch on its way): look again
			// for a few polls, then wait for the next arrival.
			if retries++; retries >= firstDataRetries {
				polledRecv, polledPromAt, retries = recv, promAt, 0
			}
		case <-rec:
			s.record(s.cfg.Clock(), s.stream.State(), s.stream.Snapshot(), s.Current().Alerts)
		}
	}
}

// History is the session's per-second record.
func (s *Session) History() *history.Ring { return s.hist }

// record puts one second into the history; frames call it, and so does the per-second
// ticker of a refresh slower than a second (with the last evaluated alerts: evaluating
// outside a frame would change the alerts' timing).
func (s *Session) record(at time.Time, conn ingest.ConnState, snap *engine.Snapshot, al alerts.State) {
	statuses := s.probeStatuses()
	s.hist.Record(history.Input{At: at, Stream: snap, Conn: conn, Health: statuses, Alerts: al, Prom: s.prom.Snapshot()})
}

func (s *Session) buildFrame() view.Frame {
	now := s.cfg.Clock()
	var replaying *view.ReplayStatus
	if s.history != nil {
		// One look at the history clock for both: the read may catch up between two looks,
		// and a frame marked live must not carry the stream's time, nor the reverse.
		now, replaying = s.history.nowAndReading()
	}
	conn := s.stream.State()
	snap := s.stream.Snapshot()
	statuses := s.probeStatuses()
	prom := s.prom.Snapshot() // nil without a Prometheus or scrape source
	in := alerts.Input{At: now, Stream: snap, Health: statuses}
	if prom != nil {
		in.PromAlerts = prom.Alerts
	}
	st := s.evaluator.Evaluate(in)
	if s.fleet != nil {
		// The daemons' alerts carry the onset they saw; the viewer's own evaluation over the
		// merged stream only began when it started, and fills in what no daemon reports.
		if reported, ok := s.fleet.Alerts(); ok {
			st = alerts.PreferReported(st, reported, s.cfg.AlertHistory)
		}
	}

	s.mu.Lock()
	if conn.Received != s.lastRecv {
		s.lastRecv = conn.Received
		s.lastData = now
	}
	lastData := s.lastData
	s.mu.Unlock()

	stream := view.SourceInfo{Name: "stream", Detail: string(conn.Phase)}
	var daemons []view.SourceInfo
	if s.fleet != nil {
		stream.Name = "daemons"
		daemons = daemonSources(s.fleet.Producers())
		stale := 0
		for _, d := range daemons {
			if d.Stale {
				stale++
			}
		}
		stream.Detail = fmt.Sprintf("%s, %d merged", conn.Phase, len(daemons)-stale)
		if stale > 0 {
			stream.Detail += fmt.Sprintf(", %d stale (left out)", stale)
		}
	}
	if s.replay != nil {
		stream.Name, stream.Detail = "recording", "replay"
		replaying = s.replay.status()
	}
	if lastData.IsZero() {
		stream.Stale = true
		stream.Detail = "no data yet"
	} else {
		stream.Age = now.Sub(lastData)
		stream.Stale = stream.Age > 10*time.Second
	}
	s.hist.Record(history.Input{At: now, Stream: snap, Conn: conn, Health: statuses, Alerts: st, Prom: prom})
	src, merged := view.Live, 0
	if s.fleet != nil {
		src = view.Daemon
		for _, d := range daemons {
			if !d.Stale {
				merged++
			}
		}
	}
	return s.hold.Apply(view.Build(view.Frame{At: now, Stream: snap, StreamSrc: src, Daemons: merged, Conn: conn, Health: statuses, Alerts: st,
		Sources: append([]view.SourceInfo{stream}, daemons...), Prom: prom, History: s.hist, Replay: replaying}))
}

// daemonSources is one source per daemon heard lately: its age is how long it has been
// silent, and a stale one is left out of the merged figures.
func daemonSources(ps []engine.ProducerStatus) []view.SourceInfo {
	out := make([]view.SourceInfo, 0, len(ps))
	for _, p := range ps {
		state := "merged"
		if p.Stale {
			state = "stale: left out of the totals"
		}
		detail := state
		if p.Host != "" {
			detail = "host " + p.Host + ", " + state
		}
		out = append(out, view.SourceInfo{Name: view.DaemonSourcePrefix + p.Producer, Age: p.Silent, Stale: p.Stale, Detail: detail})
	}
	return out
}

func (s *Session) publish(f view.Frame) {
	s.mu.Lock()
	s.current = f
	s.mu.Unlock()
	select {
	case s.frames <- f:
		return
	default:
	}
	// The UI has not taken the previous frame: replace it with this newer one.
	select {
	case <-s.frames:
	default:
	}
	select {
	case s.frames <- f:
	default:
	}
}

// probeStatuses are the session's own probes; a --from-daemon session without probes of
// its own shows the daemons' (republished in their aggregates), so that Forge and Anvil read
// as the daemons' /health says, not "unknown".
func (s *Session) probeStatuses() []health.Status {
	if s.prober != nil {
		return s.prober.Statuses()
	}
	if s.fleet != nil {
		return s.fleet.Health()
	}
	if a := s.cfg.Attached; a != nil && a.Health != nil {
		return a.Health()
	}
	return nil
}

// Exemplars returns op's traced observations from Prometheus between from and to, slowest
// first (promsrc.ErrNoPrometheus without --prometheus).
func (s *Session) Exemplars(op string, from, to time.Time) ([]promsrc.Exemplar, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.prom.Exemplars(ctx, op, from, to, 10)
}

// Trace returns the spans of a trace the session's engine has seen; false in FromDaemon
// mode (the daemons republish the lineage of their errors only) or when it is not held.
func (s *Session) Trace(traceID string) ([]engine.TraceSpan, bool) {
	if s.engine == nil {
		return nil, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	spans, ok, err := s.engine.Trace(ctx, traceID)
	return spans, ok && err == nil
}

// HasPrometheus reports a --prometheus server among the sources.
func (s *Session) HasPrometheus() bool { return s.cfg.Prometheus.Prometheus != "" }
