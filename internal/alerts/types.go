// Package alerts owns the runbook alerts of ADR-008 evaluated from live data: each rule has a
// threshold and a `for` duration, is driven by an injected clock, and keeps a bounded history
// of fired and resolved alerts. It also carries alerts reported by a Prometheus server so a
// viewer can show both in one list.
package alerts

import "time"

// AlertState follows Prometheus: pending while the condition holds for less than `for`,
// firing after, resolved when it stops holding.
type AlertState string

const (
	StatePending  AlertState = "pending"
	StateFiring   AlertState = "firing"
	StateResolved AlertState = "resolved"
)

// Source says where an alert was evaluated.
type Source string

const (
	SourceLive       Source = "live"       // evaluated by ingot-top from the stream and probes
	SourcePrometheus Source = "prometheus" // reported by a Prometheus server
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
	ActiveAt   time.Time // when the condition started holding
	FiredAt    time.Time // zero while pending
	ResolvedAt time.Time // zero unless resolved
}

// State is what a viewer shows: active alerts (firing first, then pending, each by ActiveAt)
// and the bounded history, newest first.
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
