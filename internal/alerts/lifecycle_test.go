package alerts

import (
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/health"
)

// timeline is one client operation's calls and errors second by second since start, and
// builds the snapshots an engine would: window counts and the last 30 seconds one by one.
type timeline struct {
	name   string
	calls  map[int]uint32 // by second since start
	errs   map[int]uint32
	slow   map[int]uint32 // samples over 2 s
	submit bool           // the op is ingot.label.submit (latency), else a client call
}

func newTimeline(name string) *timeline {
	return &timeline{name: name, calls: map[int]uint32{}, errs: map[int]uint32{}, slow: map[int]uint32{}}
}

// fill sets seconds [from, to) to calls calls with bad errors (or slow samples).
func (tl *timeline) fill(from, to int, calls, bad uint32) {
	for s := from; s < to; s++ {
		tl.calls[s] = calls
		if tl.submit {
			tl.slow[s] = bad
		} else {
			tl.errs[s] = bad
		}
	}
}

// snapshot at second sec (the end of second sec-1: seconds before sec are complete).
func (tl *timeline) snapshot(sec int) *engine.Snapshot {
	at := start.Add(time.Duration(sec) * time.Second)
	op := engine.OpStats{Name: tl.name}
	for w := engine.Window(0); w < engine.NumWindows; w++ {
		n := int(engine.WindowDurations[w] / time.Second)
		var calls, errs, slow uint64
		for s := sec - n; s < sec; s++ {
			calls += uint64(tl.calls[s])
			errs += uint64(tl.errs[s])
			slow += uint64(tl.slow[s])
		}
		q := engine.Quantiles{Count: calls, P50: 100, P95: 100}
		if calls > 0 && float64(slow)/float64(calls) > 0.05 {
			q.P95 = 2500
		}
		op.Latency[w], op.Errors[w] = q, errs
	}
	// Recent ends with the second holding `at`, which has just begun: empty.
	r := &engine.Recent{Start: at.Add(-(engine.RecentSeconds - 1) * time.Second)}
	k := engine.LadderIndex(2000)
	for i := 0; i < engine.RecentSeconds; i++ {
		s := sec - (engine.RecentSeconds - 1) + i
		if s >= sec {
			continue
		}
		r.Calls[i], r.Errors[i], r.Over[k][i] = tl.calls[s], tl.errs[s], tl.slow[s]
	}
	op.Recent = r
	return &engine.Snapshot{At: at, Ops: []engine.OpStats{op}}
}

func (tl *timeline) eval(ev *Evaluator, sec int) State {
	s := tl.snapshot(sec)
	return ev.Evaluate(Input{At: s.At, Stream: s})
}

// liveAlert is the first active alert named name in st, if any.
func liveAlert(st State, name string) (Alert, bool) {
	for _, a := range st.Active {
		if a.Name == name {
			return a, true
		}
	}
	return Alert{}, false
}

func at(sec int) time.Time { return start.Add(time.Duration(sec) * time.Second) }

