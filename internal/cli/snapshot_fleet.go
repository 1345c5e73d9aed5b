package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nsai/ingot-top/internal/alerts"
	"github.com/nsai/ingot-top/internal/daemonsrc"
	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/health"
	"github.com/nsai/ingot-top/internal/ingest"
	"github.com/nsai/ingot-top/internal/report"
)

// runFromDaemon is snapshot --from-daemon: for --duration it merges the aggregates the
// daemons republish, then prints them with the daemons heard (merged, or stale and left
// out), for scripts that check a fleet's totals without touching the stream.
func (c *SnapshotCmd) runFromDaemon(env *Env, rules alerts.Rules) error {
	cfg := c.FromDaemonFlags.fleetConfig(c.Options)
	cfg.ClientName = "ingot-top snapshot (from daemons)"
	src, err := daemonsrc.New(*cfg)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("snapshot: %w", err)}
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(env.Ctx))
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx) }()
	var prober *health.Prober
	proberDone := make(chan error, 1)
	if targets := c.ProbeFlags.Targets(); len(targets) > 0 {
		prober = health.New(targets, c.ProbeFlags.Config(), nil, nil)
		go func() { proberDone <- prober.Run(ctx) }()
	} else {
		proberDone <- nil
	}
	statuses := func() []health.Status {
		if prober != nil {
			return prober.Statuses()
		}
		return src.Health() // the daemons' own probes, as the dashboard shows them
	}
	// The alert rules run every second, as in the dashboard, so that onsets and `for`
	// durations mean the same in both.
	evaluator := alerts.NewEvaluator(rules, 0)
	evaluate := func(snap *engine.Snapshot) alerts.State {
		return evaluator.Evaluate(alerts.Input{At: time.Now(), Stream: snap, Health: statuses()})
	}
	start := time.Now()
	if !c.Quiet {
		fmt.Fprintf(env.Stderr, "merging daemon snapshots on %s from %s for %s...\n", cfg.SnapshotSubject, src.State().Server, c.Duration)
	}
	interrupted := false
	deadline := time.NewTimer(c.Duration)
	defer deadline.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var runErr error
collect:
	for {
		select {
		case <-deadline.C:
			break collect
		case <-env.Ctx.Done():
			interrupted = true
			break collect
		case <-tick.C:
			evaluate(src.Snapshot())
		case runErr = <-done:
			// Run returns early only when it could not connect or subscribe.
			done <- runErr
			break collect
		}
	}
	state, snap, daemons, probes := src.State(), src.Snapshot(), src.Producers(), statuses()
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		runErr = err
	}
	<-proberDone
	if runErr != nil || state.Phase != ingest.PhaseConnected && state.Reconnects == 0 && len(daemons) == 0 {
		msg := fmt.Sprintf("could not connect to %s within %s", state.Server, c.Duration.Round(time.Millisecond))
		if runErr != nil {
			msg += ": " + runErr.Error()
		} else if state.LastError != "" {
			msg += ": " + state.LastError
		}
		return &ExitError{Code: ExitNoConnect, Err: errors.New(msg)}
	}
	in := report.Input{
		Title: "ingot-top snapshot (merged from daemons)",
		At:    snap.At, Collected: time.Since(start), Window: pickWindow(c.Window, c.Duration),
		Conn: state, Stream: snap, TopQueues: c.Top, MaxErrors: c.Errors,
		Alerts: evaluate(snap), MaxErrorRate: c.MaxErrorRate, Health: probes, Daemons: daemons,
	}
	if err := report.Write(env.Stdout, report.Format(c.Format), in); err != nil {
		return &ExitError{Code: ExitInternal, Err: err}
	}
	if interrupted {
		return &ExitError{Code: ExitProblem, Err: errors.New("interrupted before --duration elapsed; printed what was merged")}
	}
	merged := 0
	for _, d := range daemons {
		if !d.Stale {
			merged++
		}
	}
	if merged == 0 {
		return &ExitError{Code: ExitProblem, Err: fmt.Errorf("no daemon published on %s within %s: are the daemons running with --republish.snapshot-subject %s?",
			cfg.SnapshotSubject, c.Duration, cfg.SnapshotSubject)}
	}
	return c.verdict(in)
}
