package alerts

import (
	"strings"
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/health"
	"github.com/nsai/ingot-top/internal/wire"
)

var start = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func newClock() *engine.ManualClock { return engine.NewManualClock(start) }

// clientOp is an ingot.*_client.* row with calls and errors in one window.
func clientOp(name string, w engine.Window, calls, errs uint64) engine.OpStats {
	op := engine.OpStats{Name: name, Service: wire.ServiceOf(name)}
	op.Latency[w] = engine.Quantiles{Count: calls, P50: 10, P95: 50, P99: 80, Max: 100}
	op.Errors[w] = errs
	if calls > 0 {
		op.ErrorRate[w] = float64(errs) / float64(calls)
	}
	return op
}

func snap(at time.Time, ops ...engine.OpStats) *engine.Snapshot {
	return &engine.Snapshot{At: at, Ops: ops}
}

const submitLabel = "ingot.anvil_client.submit_label"

func only(t *testing.T, st State) Alert {
	t.Helper()
	if len(st.Active) != 1 {
		t.Fatalf("active = %+v, want exactly one alert", st.Active)
	}
	return st.Active[0]
}

func TestErrorRateGoesPendingFiringResolved(t *testing.T) {
	clock := newClock()
	ev := NewEvaluator(DefaultRules(), 0)
	bad := func() Input {
		return Input{At: clock.Now(), Stream: snap(clock.Now(), clientOp(submitLabel, engine.Window5m, 40, 5))}
	}

	st := ev.Evaluate(bad())
	a := only(t, st)
	if a.State != StatePending || !a.ActiveAt.Equal(start) || !a.FiredAt.IsZero() {
		t.Fatalf("first evaluation: %+v, want pending since %v", a, start)
	}
	if a.Name != NameHighErrorRate || a.Source != SourceLive || a.Severity != SeverityPage {
		t.Errorf("identity: %s %s %s", a.Name, a.Source, a.Severity)
	}
	if want := "anvil_client.submit_label error rate 12.5% > 5% (5m)"; a.Summary != want {
		t.Errorf("summary = %q, want %q", a.Summary, want)
	}
	if a.Labels["service"] != "anvil" || a.Labels["operation"] != "submit_label" || len(a.Labels) != 2 {
		t.Errorf("labels = %v", a.Labels)
	}
	if a.Value != 0.125 || a.Threshold != 0.05 {
		t.Errorf("value %v threshold %v", a.Value, a.Threshold)
	}

	clock.Advance(59 * time.Second)
	prev := ev.Evaluate(bad())
	if a := only(t, prev); a.State != StatePending || prev.Firing() {
		t.Fatalf("at 59s: %s, want still pending", a.State)
	}
	clock.Advance(time.Second)
	st = ev.Evaluate(bad())
	a = only(t, st)
	if a.State != StateFiring || !a.FiredAt.Equal(start.Add(time.Minute)) || !a.ActiveAt.Equal(start) {
		t.Fatalf("at exactly 1m: %+v, want firing since %v", a, start.Add(time.Minute))
	}
	if newly := st.NewlyFiring(prev); len(newly) != 1 || newly[0].Name != NameHighErrorRate {
		t.Errorf("NewlyFiring = %+v, want the alert that just fired", newly)
	}
	clock.Advance(10 * time.Second)
	again := ev.Evaluate(bad())
	if newly := again.NewlyFiring(st); len(newly) != 0 {
		t.Errorf("NewlyFiring on the next refresh = %+v, want none", newly)
	}
	if len(again.History) != 0 {
		t.Errorf("history while firing = %+v, want empty", again.History)
	}

	clock.Advance(5 * time.Second)
	stopped := clock.Now()
	healthy := func() Input {
		return Input{At: clock.Now(), Stream: snap(clock.Now(), clientOp(submitLabel, engine.Window5m, 40, 1))}
	}
	healed := ev.Evaluate(healthy())
	if a := only(t, healed); a.State != StateResolving || !a.ResolvingAt.Equal(stopped) || len(healed.History) != 0 {
		t.Fatalf("after 2.5%%: %+v, want resolving since %v", a, stopped)
	}
	clock.Advance(DefaultRules().HoldDown - time.Second)
	if a := only(t, ev.Evaluate(healthy())); a.State != StateResolving {
		t.Fatalf("within the hold-down: %s, want resolving", a.State)
	}
	clock.Advance(time.Second)
	healed = ev.Evaluate(healthy())
	if len(healed.Active) != 0 {
		t.Fatalf("after the hold-down: active = %+v, want none", healed.Active)
	}
	if len(healed.History) != 1 {
		t.Fatalf("history = %+v, want the resolved alert", healed.History)
	}
	h := healed.History[0]
	if h.State != StateResolved || !h.ResolvedAt.Equal(clock.Now()) || !h.ResolvingAt.Equal(stopped) || !h.FiredAt.Equal(start.Add(time.Minute)) || h.Labels["operation"] != "submit_label" {
		t.Errorf("history entry = %+v", h)
	}
	if h.Runbook != "RUNBOOK.md#ingothigherrorrate" {
		t.Errorf("runbook = %q", h.Runbook)
	}
}