// The incident of issue 10: an Anvil operation fails 20 % of its calls from 10:00:20; the
// fault is fixed at 10:02:00. The 5-minute rate stays above 5 % for minutes after that, and
// the alert used to stay FIRING until it fell (249-312 s in the demo). It must go resolving
// as soon as the last seconds are good, saying when they became good, and resolve after the
// hold-down without firing again; and it must name the onset, not its pending time.
func TestResolvingAsSoonAsTheLastSecondsAreGood(t *testing.T) {
	ev := NewEvaluator(DefaultRules(), 0)
	tl := newTimeline(submitLabel)
	tl.fill(0, 20, 40, 0)
	tl.fill(20, 120, 40, 8) // 20 %
	tl.fill(120, 400, 40, 0)

	var pendingAt, firedAt int
	for sec := 1; sec <= 120; sec++ {
		a, ok := liveAlert(tl.eval(ev, sec), NameHighErrorRate)
		if !ok {
			continue
		}
		if pendingAt == 0 {
			pendingAt = sec
			if !a.Onset.Equal(at(20)) || a.OnsetApprox {
				t.Fatalf("pending at %v with onset %v (approx %v), want the first bad second %v", at(sec), a.Onset, a.OnsetApprox, at(20))
			}
			if !a.ActiveAt.Equal(at(sec)) {
				t.Errorf("ActiveAt = %v, want %v", a.ActiveAt, at(sec))
			}
		}
		if a.State == StateFiring && firedAt == 0 {
			firedAt = sec
		}
	}
	if pendingAt == 0 || firedAt != pendingAt+60 {
		t.Fatalf("pending at %d s, fired at %d s: want firing 1 m after pending", pendingAt, firedAt)
	}

	resolvingBy := 120 + int(DefaultRules().ShortWindow/time.Second)
	var resolvingAt int
	for sec := 121; sec <= 300; sec++ {
		st := tl.eval(ev, sec)
		a, ok := liveAlert(st, NameHighErrorRate)
		switch {
		case sec <= resolvingBy && !ok:
			t.Fatalf("at %d s: alert gone, want firing or resolving", sec)
		case ok && a.State == StateResolving && resolvingAt == 0:
			resolvingAt = sec
			if !a.ResolvingAt.Equal(at(120)) {
				t.Errorf("resolving since %v, want the first good second %v", a.ResolvingAt, at(120))
			}
			if !a.Onset.Equal(at(20)) {
				t.Errorf("onset changed to %v", a.Onset)
			}
		case ok && a.State == StateFiring && resolvingAt != 0:
			t.Fatalf("at %d s: firing again after resolving with no new errors", sec)
		case ok && sec > 180:
			t.Fatalf("at %d s: %s, want resolved after the 1 m hold-down", sec, a.State)
		case !ok && sec < 180:
			t.Fatalf("at %d s: resolved before the hold-down passed", sec)
		}
		if sec == 180 {
			if len(st.History) != 1 || st.History[0].State != StateResolved || !st.History[0].Onset.Equal(at(20)) || !st.History[0].ResolvingAt.Equal(at(120)) {
				t.Fatalf("history at 180 s = %+v", st.History)
			}
		}
	}
	if resolvingAt == 0 || resolvingAt > resolvingBy {
		t.Fatalf("resolving at %d s, want by %d s (the short window after the fix)", resolvingAt, resolvingBy)
	}
}

// A condition that comes back during the hold-down fires again as the same alert: same
// onset and firing time, no history entry.
func TestResolvingReturnsToFiringWithItsOnset(t *testing.T) {
	ev := NewEvaluator(DefaultRules(), 0)
	tl := newTimeline(submitLabel)
	tl.fill(0, 20, 40, 0)
	tl.fill(20, 120, 40, 8)
	tl.fill(120, 140, 40, 0)
	tl.fill(140, 200, 40, 8)
	var fired time.Time
	for sec := 1; sec <= 160; sec++ {
		st := tl.eval(ev, sec)
		a, ok := liveAlert(st, NameHighErrorRate)
		if sec == 119 {
			if !ok || a.State != StateFiring {
				t.Fatalf("at 119 s: %+v, want firing", a)
			}
			fired = a.FiredAt
		}
		if sec == 135 && (!ok || a.State != StateResolving) {
			t.Fatalf("at 135 s: %+v, want resolving", a)
		}
		if sec == 145 {
			if !ok || a.State != StateFiring || !a.FiredAt.Equal(fired) || !a.Onset.Equal(at(20)) || !a.ResolvingAt.IsZero() {
				t.Fatalf("at 145 s: %+v, want firing again since %v with onset %v", a, fired, at(20))
			}
			if len(st.History) != 0 {
				t.Fatalf("history = %+v, want none", st.History)
			}
		}
	}
}

// The fault is fixed while the alert is pending: the 5-minute rate still holds for minutes,
// and the alert used to fire a minute after it went pending, on a healthy service.
func TestPendingAlertDroppedWhenTheLastSecondsAreGood(t *testing.T) {
	ev := NewEvaluator(DefaultRules(), 0)
	tl := newTimeline(submitLabel)
	tl.fill(0, 20, 40, 0)
	tl.fill(20, 40, 40, 8)
	tl.fill(40, 400, 40, 0)
	sawPending := false
	for sec := 1; sec <= 300; sec++ {
		st := tl.eval(ev, sec)
		a, ok := liveAlert(st, NameHighErrorRate)
		if ok && a.State == StatePending {
			sawPending = true
		}
		if ok && a.State == StateFiring {
			t.Fatalf("at %d s: firing on a service healthy since 40 s", sec)
		}
		if ok && sec > 40+int(DefaultRules().ShortWindow/time.Second) {
			t.Fatalf("at %d s: %s still there, want dropped", sec, a.State)
		}
	}
	if !sawPending {
		t.Fatal("never pending")
	}
}

