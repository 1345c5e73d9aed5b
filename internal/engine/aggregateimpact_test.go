package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/wire"
)

// producerWithFailures runs an engine that saw n submit calls on queue q from n users, the
// first failed of them failing, and returns its aggregate as producer name.
func producerWithFailures(t *testing.T, name, q string, n, failed int) (*Aggregate, *Snapshot) {
	t.Helper()
	h := newHarness(t, Config{})
	at := t0.Add(time.Second)
	evs := make([]wire.Event, 0, n)
	for i := range n {
		evs = append(evs, call(submitLabelCall, at, i < failed, "queue_id", q, "user_id", fmt.Sprintf("%s-user-%d", name, i)).ev())
	}
	h.send(evs...)
	snap := h.sync()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	x, err := h.eng.Aggregate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	x.Producer = name
	return x, snap
}

func encoded(t *testing.T, x *Aggregate) []byte {
	t.Helper()
	data, err := x.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestAggregateImpactMerged: a daemon's aggregate carries who its failing calls hit, so a
// --from-daemon viewer shows the error rate, the users and the queues instead of "?": one
// daemon exactly as its own engine counts, several summed (users marked as an estimate,
// since one user may fail on two daemons), and a daemon too old to send it leaves the
// figures unknown rather than low.
func TestAggregateImpactMerged(t *testing.T) {
	x1, own := producerWithFailures(t, "d1", "q-shared", 10, 4)
	x2, _ := producerWithFailures(t, "d2", "q-shared", 6, 3)
	x3, _ := producerWithFailures(t, "d3", "q-other", 5, 0)

	one := NewMerger(MergerConfig{MaxClockSkew: -1})
	if err := one.AddEncoded(encoded(t, x1)); err != nil {
		t.Fatal(err)
	}
	s := one.SnapshotWithImpact()
	w := Window5m
	if !s.Impact.Known || s.Impact.Calls[w] != own.Impact.Calls[w] || s.Impact.Errors[w] != 4 ||
		s.Impact.AffectedUsers[w] != own.Impact.AffectedUsers[w] || s.Impact.UsersEstimated || s.Impact.AffectedQueues[w] != 1 {
		t.Fatalf("one daemon: impact %+v, want its engine's %+v", s.Impact, own.Impact)
	}
	if q := findQueue(s, "q-shared"); q == nil || q.Calls[w] != 10 || q.Errors[w] != 4 {
		t.Fatalf("one daemon: queue %+v", q)
	}

	all := NewMerger(MergerConfig{MaxClockSkew: -1})
	for _, x := range []*Aggregate{x1, x2, x3} {
		if err := all.AddEncoded(encoded(t, x)); err != nil {
			t.Fatal(err)
		}
	}
	s = all.SnapshotWithImpact()
	if !s.Impact.Known || s.Impact.Calls[w] != 21 || s.Impact.Errors[w] != 7 || s.Impact.AffectedUsers[w] != 7 ||
		!s.Impact.UsersEstimated || s.Impact.AffectedQueues[w] != 1 {
		t.Errorf("three daemons: impact %+v, want 7 of 21 calls, ~7 users, 1 queue", s.Impact)
	}
	approx(t, "overall error rate", s.Impact.ErrorRate[w], 7.0/21, 1e-9)
	if q := findQueue(s, "q-shared"); q == nil || q.Calls[w] != 16 || q.Errors[w] != 7 {
		t.Errorf("shared queue: %+v, want 7 of 16 calls", q)
	} else {
		approx(t, "queue error rate", q.ErrorRate[w], 7.0/16, 1e-9)
	}
	if q := findQueue(s, "q-other"); q == nil || q.Calls[w] != 5 || q.Errors[w] != 0 {
		t.Errorf("other queue: %+v", q)
	}

	// an old daemon sends no impact: the merged figures are unknown, not a partial sum
	var old map[string]any
	if err := json.Unmarshal(encoded(t, x2), &old); err != nil {
		t.Fatal(err)
	}
	delete(old, "impact")
	oldData, _ := json.Marshal(old)
	mixed := NewMerger(MergerConfig{MaxClockSkew: -1})
	for _, data := range [][]byte{encoded(t, x1), oldData} {
		if err := mixed.AddEncoded(data); err != nil {
			t.Fatal(err)
		}
	}
	if s := mixed.SnapshotWithImpact(); s.Impact.Known {
		t.Errorf("a daemon without impact: figures claimed known %+v", s.Impact)
	}
}

// TestAggregateImpactRefusesNonsense: failed calls are a subset of calls; a producer
// saying otherwise is refused with a reason.
func TestAggregateImpactRefusesNonsense(t *testing.T) {
	x, _ := producerWithFailures(t, "d1", "q", 4, 2)
	bad := *x
	im := *x.Impact
	im.Errors[Window1m] = im.Calls[Window1m] + 1
	bad.Impact = &im
	if _, err := DecodeAggregate(encoded(t, &bad)); err == nil {
		t.Error("impact with more errors than calls accepted")
	}
	bad = *x
	bad.Queues = append([]AggregateQueue(nil), x.Queues...)
	bad.Queues[0].Windows[Window5m].Errors = bad.Queues[0].Windows[Window5m].Calls + 1
	if _, err := DecodeAggregate(encoded(t, &bad)); err == nil {
		t.Error("queue with more errors than calls accepted")
	}
}
