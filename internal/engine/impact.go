package engine

import (
	"hash/maphash"
	"math"
	"time"
)

// How bad, and who: during an incident the on-call engineer asks how many calls fail, how
// many people that hurts and which queues. Client calls (ingot.forge_client.*,
// ingot.anvil_client.*) are tied to a queue and a user by their own metadata or, where it
// lacks them (a Forge call carries only sample_id), by the trace they belong to: the Ingot
// span of the same request names the queue and the user. A call that can be tied to neither
// is counted as such, so that every figure built from these is either exact or marked as a
// lower bound.

// SlowLadderMS are the latency thresholds whose per-second exceedance the engine counts for
// every operation: p95 > T over any set of seconds is exactly "more than 5 % of the samples
// took longer than T", so a rule on one of these thresholds can be evaluated (and its onset
// found) second by second without a sketch per second.
var SlowLadderMS = [...]float64{250, 500, 1000, 2000, 5000, 10000}

// RecentSeconds is how many seconds of per-second counts an OpStats carries in Recent.
const RecentSeconds = 30

// Columns of an operation's per-second ring.
const (
	rCalls = iota
	rErrors
	rOver0 // first of len(SlowLadderMS) exceedance columns
	rCols  = rOver0 + len(SlowLadderMS)
)

// Recent is an operation's per-second counts over the last RecentSeconds seconds, by
// arrival time, oldest first; the last second is the one in progress. A snapshot may reuse
// the Recent of an operation that had no events since: seconds after the last one held had
// no events.
type Recent struct {
	// Start is the beginning of the oldest second.
	Start  time.Time
	Calls  [RecentSeconds]uint32
	Errors [RecentSeconds]uint32
	// Over[k][i] counts the samples of second i that took longer than SlowLadderMS[k].
	Over [len(SlowLadderMS)][RecentSeconds]uint32
}

// End is the end of the newest second the counts cover.
func (r *Recent) End() time.Time { return r.Start.Add(RecentSeconds * secondWidth) }

// LadderIndex returns the index of threshold ms in SlowLadderMS, or -1.
func LadderIndex(ms float64) int {
	for k, v := range SlowLadderMS {
		if v == ms {
			return k
		}
	}
	return -1
}

// Impact is who the failing client calls hit, per window.
type Impact struct {
	// Known is false where the figures could not be computed (a snapshot merged from
	// daemons' aggregates carries none): a viewer then shows them as unknown, not as zero.
	Known bool
	// Calls and Errors are client calls and failed ones, ErrorRate their ratio (0..1).
	Calls     [NumWindows]uint64
	Errors    [NumWindows]uint64
	ErrorRate [NumWindows]float64
	// AffectedUsers is the number of distinct users (user_id or labeler_id) with at least
	// one failed client call in the window. UsersEstimated says it is partly a HyperLogLog
	// estimate (more distinct failing users than Config.MaxAffectedUsers, about 2 % error).
	AffectedUsers  [NumWindows]uint64
	UsersEstimated bool
	// ErrorsNoUser counts failed calls that named no user, not even through their trace:
	// when it is above zero, AffectedUsers is a lower bound.
	ErrorsNoUser [NumWindows]uint64
	// AffectedQueues is the number of queues with at least one failed client call in the
	// window; QueuesLowerBound is set when folded queues (OtherID) had failures, which may
	// be several queues counted as one.
	AffectedQueues   [NumWindows]int
	QueuesLowerBound [NumWindows]bool
	// ErrorsNoQueue counts failed calls tied to no queue: AffectedQueues may then be low.
	ErrorsNoQueue [NumWindows]uint64
}

// Columns of the impact ring.
const (
	iCalls = iota
	iErrors
	iErrorsWithQueue
	iErrorsWithUser
	iCols
)

// impactState counts client calls for Impact.
type impactState struct {
	counts countRing // fineWidth × fineSlots × iCols
	users  failingUsers
}

func newImpactState(maxUsers int) impactState {
	return impactState{counts: newCountRing(fineSlots, iCols), users: newFailingUsers(maxUsers)}
}

// failingUsers remembers, per user (by hash), when their newest failure was: a user failed
// within a window exactly when that time is inside it. Past max users the rest go to a
// HyperLogLog per minute, and the counts become estimates.
type failingUsers struct {
	max  int
	last map[uint64]int64 // user hash → unix nanos of the newest failure
	// overflow holds, per coarse slice, the users that did not fit; nil until needed.
	overflow    []distinctCounter
	overflowIdx []int64
}

func newFailingUsers(max int) failingUsers {
	return failingUsers{max: max, last: make(map[uint64]int64)}
}