func TestServiceErrorRate(t *testing.T) {
	clock := newClock()
	ev := NewEvaluator(DefaultRules(), 0)
	s := &engine.Snapshot{At: clock.Now(), Services: []engine.ServiceStats{
		{Service: "anvil", Calls: [3]uint64{0, 80, 80}, Errors: [3]uint64{0, 20, 20}},
		{Service: "forge", Calls: [3]uint64{0, 80, 80}, Errors: [3]uint64{0, 4, 4}}, // exactly 5%: not above
	}}
	a := only(t, ev.Evaluate(Input{At: clock.Now(), Stream: s}))
	if a.Summary != "anvil error rate 25% > 5% (5m)" || len(a.Labels) != 1 || a.Labels["service"] != "anvil" {
		t.Fatalf("alert = %+v", a)
	}
}

func TestOneAlertPerLabelSet(t *testing.T) {
	clock := newClock()
	ev := NewEvaluator(DefaultRules(), 0)
	in := func() Input {
		return Input{At: clock.Now(), Stream: snap(clock.Now(),
			clientOp("ingot.forge_client.get_sample", engine.Window5m, 100, 50),
			clientOp(submitLabel, engine.Window5m, 100, 30),
			clientOp("ingot.live_view.mount", engine.Window5m, 100, 90), // not a client call
		)}
	}
	for range 3 {
		st := ev.Evaluate(in())
		if len(st.Active) != 2 {
			t.Fatalf("active = %+v, want one alert per client operation", st.Active)
		}
		clock.Advance(30 * time.Second)
	}
	st := ev.Evaluate(in())
	for _, a := range st.Active {
		if a.State != StateFiring || !a.ActiveAt.Equal(start) {
			t.Errorf("%s: %s since %v; repeated evaluations must update, not duplicate", a.Summary, a.State, a.ActiveAt)
		}
	}
}

func TestMinimumCountGuard(t *testing.T) {
	clock := newClock()
	ev := NewEvaluator(DefaultRules(), 0)
	// A spike on a tiny sample alternating with a healthy big sample: without the guard this
	// would go pending and fire on 1-in-2 failures.
	for i := range 20 {
		calls, errs := uint64(19), uint64(19) // 100% but under the 20-call minimum
		if i%2 == 1 {
			calls, errs = 200, 1
		}
		st := ev.Evaluate(Input{At: clock.Now(), Stream: snap(clock.Now(), clientOp(submitLabel, engine.Window5m, calls, errs))})
		if len(st.Active) != 0 || len(st.History) != 0 {
			t.Fatalf("round %d (%d/%d): active %+v history %+v, want nothing", i, errs, calls, st.Active, st.History)
		}
		clock.Advance(30 * time.Second)
	}
	st := ev.Evaluate(Input{At: clock.Now(), Stream: snap(clock.Now(), clientOp(submitLabel, engine.Window5m, 20, 2))})
	if a := only(t, st); a.State != StatePending {
		t.Fatalf("at the minimum of 20 calls, 10%%: %s, want pending", a.State)
	}
}

func TestPendingThatClearsLeavesNoHistory(t *testing.T) {
	clock := newClock()
	ev := NewEvaluator(DefaultRules(), 0)
	ev.Evaluate(Input{At: clock.Now(), Stream: snap(clock.Now(), clientOp(submitLabel, engine.Window5m, 40, 20))})
	clock.Advance(30 * time.Second)
	st := ev.Evaluate(Input{At: clock.Now(), Stream: snap(clock.Now())})
	if len(st.Active) != 0 || len(st.History) != 0 {
		t.Fatalf("active %+v history %+v: a pending alert that clears is dropped", st.Active, st.History)
	}
	// A new episode starts its own `for` from scratch.
	clock.Advance(time.Minute)
	st = ev.Evaluate(Input{At: clock.Now(), Stream: snap(clock.Now(), clientOp(submitLabel, engine.Window5m, 40, 20))})
	if a := only(t, st); a.State != StatePending || !a.ActiveAt.Equal(clock.Now()) {
		t.Fatalf("new episode: %+v", a)
	}
}

