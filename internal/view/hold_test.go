package view_test

import (
	"slices"
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/view"
)

// liveFrame is a joined live frame at `when` with the given queues, activity and error
// groups: the clock of a Holder is the frames' At, so these tests step it by hand.
func liveFrame(when time.Time, queues []engine.QueueStats, act []engine.ActivityStats, groups []engine.ErrorGroup) view.Frame {
	snap := &engine.Snapshot{At: when, Started: when.Add(-time.Hour), Queues: queues, Activity: act, ErrorGroups: groups}
	return view.Build(view.Frame{At: when, Stream: snap})
}

func gauge(id string, users int, pending float64) engine.QueueStats {
	q := engine.QueueStats{ID: id, ActiveLabelers: users, HasStats: true, Pending: pending}
	q.LabelsPerMin[engine.Window5m] = 100
	q.BacklogETA, q.EtaKnown = time.Duration(pending/100*float64(time.Minute)), true
	return q
}

func shownQueue(t *testing.T, f view.Frame, id string) (users int, pending float64, eta time.Duration) {
	t.Helper()
	q := queueRow(t, f, id)
	return q.ActiveLabelers, q.Pending, q.BacklogETA
}

// TestHolderHoldsGaugeNoiseUntilTheCadence: a queue's users and pending that wander by
// less than a jump stay as shown until HoldEvery has passed since the last refresh, then
// all take their fresh values together; the ETA moves with its pending.
func TestHolderHoldsGaugeNoiseUntilTheCadence(t *testing.T) {
	h := view.NewHolder()
	h.Apply(liveFrame(at, []engine.QueueStats{gauge("a", 10, 500), gauge("b", 1, 300)}, nil, nil))
	for s := 1; s < int(view.HoldEvery/time.Second); s++ {
		f := h.Apply(liveFrame(at.Add(time.Duration(s)*time.Second),
			[]engine.QueueStats{gauge("a", 10+s%3, 500+float64(40*s)), gauge("b", s%2, 300-float64(20*s))}, nil, nil))
		if u, p, eta := shownQueue(t, f, "a"); u != 10 || p != 500 || eta != 5*time.Minute {
			t.Fatalf("+%ds: queue a shows users %d pending %v ETA %v, want the held 10, 500, 5m", s, u, p, eta)
		}
		if u, p, _ := shownQueue(t, f, "b"); u != 1 || p != 300 {
			t.Fatalf("+%ds: queue b shows users %d pending %v, want the held 1, 300 (0 and 1 labelers is noise)", s, u, p)
		}
	}
	f := h.Apply(liveFrame(at.Add(view.HoldEvery), []engine.QueueStats{gauge("a", 12, 620), gauge("b", 0, 210)}, nil, nil))
	if u, p, eta := shownQueue(t, f, "a"); u != 12 || p != 620 || eta != time.Duration(6.2*float64(time.Minute)) {
		t.Errorf("after %v queue a shows users %d pending %v ETA %v, want the fresh 12, 620, 6.2m", view.HoldEvery, u, p, eta)
	}
	if u, p, _ := shownQueue(t, f, "b"); u != 0 || p != 210 {
		t.Errorf("after %v queue b shows users %d pending %v, want the fresh 0, 210", view.HoldEvery, u, p)
	}
}

// TestHolderLetsGaugeJumpsThroughAtOnce: a backlog that doubles or empties, labelers who
// leave by half, stats arriving and a queue first seen show in the very next frame.
func TestHolderLetsGaugeJumpsThroughAtOnce(t *testing.T) {
	h := view.NewHolder()
	noStats := engine.QueueStats{ID: "c", ActiveLabelers: 4}
	h.Apply(liveFrame(at, []engine.QueueStats{gauge("a", 10, 500), gauge("b", 8, 400), noStats}, nil, nil))
	f := h.Apply(liveFrame(at.Add(time.Second),
		[]engine.QueueStats{gauge("a", 10, 1200), gauge("b", 3, 0), gauge("c", 4, 50), gauge("new", 7, 70)}, nil, nil))
	if _, p, eta := shownQueue(t, f, "a"); p != 1200 || eta != 12*time.Minute {
		t.Errorf("a backlog 500 → 1200 shows %v (ETA %v), want 1200 at once", p, eta)
	}
	if u, p, _ := shownQueue(t, f, "b"); u != 3 || p != 0 {
		t.Errorf("labelers 8 → 3 and a backlog run dry show users %d pending %v, want 3 and 0 at once", u, p)
	}
	if q := queueRow(t, f, "c"); !q.HasStats || q.Pending != 50 {
		t.Errorf("a queue's first stats show %+v, want them at once", q)
	}
	if u, p, _ := shownQueue(t, f, "new"); u != 7 || p != 70 {
		t.Errorf("a new queue shows users %d pending %v, want its fresh figures", u, p)
	}
}

