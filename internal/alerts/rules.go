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
	// NameTopNatsDown is a Prometheus rule only: a dashboard that lost NATS shows it in its
	// status bar; the name is here for its runbook section.
	NameTopNatsDown = "IngotTopNatsDown"
)

// Severities, as deploy/prometheus/ingot-alerts.yml and RUNBOOK.md give them: ADR-008 pages
// on client calls failing (error rate > 5 %), label submit p95 above 2 s, a service down and
// ingot-top blind, and opens a ticket for a lagging stream (TestSeveritiesMatchShippedRules
// keeps the three in step).
const (
	SeverityPage   = "page"
	SeverityTicket = "ticket"
)

// runbookSections are the RUNBOOK.md headings' anchors (GitHub lower-cases a heading).
var runbookSections = map[string]string{
	NameHighErrorRate:    "ingothigherrorrate",
	NameSlowLabelSubmit:  "ingotslowlabelsubmit",
	NameStreamLag:        "ingotstreamlag",
	NameServiceUnhealthy: "ingotserviceunhealthy",
	NameTopNatsDown:      "ingottopnatsdown",
}

// Runbook returns the RUNBOOK.md section of an alert name, "RUNBOOK.md#ingothigherrorrate",
// or "" when the runbook has none.
func Runbook(name string) string {
	if a, ok := runbookSections[name]; ok {
		return "RUNBOOK.md#" + a
	}
	return ""
}

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
	// HoldDown is how long a firing alert stays resolving, its condition no longer holding,
	// before it is resolved; if the condition holds again meanwhile it fires again with its
	// first onset. It keeps a flapping condition one alert.
	HoldDown time.Duration
	// ShortWindow is the least time the short window covers: whether a firing condition
	// still holds is read from the per-second counts of the last ShortWindow, widened (up
	// to 30 s) until it holds the rule's minimum count of calls.
	ShortWindow time.Duration
}

// DefaultRules are ADR-008's runbook: error rate above 5 % and label-submit p95 above 2 s
// (both over 5 m, for 1 m), stream lag p95 above 5 s over 1 m for 30 s, a probe unhealthy for
// 30 s; a firing alert resolves 1 m after its condition stopped holding over the last 5 s.
func DefaultRules() Rules {
	return Rules{
		ErrorRate: ErrorRateRule{
			Threshold: 0.05, Window: engine.Window5m, MinCalls: 20, For: time.Minute,
			Severity: SeverityPage,
		},
		LabelSubmitP95: LatencyRule{
			Threshold: 2 * time.Second, Window: engine.Window5m, MinCount: 20, For: time.Minute,
			Severity: SeverityPage,
		},
		StreamLagP95: LatencyRule{
			Threshold: 5 * time.Second, Window: engine.Window1m, MinCount: 20, For: 30 * time.Second,
			Severity: SeverityTicket,
		},
		ServiceUnhealthy: UnhealthyRule{For: 30 * time.Second, Severity: SeverityPage},
		HoldDown:         time.Minute,
		ShortWindow:      5 * time.Second,
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
	check(r.HoldDown >= 0, "resolve hold-down %v: want >= 0", r.HoldDown)
	check(r.ShortWindow >= 0 && r.ShortWindow <= engine.RecentSeconds*time.Second,
		"short window %v: want 0 to %ds", r.ShortWindow, engine.RecentSeconds)
	if len(errs) > 0 {
		return fmt.Errorf("alert rules: %w", errors.Join(errs...))
	}
	return nil
}
