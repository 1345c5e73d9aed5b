// Package alerts owns the runbook alerts of ADR-008 evaluated from live data: each rule has a
// threshold and a `for` duration, is driven by an injected clock, and keeps a bounded history
// of fired and resolved alerts. It also carries alerts reported by a Prometheus server so a
// viewer can show both in one list.
package alerts

import "time"

// AlertState follows Prometheus, with one more state: pending while the condition holds
// for less than `for`, firing after; resolving as soon as it stops holding on the short
// window (the last seconds), resolved after the hold-down if it does not come back.
type AlertState string

const (
	StatePending   AlertState = "pending"
	StateFiring    AlertState = "firing"
	StateResolving AlertState = "resolving"
	StateResolved  AlertState = "resolved"
)

// Source says where an alert was evaluated.
type Source string

const (
	SourceLive       Source = "live"       // evaluated by ingot-top from the stream and probes
	SourcePrometheus Source = "prometheus" // reported by a Prometheus server
	SourceDaemon     Source = "daemon"     // evaluated by the ingot-top daemons, republished (--from-daemon)
)

// Alert is one active (pending or firing) alert, or a history entry.
type Alert struct {
	Name       string // e.g. "IngotHighErrorRate"
	Source     Source
	State      AlertState
	Severity   string // "page" or "ticket"
	Summary    string // one line, sanitised, e.g. "anvil_client.submit_label error rate 12.5% > 5%"
	Labels     map[string]string
	Value      float64
	Threshold  float64
	ActiveAt   time.Time // when the condition started holding over the rule's window
	FiredAt    time.Time // zero while pending
	ResolvedAt time.Time // zero unless resolved
	// Onset is when the condition first held second by second (from the per-second counts,
	// or the probe's state change), which is earlier than ActiveAt: a 5-minute error rate
	// crosses its threshold a while after the errors began. OnsetApprox says Onset is only
	// a bound: ActiveAt when nothing finer is known, or the oldest second the data reaches.
	Onset       time.Time
	OnsetApprox bool
	// ResolvingAt is when the condition stopped holding (state resolving, and kept in
	// history): the first second of the good run that followed.
	ResolvingAt time.Time
	// Runbook is the RUNBOOK.md section of the alert ("RUNBOOK.md#ingothigherrorrate"), ""
	// for alerts the runbook does not know.
	Runbook string
}

// State is what a viewer shows: active alerts (firing first, then resolving, then pending,
// each by ActiveAt) and the bounded history of resolved alerts, newest first.
type State struct {
	At      time.Time
	Active  []Alert
	History []Alert
}

// Firing reports whether any alert fires.
func (s State) Firing() bool {
	for _, a := range s.Active {
		if a.State == StateFiring {
			return true
		}
	}
	return false
}