func agreement(perMin, mean, last float64, lastAt time.Time) engine.ActivityStats {
	a := engine.ActivityStats{Name: "anvil.agreement.calculated", ScoreKey: "score", LastScore: last, LastAt: lastAt}
	for w := range a.PerMin {
		a.PerMin[w], a.MeanScore[w], a.Scored[w] = perMin, mean, 100
	}
	return a
}

// TestHolderHoldsCountedRows: a counted event's rate, mean and last score are held as one
// between refreshes; a rate that halves passes at once. The snapshot the frame points at is
// shared with history and other viewers: it is not modified.
func TestHolderHoldsCountedRows(t *testing.T) {
	h := view.NewHolder()
	h.Apply(liveFrame(at, nil, []engine.ActivityStats{agreement(1000, 0.75, 0.7, at)}, nil))
	in := liveFrame(at.Add(time.Second), nil, []engine.ActivityStats{agreement(1040, 0.76, 0.9, at.Add(time.Second))}, nil)
	f := h.Apply(in)
	if a := f.Stream.Activity[0]; a.PerMin[engine.Window1m] != 1000 || a.MeanScore[engine.Window5m] != 0.75 || a.LastScore != 0.7 || !a.LastAt.Equal(at) {
		t.Errorf("counted row after 1 s: %+v, want the held 1000/min, mean 0.75, last 0.7", a)
	}
	if a := in.Stream.Activity[0]; a.PerMin[engine.Window1m] != 1040 || a.LastScore != 0.9 || f.Stream == in.Stream {
		t.Errorf("the input snapshot was modified (%+v) or shared: the holder must copy", a)
	}
	f = h.Apply(liveFrame(at.Add(2*time.Second), nil, []engine.ActivityStats{agreement(480, 0.76, 0.9, at.Add(2*time.Second))}, nil))
	if a := f.Stream.Activity[0]; a.PerMin[engine.Window1m] != 480 || a.LastScore != 0.9 {
		t.Errorf("a rate halving shows %+v, want 480/min at once", a)
	}
	f = h.Apply(liveFrame(at.Add(3*time.Second), nil, []engine.ActivityStats{agreement(500, 0.8, 0.1, at.Add(3*time.Second))}, nil))
	if a := f.Stream.Activity[0]; a.PerMin[engine.Window1m] != 480 || a.LastScore != 0.9 {
		t.Errorf("noise after a jump shows %+v, want the jump's figures held", a)
	}
	f = h.Apply(liveFrame(at.Add(view.HoldEvery), nil, []engine.ActivityStats{agreement(500, 0.8, 0.1, at.Add(view.HoldEvery))}, nil))
	if a := f.Stream.Activity[0]; a.PerMin[engine.Window1m] != 500 || a.LastScore != 0.1 {
		t.Errorf("after %v: %+v, want the fresh figures", view.HoldEvery, a)
	}
}

func group(sig string, c1m, c5m, c15m uint64) engine.ErrorGroup {
	return engine.ErrorGroup{Service: "anvil", Event: "ingot.anvil_client.submit_label", Signature: sig,
		Count: [engine.NumWindows]uint64{c1m, c5m, c15m}, Total: c15m}
}

// sigs is the signatures in the frame's order for w.
func sigs(f view.Frame, w engine.Window) []string {
	var out []string
	for _, i := range f.ErrorOrder[w] {
		out = append(out, f.Stream.ErrorGroups[i].Signature)
	}
	return out
}