func (u *failingUsers) fail(h uint64, at time.Time, coarse int64) {
	ns := at.UnixNano()
	if prev, ok := u.last[h]; ok {
		if ns > prev {
			u.last[h] = ns
		}
		return
	}
	if len(u.last) < u.max {
		u.last[h] = ns
		return
	}
	if u.overflow == nil {
		u.overflow = make([]distinctCounter, coarseSlots)
		u.overflowIdx = make([]int64, coarseSlots)
		for i := range u.overflow {
			u.overflow[i] = newDistinctCounter()
			u.overflowIdx[i] = -1
		}
	}
	slot := int(coarse % coarseSlots)
	if u.overflowIdx[slot] != coarse {
		if u.overflowIdx[slot] > coarse {
			return // older than the ring
		}
		clear(u.overflow[slot].regs)
		u.overflow[slot].touched = false
		u.overflowIdx[slot] = coarse
	}
	u.overflow[slot].addHash(h)
}

// counts expires users whose newest failure left the longest window and returns the
// distinct failing users per window, and whether any figure is an estimate.
func (u *failingUsers) counts(now time.Time, coarse int64) ([NumWindows]uint64, bool) {
	var out [NumWindows]uint64
	var from [NumWindows]int64
	for w := Window(0); w < NumWindows; w++ {
		from[w] = now.Add(-WindowDurations[w]).UnixNano()
	}
	for h, ns := range u.last {
		if ns < from[Window15m] {
			delete(u.last, h)
			continue
		}
		for w := Window(0); w < NumWindows; w++ {
			if ns >= from[w] {
				out[w]++
			}
		}
	}
	if u.overflow == nil {
		return out, false
	}
	estimated := false
	for w := Window(0); w < NumWindows; w++ {
		var merged *distinctCounter
		k := coarseKs[w]
		if w == Window1m {
			k = 1
		}
		for age := 0; age < k; age++ {
			idx := coarse - int64(age)
			slot := int(idx % coarseSlots)
			if u.overflowIdx[slot] != idx || !u.overflow[slot].touched {
				continue
			}
			if merged == nil {
				m := newDistinctCounter()
				merged = &m
			}
			for i, r := range u.overflow[slot].regs {
				merged.regs[i] = max(merged.regs[i], r)
			}
			merged.touched = true
		}
		if merged != nil {
			out[w] += merged.estimate()
			estimated = true
		}
	}
	return out, estimated
}

// traceLink is what a trace tells about the request it belongs to: its queue and user, once
// any of its spans named them, and the client calls seen before that.
type traceLink struct {
	// q and hasUser first: event() reads them for every traced event (see traceRec).
	q        *queueState // nil until a span names the queue
	hasUser  bool
	pendCall uint16 // client calls of the trace seen before its queue was known
	pendErr  uint16 // of which failed
	pendUErr uint16 // failed calls seen before the user was known
	lab      *labelerState
	user     uint64 // hash of the user id
	pendAt   int64  // unix nanos of the newest of those failures
	qid      string // q.id when linked: q may be reused for another queue later
	labID    string
}

func (l *traceLink) reset() { *l = traceLink{} }

// queue returns the linked queue's state: its own, or the OtherID fold when the queue was
// evicted since (its data went there too).
func (l *traceLink) queue(t *queueTable) *queueState {
	if l.q == nil {
		return nil
	}
	if l.q.id != l.qid {
		return t.other
	}
	return l.q
}

func (l *traceLink) labeler() *labelerState {
	if l.lab == nil || l.lab.id != l.labID {
		return nil
	}
	return l.lab
}

// callRef is the queue and user a client call is tied to (nil/false when unknown).
type callRef struct {
	q       *queueState
	lab     *labelerState
	user    uint64
	hasUser bool
	// viaTrace says the queue came from the trace, not the call's own metadata.
	viaTrace bool
}

// link ties an event to its queue and user: from its own metadata (qid, who) and from its
// trace, and teaches the trace what the event names, attributing the trace's earlier calls
// that waited for it.
func (s *state) link(rec *traceRec, qid, who string) callRef {
	var ref callRef
	if qid != "" {
		ref.q = s.queues.lookup(qid, s.at.t, s.weight)
	}
	if who != "" {
		ref.hasUser = true
		if ref.q != nil {
			ref.lab = s.queues.labeler(ref.q, who, s.at.t)
		}
		if ref.lab != nil && ref.lab.id == who { // not the fold: the hash is kept with the id
			ref.user = ref.lab.userHash
		} else {
			ref.user = maphash.String(s.seed, who)
		}
	}
	if rec == nil {
		return ref
	}
	l := &rec.link
	if ref.q != nil && l.q == nil {
		l.q, l.qid = ref.q, ref.q.id
		if ref.lab != nil {
			l.lab, l.labID = ref.lab, ref.lab.id
		}
		if l.pendCall > 0 {
			s.countQueueCalls(ref.q, nil, uint32(l.pendCall), uint32(l.pendErr))
			s.impact.counts.add(s.at.fine, iErrorsWithQueue, uint32(l.pendErr))
			l.pendCall, l.pendErr = 0, 0
		}
	}
	if ref.hasUser && !l.hasUser {
		l.user, l.hasUser = ref.user, true
		if l.pendUErr > 0 {
			s.impact.users.fail(ref.user, time.Unix(0, l.pendAt), s.coarse)
			s.impact.counts.add(s.at.fine, iErrorsWithUser, uint32(l.pendUErr))
			l.pendUErr, l.pendAt = 0, 0
		}
	}
	if ref.q == nil {
		if q := l.queue(s.queues); q != nil {
			ref.q, ref.viaTrace = q, true
			ref.lab = l.labeler()
		}
	}
	if !ref.hasUser && l.hasUser {
		ref.user, ref.hasUser = l.user, true
	}
	return ref
}

