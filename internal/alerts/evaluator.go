package alerts

import (
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/health"
	"github.com/nsai/ingot-top/internal/wire"
)

const (
	// DefaultHistoryLen is the history kept when NewEvaluator is given 0.
	DefaultHistoryLen = 200
	// maxLiveAlerts caps the live alerts tracked at once. The engine already caps operations,
	// so this only guards against a runaway input.
	maxLiveAlerts = 256
	// maxSummaryRunes caps a summary line.
	maxSummaryRunes = 200
)

// Input is everything one evaluation looks at.
type Input struct {
	// At is the evaluation time, from the caller's (injected) clock; when zero, Stream.At
	// stands in.
	At time.Time
	// Stream is the latest engine snapshot. Nil means "no stream data this round": alerts
	// from stream rules are then carried unchanged, neither promoted nor resolved.
	Stream *engine.Snapshot
	// Health is the probe rows. Nil means "no probe data this round", as for Stream; a
	// non-nil empty slice means nothing is probed, which resolves unhealthy alerts.
	Health []health.Status
	// PromAlerts are alerts reported by a Prometheus server, shown in Active as given.
	PromAlerts []Alert
}

// Evaluator runs the Rules over successive Inputs. It is safe for concurrent use, though
// evaluations are meant to come from one refresh loop.
type Evaluator struct {
	rules      Rules
	historyLen int

	mu      sync.Mutex
	active  map[string]*tracked // by alertKey
	history []Alert             // newest first, at most historyLen
	// runs are the bad runs going on, by alertKey, whether or not an alert is pending for
	// them yet: a run's start found 30 s ago is still its onset when the 5-minute condition
	// catches up a minute later.
	runs map[string]run
}

// run is a bad run of a condition.
type run struct {
	start      time.Time
	edge       bool // start is the oldest second that was known: it may have begun earlier
	fromStream bool
}

// tracked is one live alert between evaluations.
type tracked struct {
	alert       Alert
	forDuration time.Duration
	fromStream  bool // otherwise from the health probes
	// recoveredAt is when a pending alert's newest calls were first seen good (zero while
	// they have not been): it fires only on evidence newer than that (signal.holdsSince).
	recoveredAt time.Time
}

// NewEvaluator returns an evaluator with the given rules; historyLen <= 0 means
// DefaultHistoryLen.
func NewEvaluator(r Rules, historyLen int) *Evaluator {
	if historyLen <= 0 {
		historyLen = DefaultHistoryLen
	}
	return &Evaluator{rules: r, historyLen: historyLen, active: make(map[string]*tracked), runs: make(map[string]run)}
}

// Rules returns the rules the evaluator runs.
func (e *Evaluator) Rules() Rules { return e.rules }

