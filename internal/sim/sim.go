// Package sim owns the simulated Ingot platform: a traffic generator that publishes realistic,
// contract-valid Forge/Anvil/Ingot telemetry (telemetry-wire-v1) to NATS at a paced rate, with
// scenarios that can be switched at runtime, and switchable /health endpoints for Forge,
// Anvil and an Ingot-shaped composite. It is part of the product (`ingot-top demo`,
// `ingot-top simulate`, load generation), not a test fake.
package sim

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// Scenario names a traffic pattern. Scenarios can be switched while the simulator runs.
type Scenario string

const (
	// ScenarioNormal is healthy traffic with the base error rate.
	ScenarioNormal Scenario = "normal"
	// ScenarioDegradedAnvil makes AnvilClient calls ten times slower with a heavier tail,
	// fails 20–40% of them with "timeout", and turns Anvil's /health slow.
	ScenarioDegradedAnvil Scenario = "degraded-anvil"
	// ScenarioErrorBurst spikes ForgeClient and pipeline errors for Config.BurstDuration,
	// then returns to normal by itself.
	ScenarioErrorBurst Scenario = "error-burst"
	// ScenarioForgeDown fails every ForgeClient call with "econnrefused", silences Forge's
	// own events and fails Forge's /health.
	ScenarioForgeDown Scenario = "forge-down"
)

// Scenarios lists every scenario in a stable order (for flag enums and key bindings).
var Scenarios = []Scenario{ScenarioNormal, ScenarioDegradedAnvil, ScenarioErrorBurst, ScenarioForgeDown}

// ParseScenario accepts a scenario name.
func ParseScenario(name string) (Scenario, error) {
	for _, s := range Scenarios {
		if string(s) == name {
			return s, nil
		}
	}
	return "", fmt.Errorf("unknown scenario %q (want one of normal, degraded-anvil, error-burst, forge-down)", name)
}

// Latency is a latency distribution in milliseconds: a log-normal body (Median, Sigma) and,
// with probability TailProb, a Pareto tail starting at TailStart×Median with shape
// TailAlpha (smaller alpha = heavier tail). Samples are capped at Max.
type Latency struct {
	Median    float64
	Sigma     float64
	TailProb  float64
	TailStart float64
	TailAlpha float64
	Max       float64
}

// Config shapes the simulated platform. Zero fields take the defaults of DefaultConfig.
type Config struct {
	// Rate is the total number of events per second; 0 publishes as fast as possible.
	Rate float64
	// Queues and Labelers size the simulated campaign.
	Queues   int
	Labelers int
	// Prefix is the subject prefix, "telemetry" by default.
	Prefix string
	// Seed makes the traffic reproducible; 0 picks a seed from the clock.
	Seed int64
	// Scenario is the initial scenario.
	Scenario Scenario
	// ErrorRate is the base probability that a client call or pipeline run fails (normal scenario).
	// A negative value means no injected errors at all.
	ErrorRate float64
	// AbandonRate is the probability that a labeler abandons an assignment.
	AbandonRate float64
	// BurstDuration is how long ScenarioErrorBurst lasts before traffic returns to normal.
	BurstDuration time.Duration

	// Latency distributions, in milliseconds.
	AnvilLatency  Latency // AnvilClient calls and Anvil-side spans
	ForgeLatency  Latency // ForgeClient calls
	RenderLatency Latency // component rendering
	MountLatency  Latency // LiveView mount
	UserTime      Latency // time a labeler spends on one sample (ingot.label.submit duration_ms)

	// OnScenario, when set, is called whenever the scenario changes, including the automatic
	// end of an error burst, so that health endpoints can follow. It is called from the
	// goroutine that calls SetScenario or Run and must not block.
	OnScenario func(Scenario)
}