func labelSubmit(count uint64, p95 float64) engine.OpStats {
	op := engine.OpStats{Name: wire.EventLabelSubmit, Service: "ingot"}
	op.Latency[engine.Window5m] = engine.Quantiles{Count: count, P50: p95 / 3, P95: p95, P99: p95 * 1.2, Max: p95 * 2}
	return op
}

func TestSlowLabelSubmit(t *testing.T) {
	clock := newClock()
	ev := NewEvaluator(DefaultRules(), 0)
	eval := func(count uint64, p95 float64) State {
		return ev.Evaluate(Input{At: clock.Now(), Stream: snap(clock.Now(), labelSubmit(count, p95))})
	}
	if st := eval(19, 9000); len(st.Active) != 0 {
		t.Fatalf("19 samples: %+v, want no alert under the minimum count", st.Active)
	}
	if st := eval(500, 2000); len(st.Active) != 0 {
		t.Fatalf("p95 exactly 2s: %+v, want no alert (threshold is 'above')", st.Active)
	}
	a := only(t, eval(50, 2437))
	if a.Name != NameSlowLabelSubmit || a.State != StatePending || a.Severity != SeverityPage {
		t.Fatalf("alert = %+v", a)
	}
	if a.Summary != "label submit p95 2.44s > 2s (5m)" || a.Value != 2.437 || a.Threshold != 2 {
		t.Errorf("summary %q value %v threshold %v", a.Summary, a.Value, a.Threshold)
	}
	clock.Advance(time.Minute - time.Millisecond)
	if a := only(t, eval(60, 2600)); a.State != StatePending || a.Summary != "label submit p95 2.6s > 2s (5m)" {
		t.Fatalf("just before 1m: %+v", a)
	}
	clock.Advance(time.Millisecond)
	if a := only(t, eval(60, 2600)); a.State != StateFiring {
		t.Fatalf("at 1m: %s, want firing", a.State)
	}
	clock.Advance(time.Minute)
	if a := only(t, eval(60, 1500)); a.State != StateResolving {
		t.Fatalf("after recovery: %+v, want resolving", a)
	}
	clock.Advance(DefaultRules().HoldDown)
	st := eval(60, 1500)
	if len(st.Active) != 0 || len(st.History) != 1 || st.History[0].Name != NameSlowLabelSubmit {
		t.Fatalf("after the hold-down: active %+v history %+v", st.Active, st.History)
	}
}

func TestStreamLag(t *testing.T) {
	clock := newClock()
	ev := NewEvaluator(DefaultRules(), 0)
	lagging := func() Input {
		s := snap(clock.Now())
		s.Lag[engine.Window1m] = engine.Quantiles{Count: 100, P50: 3000, P95: 7200, P99: 9000, Max: 12000}
		return Input{At: clock.Now(), Stream: s}
	}
	a := only(t, ev.Evaluate(lagging()))
	if a.Name != NameStreamLag || a.Summary != "stream lag p95 7.2s > 5s (1m)" || a.Severity != SeverityTicket {
		t.Fatalf("alert = %+v", a)
	}
	clock.Advance(29 * time.Second)
	if a := only(t, ev.Evaluate(lagging())); a.State != StatePending {
		t.Fatalf("at 29s: %s", a.State)
	}
	clock.Advance(time.Second)
	if a := only(t, ev.Evaluate(lagging())); a.State != StateFiring {
		t.Fatalf("at 30s: %s, want firing", a.State)
	}
	clock.Advance(time.Second)
	if a := only(t, ev.Evaluate(Input{At: clock.Now(), Stream: snap(clock.Now())})); a.State != StateResolving {
		t.Fatalf("lag gone: %+v, want resolving", a)
	}
	clock.Advance(DefaultRules().HoldDown)
	if st := ev.Evaluate(Input{At: clock.Now(), Stream: snap(clock.Now())}); len(st.Active) != 0 || len(st.History) != 1 {
		t.Fatalf("lag gone for the hold-down: %+v", st)
	}
}