// Evaluate applies the rules to in and returns the state to show.
//
// A condition that holds over its rule's window and over the last seconds makes a pending
// alert (ActiveAt = now, Onset = the first second of its bad run); once it has held for the
// rule's `for` the alert fires. A pending alert whose condition stops holding is dropped, as
// Prometheus does; one whose newest calls are good (see signal.recovered) waits, pending,
// rather than firing on the errors from before a recovery. A firing one goes to resolving at once (ResolvingAt = the first good
// second), back to firing if the condition returns within Rules.HoldDown, and is resolved
// into History when the hold-down passes.
func (e *Evaluator) Evaluate(in Input) State {
	now := in.At
	if now.IsZero() && in.Stream != nil {
		now = in.Stream.At
	}
	e.mu.Lock()
	defer e.mu.Unlock()

	var signals []signal
	if in.Stream != nil {
		signals = e.streamSignals(signals, in.Stream, now)
	}
	if in.Health != nil {
		signals = e.healthSignals(signals, in.Health)
	}
	byKey := make(map[string]*signal, len(signals))
	for i := range signals {
		byKey[alertKey(signals[i].alert.Source, signals[i].alert.Name, signals[i].alert.Labels)] = &signals[i]
	}
	e.trackRuns(in, byKey)

	for key, t := range e.active {
		evaluated := (t.fromStream && in.Stream != nil) || (!t.fromStream && in.Health != nil)
		if !evaluated {
			continue
		}
		sg := byKey[key]
		holding := sg != nil && sg.main && sg.short
		if holding {
			// what the condition reads now; once it stops holding the alert keeps what it
			// said while it held ("anvil unhealthy", not "anvil healthy")
			t.alert.Summary, t.alert.Value, t.alert.Threshold = sg.alert.Summary, sg.alert.Value, sg.alert.Threshold
			t.alert.Severity = sg.alert.Severity
			t.forDuration = sg.forDuration
		}
		if t.alert.State == StatePending && !holding {
			delete(e.active, key)
			continue
		}
		if t.alert.State == StateFiring && !holding {
			t.alert.State = StateResolving
			t.alert.ResolvingAt = now
			if sg != nil && !sg.stopped.IsZero() && sg.stopped.Before(now) {
				t.alert.ResolvingAt = sg.stopped
			}
		}
		if t.alert.State != StateResolving {
			continue
		}
		// Back to firing only on new evidence: not on a short window that holds because it
		// reaches back to the failing seconds before the recovery (recovered), nor on the
		// minute's fallback when the last seconds hold too few calls (quiet).
		if holding && !sg.recovered && !sg.quiet && sg.holdsSince(t.alert.ResolvingAt) {
			t.alert.State, t.alert.ResolvingAt = StateFiring, time.Time{}
		} else if !now.Before(t.alert.ResolvingAt.Add(e.rules.HoldDown)) {
			delete(e.active, key)
			resolved := t.alert
			resolved.State = StateResolved
			resolved.ResolvedAt = now
			e.pushHistory(resolved)
		}
	}
	for key, sg := range byKey {
		if !sg.main || !sg.short {
			continue
		}
		t, ok := e.active[key]
		if !ok {
			if len(e.active) >= maxLiveAlerts {
				continue
			}
			t = &tracked{alert: sg.alert, forDuration: sg.forDuration, fromStream: sg.fromStream}
			t.alert.State = StatePending
			t.alert.ActiveAt = now
			t.alert.Runbook = Runbook(t.alert.Name)
			t.alert.Onset, t.alert.OnsetApprox = now, true
			if r, ok := e.runs[key]; ok && !r.start.After(now) {
				t.alert.Onset, t.alert.OnsetApprox = r.start, r.edge
			}
			e.active[key] = t
		}
		// A pending alert fires once its `for` has passed, unless its newest calls are good:
		// its condition then holds only on the seconds before the recovery. It stays pending
		// (and is dropped once the short window is good) rather than firing after the fault
		// is over, so that a group whose probe alert already resolves does not go back to
		// FIRING with no new error.
		//
		// Once its newest calls were seen good, it needs new evidence to fire: the condition
		// over the calls since then. Until that, the newest calls failing again may be a
		// chance error or two among the good ones, in a short window that still reaches back
		// to the failing seconds; with it, the fault is back and its `for` starts again, as if
		// the pending alert had been dropped and raised anew.
		if t.alert.State != StatePending {
			continue
		}
		if sg.recovered {
			if t.recoveredAt.IsZero() {
				t.recoveredAt = now
			}
			continue
		}
		if !t.recoveredAt.IsZero() {
			if !sg.holdsSince(t.recoveredAt) {
				continue
			}
			t.recoveredAt, t.alert.ActiveAt = time.Time{}, now
		}
		if !now.Before(t.alert.ActiveAt.Add(t.forDuration)) {
			t.alert.State = StateFiring
			t.alert.FiredAt = now
		}
	}
	return e.stateLocked(now, in.PromAlerts)
}

// trackRuns keeps the start of every condition's bad run going on, from one evaluation to
// the next: the per-second counts reach back 30 s, a run can be older.
func (e *Evaluator) trackRuns(in Input, byKey map[string]*signal) {
	for key, r := range e.runs {
		sg := byKey[key]
		if sg == nil || !sg.short {
			if (r.fromStream && in.Stream == nil) || (!r.fromStream && in.Health == nil) {
				continue // not evaluated this round: the run carries on
			}
			delete(e.runs, key)
		}
	}
	for key, sg := range byKey {
		if !sg.short || sg.onset.IsZero() {
			continue
		}
		r := run{start: sg.onset, edge: sg.onsetEdge, fromStream: sg.fromStream}
		if old, ok := e.runs[key]; ok && sg.onsetEdge && !old.start.After(r.start) {
			r = old // the data no longer reaches the start, which was seen before
		}
		e.runs[key] = r
	}
}

