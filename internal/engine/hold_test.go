package engine

import (
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/wire"
)

func TestPeriodicBuildsHoldSlowWindows(t *testing.T) {
	h := newHarness(t, Config{SnapshotEvery: time.Hour})
	fresh := h.fresh
	h.send(submit("q", "a", "u", "keyboard", 100, t0))
	first := fresh()
	if got := findQueue(first, "q").Labels; got != [NumWindows]uint64{1, 1, 1} {
		t.Fatalf("first build labels %v", got)
	}

	h.clock.Advance(time.Second)
	h.send(submit("q", "b", "u", "keyboard", 100, t0.Add(time.Second)),
		failure(anvilSubmit, "timeout", "", t0.Add(time.Second)))
	s := fresh()
	q := findQueue(s, "q")
	if q.Labels[Window1m] != 2 {
		t.Errorf("1m labels %d, want 2: the 1m window is recomputed every build", q.Labels[Window1m])
	}
	if q.Labels[Window5m] != 1 || q.Labels[Window15m] != 1 {
		t.Errorf("5m/15m labels %v, want held at 1 a second after the last recompute", q.Labels)
	}
	if op := findOp(s, wire.EventLabelSubmit); op == nil || op.Latency[Window1m].Count != 2 || op.Latency[Window5m].Count != 1 || op.Latency[Window15m].Count != 1 {
		t.Errorf("op latency counts while held: %+v", op)
	}
	if s.Lag[Window1m].Count != 3 || s.Lag[Window5m].Count != 1 {
		t.Errorf("lag counts while held: 1m %d 5m %d, want 3 and 1", s.Lag[Window1m].Count, s.Lag[Window5m].Count)
	}
	if g := findGroup(s, anvilSubmit, "timeout"); g == nil || g.Count != [NumWindows]uint64{1, 1, 1} {
		t.Errorf("a new error group has its fresh counts, got %+v", g)
	}

	if g := findGroup(s, anvilSubmit, "timeout"); g != nil {
		before := *g
		h.send(failure(anvilSubmit, "timeout", "", t0.Add(time.Second)))
		h.clock.Advance(time.Second)
		g = findGroup(fresh(), anvilSubmit, "timeout")
		if g.Count != before.Count || g.Total != before.Total {
			t.Errorf("a signature's counts %v / %d moved between recomputes (were %v / %d): held as one", g.Count, g.Total, before.Count, before.Total)
		}
	}

	h.clock.Advance(3 * time.Second) // 5 s after the first recompute
	q = findQueue(fresh(), "q")
	if q.Labels[Window5m] != 2 || q.Labels[Window15m] != 2 {
		t.Errorf("labels %v after 5 s, want 5m and 15m recomputed together (2)", q.Labels)
	}
	if op := findOp(h.eng.Snapshot(), wire.EventLabelSubmit); op == nil || op.Latency[Window5m].Count != 2 || op.Latency[Window15m].Count != 2 {
		t.Errorf("op latency after 5 s: %+v, want every window recomputed (2)", op)
	}
	if l := h.eng.Snapshot().Lag; l[Window5m].Count != 4 || l[Window15m].Count != 4 {
		t.Errorf("lag counts after 5 s: %v/%v, want 4", l[Window5m].Count, l[Window15m].Count)
	}
	if g := findGroup(h.eng.Snapshot(), anvilSubmit, "timeout"); g == nil || g.Count != [NumWindows]uint64{2, 2, 2} || g.Total != 2 {
		t.Errorf("signature after 5 s: %+v, want counts 2 and total 2", g)
	}

	h.send(submit("q", "c", "u", "keyboard", 100, t0.Add(15*time.Second)))
	if q = findQueue(h.sync(), "q"); q.Labels != [NumWindows]uint64{3, 3, 3} {
		t.Errorf("Sync labels %v, want every window recomputed", q.Labels)
	}
}

// TestSurgingSignatureIsNotHeld: between two recomputes a signature's counts are held, but
// one whose last minute grows by more than noise (max(10, 50 %)) shows its fresh counts in
// the next build, so an incident's errors are never shown 5 s late.
func TestSurgingSignatureIsNotHeld(t *testing.T) {
	h := newHarness(t, Config{SnapshotEvery: time.Hour})
	fresh := h.fresh
	burst := func(n int, at time.Time) {
		evs := make([]wire.Event, n)
		for i := range evs {
			evs[i] = failure(anvilSubmit, "timeout", "", at)
		}
		h.send(evs...)
	}
	burst(20, t0)
	if g := findGroup(fresh(), anvilSubmit, "timeout"); g == nil || g.Count[Window1m] != 20 {
		t.Fatalf("first build: %+v", g)
	}
	h.clock.Advance(time.Second)
	burst(9, t0.Add(time.Second)) // 29: by 9, under max(10, 50 % of 20)
	if g := findGroup(fresh(), anvilSubmit, "timeout"); g.Count[Window1m] != 20 || g.Total != 20 {
		t.Errorf("9 more errors on 20 (noise) show counts %v total %d, want the held 20", g.Count, g.Total)
	}
	h.clock.Advance(time.Second)
	burst(2, t0.Add(2*time.Second)) // 31: by 11 over the 20 shown, past max(10, 10)
	if g := findGroup(fresh(), anvilSubmit, "timeout"); g.Count != [NumWindows]uint64{31, 31, 31} || g.Total != 31 {
		t.Errorf("a surge to 31 over the 20 shown shows counts %v total %d, want 31 at once in every window", g.Count, g.Total)
	}
}
