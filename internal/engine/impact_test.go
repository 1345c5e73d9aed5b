package engine

import (
	"fmt"
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/wire"
)

const (
	fetchAssignment = "ingot.anvil_client.fetch_assignment"
	getSample       = "ingot.forge_client.get_sample"
	submitLabelCall = "ingot.anvil_client.submit_label"
)

// call is a client call event; kv is its metadata besides result and reason.
func call(name string, at time.Time, failed bool, kv ...string) *evb {
	b := newEv(name, at).m("duration_ms", 20).meta(kv...)
	if failed {
		return b.meta("result", "error", "reason", "econnrefused forge:4001")
	}
	return b.meta("result", "ok")
}

func traceID(n int) string { return fmt.Sprintf("%032x", n+1) }
func spanID(n int) string  { return fmt.Sprintf("%016x", n+1) }

// The simulator's request: fetch_assignment (queue_id, user_id) then, as its child,
// get_sample with only sample_id. A Forge failure has to be tied to the queue and the user
// through the trace, or the Queues pane and the affected-user count miss every Forge outage.
func TestForgeErrorTiedToQueueThroughTrace(t *testing.T) {
	h := newHarness(t, Config{})
	at := t0.Add(time.Second)
	var evs []wire.Event
	for i := range 4 {
		tr := traceID(i)
		user := fmt.Sprintf("user_%d", i%2)
		evs = append(evs,
			call(fetchAssignment, at, false, "queue_id", "q_forge", "user_id", user).trace(tr, spanID(2*i), "").ev(),
			call(getSample, at, i < 3, "sample_id", "smp_1").trace(tr, spanID(2*i+1), spanID(2*i)).ev())
	}
	h.send(evs...)
	s := h.sync()
	q := findQueue(s, "q_forge")
	if q == nil {
		t.Fatalf("queue q_forge missing: a queue whose calls fail must be listed; queues %+v", s.Queues)
	}
	if q.Calls[Window1m] != 8 || q.Errors[Window1m] != 3 {
		t.Errorf("queue calls/errors = %d/%d, want 8/3 (4 fetches + 4 Forge calls tied by trace)", q.Calls[Window1m], q.Errors[Window1m])
	}
	approx(t, "queue error rate", q.ErrorRate[Window5m], 3.0/8, 1e-9)
	var labErrs uint64
	for _, l := range q.Labelers {
		labErrs += l.Errors[Window5m]
	}
	if labErrs != 3 {
		t.Errorf("labeler errors sum = %d, want 3: %+v", labErrs, q.Labelers)
	}
	im := s.Impact
	if !im.Known || im.Calls[Window1m] != 8 || im.Errors[Window1m] != 3 {
		t.Errorf("impact calls/errors = %+v", im)
	}
	if im.AffectedUsers[Window1m] != 2 || im.ErrorsNoUser[Window1m] != 0 || im.UsersEstimated {
		t.Errorf("affected users = %d (no user %d, estimated %v), want exactly 2", im.AffectedUsers[Window1m], im.ErrorsNoUser[Window1m], im.UsersEstimated)
	}
	if im.AffectedQueues[Window1m] != 1 || im.ErrorsNoQueue[Window1m] != 0 {
		t.Errorf("affected queues = %d, no queue %d, want 1 and 0", im.AffectedQueues[Window1m], im.ErrorsNoQueue[Window1m])
	}
	if len(s.Errors) != 3 {
		t.Fatalf("errors = %d, want 3", len(s.Errors))
	}
	for _, e := range s.Errors {
		if e.Queue != "q_forge" || e.QueueVia != QueueViaTrace {
			t.Errorf("error entry queue = %q via %q, want q_forge via trace", e.Queue, e.QueueVia)
		}
	}
}

// Spans are often published when they end, so a parent naming the queue can arrive after
// its child's failure: the failure is then tied when the parent comes.
func TestChildFailureBeforeParentIsTiedLater(t *testing.T) {
	h := newHarness(t, Config{})
	at := t0.Add(time.Second)
	tr := traceID(7)
	h.send(call(getSample, at, true, "sample_id", "smp_9").trace(tr, spanID(2), spanID(1)).ev())
	s := h.sync()
	if im := s.Impact; im.ErrorsNoQueue[Window1m] != 1 || im.ErrorsNoUser[Window1m] != 1 || im.AffectedUsers[Window1m] != 0 {
		t.Fatalf("before the parent: %+v, want one failure tied to no queue and no user", im)
	}
	h.send(newEv(wire.EventLiveViewMount, at).m("duration_ms", 40).meta("queue_id", "q_late", "user_id", "user_late").trace(tr, spanID(1), "").ev())
	s = h.sync()
	im := s.Impact
	if im.ErrorsNoQueue[Window1m] != 0 || im.ErrorsNoUser[Window1m] != 0 || im.AffectedUsers[Window1m] != 1 || im.AffectedQueues[Window1m] != 1 {
		t.Fatalf("after the parent: %+v, want the failure tied to q_late and user_late", im)
	}
	if q := findQueue(s, "q_late"); q == nil || q.Errors[Window1m] != 1 || q.Calls[Window1m] != 1 {
		t.Fatalf("queue q_late = %+v, want 1 call, 1 error", q)
	}
}