func (e *Evaluator) pushHistory(a Alert) {
	if len(e.history) >= e.historyLen {
		e.history = e.history[:e.historyLen-1]
	}
	e.history = slices.Insert(e.history, 0, a)
}

func (e *Evaluator) stateLocked(now time.Time, prom []Alert) State {
	keyed := make([]keyedAlert, 0, len(e.active)+len(prom))
	for key, t := range e.active {
		a := t.alert
		a.Labels = maps.Clone(a.Labels)
		keyed = append(keyed, keyedAlert{key: key, alert: a})
	}
	for _, a := range prom {
		a = fromPrometheus(a)
		keyed = append(keyed, keyedAlert{key: alertKey(a.Source, a.Name, a.Labels), alert: a})
	}
	slices.SortFunc(keyed, compareActive)
	st := State{At: now, Active: make([]Alert, len(keyed))}
	for i, k := range keyed {
		st.Active[i] = k.alert
	}
	st.History = make([]Alert, len(e.history))
	for i, a := range e.history {
		a.Labels = maps.Clone(a.Labels)
		st.History[i] = a
	}
	return st
}

// fromPrometheus keeps a reported alert as given, except that it is marked as Prometheus's
// and its strings are made safe to print (they come from another server). Its onset is the
// time Prometheus gives, a bound only: Prometheus reports when its rule started holding.
func fromPrometheus(a Alert) Alert {
	a.Source = SourcePrometheus
	a.Name = wire.SafeString(a.Name, wire.MaxValueRunes)
	a.Summary = wire.SafeString(a.Summary, maxSummaryRunes)
	a.Severity = wire.SafeString(a.Severity, wire.MaxValueRunes)
	if a.Labels != nil {
		labels := make(map[string]string, len(a.Labels))
		for k, v := range a.Labels {
			labels[wire.SafeString(k, wire.MaxValueRunes)] = wire.SafeString(v, wire.MaxValueRunes)
		}
		a.Labels = labels
	}
	if a.Onset.IsZero() {
		a.Onset, a.OnsetApprox = a.ActiveAt, true
	}
	if a.Runbook == "" {
		a.Runbook = Runbook(a.Name)
	}
	return a
}

type keyedAlert struct {
	key   string // alertKey, computed once per refresh rather than per comparison
	alert Alert
}

// StateRank orders states by urgency: firing, resolving, pending, then anything else.
func StateRank(s AlertState) int {
	switch s {
	case StateFiring:
		return 0
	case StateResolving:
		return 1
	case StatePending:
		return 2
	}
	return 3
}

// compareActive orders firing before resolving before pending, then by ActiveAt, then by
// source, name and labels so that the order is stable between refreshes.
func compareActive(a, b keyedAlert) int {
	if c := StateRank(a.alert.State) - StateRank(b.alert.State); c != 0 {
		return c
	}
	if c := a.alert.ActiveAt.Compare(b.alert.ActiveAt); c != 0 {
		return c
	}
	return strings.Compare(a.key, b.key)
}

// alertKey identifies an alert by source, name and label set.
func alertKey(src Source, name string, labels map[string]string) string {
	var b strings.Builder
	b.WriteString(string(src))
	b.WriteByte(0)
	b.WriteString(name)
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		b.WriteByte(0)
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(labels[k])
	}
	return b.String()
}

// NewlyFiring returns the alerts firing in s that were neither firing nor resolving in prev
// (for a terminal bell): each alert is reported once per firing episode.
func (s State) NewlyFiring(prev State) []Alert {
	wasFiring := make(map[string]bool, len(prev.Active))
	for _, a := range prev.Active {
		if a.State == StateFiring || a.State == StateResolving { // back from resolving: same episode
			wasFiring[alertKey(a.Source, a.Name, a.Labels)] = true
		}
	}
	var out []Alert
	for _, a := range s.Active {
		if a.State == StateFiring && !wasFiring[alertKey(a.Source, a.Name, a.Labels)] {
			out = append(out, a)
		}
	}
	return out
}