func TestServiceUnhealthy(t *testing.T) {
	clock := newClock()
	ev := NewEvaluator(DefaultRules(), 0)
	rows := []health.Status{
		{Name: "forge", State: health.StateHealthy},
		{Name: "ingot/anvil", State: health.StateUnhealthy, LastError: "timeout"},
		{Name: "ingot/pubsub", State: health.StateUnknown, LastError: "no report"},
	}
	a := only(t, ev.Evaluate(Input{At: clock.Now(), Health: rows}))
	if a.Name != NameServiceUnhealthy || a.Summary != "ingot/anvil unhealthy: timeout" || a.Severity != SeverityPage || a.Labels["service"] != "ingot/anvil" {
		t.Fatalf("alert = %+v", a)
	}
	clock.Advance(29 * time.Second)
	if a := only(t, ev.Evaluate(Input{At: clock.Now(), Health: rows})); a.State != StatePending {
		t.Fatalf("at 29s: %s", a.State)
	}
	clock.Advance(time.Second)
	if a := only(t, ev.Evaluate(Input{At: clock.Now(), Health: rows})); a.State != StateFiring {
		t.Fatalf("at 30s: %s, want firing", a.State)
	}
	clock.Advance(time.Second)
	rows[1].State, rows[1].Since = health.StateHealthy, clock.Now().Add(-500*time.Millisecond)
	if a := only(t, ev.Evaluate(Input{At: clock.Now(), Health: rows})); a.State != StateResolving || !a.ResolvingAt.Equal(rows[1].Since) {
		t.Fatalf("recovered: %+v, want resolving since the probe's change %v", a, rows[1].Since)
	}
	clock.Advance(DefaultRules().HoldDown)
	st := ev.Evaluate(Input{At: clock.Now(), Health: rows})
	if len(st.Active) != 0 || len(st.History) != 1 || !st.History[0].ResolvedAt.Equal(clock.Now()) {
		t.Fatalf("recovered for the hold-down: %+v", st)
	}
}

func TestNilInputCarriesAlertsUnchanged(t *testing.T) {
	clock := newClock()
	ev := NewEvaluator(DefaultRules(), 0)
	unhealthy := []health.Status{{Name: "forge", State: health.StateUnhealthy}}
	ev.Evaluate(Input{At: clock.Now(), Stream: snap(clock.Now(), clientOp(submitLabel, engine.Window5m, 40, 20)), Health: unhealthy})

	clock.Advance(5 * time.Minute)
	st := ev.Evaluate(Input{At: clock.Now()}) // neither stream nor probes this round
	if len(st.Active) != 2 {
		t.Fatalf("active = %+v, want both alerts carried", st.Active)
	}
	for _, a := range st.Active {
		if a.State != StatePending {
			t.Errorf("%s: %s; without data an alert must not be promoted", a.Name, a.State)
		}
	}
	// Probes answer again and forge is fine; the stream is still missing.
	st = ev.Evaluate(Input{At: clock.Now(), Health: []health.Status{{Name: "forge", State: health.StateHealthy}}})
	if a := only(t, st); a.Name != NameHighErrorRate {
		t.Fatalf("remaining = %+v, want the stream alert only", a)
	}
	if len(st.History) != 0 {
		t.Errorf("history = %+v: a pending alert resolves silently", st.History)
	}
}

func TestZeroAtFallsBackToSnapshotTime(t *testing.T) {
	ev := NewEvaluator(DefaultRules(), 0)
	at := start.Add(time.Hour)
	a := only(t, ev.Evaluate(Input{Stream: snap(at, clientOp(submitLabel, engine.Window5m, 40, 20))}))
	if !a.ActiveAt.Equal(at) {
		t.Fatalf("ActiveAt = %v, want the snapshot time %v", a.ActiveAt, at)
	}
}