// countCall counts one client call against its queue, labeler and the impact figures.
func (s *state) countCall(rec *traceRec, ref callRef, isErr bool) {
	var errs uint32
	if isErr {
		errs = 1
	}
	s.impact.counts.add(s.at.fine, iCalls, 1)
	if ref.q != nil {
		s.countQueueCalls(ref.q, ref.lab, 1, errs)
	} else if rec != nil && rec.link.pendCall < math.MaxUint16 {
		rec.link.pendCall++
		rec.link.pendErr += uint16(errs)
	}
	if !isErr {
		return
	}
	s.impact.counts.add(s.at.fine, iErrors, 1)
	if ref.q != nil {
		s.impact.counts.add(s.at.fine, iErrorsWithQueue, 1)
	}
	if ref.hasUser {
		s.impact.users.fail(ref.user, s.at.t, s.at.coarse)
		s.impact.counts.add(s.at.fine, iErrorsWithUser, 1)
	} else if rec != nil && rec.link.pendUErr < math.MaxUint16 {
		rec.link.pendUErr++
		rec.link.pendAt = s.at.t.UnixNano()
	}
}

func (s *state) countQueueCalls(q *queueState, lab *labelerState, calls, errs uint32) {
	q.counts.add(s.at.fine, qCalls, calls)
	if errs > 0 {
		q.counts.add(s.at.fine, qErrors, errs)
	}
	if s.at.t.After(q.lastEvent) {
		q.lastEvent = s.at.t
	}
	q.version++
	if lab == nil {
		return
	}
	lab.fine.add(s.at.fine, lCalls, calls) // and lab.coarse, when the slice leaves
	if errs > 0 {
		lab.fine.add(s.at.fine, lErrors, errs)
	}
	if s.at.t.After(lab.lastSeen) {
		lab.lastSeen = s.at.t
	}
	lab.version++
	q.labVersion++
}

// countOpSecond adds one timed event of op to its per-second ring.
func (s *state) countOpSecond(op *opState, dur float64, isErr bool) {
	op.sec.add(s.at.sec, rCalls, 1)
	if isErr {
		op.sec.add(s.at.sec, rErrors, 1)
	}
	for k, v := range SlowLadderMS {
		if dur <= v {
			break
		}
		op.sec.add(s.at.sec, rOver0+k, 1)
	}
}

// recent builds an operation's Recent from its per-second ring.
func (s *state) recent(op *opState) *Recent {
	first := s.sec - (RecentSeconds - 1)
	r := &Recent{Start: time.Unix(0, first*int64(secondWidth)).In(s.now.Location())}
	for i := 0; i < RecentSeconds; i++ {
		idx := first + int64(i)
		r.Calls[i] = op.sec.get(idx, rCalls)
		r.Errors[i] = op.sec.get(idx, rErrors)
		for k := range SlowLadderMS {
			r.Over[k][i] = op.sec.get(idx, rOver0+k)
		}
	}
	return r
}

// buildImpact fills snap.Impact; it runs after the queue rows are final (held windows too).
func (s *state) buildImpact(snap *Snapshot) {
	im := &snap.Impact
	im.Known = true
	sums := s.impact.counts.windowSums(s.fine, fineKs, iCalls)
	errs := s.impact.counts.windowSums(s.fine, fineKs, iErrors)
	withQ := s.impact.counts.windowSums(s.fine, fineKs, iErrorsWithQueue)
	withU := s.impact.counts.windowSums(s.fine, fineKs, iErrorsWithUser)
	users, est := s.impact.users.counts(s.now, s.coarse)
	im.UsersEstimated = est
	for w := Window(0); w < NumWindows; w++ {
		im.Calls[w], im.Errors[w] = sums[w], errs[w]
		if sums[w] > 0 {
			im.ErrorRate[w] = float64(errs[w]) / float64(sums[w])
		}
		im.AffectedUsers[w] = users[w]
		// Calls tied to a queue or user later (through their trace) are counted then, so
		// near a window's edge the tied count can exceed the total: clamp, never negative.
		if errs[w] > withU[w] {
			im.ErrorsNoUser[w] = errs[w] - withU[w]
		}
		if errs[w] > withQ[w] {
			im.ErrorsNoQueue[w] = errs[w] - withQ[w]
		}
	}
	for i := range snap.Queues {
		q := &snap.Queues[i]
		for w := Window(0); w < NumWindows; w++ {
			if q.Errors[w] == 0 {
				continue
			}
			im.AffectedQueues[w]++
			if q.ID == OtherID && q.Folded > 1 {
				im.QueuesLowerBound[w] = true
			}
		}
	}
}
