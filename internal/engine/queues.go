package engine

import (
	"hash/maphash"
	"math"
	"strings"
	"time"
)

// Columns of a queue's 10 s count ring.
const (
	qLabels = iota
	qAbandoned
	qKeyboard
	qMouse
	qAPI
	qOtherMethod
	qCalls  // client calls tied to the queue (impact.go)
	qErrors // of which failed
	qCols
)

// Columns of a labeler's count rings.
const (
	lLabels = iota
	lCalls
	lErrors
	lCols
)

// queueState is everything kept for one tracked queue (or the OtherID fold).
type queueState struct {
	// The fields an event touches come first, so they share a few cache lines; the stats
	// and snapshot caches, read once per refresh, come last.
	id         string
	idHash     uint64  // maphash of id, set by queueTable with it
	pos        int     // index in queueTable.list; -1 for the fold
	score      float64 // forward-decayed activity, see activity
	lastEvent  time.Time
	version    uint64 // bumped on every event, for the snapshot cache
	labVersion uint64 // bumped when any labeler of the queue changes
	tpsVersion uint64 // bumped when a time-per-sample value arrives
	labelers   map[string]*labelerState
	latStale   [fineSketchSlots]bool // fine slot changed since its p50 was stored

	counts    countRing  // fineWidth × fineSlots × qCols
	perSecond countRing  // secondWidth × secondSlots, labels
	tpsFine   sketchRing // fineWidth × fineSketchSlots: time per sample for the 1m window
	tpsCoarse sketchRing // coarseWidth × coarseSlots: time per sample for 5m and 15m
	// p50 of time per sample per 10 s slice, kept after the fine sketch is reused.
	latTags  []int64
	latP50   []float32
	labOther *labelerState
	// labIdleBound is at most the oldest lastSeen among tracked labelers, so a full table
	// can refuse a newcomer without scanning while no tracked labeler can be idle enough.
	labIdleBound time.Time
	labRows      []LabelerStats
	labRowsKey   [3]int64
	labRowsAt    time.Time

	hasStats              bool
	pending, inProgress   float64
	completed, statsLabel float64
	hasStatsLabelers      bool
	statsAt               time.Time

	// 1m time-per-sample quantiles and what they were computed from.
	fineQ    Quantiles
	fineQIdx int64
	fineQVer uint64
	fineQAt  time.Time

	// 5m/15m time-per-sample quantiles and what they were computed from.
	coarseQ   [2]Quantiles
	coarseIdx int64
	coarseVer uint64
	coarseAt  time.Time

	// Snapshot cache: the row built last time and what it was built from.
	builtVersion uint64
	builtSecond  int64
	builtFine    int64
	built        *QueueStats
}

// labelerState is one labeler within a queue.
type labelerState struct {
	// The fields an event touches come first, so they share a few cache lines; the
	// snapshot cache (built, tpsQ), read once per refresh, comes last.
	id       string
	userHash uint64 // maphash of id, set by queueTable with it: the user's hash for impact.go
	// owner is the queue whose labelers map holds this state, nil once that queue forgot it:
	// queueTable's labeler cache checks it, so a stale entry is never taken for a live one.
	owner    *queueState
	version  uint64 // bumped on every event, for the snapshot cache
	lastSeen time.Time
	fine     countRing // fineWidth × fineSketchSlots: labels for 1m
	tps      sketchRing
	coarse   countRing // coarseWidth × coarseSlots: labels for 5m and 15m
	built    LabelerStats
	builtVer uint64
	builtAt  [2]int64 // fine and coarse slice the cached row was built in
	tpsQ     Quantiles
	tpsVer   uint64
	tpsIdx   int64
}

func newQueueState(id string, pos int) *queueState {
	q := &queueState{
		id:        id,
		pos:       pos,
		counts:    newCountRing(fineSlots, qCols),
		perSecond: newCountRing(secondSlots, 1),
		tpsFine:   newSketchRing(fineSketchSlots),
		tpsCoarse: newSketchRing(coarseSlots),
		latTags:   make([]int64, fineSlots),
		latP50:    make([]float32, fineSlots),
		labelers:  make(map[string]*labelerState),
	}
	for i := range q.latTags {
		q.latTags[i] = -1
	}
	pairSketchRings(&q.tpsFine, &q.tpsCoarse)
	return q
}

