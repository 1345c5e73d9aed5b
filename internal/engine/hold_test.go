package engine

import (
	"context"
	"testing"
	"time"
)

func TestPeriodicBuildsHoldSlowWindows(t *testing.T) {
	h := newHarness(t, Config{SnapshotEvery: time.Hour})
	fresh := func() *Snapshot {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s, err := h.eng.Fresh(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
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
	if g := findGroup(s, anvilSubmit, "timeout"); g == nil || g.Count != [NumWindows]uint64{1, 1, 1} {
		t.Errorf("a new error group has its fresh counts, got %+v", g)
	}

	h.clock.Advance(4 * time.Second) // 5 s after the first recompute
	q = findQueue(fresh(), "q")
	if q.Labels[Window5m] != 2 || q.Labels[Window15m] != 1 {
		t.Errorf("labels %v after 5 s, want 5m recomputed (2) and 15m still held (1)", q.Labels)
	}
	h.clock.Advance(10 * time.Second)
	if q = findQueue(fresh(), "q"); q.Labels[Window15m] != 2 {
		t.Errorf("15m labels %d after 15 s, want 2", q.Labels[Window15m])
	}

	h.send(submit("q", "c", "u", "keyboard", 100, t0.Add(15*time.Second)))
	if q = findQueue(h.sync(), "q"); q.Labels != [NumWindows]uint64{3, 3, 3} {
		t.Errorf("Sync labels %v, want every window recomputed", q.Labels)
	}
}
