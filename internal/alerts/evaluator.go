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
}

// tracked is one live alert between evaluations.
type tracked struct {
	alert       Alert
	forDuration time.Duration
	fromStream  bool // otherwise from the health probes
}

// NewEvaluator returns an evaluator with the given rules; historyLen <= 0 means
// DefaultHistoryLen.
func NewEvaluator(r Rules, historyLen int) *Evaluator {
	if historyLen <= 0 {
		historyLen = DefaultHistoryLen
	}
	return &Evaluator{rules: r, historyLen: historyLen, active: make(map[string]*tracked)}
}

// Rules returns the rules the evaluator runs.
func (e *Evaluator) Rules() Rules { return e.rules }

// candidate is a condition that holds in this evaluation.
type candidate struct {
	alert       Alert // Name, Severity, Summary, Labels, Value, Threshold
	forDuration time.Duration
	fromStream  bool
}

// Evaluate applies the rules to in and returns the state to show. A condition that starts
// holding makes a pending alert (ActiveAt = now); once it has held for the rule's `for`
// (now − ActiveAt ≥ for) the alert fires; when it stops holding a firing alert is resolved
// into History, while a pending one is dropped without a trace, as Prometheus does.
func (e *Evaluator) Evaluate(in Input) State {
	now := in.At
	if now.IsZero() && in.Stream != nil {
		now = in.Stream.At
	}
	var candidates []candidate
	if in.Stream != nil {
		candidates = e.streamCandidates(candidates, in.Stream)
	}
	if in.Health != nil {
		candidates = e.healthCandidates(candidates, in.Health)
	}

	e.mu.Lock()
	defer e.mu.Unlock()

	holding := make(map[string]candidate, len(candidates))
	for _, c := range candidates {
		holding[alertKey(c.alert.Source, c.alert.Name, c.alert.Labels)] = c
	}
	for key, t := range e.active {
		if _, ok := holding[key]; ok {
			continue
		}
		evaluated := (t.fromStream && in.Stream != nil) || (!t.fromStream && in.Health != nil)
		if !evaluated {
			continue
		}
		delete(e.active, key)
		if t.alert.State == StateFiring {
			resolved := t.alert
			resolved.State = StateResolved
			resolved.ResolvedAt = now
			e.pushHistory(resolved)
		}
	}
	for key, c := range holding {
		t, ok := e.active[key]
		if !ok {
			if len(e.active) >= maxLiveAlerts {
				continue
			}
			t = &tracked{alert: c.alert, fromStream: c.fromStream}
			t.alert.State = StatePending
			t.alert.ActiveAt = now
			e.active[key] = t
		} else {
			// Keep the lifecycle times and state; refresh what the condition reads now.
			t.alert.Summary = c.alert.Summary
			t.alert.Value = c.alert.Value
			t.alert.Threshold = c.alert.Threshold
			t.alert.Severity = c.alert.Severity
		}
		t.forDuration = c.forDuration
		if t.alert.State == StatePending && !now.Before(t.alert.ActiveAt.Add(t.forDuration)) {
			t.alert.State = StateFiring
			t.alert.FiredAt = now
		}
	}
	return e.stateLocked(now, in.PromAlerts)
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
// and its strings are made safe to print (they come from another server).
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
	return a
}

type keyedAlert struct {
	key   string // alertKey, computed once per refresh rather than per comparison
	alert Alert
}