func TestThresholdsConfigurable(t *testing.T) {
	clock := newClock()
	rules := DefaultRules()
	rules.ErrorRate = ErrorRateRule{Threshold: 0.2, Window: engine.Window1m, MinCalls: 5, For: 0, Severity: SeverityTicket}
	rules.StreamLagP95.Disabled = true
	ev := NewEvaluator(rules, 0)

	op := clientOp(submitLabel, engine.Window5m, 100, 90) // bad over 5m, but the rule reads 1m
	op.Latency[engine.Window1m] = engine.Quantiles{Count: 8, P95: 10}
	op.Errors[engine.Window1m] = 1 // 12.5%: under the raised threshold
	s := snap(clock.Now(), op)
	s.Lag[engine.Window1m] = engine.Quantiles{Count: 1000, P95: 60_000}
	if st := ev.Evaluate(Input{At: clock.Now(), Stream: s}); len(st.Active) != 0 {
		t.Fatalf("active = %+v, want none: 12.5%% < 20%% in 1m and lag rule disabled", st.Active)
	}
	op.Errors[engine.Window1m] = 2 // 25%
	a := only(t, ev.Evaluate(Input{At: clock.Now(), Stream: snap(clock.Now(), op)}))
	if a.State != StateFiring || a.Summary != "anvil_client.submit_label error rate 25% > 20% (1m)" || a.Severity != SeverityTicket {
		t.Fatalf("with for=0 the alert fires at once: %+v", a)
	}

	rules = DefaultRules()
	rules.ServiceUnhealthy.For = 5 * time.Second
	ev = NewEvaluator(rules, 0)
	down := []health.Status{{Name: "anvil", State: health.StateUnhealthy}}
	ev.Evaluate(Input{At: clock.Now(), Health: down})
	clock.Advance(5 * time.Second)
	if a := only(t, ev.Evaluate(Input{At: clock.Now(), Health: down})); a.State != StateFiring || a.Summary != "anvil unhealthy" {
		t.Fatalf("custom for=5s: %+v", a)
	}
}

func TestHistoryBounded(t *testing.T) {
	clock := newClock()
	rules := DefaultRules()
	rules.ServiceUnhealthy.For = 0
	rules.HoldDown = 0
	ev := NewEvaluator(rules, 3)
	var st State
	for i := range 5 {
		ev.Evaluate(Input{At: clock.Now(), Health: []health.Status{{Name: "forge", State: health.StateUnhealthy}}})
		clock.Advance(time.Second)
		st = ev.Evaluate(Input{At: clock.Now(), Health: []health.Status{{Name: "forge", State: health.StateHealthy}}})
		if want := min(i+1, 3); len(st.History) != want {
			t.Fatalf("after %d episodes: %d in history, want %d", i+1, len(st.History), want)
		}
		clock.Advance(time.Second)
	}
	for i, h := range st.History {
		want := clock.Now().Add(-time.Second - time.Duration(2*i)*time.Second)
		if !h.ResolvedAt.Equal(want) {
			t.Errorf("history[%d] resolved at %v, want %v (newest first)", i, h.ResolvedAt, want)
		}
	}
	if NewEvaluator(rules, 0).historyLen != DefaultHistoryLen {
		t.Error("historyLen 0 should mean the default")
	}
}

func TestPrometheusAlertsMergedAsGiven(t *testing.T) {
	clock := newClock()
	rules := DefaultRules()
	rules.ServiceUnhealthy.For = 0
	rules.HoldDown = 0
	ev := NewEvaluator(rules, 0)
	prom := []Alert{
		{Name: "IngotSlowLabelSubmit", State: StatePending, Severity: SeverityTicket, ActiveAt: start.Add(-time.Hour),
			Summary: "p95 \x1b[31mhigh\u202e", Labels: map[string]string{"queue_id": "q\x1b[2J"}},
		{Name: "IngotHighErrorRate", State: StateFiring, Severity: SeverityPage, ActiveAt: start.Add(-2 * time.Hour),
			Summary: "error rate 9%"},
	}
	st := ev.Evaluate(Input{At: clock.Now(), Health: []health.Status{{Name: "forge", State: health.StateUnhealthy}}, PromAlerts: prom})
	if len(st.Active) != 3 {
		t.Fatalf("active = %+v", st.Active)
	}
	// Firing first (by ActiveAt), then pending.
	order := []string{
		string(st.Active[0].Source) + "/" + st.Active[0].Name,
		string(st.Active[1].Source) + "/" + st.Active[1].Name,
		string(st.Active[2].Source) + "/" + st.Active[2].Name,
	}
	if want := "prometheus/IngotHighErrorRate live/IngotServiceUnhealthy prometheus/IngotSlowLabelSubmit"; strings.Join(order, " ") != want {
		t.Fatalf("order = %v, want %s", order, want)
	}
	slow := st.Active[2]
	if slow.Summary != `p95 \x1b[31mhigh\u202e` || slow.Labels["queue_id"] != `q\x1b[2J` || !slow.ActiveAt.Equal(start.Add(-time.Hour)) {
		t.Errorf("prometheus alert = %+v: want as given, made printable", slow)
	}
	if prom[0].Labels["queue_id"] != "q\x1b[2J" {
		t.Error("the caller's alert was modified")
	}
	// When Prometheus stops reporting them they go, without entering our history.
	clock.Advance(time.Second)
	st = ev.Evaluate(Input{At: clock.Now(), Health: []health.Status{}})
	if len(st.Active) != 0 || len(st.History) != 1 || st.History[0].Source != SourceLive {
		t.Fatalf("after: active %+v history %+v", st.Active, st.History)
	}
}

