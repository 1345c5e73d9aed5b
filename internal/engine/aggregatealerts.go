package engine

import (
	"cmp"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// A daemon republishes the alerts it evaluates over its own engine and probes, so that a
// viewer with --from-daemon shows the daemon's verdict: the onset the daemon saw when the
// fault began, not the moment the viewer joined. The engine does not evaluate alerts (that
// is package alerts, which imports the engine); AggregateAlert is the alert in a plain,
// mergeable form that the daemon fills in and the viewer converts back.

// AggregateAlerts are a producer's alert states at At: the active ones and the most recent
// resolved ones. A nil *AggregateAlerts in an Aggregate means the producer does not
// evaluate alerts (a daemon older than this field), not "nothing fires".
type AggregateAlerts struct {
	At       time.Time        `json:"at"`
	Active   []AggregateAlert `json:"active,omitempty"`
	Resolved []AggregateAlert `json:"resolved,omitempty"`
}

// AggregateAlert is one alert of a producer, as package alerts keeps it.
type AggregateAlert struct {
	Name     string            `json:"name"`
	Severity string            `json:"severity,omitempty"`
	State    string            `json:"state"` // "firing", "resolving", "pending" or "resolved"
	Labels   map[string]string `json:"labels,omitempty"`
	Summary  string            `json:"summary,omitempty"`
	Runbook  string            `json:"runbook,omitempty"`
	// Value and Threshold are the rule's figure and limit (error rate 0..1, or milliseconds).
	Value       float64   `json:"value,omitempty"`
	Threshold   float64   `json:"threshold,omitempty"`
	Onset       time.Time `json:"onset,omitzero"`
	OnsetApprox bool      `json:"onset_approx,omitempty"`
	ActiveAt    time.Time `json:"active_at,omitzero"`
	FiredAt     time.Time `json:"fired_at,omitzero"`
	ResolvingAt time.Time `json:"resolving_at,omitzero"`
	ResolvedAt  time.Time `json:"resolved_at,omitzero"`
}

// Caps of the alerts an aggregate carries: the evaluator tracks at most 256 live alerts,
// but a screen shows a few dozen, and an aggregate must stay small.
const (
	MaxAggregateActiveAlerts   = 64
	MaxAggregateResolvedAlerts = 20
	maxAggregateAlertLabels    = 8
)

var aggregateAlertStates = []string{"firing", "resolving", "pending", "resolved"}

// alertStateRank orders states by urgency, as alerts.StateRank does: firing first.
func alertStateRank(s string) int {
	if i := slices.Index(aggregateAlertStates, s); i >= 0 {
		return i
	}
	return len(aggregateAlertStates)
}

// Key identifies an alert across producers: its name and label set.
func (a *AggregateAlert) Key() string {
	var b strings.Builder
	b.WriteString(a.Name)
	for _, k := range slices.Sorted(maps.Keys(a.Labels)) {
		b.WriteByte(0)
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(a.Labels[k])
	}
	return b.String()
}

func (x *Aggregate) sanitizeAlerts() {
	if x.Alerts == nil {
		return
	}
	for _, list := range [][]AggregateAlert{x.Alerts.Active, x.Alerts.Resolved} {
		for i := range list {
			a := &list[i]
			safe(&a.Name, maxIDRunes)
			safe(&a.Severity, maxIDRunes)
			safe(&a.Summary, maxTextRunes)
			safe(&a.Runbook, maxIDRunes)
			if len(a.Labels) > 0 {
				clean := make(map[string]string, len(a.Labels))
				for k, v := range a.Labels {
					safe(&k, maxIDRunes)
					safe(&v, maxIDRunes)
					clean[k] = v
				}
				a.Labels = clean
			}
		}
	}
}

// checkAlerts is parseAggregate's part for the alerts.
func (x *Aggregate) checkAlerts(bad func(string, ...any) error) error {
	al := x.Alerts
	if al == nil {
		return nil
	}
	if len(al.Active) > MaxAggregateActiveAlerts || len(al.Resolved) > MaxAggregateResolvedAlerts {
		return bad("%d active and %d resolved alerts, at most %d and %d", len(al.Active), len(al.Resolved),
			MaxAggregateActiveAlerts, MaxAggregateResolvedAlerts)
	}
	for _, list := range [][]AggregateAlert{al.Active, al.Resolved} {
		for i := range list {
			a := &list[i]
			if a.Name == "" || !slices.Contains(aggregateAlertStates, a.State) {
				return bad("alert %d: name %q state %q", i, a.Name, a.State)
			}
			if len(a.Labels) > maxAggregateAlertLabels {
				return bad("alert %q: %d labels, at most %d", a.Name, len(a.Labels), maxAggregateAlertLabels)
			}
			for _, v := range []float64{a.Value, a.Threshold} {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return bad("alert %q: value %v threshold %v", a.Name, a.Value, a.Threshold)
				}
			}
		}
	}
	for i := range al.Resolved {
		if al.Resolved[i].State != "resolved" {
			return bad("resolved alert %q in state %q", al.Resolved[i].Name, al.Resolved[i].State)
		}
	}
	return nil
}