// streamSignals reads the stream rules: every condition that holds over its window or over
// the last seconds, and every one an active alert is tracking.
func (e *Evaluator) streamSignals(out []signal, snap *engine.Snapshot, now time.Time) []signal {
	if r := e.rules.ErrorRate; !r.Disabled && validWindow(r.Window) {
		out = e.errorRateSignals(out, r, snap, now)
	}
	if r := e.rules.LabelSubmitP95; !r.Disabled && validWindow(r.Window) {
		for i := range snap.Ops {
			op := &snap.Ops[i]
			if op.Name != wire.EventLabelSubmit {
				continue
			}
			sg := latencySignal(r, NameSlowLabelSubmit, "label submit p95", op.Latency[r.Window])
			fallback := minuteOr(sg.main, op.Latency[engine.Window1m].Count, r.MinCount, latencyHolds(r, op.Latency[engine.Window1m]))
			if k := engine.LadderIndex(float64(r.Threshold) / float64(time.Millisecond)); k >= 0 && op.Recent != nil {
				s := newSeries(now, snap.Started)
				s.add(op.Recent, &op.Recent.Over[k])
				sg.readSeries(&s, e.rules.ShortWindow, r.MinCount, slowFraction, fallback)
			} else {
				sg.short = fallback
			}
			if sg.main || sg.short || e.tracking(sg.alert) {
				out = append(out, sg)
			}
		}
	}
	if r := e.rules.StreamLagP95; !r.Disabled && validWindow(r.Window) {
		// No per-second lag counts: the rule's own window (1m by default) is the short one.
		sg := latencySignal(r, NameStreamLag, "stream lag p95", snap.Lag[r.Window])
		sg.short = minuteOr(sg.main, snap.Lag[engine.Window1m].Count, r.MinCount, latencyHolds(r, snap.Lag[engine.Window1m]))
		if sg.main || sg.short || e.tracking(sg.alert) {
			out = append(out, sg)
		}
	}
	return out
}

// tracking reports whether an active alert has a's identity.
func (e *Evaluator) tracking(a Alert) bool {
	_, ok := e.active[alertKey(a.Source, a.Name, a.Labels)]
	return ok
}

func (e *Evaluator) errorRateSignals(out []signal, r ErrorRateRule, snap *engine.Snapshot, now time.Time) []signal {
	window := r.Window.String()
	perService := map[string]*series{}
	for i := range snap.Ops {
		op := &snap.Ops[i]
		service, operation, ok := wire.ClientOperation(op.Name)
		if !ok {
			continue
		}
		s := newSeries(now, snap.Started)
		if op.Recent != nil {
			s.add(op.Recent, &op.Recent.Errors)
			ss := perService[service]
			if ss == nil {
				ns := newSeries(now, snap.Started)
				ss = &ns
				perService[service] = ss
			}
			ss.add(op.Recent, &op.Recent.Errors)
		}
		calls, errs := op.Latency[r.Window].Count, op.Errors[r.Window]
		sg := signal{
			alert: Alert{
				Name: NameHighErrorRate, Source: SourceLive, Severity: r.Severity,
				Labels: map[string]string{"service": service, "operation": operation}, Threshold: r.Threshold,
			},
			forDuration: r.For, fromStream: true,
			main: errorRateHolds(r, calls, errs),
		}
		m1 := op.Latency[engine.Window1m].Count
		sg.readSeries(&s, e.rules.ShortWindow, r.MinCalls, r.Threshold,
			minuteOr(sg.main, m1, r.MinCalls, errorRateHolds(r, m1, op.Errors[engine.Window1m])))
		if !sg.main && !sg.short && !e.tracking(sg.alert) {
			continue
		}
		if calls > 0 {
			sg.alert.Value = float64(errs) / float64(calls)
		}
		sg.alert.Summary = summary(service + "_client." + operation + " error rate " +
			percent(sg.alert.Value) + " > " + percent(r.Threshold) + " (" + window + ")")
		out = append(out, sg)
	}
	for _, svc := range snap.Services {
		calls, errs := svc.Calls[r.Window], svc.Errors[r.Window]
		sg := signal{
			alert: Alert{
				Name: NameHighErrorRate, Source: SourceLive, Severity: r.Severity,
				Labels: map[string]string{"service": svc.Service}, Threshold: r.Threshold,
			},
			forDuration: r.For, fromStream: true,
			main: errorRateHolds(r, calls, errs),
		}
		s := perService[svc.Service]
		if s == nil {
			ns := newSeries(now, snap.Started)
			s = &ns
		}
		sg.readSeries(s, e.rules.ShortWindow, r.MinCalls, r.Threshold,
			minuteOr(sg.main, svc.Calls[engine.Window1m], r.MinCalls, errorRateHolds(r, svc.Calls[engine.Window1m], svc.Errors[engine.Window1m])))
		if !sg.main && !sg.short && !e.tracking(sg.alert) {
			continue
		}
		if calls > 0 {
			sg.alert.Value = float64(errs) / float64(calls)
		}
		sg.alert.Summary = summary(svc.Service + " error rate " + percent(sg.alert.Value) + " > " +
			percent(r.Threshold) + " (" + window + ")")
		out = append(out, sg)
	}
	return out
}

