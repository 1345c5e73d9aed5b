package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nsai/ingot-top/internal/alerts"
	"github.com/nsai/ingot-top/internal/daemonsrc"
	"github.com/nsai/ingot-top/internal/ingest"
	"github.com/nsai/ingot-top/internal/report"
)

// runFromDaemon is snapshot --from-daemon: for --duration it merges the aggregates the
// daemons republish, then prints them with the daemons merged, for scripts that check a
// fleet's totals without touching the stream.
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
	start := time.Now()
	if !c.Quiet {
		fmt.Fprintf(env.Stderr, "merging daemon snapshots on %s from %s for %s...\n", cfg.SnapshotSubject, src.State().Server, c.Duration)
	}
	interrupted := false
	deadline := time.NewTimer(c.Duration)
	defer deadline.Stop()
	var runErr error
	select {
	case <-deadline.C:
	case <-env.Ctx.Done():
		interrupted = true
	case runErr = <-done:
		// Run returns early only when it could not connect or subscribe.
		done <- runErr
	}
	state := src.State()
	snap := src.Snapshot()
	daemons := src.Producers()
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		runErr = err
	}
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
		Alerts:       alerts.NewEvaluator(rules, 0).Evaluate(alerts.Input{At: time.Now(), Stream: snap}),
		MaxErrorRate: c.MaxErrorRate, Daemons: daemons,
	}
	if err := report.Write(env.Stdout, report.Format(c.Format), in); err != nil {
		return &ExitError{Code: ExitInternal, Err: err}
	}
	if interrupted {
		return &ExitError{Code: ExitProblem, Err: errors.New("interrupted before --duration elapsed; printed what was merged")}
	}
	if len(daemons) == 0 {
		return &ExitError{Code: ExitProblem, Err: fmt.Errorf("no daemon published on %s within %s", cfg.SnapshotSubject, c.Duration)}
	}
	return c.verdict(in)
}
