package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nsai/ingot-top/internal/alerts"
	"github.com/nsai/ingot-top/internal/app"
	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/feed"
	"github.com/nsai/ingot-top/internal/health"
	"github.com/nsai/ingot-top/internal/ingest"
	"github.com/nsai/ingot-top/internal/report"
	"github.com/nsai/ingot-top/internal/wire"
)

// SnapshotCmd collects from the stream for a fixed time and prints the aggregate.
type SnapshotCmd struct {
	feed.Options `embed:""`
	ProbeFlags   `embed:""`
	AlertFlags   `embed:""`
	PastFlags    `embed:""`
	// Scale-out: read the daemons' merged aggregates instead of the stream (snapshot_fleet.go).
	FromDaemonFlags `embed:""`

	Duration     time.Duration `short:"d" default:"5s" help:"How long to collect before printing (with --since or --at: how long to wait for the stream before giving up)."`
	Format       string        `short:"f" enum:"text,json,markdown" default:"text" help:"Output format: text, json or markdown (for pasting into an incident channel)."`
	Window       string        `enum:"auto,1m,5m,15m" default:"auto" help:"Aggregation window to print; auto picks the smallest that covers --duration."`
	Top          int           `default:"10" help:"Queues to list (the rest are summed in 'other')."`
	Errors       int           `name:"errors" default:"10" help:"Recent errors to list."`
	MaxErrorRate float64       `default:"0.05" help:"Exit 1 when the client error rate over the window exceeds this (0..1)."`
	MaxInvalid   int64         `default:"-1" help:"Exit 1 when more than this many invalid messages were seen (-1: never)."`
	Quiet        bool          `short:"q" help:"Do not print progress to stderr."`
}

// Help is shown under the command's usage.
func (SnapshotCmd) Help() string {
	return `Connects to NATS, aggregates the telemetry stream for --duration, prints per-queue
throughput, latency percentiles per operation, errors, invalid and unknown events,
stream lag and the connection state, then exits.

With --forge-health/--anvil-health/--ingot-health the services are probed while collecting,
and the runbook alerts are evaluated every second (their onset is when the condition began,
which may be before the collection): the report starts with a one-line verdict, then the
alerts, the health table and who is hit.

Exit status: 0 nothing wrong; 1 client error rate above --max-error-rate, invalid
messages above --max-invalid, slow-consumer drops, or (--from-daemon) no daemon heard;
3 could not connect to NATS within --duration (with --since/--at: or could not read the
stream); 2 bad flags.

With --since or --at it reads the JetStream stream that keeps the telemetry (--stream) from
that time, on the stream's clock, as fast as it comes, and prints once it has caught up
with the stream: what happened since then, alerts and timeline included.

With --from-daemon it reads nothing of the stream: for --duration it merges the aggregates
the daemons republish every second, and prints the fleet's figures (over the daemons'
windows, whatever --duration). The report lists the daemons heard ("daemons" in JSON, each
with its "state"): merged ones, and stale ones (silent for 5 s), whose share is left out of
every figure.

Examples:
  ingot-top snapshot -s nats://nats.prod:4222 --duration 10s
  ingot-top snapshot --from-daemon --duration 3s --window 15m --format json
  ingot-top snapshot --format markdown --duration 30s | pbcopy
  ingot-top snapshot --since 1h --format markdown        # the last hour, from JetStream`
}