// resetFor empties q so it can stand for a different queue without reallocating.
func (q *queueState) resetFor(id string) {
	q.id = id
	q.counts.reset()
	q.perSecond.reset()
	q.tpsFine.reset()
	q.tpsCoarse.reset()
	for i := range q.latTags {
		q.latTags[i] = -1
	}
	q.latStale = [fineSketchSlots]bool{}
	for _, l := range q.labelers {
		l.owner = nil
	}
	clear(q.labelers)
	q.labOther = nil
	q.labIdleBound = time.Time{}
	q.labVersion++
	q.labRows = nil
	q.lastEvent = time.Time{}
	q.hasStats, q.hasStatsLabelers = false, false
	q.pending, q.inProgress, q.completed, q.statsLabel = 0, 0, 0, 0
	q.statsAt = time.Time{}
	q.version++
	q.tpsVersion++
	q.built = nil
}

func newLabelerState(id string) *labelerState {
	l := &labelerState{
		id:     id,
		fine:   newCountRing(fineSketchSlots, lCols),
		coarse: newCountRing(coarseSlots, lCols),
		tps:    newSketchRing(labelerSlots),
	}
	pairCountRings(&l.fine, &l.coarse)
	return l
}

func (l *labelerState) resetFor(id string) {
	l.id = id
	l.fine.reset()
	l.coarse.reset()
	l.tps.reset()
	l.lastSeen = time.Time{}
	l.version++
	l.built = LabelerStats{}
	l.tpsVer = 0
}

func (l *labelerState) mergeInto(dst *labelerState, kit sketchKit) {
	l.fine.mergeInto(&dst.fine)
	l.coarse.mergeInto(&dst.coarse)
	l.tps.mergeInto(&dst.tps, kit)
	if l.lastSeen.After(dst.lastSeen) {
		dst.lastSeen = l.lastSeen
	}
	dst.version++
}

// activityTau is the decay time constant of queue activity scores: a queue's score halves
// after about 3.5 minutes without events.
const activityTau = 5 * time.Minute

// admitFactor is how much a candidate's recent activity must beat the least active tracked
// queue's before it displaces it. The margin stops a flood of one-off ids from churning the
// table (every eviction merges a queue into OtherID).
const admitFactor = 2

// queueTable tracks at most MaxQueues queues. Activity is a forward-decayed count (each event
// weighs e^((t-landmark)/tau)), so comparing two scores compares their decayed activity at
// any instant without touching either. Untracked ids are remembered in a small candidate
// table; a candidate whose activity beats the least active of a few sampled tracked queues
// by admitFactor takes that queue's place, and the evicted queue's stats merge into OtherID.
type queueTable struct {
	max      int
	byID     map[string]*queueState
	list     []*queueState
	other    *queueState
	cands    candidateTable
	folded   distinctCounter
	landmark time.Time
	rng      uint64
	seed     maphash.Seed
	kit      sketchKit

	maxLabelers     int
	labelersFolded  distinctCounter
	labelerEvicts   uint64
	queueEvictions  uint64
	candidatesSeen  uint64
	foldedEventsCnt uint64

	// recent and recentLab are direct-mapped caches in front of byID and the queues'
	// labelers maps, by idSlot: most events name a queue and a labeler, and a map lookup by
	// a string hashed all the way through cost more than the rest of the event's queue
	// figures. An entry is used only after its id (and the labeler's owner) is compared, so a
	// collision, chosen or not, costs the map lookup it would have cost anyway.
	recent    [queueCacheSlots]*queueState
	recentLab [labelerCacheSlots]*labelerState
}

const (
	queueCacheBits    = 10
	queueCacheSlots   = 1 << queueCacheBits
	labelerCacheBits  = 11
	labelerCacheSlots = 1 << labelerCacheBits
)

// idSlot hashes an id cheaply, from its length and last eight bytes (ids of one kind share
// their prefix: queue_29, user_253), for the caches above; the top bits are the slot.
func idSlot(id string) uint64 {
	n := len(id)
	var x uint64
	if n >= 8 {
		s := id[n-8:]
		x = uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
			uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
	} else {
		for i := 0; i < n; i++ {
			x = x<<8 | uint64(id[i])
		}
	}
	return (x ^ uint64(n)<<59) * 0x9e3779b97f4a7c15
}