// compareActive orders firing before pending (anything else after), then by ActiveAt,
// then by source, name and labels so that the order is stable between refreshes.
func compareActive(a, b keyedAlert) int {
	rank := func(s AlertState) int {
		switch s {
		case StateFiring:
			return 0
		case StatePending:
			return 1
		}
		return 2
	}
	if c := rank(a.alert.State) - rank(b.alert.State); c != 0 {
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

// NewlyFiring returns the alerts firing in s that were not firing in prev (for a terminal
// bell): each alert is reported once per firing episode.
func (s State) NewlyFiring(prev State) []Alert {
	wasFiring := make(map[string]bool, len(prev.Active))
	for _, a := range prev.Active {
		if a.State == StateFiring {
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

func (e *Evaluator) streamCandidates(out []candidate, snap *engine.Snapshot) []candidate {
	if r := e.rules.ErrorRate; !r.Disabled && validWindow(r.Window) {
		window := r.Window.String()
		for _, op := range snap.Ops {
			service, operation, ok := wire.ClientOperation(op.Name)
			if !ok {
				continue
			}
			calls := op.Latency[r.Window].Count
			errs := op.Errors[r.Window]
			if !errorRateHolds(r, calls, errs) {
				continue
			}
			rate := float64(errs) / float64(calls)
			out = append(out, candidate{
				alert: Alert{
					Name: NameHighErrorRate, Source: SourceLive, Severity: r.Severity,
					Summary: summary(service + "_client." + operation + " error rate " +
						percent(rate) + " > " + percent(r.Threshold) + " (" + window + ")"),
					Labels:    map[string]string{"service": service, "operation": operation},
					Value:     rate,
					Threshold: r.Threshold,
				},
				forDuration: r.For, fromStream: true,
			})
		}
		for _, svc := range snap.Services {
			calls, errs := svc.Calls[r.Window], svc.Errors[r.Window]
			if !errorRateHolds(r, calls, errs) {
				continue
			}
			rate := float64(errs) / float64(calls)
			out = append(out, candidate{
				alert: Alert{
					Name: NameHighErrorRate, Source: SourceLive, Severity: r.Severity,
					Summary: summary(svc.Service + " error rate " + percent(rate) + " > " +
						percent(r.Threshold) + " (" + window + ")"),
					Labels:    map[string]string{"service": svc.Service},
					Value:     rate,
					Threshold: r.Threshold,
				},
				forDuration: r.For, fromStream: true,
			})
		}
	}
	if r := e.rules.LabelSubmitP95; !r.Disabled && validWindow(r.Window) {
		for _, op := range snap.Ops {
			if op.Name != wire.EventLabelSubmit {
				continue
			}
			if c, ok := latencyCandidate(r, NameSlowLabelSubmit, "label submit p95", op.Latency[r.Window]); ok {
				out = append(out, c)
			}
		}
	}
	if r := e.rules.StreamLagP95; !r.Disabled && validWindow(r.Window) {
		if c, ok := latencyCandidate(r, NameStreamLag, "stream lag p95", snap.Lag[r.Window]); ok {
			out = append(out, c)
		}
	}
	return out
}

func errorRateHolds(r ErrorRateRule, calls, errs uint64) bool {
	if calls == 0 || calls < r.MinCalls {
		return false
	}
	return float64(errs)/float64(calls) > r.Threshold
}

func latencyCandidate(r LatencyRule, name, what string, q engine.Quantiles) (candidate, bool) {
	thresholdMS := float64(r.Threshold) / float64(time.Millisecond)
	if q.Count == 0 || q.Count < r.MinCount || !(q.P95 > thresholdMS) {
		return candidate{}, false
	}
	return candidate{
		alert: Alert{
			Name: name, Source: SourceLive, Severity: r.Severity,
			Summary: summary(what + " " + millis(q.P95) + " > " + r.Threshold.String() +
				" (" + r.Window.String() + ")"),
			Labels:    map[string]string{},
			Value:     q.P95 / 1000,
			Threshold: r.Threshold.Seconds(),
		},
		forDuration: r.For, fromStream: true,
	}, true
}

func (e *Evaluator) healthCandidates(out []candidate, rows []health.Status) []candidate {
	r := e.rules.ServiceUnhealthy
	if r.Disabled {
		return out
	}
	for _, row := range rows {
		if row.State != health.StateUnhealthy {
			continue
		}
		text := row.Name + " unhealthy"
		if row.LastError != "" {
			text += ": " + row.LastError
		}
		out = append(out, candidate{
			alert: Alert{
				Name: NameServiceUnhealthy, Source: SourceLive, Severity: r.Severity,
				Summary:   summary(text),
				Labels:    map[string]string{"service": row.Name},
				Value:     1,
				Threshold: 0,
			},
			forDuration: r.For,
		})
	}
	return out
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