func TestStateIsACopy(t *testing.T) {
	clock := newClock()
	ev := NewEvaluator(DefaultRules(), 0)
	in := Input{At: clock.Now(), Stream: snap(clock.Now(), clientOp(submitLabel, engine.Window5m, 40, 20))}
	st := ev.Evaluate(in)
	st.Active[0].Labels["operation"] = "changed"
	st.Active[0].State = StateFiring
	if a := only(t, ev.Evaluate(in)); a.Labels["operation"] != "submit_label" || a.State != StatePending {
		t.Fatalf("mutating a returned State changed the evaluator: %+v", a)
	}
}

func TestSummariesArePrintable(t *testing.T) {
	clock := newClock()
	rules := DefaultRules()
	ev := NewEvaluator(rules, 0)
	st := ev.Evaluate(Input{At: clock.Now(),
		Stream: &engine.Snapshot{Services: []engine.ServiceStats{{Service: "x\x1b[1m\u202e", Calls: [3]uint64{0, 50, 50}, Errors: [3]uint64{0, 50, 50}}}},
		Health: []health.Status{{Name: "evil\x07", State: health.StateUnhealthy, LastError: "\x1b]0;t\x07"}},
	})
	if len(st.Active) != 2 {
		t.Fatalf("active = %+v", st.Active)
	}
	for _, a := range st.Active {
		if !wire.IsSafe(a.Summary) {
			t.Errorf("summary not printable: %q", a.Summary)
		}
	}
}

func TestRulesValidate(t *testing.T) {
	if err := DefaultRules().Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	r := DefaultRules()
	r.ErrorRate.Threshold = 1.5
	r.LabelSubmitP95.Window = engine.NumWindows
	r.StreamLagP95.Threshold = 0
	r.ServiceUnhealthy.For = -time.Second
	err := r.Validate()
	if err == nil {
		t.Fatal("bad rules validated")
	}
	for _, want := range []string{"error rate threshold 1.5", "label submit p95 window", "stream lag p95 threshold", "service unhealthy for"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestDefaultRulesMatchRunbook(t *testing.T) {
	r := DefaultRules()
	if r.ErrorRate.Threshold != 0.05 || r.ErrorRate.Window != engine.Window5m || r.ErrorRate.MinCalls != 20 || r.ErrorRate.For != time.Minute {
		t.Errorf("error rate: %+v", r.ErrorRate)
	}
	if r.LabelSubmitP95.Threshold != 2*time.Second || r.LabelSubmitP95.Window != engine.Window5m || r.LabelSubmitP95.For != time.Minute || r.LabelSubmitP95.MinCount == 0 {
		t.Errorf("label submit: %+v", r.LabelSubmitP95)
	}
	if r.StreamLagP95.Threshold != 5*time.Second || r.StreamLagP95.For != 30*time.Second {
		t.Errorf("stream lag: %+v", r.StreamLagP95)
	}
	if r.ServiceUnhealthy.For != 30*time.Second {
		t.Errorf("unhealthy: %+v", r.ServiceUnhealthy)
	}
}

func TestFormatting(t *testing.T) {
	for in, want := range map[float64]string{0.125: "12.5%", 0.05: "5%", 1.0 / 3: "33.3%", 1: "100%", 0: "0%"} {
		if got := percent(in); got != want {
			t.Errorf("percent(%v) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[float64]string{2437: "2.44s", 850: "850ms", 7200: "7.2s", 65000: "1m5s"} {
		if got := millis(in); got != want {
			t.Errorf("millis(%v) = %q, want %q", in, got, want)
		}
	}
}