func queueCacheSlot(id string) int { return int(idSlot(id) >> (64 - queueCacheBits)) }

func labelerCacheSlot(q *queueState, id string) int {
	return int((idSlot(id) ^ uint64(q.pos+1)*0xc2b2ae3d27d4eb4f) >> (64 - labelerCacheBits))
}

func newQueueTable(max, maxLabelers int, start time.Time, seed maphash.Seed, kit sketchKit) *queueTable {
	c := max / 4
	if c < 16 {
		c = 16
	}
	t := &queueTable{
		max:            max,
		byID:           make(map[string]*queueState, max),
		other:          newQueueState(OtherID, -1),
		cands:          newCandidateTable(c),
		folded:         newDistinctCounter(),
		landmark:       start,
		rng:            0x9e3779b97f4a7c15,
		seed:           seed,
		kit:            kit,
		maxLabelers:    maxLabelers,
		labelersFolded: newDistinctCounter(),
	}
	t.other.idHash = maphash.String(seed, OtherID)
	return t
}

func (t *queueTable) weight(now time.Time) float64 {
	x := float64(now.Sub(t.landmark)) / float64(activityTau)
	if x > 40 { // keep weights far from overflow: rescale every score to a new landmark
		f := math.Exp(-x)
		for _, q := range t.list {
			q.score *= f
		}
		t.other.score *= f
		t.cands.scale(f)
		t.landmark = now
		x = 0
	}
	return math.Exp(x)
}

func (t *queueTable) nextRand() uint64 {
	t.rng ^= t.rng << 13
	t.rng ^= t.rng >> 7
	t.rng ^= t.rng << 17
	return t.rng
}

// lookup returns the state that id's events go to: its own when tracked (or admitted now),
// else the OtherID fold.
func (t *queueTable) lookup(id string, now time.Time, w float64) *queueState {
	slot := queueCacheSlot(id)
	// A tracked queue (pos >= 0) named id is byID[id]: a queue leaves byID only to be
	// reset for another id. The fold (pos -1) is never cached.
	if q := t.recent[slot]; q != nil && q.pos >= 0 && q.id == id {
		q.score += w
		return q
	}
	if q, ok := t.byID[id]; ok {
		q.score += w
		t.recent[slot] = q
		return q
	}
	if len(t.list) < t.max {
		q := newQueueState(strings.Clone(id), len(t.list))
		q.idHash = maphash.String(t.seed, q.id)
		q.score = w
		t.list = append(t.list, q)
		t.byID[q.id] = q
		t.recent[slot] = q
		return q
	}
	score := t.cands.touch(id, w, t)
	victim := t.sampleVictim()
	if score > admitFactor*victim.score {
		t.cands.remove(id)
		t.evict(victim)
		victim.resetFor(strings.Clone(id))
		victim.idHash = maphash.String(t.seed, victim.id)
		victim.score = score
		t.byID[victim.id] = victim
		t.recent[slot] = victim
		return victim
	}
	t.folded.addHash(maphash.String(t.seed, id))
	t.foldedEventsCnt++
	t.other.score += w
	return t.other
}

// sampleVictim returns the least active of a few randomly sampled tracked queues — the
// approximate-LRU trick: cheap, and good enough to find a stale queue among many.
func (t *queueTable) sampleVictim() *queueState {
	var best *queueState
	for i := 0; i < 8; i++ {
		q := t.list[t.nextRand()%uint64(len(t.list))]
		if best == nil || q.score < best.score {
			best = q
		}
	}
	return best
}

// evict merges q's stats into the fold and forgets its id.
func (t *queueTable) evict(q *queueState) {
	delete(t.byID, q.id)
	t.folded.addHash(maphash.String(t.seed, q.id))
	t.queueEvictions++
	o := t.other
	q.counts.mergeInto(&o.counts)
	q.perSecond.mergeInto(&o.perSecond)
	q.tpsFine.mergeInto(&o.tpsFine, t.kit)
	q.tpsCoarse.mergeInto(&o.tpsCoarse, t.kit)
	for _, l := range q.labelers {
		dst := t.labeler(o, l.id, l.lastSeen)
		l.mergeInto(dst, t.kit)
	}
	if q.labOther != nil {
		q.labOther.mergeInto(t.labelerOther(o), t.kit)
	}
	if q.lastEvent.After(o.lastEvent) {
		o.lastEvent = q.lastEvent
	}
	o.version++
}