// CapAlerts bounds al to what an aggregate may carry: the most urgent active alerts (the
// list comes ordered by urgency from the evaluator) and the newest resolved ones.
func (al *AggregateAlerts) CapAlerts() {
	if len(al.Active) > MaxAggregateActiveAlerts {
		al.Active = al.Active[:MaxAggregateActiveAlerts]
	}
	if len(al.Resolved) > MaxAggregateResolvedAlerts {
		al.Resolved = al.Resolved[:MaxAggregateResolvedAlerts]
	}
	for _, list := range [][]AggregateAlert{al.Active, al.Resolved} {
		for i := range list {
			if len(list[i].Labels) > maxAggregateAlertLabels {
				keep := slices.Sorted(maps.Keys(list[i].Labels))[:maxAggregateAlertLabels]
				labels := make(map[string]string, len(keep))
				for _, k := range keep {
					labels[k] = list[i].Labels[k]
				}
				list[i].Labels = labels
			}
		}
	}
}

// Alerts merges the live producers' alerts; ok is false when some live producer does not
// evaluate alerts (a daemon older than this), whose stream would go unwatched: the viewer
// then evaluates the merged stream itself.
// The daemons' alerts of one name and label set are one alert: the earliest onset (the
// first daemon to see the fault saw when it began), the most urgent state (one daemon
// firing makes it fire), the earliest activation and firing; the summary is the most
// urgent producer's. Resolved alerts are listed once per name, labels and resolution time,
// newest first, and not at all while the same alert is active on another producer.
func (m *Merger) Alerts() (merged AggregateAlerts, ok bool) {
	m.mu.Lock()
	now := m.cfg.Now()
	m.expire(now)
	var lists []*AggregateAlerts
	for _, e := range m.producers {
		if e.p == nil {
			continue // stale: out of the merge, as in every other figure
		}
		if e.p.x.Alerts == nil {
			m.mu.Unlock()
			return AggregateAlerts{}, false
		}
		lists = append(lists, e.p.x.Alerts)
	}
	m.mu.Unlock()
	if len(lists) == 0 {
		return AggregateAlerts{}, false
	}
	return MergeAlerts(lists), true
}

// MergeAlerts merges several producers' alerts as Merger.Alerts describes.
func MergeAlerts(lists []*AggregateAlerts) AggregateAlerts {
	var out AggregateAlerts
	active := map[string]*AggregateAlert{}
	for _, l := range lists {
		if l.At.After(out.At) {
			out.At = l.At
		}
		for i := range l.Active {
			a := l.Active[i]
			key := a.Key()
			cur, seen := active[key]
			if !seen {
				a.Labels = maps.Clone(a.Labels)
				active[key] = &a
				continue
			}
			mergeAlert(cur, &a)
		}
	}
	for _, a := range active {
		out.Active = append(out.Active, *a)
	}
	slices.SortFunc(out.Active, func(a, b AggregateAlert) int {
		if c := cmp.Compare(alertStateRank(a.State), alertStateRank(b.State)); c != 0 {
			return c
		}
		if c := a.ActiveAt.Compare(b.ActiveAt); c != 0 {
			return c
		}
		return strings.Compare(a.Key(), b.Key())
	})
	resolved := map[string]bool{}
	for _, l := range lists {
		for _, a := range l.Resolved {
			key := a.Key()
			id := key + "\x00" + a.ResolvedAt.UTC().Format(time.RFC3339)
			if active[key] != nil || resolved[id] {
				continue
			}
			resolved[id] = true
			a.Labels = maps.Clone(a.Labels)
			out.Resolved = append(out.Resolved, a)
		}
	}
	slices.SortFunc(out.Resolved, func(a, b AggregateAlert) int {
		if c := b.ResolvedAt.Compare(a.ResolvedAt); c != 0 {
			return c
		}
		return strings.Compare(a.Key(), b.Key())
	})
	out.CapAlerts()
	return out
}

// mergeAlert folds b, the same alert from another producer, into a.
func mergeAlert(a, b *AggregateAlert) {
	onset, approx := a.Onset, a.OnsetApprox
	if !b.Onset.IsZero() && (onset.IsZero() || b.Onset.Before(onset) || (b.Onset.Equal(onset) && !b.OnsetApprox)) {
		onset, approx = b.Onset, b.OnsetApprox
	}
	activeAt := earliest(a.ActiveAt, b.ActiveAt)
	firedAt := earliest(a.FiredAt, b.FiredAt)
	if alertStateRank(b.State) < alertStateRank(a.State) {
		labels := a.Labels
		*a = *b
		a.Labels = labels
	}
	if a.State != "resolving" {
		a.ResolvingAt = time.Time{}
	}
	a.Onset, a.OnsetApprox, a.ActiveAt = onset, approx, activeAt
	if a.State == "firing" || a.State == "resolving" {
		a.FiredAt = firedAt
	} else {
		a.FiredAt = time.Time{}
	}
}

// earliest is the earlier of two times, ignoring zero ones.
func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	}
	return b
}