// DefaultConfig is a 500 events/s campaign of 12 queues and 40 labelers.
func DefaultConfig() Config {
	return Config{
		Rate:          500,
		Queues:        12,
		Labelers:      40,
		Prefix:        "telemetry",
		Scenario:      ScenarioNormal,
		ErrorRate:     0.01,
		AbandonRate:   0.03,
		BurstDuration: 20 * time.Second,
		AnvilLatency:  Latency{Median: 18, Sigma: 0.45, TailProb: 0.02, TailStart: 4, TailAlpha: 1.6, Max: 30000},
		ForgeLatency:  Latency{Median: 35, Sigma: 0.5, TailProb: 0.02, TailStart: 4, TailAlpha: 1.5, Max: 30000},
		RenderLatency: Latency{Median: 4, Sigma: 0.6, TailProb: 0.01, TailStart: 5, TailAlpha: 1.8, Max: 2000},
		MountLatency:  Latency{Median: 60, Sigma: 0.5, TailProb: 0.02, TailStart: 4, TailAlpha: 1.5, Max: 10000},
		UserTime:      Latency{Median: 7000, Sigma: 0.6, TailProb: 0.03, TailStart: 3, TailAlpha: 1.4, Max: 600000},
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Rate < 0 {
		c.Rate = 0
	}
	if c.Queues <= 0 {
		c.Queues = d.Queues
	}
	if c.Labelers <= 0 {
		c.Labelers = d.Labelers
	}
	if c.Prefix == "" {
		c.Prefix = d.Prefix
	}
	if c.Scenario == "" {
		c.Scenario = d.Scenario
	}
	if c.ErrorRate == 0 {
		c.ErrorRate = d.ErrorRate
	}
	if c.ErrorRate < 0 {
		c.ErrorRate = 0
	}
	if c.ErrorRate > 1 {
		c.ErrorRate = 1
	}
	if c.AbandonRate <= 0 {
		c.AbandonRate = d.AbandonRate
	}
	if c.BurstDuration <= 0 {
		c.BurstDuration = d.BurstDuration
	}
	fill := func(l *Latency, def Latency) {
		if l.Median <= 0 {
			*l = def
			return
		}
		if l.Max <= 0 {
			l.Max = def.Max
		}
		if l.TailStart <= 0 {
			l.TailStart = def.TailStart
		}
		if l.TailAlpha <= 0 {
			l.TailAlpha = def.TailAlpha
		}
	}
	fill(&c.AnvilLatency, d.AnvilLatency)
	fill(&c.ForgeLatency, d.ForgeLatency)
	fill(&c.RenderLatency, d.RenderLatency)
	fill(&c.MountLatency, d.MountLatency)
	fill(&c.UserTime, d.UserTime)
	return c
}

func (c Config) validate() error {
	if _, err := ParseScenario(string(c.Scenario)); err != nil {
		return err
	}
	if !validPrefix(c.Prefix) {
		return fmt.Errorf("invalid subject prefix %q: want dot-separated tokens without wildcards or spaces", c.Prefix)
	}
	return nil
}

func validPrefix(p string) bool {
	if p == "" || p[0] == '.' || p[len(p)-1] == '.' {
		return false
	}
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '*' || c == '>' || c <= ' ' || c == 0x7f:
			return false
		case c == '.' && i > 0 && p[i-1] == '.':
			return false
		}
	}
	return true
}

// Publisher is the part of *nats.Conn the simulator needs; *nats.Conn satisfies it.
type Publisher interface {
	Publish(subject string, data []byte) error
	PublishMsg(msg *nats.Msg) error
}

// Clock is the simulator's time source, injected so that pacing can be tested without sleeping.
type Clock interface {
	Now() time.Time
	NewTicker(d time.Duration) Ticker
}

// Ticker is the part of *time.Ticker the simulator needs.
type Ticker interface {
	C() <-chan time.Time
	Stop()
}

// SystemClock is the real clock.
func SystemClock() Clock { return systemClock{} }

type systemClock struct{}

func (systemClock) Now() time.Time                   { return time.Now() }
func (systemClock) NewTicker(d time.Duration) Ticker { return systemTicker{time.NewTicker(d)} }

type systemTicker struct{ t *time.Ticker }

func (t systemTicker) C() <-chan time.Time { return t.t.C }
func (t systemTicker) Stop()               { t.t.Stop() }

// Limit bounds a run; zero fields mean unbounded. The run ends at whichever comes first.
type Limit struct {
	Count    int64
	Duration time.Duration
}

// Stats describes a finished run.
type Stats struct {
	Published int64
	// ByEvent counts published events by dotted event name, e.g. "anvil.label.submitted".
	ByEvent map[string]int64
	// ErrorsInjected counts published events carrying result "error".
	ErrorsInjected int64
	// PublishFailures counts messages the connection refused (e.g. reconnect buffer full).
	PublishFailures int64
	// Skipped counts events the pacer gave up on because publishing fell more than half a
	// second behind the schedule (the rate was higher than the connection could take).
	Skipped int64
	Elapsed time.Duration
	// Rate is the achieved rate in events per second.
	Rate float64
}