// A weak fault takes the 5-minute rate a while to cross the threshold: longer than the
// 30 s of per-second counts. The onset must still be the first bad second, remembered.
func TestOnsetOlderThanThePerSecondCounts(t *testing.T) {
	ev := NewEvaluator(DefaultRules(), 0)
	tl := newTimeline(submitLabel)
	tl.fill(0, 20, 40, 0)
	tl.fill(20, 200, 40, 3) // 7.5 %
	for sec := 1; sec <= 100; sec++ {
		a, ok := liveAlert(tl.eval(ev, sec), NameHighErrorRate)
		if !ok {
			continue
		}
		if sec-20 <= engine.RecentSeconds {
			t.Fatalf("pending at %d s: the test needs a later crossing", sec)
		}
		if !a.Onset.Equal(at(20)) || a.OnsetApprox {
			t.Fatalf("onset %v (approx %v), want %v", a.Onset, a.OnsetApprox, at(20))
		}
		return
	}
	t.Fatal("never pending")
}

func TestSlowLabelSubmitOnsetAndResolvingFromLadder(t *testing.T) {
	ev := NewEvaluator(DefaultRules(), 0)
	tl := newTimeline("ingot.label.submit")
	tl.submit = true
	tl.fill(0, 30, 40, 0)
	tl.fill(30, 150, 40, 10) // 25 % over 2 s: p95 > 2 s
	tl.fill(150, 400, 40, 0)
	var fired bool
	for sec := 1; sec <= 160; sec++ {
		a, ok := liveAlert(tl.eval(ev, sec), NameSlowLabelSubmit)
		if ok && !a.Onset.Equal(at(30)) {
			t.Fatalf("at %d s: onset %v, want %v", sec, a.Onset, at(30))
		}
		if ok && a.State == StateFiring {
			fired = true
		}
		if sec == 155 && (!ok || a.State != StateResolving || !a.ResolvingAt.Equal(at(150))) {
			t.Fatalf("at 155 s: %+v, want resolving since %v", a, at(150))
		}
	}
	if !fired {
		t.Fatal("never fired")
	}
}

// A probe's state change is the onset of an unhealthy service and the end of it.
func TestServiceUnhealthyOnsetIsTheProbesStateChange(t *testing.T) {
	clock := newClock()
	ev := NewEvaluator(DefaultRules(), 0)
	changed := start.Add(-1500 * time.Millisecond)
	rows := []health.Status{{Name: "anvil", State: health.StateUnhealthy, Since: changed, Recent: []health.Check{
		{At: changed.Add(-2 * time.Second), State: health.StateHealthy}, {At: changed, State: health.StateUnhealthy}}}}
	a := only(t, ev.Evaluate(Input{At: clock.Now(), Health: rows}))
	if !a.Onset.Equal(changed) || a.OnsetApprox || !a.ActiveAt.Equal(start) {
		t.Fatalf("alert = %+v, want onset at the probe's change %v", a, changed)
	}
	// down at the first probe: down since before it, so the onset is a bound
	ev = NewEvaluator(DefaultRules(), 0)
	rows[0].Recent = rows[0].Recent[1:]
	if a := only(t, ev.Evaluate(Input{At: clock.Now(), Health: rows})); !a.Onset.Equal(changed) || !a.OnsetApprox {
		t.Fatalf("alert = %+v, want onset ~%v (a bound)", a, changed)
	}
}

func TestHoldDownAndShortWindowValidated(t *testing.T) {
	r := DefaultRules()
	r.HoldDown = -time.Second
	r.ShortWindow = time.Hour
	err := r.Validate()
	if err == nil {
		t.Fatal("negative hold-down and a 1 h short window validated")
	}
}
