package cli

import (
	"time"

	"github.com/nsai/ingot-top/internal/alerts"
)

// AlertFlags are the thresholds of the runbook alerts evaluated from live data. The defaults
// are ADR-008's (error rate > 5%, p95 label submit > 2 s); the `for` durations are shorter
// than the shipped Prometheus rules' because the dashboard is the early warning.
type AlertFlags struct {
	ErrorRate      float64       `name:"alert.error-rate" default:"0.05" help:"Fire IngotHighErrorRate above this client error rate (0..1) over 5m."`
	ErrorRateFor   time.Duration `name:"alert.error-rate-for" default:"1m" help:"How long the error rate must stay high before the alert fires."`
	LabelSubmitP95 time.Duration `name:"alert.label-submit-p95" default:"2s" help:"Fire IngotSlowLabelSubmit above this p95 of ingot.label.submit over 5m."`
	LabelSubmitFor time.Duration `name:"alert.label-submit-for" default:"1m" help:"How long p95 label submit must stay high."`
	StreamLagP95   time.Duration `name:"alert.stream-lag-p95" default:"5s" help:"Fire IngotStreamLag above this p95 stream lag over 1m."`
	StreamLagFor   time.Duration `name:"alert.stream-lag-for" default:"30s" help:"How long the lag must stay high."`
	UnhealthyFor   time.Duration `name:"alert.unhealthy-for" default:"30s" help:"How long a probed service must be unhealthy before IngotServiceUnhealthy fires."`
	ResolveHold    time.Duration `name:"alert.resolve-hold" default:"1m" help:"How long a firing alert stays resolving once its condition stopped holding over the last seconds, before it is resolved (it fires again, with its first onset, if the condition returns meanwhile)."`
}

// Rules turns the flags into validated alert rules.
func (a AlertFlags) Rules() (alerts.Rules, error) {
	r := alerts.DefaultRules()
	r.ErrorRate.Threshold = a.ErrorRate
	r.ErrorRate.For = a.ErrorRateFor
	r.LabelSubmitP95.Threshold = a.LabelSubmitP95
	r.LabelSubmitP95.For = a.LabelSubmitFor
	r.StreamLagP95.Threshold = a.StreamLagP95
	r.StreamLagP95.For = a.StreamLagFor
	r.ServiceUnhealthy.For = a.UnhealthyFor
	r.HoldDown = a.ResolveHold
	return r, r.Validate()
}