// Progress is a live view of a run, safe to read from any goroutine.
type Progress struct {
	Published      int64
	ErrorsInjected int64
	Scenario       Scenario
}

// ErrAlreadyRunning is returned when Run is called while another Run is in progress.
var ErrAlreadyRunning = errors.New("sim: simulator is already running")

// Simulator publishes generated traffic. Run must not be called concurrently with itself;
// SetScenario, Scenario and Progress are safe from any goroutine.
type Simulator struct {
	cfg   Config
	pub   Publisher
	clock Clock

	running   atomic.Bool
	published atomic.Int64
	errors    atomic.Int64

	mu        sync.Mutex
	scenario  Scenario
	changeSeq uint64 // bumped by SetScenario; the generator applies changes it has not seen
	seenSeq   atomic.Uint64
	changes   atomic.Uint64

	gen *generator
}

// New builds a simulator. clock may be nil for the system clock.
func New(cfg Config, pub Publisher, clock Clock) (*Simulator, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	if pub == nil {
		return nil, errors.New("sim: nil publisher")
	}
	if clock == nil {
		clock = SystemClock()
	}
	if cfg.Seed == 0 {
		cfg.Seed = clock.Now().UnixNano()
	}
	s := &Simulator{cfg: cfg, pub: pub, clock: clock, scenario: cfg.Scenario}
	s.gen = newGenerator(cfg, clock.Now())
	return s, nil
}

// Config returns the effective configuration (defaults filled in).
func (s *Simulator) Config() Config { return s.cfg }

// SetScenario switches the traffic pattern. It takes effect for requests started after the
// next publishing burst; requests already in flight finish as they began.
func (s *Simulator) SetScenario(sc Scenario) error {
	if _, err := ParseScenario(string(sc)); err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	s.mu.Lock()
	s.scenario = sc
	s.changeSeq++
	s.changes.Store(s.changeSeq)
	s.mu.Unlock()
	if s.cfg.OnScenario != nil {
		s.cfg.OnScenario(sc)
	}
	return nil
}

// Scenario returns the current scenario.
func (s *Simulator) Scenario() Scenario {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.scenario
}

// Progress returns live counters of the current or last run.
func (s *Simulator) Progress() Progress {
	return Progress{Published: s.published.Load(), ErrorsInjected: s.errors.Load(), Scenario: s.Scenario()}
}

// syncScenario hands scenario changes to the generator and ends error bursts; called from
// the Run goroutine only.
func (s *Simulator) syncScenario(now time.Time) {
	if seq := s.changes.Load(); seq != s.seenSeq.Load() {
		s.mu.Lock()
		sc := s.scenario
		s.seenSeq.Store(s.changeSeq)
		s.mu.Unlock()
		s.gen.setScenario(sc, now)
	}
	if s.gen.burstOver(now) {
		s.mu.Lock()
		ended := s.scenario == ScenarioErrorBurst && s.changeSeq == s.seenSeq.Load()
		if ended {
			s.scenario = ScenarioNormal
		}
		s.mu.Unlock()
		s.gen.setScenario(ScenarioNormal, now)
		if ended && s.cfg.OnScenario != nil {
			s.cfg.OnScenario(ScenarioNormal)
		}
	}
}

// maxBacklog is how far behind schedule the pacer may fall before it skips events rather
// than bursting to catch up (after a stall, a laptop sleep, or a rate beyond the machine).
const maxBacklog = 500 * time.Millisecond

// tickFor picks the pacing tick: often enough for smooth traffic, rarely enough to be cheap.
func tickFor(rate float64) time.Duration {
	d := time.Duration(float64(time.Second) / rate)
	return min(max(d, 10*time.Millisecond), 100*time.Millisecond)
}

// Run publishes until ctx is done or the limit is reached. Pacing is cumulative: at every
// tick it publishes, in one burst, the events that are due since the start, so the achieved
// rate does not drift with tick jitter. A cancelled context is a normal end (nil error); a
// closed connection ends the run with an error.
func (s *Simulator) Run(ctx context.Context, limit Limit) (Stats, error) {
	if !s.running.CompareAndSwap(false, true) {
		return Stats{}, ErrAlreadyRunning
	}
	defer s.running.Store(false)
	s.published.Store(0)
	s.errors.Store(0)

	r := runState{sim: s, start: s.clock.Now()}
	var err error
	if s.cfg.Rate <= 0 {
		err = r.flatOut(ctx, limit)
	} else {
		err = r.paced(ctx, limit)
	}
	return r.stats(), err
}