func TestFailureWithoutQueueOrUserIsCountedAsSuch(t *testing.T) {
	h := newHarness(t, Config{})
	at := t0.Add(time.Second)
	h.send(
		call(getSample, at, true, "sample_id", "smp_1").ev(), // no trace
		call(submitLabelCall, at, true, "queue_id", "q1", "user_id", "u1").ev(),
		call(submitLabelCall, at, false, "queue_id", "q1", "user_id", "u2").ev(),
	)
	im := h.sync().Impact
	if im.Errors[Window1m] != 2 || im.Calls[Window1m] != 3 {
		t.Fatalf("impact = %+v", im)
	}
	approx(t, "error rate", im.ErrorRate[Window1m], 2.0/3, 1e-9)
	if im.AffectedUsers[Window1m] != 1 || im.ErrorsNoUser[Window1m] != 1 {
		t.Errorf("users %d, no user %d: want 1 and 1 (the figure is a lower bound)", im.AffectedUsers[Window1m], im.ErrorsNoUser[Window1m])
	}
	if im.AffectedQueues[Window1m] != 1 || im.ErrorsNoQueue[Window1m] != 1 {
		t.Errorf("queues %d, no queue %d: want 1 and 1", im.AffectedQueues[Window1m], im.ErrorsNoQueue[Window1m])
	}
}

func TestAffectedUsersPerWindow(t *testing.T) {
	h := newHarness(t, Config{})
	// user a failed 4 minutes ago, b 10 minutes ago, c just now (twice).
	h.send(
		call(submitLabelCall, t0.Add(-10*time.Minute), true, "queue_id", "q1", "user_id", "b").ev(),
		call(submitLabelCall, t0.Add(-4*time.Minute), true, "queue_id", "q1", "user_id", "a").ev(),
		call(submitLabelCall, t0, true, "queue_id", "q1", "user_id", "c").ev(),
		call(submitLabelCall, t0, true, "queue_id", "q2", "user_id", "c").ev(),
	)
	s := h.sync()
	if got := s.Impact.AffectedUsers; got != [NumWindows]uint64{1, 2, 3} {
		t.Fatalf("affected users 1m/5m/15m = %v, want [1 2 3]", got)
	}
	if got := s.Impact.AffectedQueues; got != [NumWindows]int{2, 2, 2} {
		t.Errorf("affected queues = %v, want [2 2 2]", got)
	}
	h.clock.Advance(16 * time.Minute)
	if got := h.sync().Impact.AffectedUsers; got != [NumWindows]uint64{} {
		t.Fatalf("after 16 minutes: %v, want none", got)
	}
}

// Past MaxAffectedUsers distinct failing users the count goes on as an estimate, marked so,
// and memory stays bounded.
func TestAffectedUsersBeyondCapAreEstimated(t *testing.T) {
	h := newHarness(t, Config{MaxAffectedUsers: 100})
	var evs []wire.Event
	for i := range 1000 {
		evs = append(evs, call(submitLabelCall, t0, true, "queue_id", "q1", "user_id", fmt.Sprintf("u%d", i)).ev())
	}
	h.send(evs...)
	s := h.sync()
	if !s.Impact.UsersEstimated {
		t.Fatal("UsersEstimated = false past the cap")
	}
	approx(t, "estimated affected users", float64(s.Impact.AffectedUsers[Window1m]), 1000, 0.06)
	if n := len(h.eng.st.impact.users.last); n > 100 {
		t.Errorf("%d users tracked exactly, cap 100", n)
	}
}

func TestRecentPerSecondCounts(t *testing.T) {
	h := newHarness(t, Config{})
	at := t0.Add(-3 * time.Second)
	h.send(
		call(submitLabelCall, at, true, "queue_id", "q").m("duration_ms", 2500).ev(),
		call(submitLabelCall, at, false, "queue_id", "q").m("duration_ms", 300).ev(),
		call(submitLabelCall, t0, false, "queue_id", "q").ev(),
	)
	op := findOp(h.sync(), submitLabelCall)
	if op == nil || op.Recent == nil {
		t.Fatalf("op = %+v, want Recent", op)
	}
	r := op.Recent
	if !r.End().Equal(t0.Add(time.Second)) {
		t.Errorf("Recent ends %v, want the end of the current second %v", r.End(), t0.Add(time.Second))
	}
	i := RecentSeconds - 4
	if r.Calls[i] != 2 || r.Errors[i] != 1 || r.Calls[RecentSeconds-1] != 1 {
		t.Errorf("calls %v errors %v", r.Calls, r.Errors)
	}
	// duration_ms: the first measurement wins (20 ms), so use the ladder on a fresh op
	k := LadderIndex(2000)
	if k < 0 {
		t.Fatal("2 s is not on the ladder")
	}
	h.send(newEv(wire.EventLabelSubmit, t0).m("duration_ms", 2500).meta("queue_id", "q").ev(),
		newEv(wire.EventLabelSubmit, t0).m("duration_ms", 1500).meta("queue_id", "q").ev())
	sub := findOp(h.sync(), wire.EventLabelSubmit).Recent
	last := RecentSeconds - 1
	if sub.Calls[last] != 2 || sub.Over[k][last] != 1 || sub.Over[LadderIndex(1000)][last] != 2 || sub.Over[LadderIndex(5000)][last] != 0 {
		t.Errorf("ladder counts: calls %d over1s %d over2s %d over5s %d", sub.Calls[last], sub.Over[LadderIndex(1000)][last], sub.Over[k][last], sub.Over[LadderIndex(5000)][last])
	}
}