// Run collects and prints.
func (c *SnapshotCmd) Run(env *Env) error {
	rules, err := c.AlertFlags.Rules()
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	setBatchGC(int64(c.PendingBytes))
	if c.FromDaemon {
		return c.runFromDaemon(env, rules)
	}
	// Only the final Sync is read: periodic builds would be wasted work, and events need to
	// reach the engine within a second, not within milliseconds (as in the dashboard).
	engCfg := engine.DefaultConfig()
	engCfg.SnapshotEvery = max(c.Duration, time.Second)
	since, err := c.PastFlags.start(time.Now())
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	var engClock engine.Clock = engine.SystemClock{}
	var past *pastClock
	if !since.IsZero() {
		// The past is read on the stream's clock, as fast as it comes, until the read has
		// caught up with the stream; what was stored by then is printed.
		past = newPastClock(since)
		engClock = past
		engCfg.SnapshotEvery = time.Hour
	}
	eng := engine.New(engCfg, engClock)
	arrival := &arrivalClock{}
	flushDelay := app.FlushDelayFor(time.Second)
	feedCfg := feed.Config{ClientName: "ingot-top snapshot", FlushDelay: flushDelay, ReadCoalesce: flushDelay / 2}
	if past != nil {
		feedCfg.Since, feedCfg.OnHistory, feedCfg.Stream = since, past.set, c.Stream
	}
	fd, err := feed.New(c.Options, feedCfg, eng, arrival)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	// Not derived from env.Ctx: Ctrl-C stops the collection below, but the engine must live
	// on to aggregate what was collected, so that an interrupted snapshot still prints.
	ctx, cancel := context.WithCancel(context.WithoutCancel(env.Ctx))
	defer cancel()
	engDone := make(chan error, 1)
	go func() { engDone <- eng.Run(ctx) }()
	feedCtx, stopFeed := context.WithCancel(ctx)
	feedDone := make(chan error, 1)
	go func() { feedDone <- fd.Run(feedCtx) }()

	var prober *health.Prober
	proberDone := make(chan error, 1)
	if targets := c.ProbeFlags.Targets(); len(targets) > 0 {
		prober = health.New(targets, c.ProbeFlags.Config(), nil, nil)
		go func() { proberDone <- prober.Run(feedCtx) }()
	} else {
		proberDone <- nil
	}
	evaluator := alerts.NewEvaluator(rules, 0)
	evaluate := func(snap *engine.Snapshot) alerts.State {
		in := alerts.Input{At: engClock.Now(), Stream: snap}
		if prober != nil {
			in.Health = prober.Statuses()
		}
		return evaluator.Evaluate(in)
	}

	start := time.Now()
	if !c.Quiet {
		if past != nil {
			fmt.Fprintf(env.Stderr, "reading %s from stream %s on %s since %s...\n", c.Subject, c.Stream, fd.State().Server, since.Format(time.RFC3339))
		} else {
			fmt.Fprintf(env.Stderr, "collecting %s from %s for %s...\n", c.Subject, fd.State().Server, c.Duration)
		}
	}
	interrupted := false
	deadline := time.NewTimer(c.Duration)
	defer deadline.Stop()
	// The alert rules run every second, as in the dashboard, so that onsets and `for`
	// durations mean the same in both: of the wall clock live, of the stream's clock when
	// reading the past (the feed's goroutine evaluates as the stream time passes a second).
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var caughtUp <-chan struct{}
	if past != nil {
		tick.Stop()
		caughtUp = past.caught
		past.mu.Lock()
		past.onSecond = func(time.Time) {
			if snap, err := eng.Fresh(ctx); err == nil {
				evaluate(snap)
			}
		}
		past.mu.Unlock()
	}
collect:
	for {
		select {
		case <-caughtUp:
			break collect
		case <-deadline.C:
			if past != nil && fd.State().Received > 0 {
				continue // reading: --duration only bounds the wait for the stream
			}
			break collect
		case <-env.Ctx.Done():
			interrupted = true
			break collect
		case <-tick.C:
			fctx, fcancel := context.WithTimeout(ctx, time.Second)
			if snap, err := eng.Fresh(fctx); err == nil {
				evaluate(snap)
			}
			fcancel()
		}
	}
	// The phase is what the connection was while collecting; the counts are final only after
	// the feed has drained.
	phase := fd.State()
	stopFeed()
	<-feedDone
	<-proberDone
	collected := time.Since(start)
	windowSpan := c.Duration
	if past != nil {
		collected = past.Now().Sub(since)
		windowSpan = collected
	}
	state := fd.State()
	state.Phase, state.Since = phase.Phase, phase.Since

	syncCtx, syncCancel := context.WithTimeout(context.Background(), 5*time.Second)
	snap, err := eng.Sync(syncCtx)
	syncCancel()
	cancel()
	<-engDone
	if err != nil {
		return &ExitError{Code: ExitInternal, Err: fmt.Errorf("snapshot: aggregating: %w", err)}
	}
	if state.Received == 0 && state.Phase != ingest.PhaseConnected && !everConnected(state) {
		msg := fmt.Sprintf("could not connect to %s within %s", state.Server, c.Duration.Round(time.Millisecond))
		if state.LastError != "" {
			msg += ": " + state.LastError
		}
		return &ExitError{Code: ExitNoConnect, Err: errors.New(msg)}
	}
	if past != nil && state.Received == 0 && state.LastError != "" && !interrupted {
		// Connected, but the stream could not be read (missing, no JetStream, no permission):
		// an empty report would read as "nothing happened".
		return &ExitError{Code: ExitNoConnect, Err: fmt.Errorf("could not read the past from %s within %s: %s", state.Server, c.Duration.Round(time.Millisecond), state.LastError)}
	}
	in := report.Input{
		At: snap.At, Collected: collected, Window: pickWindow(c.Window, windowSpan),
		Conn: state, Stream: snap, TopQueues: c.Top, MaxErrors: c.Errors,
		FirstBatch: arrival.first, LastBatch: arrival.last, // read after <-feedDone: no race
		Alerts: evaluate(snap), MaxErrorRate: c.MaxErrorRate,
	}
	if prober != nil {
		in.Health = prober.Statuses()
	}
	if err := report.Write(env.Stdout, report.Format(c.Format), in); err != nil {
		return &ExitError{Code: ExitInternal, Err: err}
	}
	if interrupted {
		return &ExitError{Code: ExitProblem, Err: errors.New("interrupted before --duration elapsed; printed what was collected")}
	}
	return c.verdict(in)
}

// arrivalClock is a feed sink that notes when the first and last batches arrived, so the
// JSON report can give the consumer's own rate (scripts/bench-e2e.sh). The feed calls sinks
// from one goroutine; the fields are read only after the feed has returned.
type arrivalClock struct{ first, last time.Time }

func (a *arrivalClock) HandleBatch(events []wire.Event) error {
	if len(events) == 0 {
		return nil
	}
	now := time.Now()
	if a.first.IsZero() {
		a.first = now
	}
	a.last = now
	return nil
}

func (a *arrivalClock) HandleInvalid(ingest.Invalid) error { return nil }

// everConnected tells apart "never reached the server" from "reached it, then lost it".
func everConnected(s ingest.ConnState) bool {
	return s.Phase == ingest.PhaseConnected || s.Phase == ingest.PhaseReconnecting && s.Reconnects > 0
}

func (c *SnapshotCmd) verdict(in report.Input) error {
	return streamVerdict(in, c.MaxErrorRate, c.MaxInvalid)
}

func pickWindow(flag string, d time.Duration) engine.Window {
	switch flag {
	case "1m":
		return engine.Window1m
	case "5m":
		return engine.Window5m
	case "15m":
		return engine.Window15m
	}
	for w := engine.Window1m; w < engine.NumWindows; w++ {
		if d <= engine.WindowDurations[w] {
			return w
		}
	}
	return engine.Window15m
}