type runState struct {
	sim       *Simulator
	start     time.Time
	end       time.Time
	published int64
	errors    int64
	failures  int64
	skipped   int64
	byKind    [numKinds]int64
	msg       nats.Msg
	header    nats.Header
}

func (r *runState) stats() Stats {
	st := Stats{
		Published:       r.published,
		ByEvent:         make(map[string]int64, numKinds),
		ErrorsInjected:  r.errors,
		PublishFailures: r.failures,
		Skipped:         r.skipped,
		Elapsed:         r.end.Sub(r.start),
	}
	for k, n := range r.byKind {
		if n > 0 {
			st.ByEvent[catalogue[k].name] = n
		}
	}
	if st.Elapsed > 0 {
		st.Rate = float64(st.Published) / st.Elapsed.Seconds()
	}
	return st
}

func (r *runState) paced(ctx context.Context, limit Limit) error {
	rate := r.sim.cfg.Rate
	ticker := r.sim.clock.NewTicker(tickFor(rate))
	defer ticker.Stop()
	r.end = r.start
	for {
		select {
		case <-ctx.Done():
			r.end = r.sim.clock.Now()
			return nil
		case now := <-ticker.C():
			elapsed := now.Sub(r.start)
			done := false
			if limit.Duration > 0 && elapsed >= limit.Duration {
				elapsed, done = limit.Duration, true
			}
			budget := int64(rate*elapsed.Seconds()) - r.published - r.skipped
			if backlog := int64(rate*maxBacklog.Seconds()) + 1; budget > backlog {
				r.skipped += budget - backlog
				budget = backlog
			}
			if limit.Count > 0 {
				budget = min(budget, limit.Count-r.published)
			}
			err := r.burst(ctx, now, budget)
			r.end = now
			if done {
				r.end = r.start.Add(limit.Duration)
			}
			if err != nil {
				return err
			}
			if done || (limit.Count > 0 && r.published >= limit.Count) {
				return nil
			}
		}
	}
}

// flatOut publishes as fast as the connection takes it, looking at the clock and the
// context once per chunk to keep the per-event cost down.
func (r *runState) flatOut(ctx context.Context, limit Limit) error {
	const chunk = 256
	for {
		now := r.sim.clock.Now()
		r.end = now
		if ctx.Err() != nil {
			return nil
		}
		if limit.Duration > 0 && now.Sub(r.start) >= limit.Duration {
			return nil
		}
		n := int64(chunk)
		if limit.Count > 0 {
			n = min(n, limit.Count-r.published)
			if n <= 0 {
				return nil
			}
		}
		if err := r.burst(ctx, now, n); err != nil {
			r.end = r.sim.clock.Now()
			return err
		}
	}
}

func (r *runState) burst(ctx context.Context, now time.Time, n int64) error {
	s := r.sim
	s.syncScenario(now)
	var errs int64
	startPublished := r.published
	defer func() {
		s.published.Add(r.published - startPublished)
		s.errors.Add(errs)
	}()
	for i := int64(0); i < n; i++ {
		if i&1023 == 1023 && ctx.Err() != nil {
			return nil
		}
		ev := s.gen.next(now)
		data := s.gen.encode(ev, now)
		var err error
		if ev.traceInHeader {
			if r.header == nil {
				r.header = nats.Header{}
			}
			r.header.Set("traceparent", ev.traceparent())
			r.msg = nats.Msg{Subject: s.gen.subjects[ev.kind], Header: r.header, Data: data}
			err = s.pub.PublishMsg(&r.msg)
		} else {
			err = s.pub.Publish(s.gen.subjects[ev.kind], data)
		}
		if err != nil {
			if errors.Is(err, nats.ErrConnectionClosed) {
				return fmt.Errorf("sim: publish %s: %w", s.gen.subjects[ev.kind], err)
			}
			r.failures++
			continue
		}
		r.published++
		r.byKind[ev.kind]++
		if ev.isError {
			r.errors++
			errs++
		}
	}
	return nil
}