// TestHolderKeepsErrorRowsInPlace: signatures whose counts move by noise keep their rows;
// one that clearly outnumbers the row above rises at once; a new signature is placed by
// its count at once; a signature gone leaves. Each window has its own order.
func TestHolderKeepsErrorRowsInPlace(t *testing.T) {
	h := view.NewHolder()
	f := h.Apply(liveFrame(at, nil, nil, []engine.ErrorGroup{group("timeout", 9, 45, 45), group("refused", 8, 41, 41), group("conflict", 7, 40, 40)}))
	if got := sigs(f, engine.Window5m); !slices.Equal(got, []string{"timeout", "refused", "conflict"}) {
		t.Fatalf("first order %v", got)
	}
	// the engine now sorts refused first (43 > 42 > 41), which is noise
	f = h.Apply(liveFrame(at.Add(time.Second), nil, nil, []engine.ErrorGroup{group("refused", 8, 43, 43), group("timeout", 9, 42, 42), group("conflict", 7, 41, 41)}))
	if got := sigs(f, engine.Window5m); !slices.Equal(got, []string{"timeout", "refused", "conflict"}) {
		t.Errorf("counts within noise reordered the rows: %v", got)
	}
	// conflict surges past both; a new signature with 20 goes above none of them but shows
	f = h.Apply(liveFrame(at.Add(2*time.Second), nil, nil, []engine.ErrorGroup{group("conflict", 40, 90, 90), group("refused", 8, 43, 43),
		group("timeout", 9, 42, 42), group("oom", 20, 20, 20)}))
	if got := sigs(f, engine.Window5m); !slices.Equal(got, []string{"conflict", "timeout", "refused", "oom"}) {
		t.Errorf("5m order %v, want the surge on top at once and the new signature placed by its count", got)
	}
	if got := sigs(f, engine.Window1m); !slices.Equal(got, []string{"conflict", "oom", "timeout", "refused"}) {
		t.Errorf("1m order %v, want its own order by the 1m counts", got)
	}
	f = h.Apply(liveFrame(at.Add(3*time.Second), nil, nil, []engine.ErrorGroup{group("conflict", 40, 90, 90), group("oom", 20, 20, 20)}))
	if got := sigs(f, engine.Window5m); !slices.Equal(got, []string{"conflict", "oom"}) {
		t.Errorf("after two signatures left: %v", got)
	}
	for w := engine.Window(0); w < engine.NumWindows; w++ {
		if len(f.ErrorOrder[w]) != len(f.Stream.ErrorGroups) {
			t.Errorf("window %v: order of %d rows for %d groups", w, len(f.ErrorOrder[w]), len(f.Stream.ErrorGroups))
		}
	}
}

// TestHolderLeavesPastFramesAlone: a frame rebuilt from history is shown as it was.
func TestHolderLeavesPastFramesAlone(t *testing.T) {
	h := view.NewHolder()
	h.Apply(liveFrame(at, []engine.QueueStats{gauge("a", 10, 500)}, nil, nil))
	past := liveFrame(at.Add(time.Second), []engine.QueueStats{gauge("a", 11, 520)}, nil, nil)
	past.Past = true
	if f := h.Apply(past); f.Queues[0].Pending != 520 || f.ErrorOrder[engine.Window5m] != nil {
		t.Errorf("a past frame was held: %+v", f.Queues[0])
	}
}

// TestTrendShiftsByWholeBuckets: the Queues pane's trend is the labels/min of 30 s buckets
// aligned to the clock, from whole 10 s slices after the engine started; within a bucket
// only the newest cell moves, and the trend shifts when a new bucket's first slice is whole.
func TestTrendShiftsByWholeBuckets(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 14, 30, 5, 0, time.UTC) // in the first slice of a bucket
	base := t0.Truncate(10*time.Second).Unix()/10 - 89
	trend := func(now, started time.Time) []float64 {
		// History as the engine hands it out: 90 slices, the last one still filling; each
		// slice's figure here is its number, counted from the first slice at t0
		hist := make([]float64, 90)
		last := now.Truncate(10*time.Second).Unix() / 10
		for i := range hist {
			hist[i] = float64(last - int64(89-i) - base)
		}
		snap := &engine.Snapshot{At: now, Started: started, Queues: []engine.QueueStats{{ID: "q", History: hist}}}
		return view.Build(view.Frame{At: now, Stream: snap}).Queues[0].Trend
	}
	long := t0.Add(-time.Hour)
	got := trend(t0, long)
	// slices 86, 87, 88 (14:29:30-14:30:00) are the newest whole bucket; 89 is filling
	if len(got) != view.TrendCells || got[len(got)-1] != 87 || got[len(got)-2] != 84 {
		t.Fatalf("trend at %v: %v, want %d cells ending 84, 87", t0, got, view.TrendCells)
	}
	next := trend(t0.Add(10*time.Second), long) // slice 89 is whole: a new bucket of one
	if len(next) != view.TrendCells || !slices.Equal(next[:len(next)-1], got[1:]) || next[len(next)-1] != 89 {
		t.Errorf("trend 10 s later: %v, want the trend at %v shifted by one cell, then 89", next, t0)
	}
	after := trend(t0.Add(20*time.Second), long)
	if !slices.Equal(after[:len(after)-1], next[:len(next)-1]) || after[len(after)-1] != 89.5 {
		t.Errorf("trend 20 s later: %v, want only the newest cell moved, to 89.5", after)
	}
	// started at 14:29:00: the slices from then on only, in two buckets
	got = trend(t0, t0.Add(-65*time.Second))
	if !slices.Equal(got, []float64{84, 87}) {
		t.Errorf("trend 65 s after the start: %v, want [84 87]", got)
	}
	// started inside a slice: that slice is not whole
	got = trend(t0, t0.Add(-62*time.Second))
	if !slices.Equal(got, []float64{84.5, 87}) {
		t.Errorf("trend 62 s after the start: %v, want [84.5 87] (the slice the engine started in left out)", got)
	}
}
