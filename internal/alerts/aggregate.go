package alerts

import (
	"maps"
	"slices"
	"time"

	"github.com/nsai/ingot-top/internal/engine"
)

// A daemon evaluates the rules over its own engine and probes, and republishes the result in
// its aggregate (engine.AggregateAlerts); a --from-daemon viewer shows the daemons' alerts,
// with the onset the daemons saw, rather than its own evaluation, which only starts when
// the viewer does.

// ToAggregate is st in the form a daemon republishes, capped to what an aggregate carries.
func ToAggregate(st State) *engine.AggregateAlerts {
	out := &engine.AggregateAlerts{At: st.At}
	for _, a := range st.Active {
		if a.Source == SourcePrometheus {
			continue // a Prometheus alert is the viewer's to ask for, not the daemon's to relay
		}
		out.Active = append(out.Active, toAggregate(a))
	}
	for _, a := range st.History {
		out.Resolved = append(out.Resolved, toAggregate(a))
	}
	out.CapAlerts()
	return out
}

func toAggregate(a Alert) engine.AggregateAlert {
	return engine.AggregateAlert{Name: a.Name, Severity: a.Severity, State: string(a.State), Labels: maps.Clone(a.Labels),
		Summary: a.Summary, Runbook: a.Runbook, Value: a.Value, Threshold: a.Threshold, Onset: a.Onset, OnsetApprox: a.OnsetApprox,
		ActiveAt: a.ActiveAt, FiredAt: a.FiredAt, ResolvingAt: a.ResolvingAt, ResolvedAt: a.ResolvedAt}
}

// FromAggregate is the daemons' merged alerts as a State, every alert marked SourceDaemon.
func FromAggregate(al engine.AggregateAlerts) State {
	st := State{At: al.At, Active: make([]Alert, 0, len(al.Active)), History: make([]Alert, 0, len(al.Resolved))}
	for _, a := range al.Active {
		st.Active = append(st.Active, fromAggregate(a))
	}
	for _, a := range al.Resolved {
		st.History = append(st.History, fromAggregate(a))
	}
	return st
}

func fromAggregate(a engine.AggregateAlert) Alert {
	out := Alert{Name: a.Name, Source: SourceDaemon, State: AlertState(a.State), Severity: a.Severity, Summary: summary(a.Summary),
		Labels: maps.Clone(a.Labels), Value: a.Value, Threshold: a.Threshold, ActiveAt: a.ActiveAt, FiredAt: a.FiredAt,
		ResolvedAt: a.ResolvedAt, Onset: a.Onset, OnsetApprox: a.OnsetApprox, ResolvingAt: a.ResolvingAt, Runbook: a.Runbook}
	if out.Runbook == "" {
		out.Runbook = Runbook(out.Name)
	}
	if out.Onset.IsZero() {
		out.Onset, out.OnsetApprox = out.ActiveAt, true
	}
	return out
}

// PreferReported joins the daemons' alerts (reported) with the viewer's own evaluation
// (own). The daemons' are the stream alerts: each daemon evaluates the rules over the
// whole of its stream from its start, with per-operation detail the aggregate does not
// carry, and its onset is when the fault began, the viewer's only when it started watching;
// the viewer's own stream alerts would repeat them with a later onset (or at another
// granularity), so they are dropped. What the viewer has that the daemons do not report
// stays: Prometheus' alerts, and unhealthy alerts of probes the viewer runs itself. History
// is both on the same terms, newest first, at most historyLen.
func PreferReported(own, reported State, historyLen int) State {
	if historyLen <= 0 {
		historyLen = DefaultHistoryLen
	}
	byKey := func(a Alert) string { return alertKey("", a.Name, a.Labels) }
	seen := make(map[string]bool, len(reported.Active))
	keyed := make([]keyedAlert, 0, len(reported.Active)+len(own.Active))
	for _, a := range reported.Active {
		seen[byKey(a)] = true
		keyed = append(keyed, keyedAlert{key: alertKey(a.Source, a.Name, a.Labels), alert: a})
	}
	ownKept := func(a Alert) bool {
		return a.Source == SourcePrometheus || (a.Name == NameServiceUnhealthy && !seen[byKey(a)])
	}
	for _, a := range own.Active {
		if !ownKept(a) {
			continue
		}
		keyed = append(keyed, keyedAlert{key: alertKey(a.Source, a.Name, a.Labels), alert: a})
	}
	slices.SortFunc(keyed, compareActive)
	st := State{At: own.At, Active: make([]Alert, len(keyed))}
	if st.At.IsZero() {
		st.At = reported.At
	}
	for i, k := range keyed {
		st.Active[i] = k.alert
	}
	resolvedKey := func(a Alert) string { return byKey(a) + "\x00" + a.ResolvedAt.Truncate(time.Minute).String() }
	done := make(map[string]bool, len(reported.History))
	for _, a := range reported.History {
		done[resolvedKey(a)] = true
		st.History = append(st.History, a)
	}
	for _, a := range own.History {
		if !done[resolvedKey(a)] && ownKept(a) {
			st.History = append(st.History, a)
		}
	}
	slices.SortStableFunc(st.History, func(a, b Alert) int { return b.ResolvedAt.Compare(a.ResolvedAt) })
	if len(st.History) > historyLen {
		st.History = st.History[:historyLen]
	}
	return st
}