func (t *queueTable) labelerOther(q *queueState) *labelerState {
	if q.labOther == nil {
		q.labOther = newLabelerState(OtherID)
		q.labOther.userHash = maphash.String(t.seed, OtherID)
	}
	return q.labOther
}

// labeler returns the state for labeler id in q. When q already tracks maxLabelers, the
// longest idle one is reused if it has been idle past the longest window (so it holds no
// windowed data); otherwise the labeler folds into q's OtherID labeler.
func (t *queueTable) labeler(q *queueState, id string, now time.Time) *labelerState {
	slot := labelerCacheSlot(q, id)
	if l := t.recentLab[slot]; l != nil && l.owner == q && l.id == id {
		return l
	}
	if l, ok := q.labelers[id]; ok {
		t.recentLab[slot] = l
		return l
	}
	if len(q.labelers) < t.maxLabelers {
		l := newLabelerState(strings.Clone(id))
		l.userHash, l.owner = maphash.String(t.seed, l.id), q
		q.labelers[l.id] = l
		t.recentLab[slot] = l
		return l
	}
	idleAfter := WindowDurations[Window15m] + coarseWidth
	if now.Sub(q.labIdleBound) <= idleAfter {
		t.labelersFolded.addHash(q.idHash ^ mix64(maphash.String(t.seed, id)))
		return t.labelerOther(q)
	}
	var oldest *labelerState
	for _, l := range q.labelers {
		if oldest == nil || l.lastSeen.Before(oldest.lastSeen) {
			oldest = l
		}
	}
	q.labIdleBound = oldest.lastSeen
	if now.Sub(oldest.lastSeen) > idleAfter {
		q.labIdleBound = time.Time{} // the newcomer's lastSeen is unknown yet: rescan next time
		delete(q.labelers, oldest.id)
		t.labelerEvicts++
		oldest.resetFor(strings.Clone(id))
		oldest.userHash = maphash.String(t.seed, oldest.id)
		q.labelers[oldest.id] = oldest
		t.recentLab[slot] = oldest
		return oldest
	}
	t.labelersFolded.addHash(q.idHash ^ mix64(maphash.String(t.seed, id)))
	return t.labelerOther(q)
}

// candidateTable remembers recent activity of untracked queue ids in fixed space. When full,
// a newcomer replaces the least active of a few sampled candidates.
type candidateTable struct {
	ids    []string
	scores []float64
	index  map[string]int
}

func newCandidateTable(n int) candidateTable {
	return candidateTable{ids: make([]string, 0, n), scores: make([]float64, 0, n), index: make(map[string]int, n)}
}

func (c *candidateTable) touch(id string, w float64, t *queueTable) float64 {
	t.candidatesSeen++
	if i, ok := c.index[id]; ok {
		c.scores[i] += w
		return c.scores[i]
	}
	if len(c.ids) < cap(c.ids) {
		c.ids = append(c.ids, strings.Clone(id))
		c.scores = append(c.scores, w)
		c.index[c.ids[len(c.ids)-1]] = len(c.ids) - 1
		return w
	}
	victim := int(t.nextRand() % uint64(len(c.ids)))
	for k := 0; k < 4; k++ {
		j := int(t.nextRand() % uint64(len(c.ids)))
		if c.scores[j] < c.scores[victim] {
			victim = j
		}
	}
	delete(c.index, c.ids[victim])
	c.ids[victim] = strings.Clone(id)
	c.scores[victim] = w
	c.index[c.ids[victim]] = victim
	return w
}

func (c *candidateTable) remove(id string) {
	i, ok := c.index[id]
	if !ok {
		return
	}
	delete(c.index, id)
	last := len(c.ids) - 1
	if i != last {
		c.ids[i], c.scores[i] = c.ids[last], c.scores[last]
		c.index[c.ids[i]] = i
	}
	c.ids[last] = ""
	c.ids, c.scores = c.ids[:last], c.scores[:last]
}

func (c *candidateTable) scale(f float64) {
	for i := range c.scores {
		c.scores[i] *= f
	}
}
