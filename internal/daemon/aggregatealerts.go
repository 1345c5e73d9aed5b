package daemon

import (
	"context"

	"github.com/nsai/ingot-top/internal/alerts"
	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/health"
)

// The daemon evaluates the runbook alerts (the dashboard's --alert.* rules) over its own
// engine and probes once per republished aggregate, and puts their states in it, so that a
// --from-daemon viewer shows the daemon's onset of an incident, not the moment the viewer
// joined it. This costs one engine snapshot per second (BenchmarkAggregateWithAlerts),
// paid only while republishing is on.

// SetAlertRules makes every aggregate carry the alert states of r's evaluation.
func (a *AggregateSource) SetAlertRules(r alerts.Rules) {
	a.evaluator.Store(alerts.NewEvaluator(r, engine.MaxAggregateResolvedAlerts))
}

// evaluateAlerts runs the evaluator over a fresh engine snapshot and the probes; nil when
// alerts are not evaluated or the engine did not answer in time (the aggregate then says
// nothing about alerts, and viewers evaluate their own).
func (a *AggregateSource) evaluateAlerts(ctx context.Context) *engine.AggregateAlerts {
	ev := a.evaluator.Load()
	if ev == nil {
		return nil
	}
	snap, err := a.eng.Fresh(ctx)
	if err != nil {
		a.logger.Warn("Snapshot republishing: no engine snapshot for the alerts", "error", err.Error())
		return nil
	}
	in := alerts.Input{Stream: snap}
	if p := a.probes.Load(); p != nil {
		in.Health = (*p).Statuses()
	} else {
		in.Health = []health.Status{}
	}
	return alerts.ToAggregate(ev.Evaluate(in))
}