// minuteOr is the short-window verdict when the last seconds hold too few calls: the last
// minute's, if it holds enough; else the rule window's own (main), since too few calls say
// nothing either way.
func minuteOr(main bool, calls1m, minCalls uint64, holds1m bool) bool {
	if calls1m > 0 && calls1m >= minCalls {
		return holds1m
	}
	return main
}

func errorRateHolds(r ErrorRateRule, calls, errs uint64) bool {
	if calls == 0 || calls < r.MinCalls {
		return false
	}
	return float64(errs)/float64(calls) > r.Threshold
}

func latencyHolds(r LatencyRule, q engine.Quantiles) bool {
	thresholdMS := float64(r.Threshold) / float64(time.Millisecond)
	return q.Count > 0 && q.Count >= r.MinCount && q.P95 > thresholdMS
}

func latencySignal(r LatencyRule, name, what string, q engine.Quantiles) signal {
	return signal{
		alert: Alert{
			Name: name, Source: SourceLive, Severity: r.Severity,
			Summary: summary(what + " " + millis(q.P95) + " > " + r.Threshold.String() +
				" (" + r.Window.String() + ")"),
			Labels:    map[string]string{},
			Value:     q.P95 / 1000,
			Threshold: r.Threshold.Seconds(),
		},
		forDuration: r.For, fromStream: true,
		main: latencyHolds(r, q),
	}
}

// healthSignals reads the probes: an unhealthy row holds (main and short alike) since its
// last state change, and a healthy one stopped holding then.
func (e *Evaluator) healthSignals(out []signal, rows []health.Status) []signal {
	r := e.rules.ServiceUnhealthy
	if r.Disabled {
		return out
	}
	for _, row := range rows {
		bad := row.State == health.StateUnhealthy
		a := Alert{
			Name: NameServiceUnhealthy, Source: SourceLive, Severity: r.Severity,
			Labels: map[string]string{"service": row.Name}, Value: 1,
		}
		if !bad && !e.tracking(a) {
			continue
		}
		text := row.Name + " unhealthy"
		if !bad {
			text = row.Name + " " + string(row.State)
			a.Value = 0
		}
		if row.LastError != "" && bad {
			text += ": " + row.LastError
		}
		a.Summary = summary(text)
		sg := signal{alert: a, forDuration: r.For, main: bad, short: bad}
		if bad && !row.Since.IsZero() {
			// exact only when a healthy check before it was seen: a service that was down
			// at the first probe has been down since some time before it
			sg.onset, sg.onsetEdge = row.Since, !healthyBefore(row.Recent, row.Since)
		}
		if !bad && row.State == health.StateHealthy && !row.Since.IsZero() {
			sg.stopped = row.Since
		}
		out = append(out, sg)
	}
	return out
}

func healthyBefore(checks []health.Check, t time.Time) bool {
	for _, c := range checks {
		if c.At.Before(t) && c.State == health.StateHealthy {
			return true
		}
	}
	return false
}

func validWindow(w engine.Window) bool { return w >= 0 && w < engine.NumWindows }

func summary(s string) string { return wire.SafeString(s, maxSummaryRunes) }

// percent renders a fraction with at most one decimal: 0.125 → "12.5%", 0.05 → "5%".
func percent(fraction float64) string {
	return strconv.FormatFloat(math.Round(fraction*1000)/10, 'f', -1, 64) + "%"
}

// millis renders milliseconds as a duration rounded to 10 ms: 2437 → "2.44s", 850 → "850ms".
func millis(ms float64) string {
	if math.IsNaN(ms) || math.IsInf(ms, 0) || ms > float64(math.MaxInt64/int64(time.Millisecond)) {
		return strconv.FormatFloat(ms, 'g', 4, 64) + "ms"
	}
	return time.Duration(ms * float64(time.Millisecond)).Round(10 * time.Millisecond).String()
}
