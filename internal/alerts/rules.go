package alerts

import (
	"errors"
	"fmt"
	"time"

	"github.com/nsai/ingot-top/internal/engine"
)

// Alert names, the same as the Prometheus rule file's, so that a live alert and the one a
// Prometheus server reports for the same condition read alike.
const (
	NameHighErrorRate    = "IngotHighErrorRate"
	NameSlowLabelSubmit  = "IngotSlowLabelSubmit"
	NameStreamLag        = "IngotStreamLag"
	NameServiceUnhealthy = "IngotServiceUnhealthy"
)

// Severities. The runbook (ADR-008) pages on what stops labeling outright — client calls
// failing (error rate) and a service down (unhealthy) — and opens a ticket for degradations
// that hurt but do not stop work (slow label submits, a lagging stream).
const (
	SeverityPage   = "page"
	SeverityTicket = "ticket"
)

// ErrorRateRule fires when errors / calls over Window exceeds Threshold, for each client
// operation (ingot.forge_client.*, ingot.anvil_client.*) and for each service, once at least
// MinCalls calls were seen in the window: a handful of calls cannot flap the alert.
type ErrorRateRule struct {
	Disabled  bool
	Threshold float64 // fraction, 0.05 = 5 %; fires when the rate is above it
	Window    engine.Window
	MinCalls  uint64
	For       time.Duration
	Severity  string
}

// LatencyRule fires when a p95 over Window exceeds Threshold, once at least MinCount samples
// were seen in the window.
type LatencyRule struct {
	Disabled  bool
	Threshold time.Duration
	Window    engine.Window
	MinCount  uint64
	For       time.Duration
	Severity  string
}

// UnhealthyRule fires for each health probe row that stays unhealthy.
type UnhealthyRule struct {
	Disabled bool
	For      time.Duration
	Severity string
}

// Rules are the runbook's thresholds, windows and `for` durations, all configurable.
type Rules struct {
	ErrorRate        ErrorRateRule // IngotHighErrorRate
	LabelSubmitP95   LatencyRule   // IngotSlowLabelSubmit: ingot.label.submit duration_ms
	StreamLagP95     LatencyRule   // IngotStreamLag: receive time − event time
	ServiceUnhealthy UnhealthyRule // IngotServiceUnhealthy
}

// DefaultRules are ADR-008's runbook: error rate above 5 % and label-submit p95 above 2 s
// (both over 5 m, for 1 m), stream lag p95 above 5 s over 1 m for 30 s, a probe unhealthy for
// 30 s.
func DefaultRules() Rules {
	return Rules{
		ErrorRate: ErrorRateRule{
			Threshold: 0.05, Window: engine.Window5m, MinCalls: 20, For: time.Minute,
			Severity: SeverityPage,
		},
		LabelSubmitP95: LatencyRule{
			Threshold: 2 * time.Second, Window: engine.Window5m, MinCount: 20, For: time.Minute,
			Severity: SeverityTicket,
		},
		StreamLagP95: LatencyRule{
			Threshold: 5 * time.Second, Window: engine.Window1m, MinCount: 20, For: 30 * time.Second,
			Severity: SeverityTicket,
		},
		ServiceUnhealthy: UnhealthyRule{For: 30 * time.Second, Severity: SeverityPage},
	}
}

// Validate reports every out-of-range setting at once.
func (r Rules) Validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	validWindow := func(w engine.Window) bool { return w >= 0 && w < engine.NumWindows }

	check(r.ErrorRate.Threshold >= 0 && r.ErrorRate.Threshold < 1,
		"error rate threshold %v: want a fraction in [0, 1)", r.ErrorRate.Threshold)
	check(validWindow(r.ErrorRate.Window), "error rate window %d: want 1m, 5m or 15m", r.ErrorRate.Window)
	check(r.ErrorRate.For >= 0, "error rate for %v: want >= 0", r.ErrorRate.For)
	for _, lr := range []struct {
		name string
		rule LatencyRule
	}{{"label submit p95", r.LabelSubmitP95}, {"stream lag p95", r.StreamLagP95}} {
		check(lr.rule.Threshold > 0, "%s threshold %v: want > 0", lr.name, lr.rule.Threshold)
		check(validWindow(lr.rule.Window), "%s window %d: want 1m, 5m or 15m", lr.name, lr.rule.Window)
		check(lr.rule.For >= 0, "%s for %v: want >= 0", lr.name, lr.rule.For)
	}
	check(r.ServiceUnhealthy.For >= 0, "service unhealthy for %v: want >= 0", r.ServiceUnhealthy.For)
	if len(errs) > 0 {
		return fmt.Errorf("alert rules: %w", errors.Join(errs...))
	}
	return nil
}
