package engine

import (
	"hash/maphash"
	"strings"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"

	"github.com/nsai/ingot-top/internal/ingest"
	"github.com/nsai/ingot-top/internal/wire"
)

// state is all aggregation state; only Run's goroutine touches it.
type state struct {
	cfg     Config
	started time.Time
	now     time.Time // monotonic engine time: never moves backwards

	sec, fine, coarse, labSlice int64    // current slice indexes
	nowPos, at                  slicePos // now, and where the event being aggregated goes
	weight                      float64  // activity weight of an event now, see queueTable
	// recentPos is the slice indexes of the second the last earlier-than-now arrival fell in
	// (recentFrom is that second's start, unix nanos; -1 before the first): see posOf.
	recentPos  sliceIdx
	recentFrom int64

	kit  sketchKit
	acc  *ddsketch.DDSketch
	seed maphash.Seed

	totals     Totals
	eventsSec  countRing // secondWidth × secondSlots
	lag        sketchRing
	lagVersion uint64

	queues *queueTable
	dedupe dedupeSet

	ops     map[string]*opState
	opsGen  uint64 // bumped when an operation leaves ops, so cached pointers expire
	opOther *opState
	names   [nameSlots]nameInfo // by nameSlot: what event() derives from a name
	// clientLatency caches ops[ClientLatencyOp] as names does the others', for every submit.
	clientLatency nameInfo
	opsFolded     distinctCounter
	services      [2]*serviceState // anvil, forge
	unknown       map[string]uint64
	unknownRest   uint64
	unkFolded     distinctCounter

	invalid      map[wire.Reason]uint64
	badSamples   []BadSample // ring
	badHead      int
	errors       errorLog
	errGroups    errorGroups
	activity     []*activityState // activity.go, by index in activities
	traces       traceIndex
	impact       impactState
	lineageDirty bool

	force       bool                  // this build recomputes everything (Sync), no throttled parts
	windowAt    [NumWindows]time.Time // when each window's figures were last recomputed (hold.go)
	hold        [NumWindows]bool      // windows this build takes from the previous snapshot
	prev        *Snapshot             // last built, for reusing unchanged parts
	prevErrors  uint64                // errors.version when prev was built
	prevLag     uint64                // lagVersion when prev was built
	prevLagFine int64
	prevLagAll  bool // prev's lag was computed for every window, none held
}

// opState is one operation row.
type opState struct {
	name, service string
	// latFine and latCoarse hold the latency sketches: 10 s slices for the 1m window, 1 min
	// slices for 5m and 15m, as a queue's time per sample. A sketch of latencies spread over
	// decades is ~4 KB, so 90 slices of 10 s for 15 minutes held 5-6 MB for 17 operations;
	// 6 + 15 slices hold a quarter of that, and a 5m window is then 4-5 minutes, not 4m50s-5m.
	latFine   sketchRing // fineWidth × fineSketchSlots
	latCoarse sketchRing // coarseWidth × coarseSlots
	errs      countRing  // fineWidth × fineSlots
	sec       countRing  // secondWidth × secondSlots × rCols: calls, errors, slow
	lastEvent time.Time

	version, builtVersion uint64
	builtFine             int64
	built                 OpStats
	builtAll              bool // built has every window (not only the 1m one)
}

// serviceState counts client calls to one service.
type serviceState struct {
	name  string
	calls countRing // fineWidth × fineSlots, cols: calls, errors
}

func newState(cfg Config, now time.Time) *state {
	kit := newSketchKit()
	seed := maphash.MakeSeed()
	s := &state{
		cfg:       cfg,
		started:   now,
		now:       now,
		kit:       kit,
		acc:       kit.accumulator(),
		seed:      seed,
		eventsSec: newCountRing(secondSlots, 1),
		lag:       newSketchRing(fineSlots),
		queues:    newQueueTable(cfg.MaxQueues, cfg.MaxLabelersPerQueue, now, seed, kit),
		dedupe:    newDedupeSet(cfg.DedupeAssignments),
		ops:       make(map[string]*opState),
		opsFolded: newDistinctCounter(),
		unknown:   make(map[string]uint64),
		unkFolded: newDistinctCounter(),
		invalid:   make(map[wire.Reason]uint64),
		errors:    newErrorLog(cfg.ErrorLogSize),
		errGroups: newErrorGroups(cfg.MaxErrorGroups, seed),
		traces:    newTraceIndex(cfg.MaxTraces, cfg.MaxSpansPerTrace, min(cfg.ErrorLogSize, failedTracesKept), seed),
		impact:    newImpactState(cfg.MaxAffectedUsers),
	}
	s.services[0] = &serviceState{name: "anvil", calls: newCountRing(fineSlots, 2)}
	s.services[1] = &serviceState{name: "forge", calls: newCountRing(fineSlots, 2)}
	s.clientLatency = nameInfo{name: ClientLatencyOp}
	s.recentFrom = -1
	s.setSlices()
	s.weight = 1
	return s
}

func (s *state) setSlices() {
	s.sec = sliceIndex(s.now, secondWidth)
	s.fine = sliceIndex(s.now, fineWidth)
	s.coarse = sliceIndex(s.now, coarseWidth)
	s.labSlice = sliceIndex(s.now, labelerWidth)
	s.nowPos = slicePos{t: s.now, sliceIdx: sliceIdx{sec: s.sec, fine: s.fine, coarse: s.coarse, lab: s.labSlice}}
}

// slicePos is an instant and its slice indexes.
type slicePos struct {
	sliceIdx
	t time.Time
}

// sliceIdx is an instant's slice indexes, apart from the instant: with no pointer in it,
// posOf hands it back in registers.
type sliceIdx struct {
	sec, fine, coarse, lab int64
}

func posAt(t time.Time) slicePos {
	return slicePos{t: t, sliceIdx: sliceIdx{sec: sliceIndex(t, secondWidth), fine: sliceIndex(t, fineWidth), coarse: sliceIndex(t, coarseWidth), lab: sliceIndex(t, labelerWidth)}}
}

// posOf is posAt for an event's arrival. Run aggregates a batch after the clock has moved
// past every arrival in it, so nearly every event lands here, and the events of a batch
// arrived within milliseconds of each other: they reuse the indexes of the second the
// previous one fell in (every slice width is a whole number of seconds, aligned on the
// epoch), instead of four 64-bit divisions each.
func (s *state) posOf(t time.Time) slicePos {
	return slicePos{sliceIdx: s.indexesOf(t), t: t}
}

// indexesOf is posOf without the instant, which event() stores apart: copying a returned
// slicePos into state.at cost more than finding its indexes.
func (s *state) indexesOf(t time.Time) sliceIdx {
	ns := t.UnixNano()
	if s.recentFrom >= 0 && ns >= s.recentFrom && ns-s.recentFrom < int64(secondWidth) {
		return s.recentPos
	}
	p := posAt(t).sliceIdx
	if ns >= 0 { // truncating division: before the epoch a slice does not start at index × width
		s.recentPos, s.recentFrom = p, p.sec*int64(secondWidth)
	}
	return p
}

// advance moves engine time forward (never back: a clock stepping backwards must not put
// new data into slices that windows consider old).
func (s *state) advance(now time.Time) {
	if now.After(s.now) {
		s.now = now
		s.setSlices()
	}
	s.weight = s.queues.weight(s.now)
	s.traces.expire(s.now.Add(-s.cfg.TraceHorizon), &s.lineageDirty)
}

// evFields are the metadata and measurements aggregation reads, found in one pass over the
// event rather than one scan per lookup (about ten per event).
type evFields struct {
	queueID, userID, labelerID, assignmentID string
	result, reason, method                   string
	duration                                 float64
	hasDuration                              bool
}

// read fills f from ev. Like Event.Meta and Event.Measure, the first of duplicated keys wins:
// walking backwards lets it be written last.
func (f *evFields) read(ev *wire.Event) {
	for i := len(ev.Metadata) - 1; i >= 0; i-- {
		kv := &ev.Metadata[i]
		switch kv.Key {
		case "queue_id":
			f.queueID = kv.Value
		case "user_id":
			f.userID = kv.Value
		case "labeler_id":
			f.labelerID = kv.Value
		case "assignment_id":
			f.assignmentID = kv.Value
		case "result":
			f.result = kv.Value
		case "reason":
			f.reason = kv.Value
		case "method":
			f.method = kv.Value
		}
	}
	for i := len(ev.Measurements) - 1; i >= 0; i-- {
		if m := &ev.Measurements[i]; m.Key == "duration_ms" {
			f.duration, f.hasDuration = m.Value, true
		}
	}
}

// nameInfo is what aggregation derives from an event name, cached: a stream repeats a few
// dozen names, and the catalogue switches and the operations map cost a hash or a string
// switch per event each.
type nameInfo struct {
	name          string
	known, client bool
	forge         bool     // a client call to forge (else to anvil)
	op            *opState // ops[name], valid while opGen == state.opsGen; nil when not looked up
	opGen         uint64
}

// nameSlot picks a name's first slot in state.names from its length and its first and last
// eight bytes. A miss costs the catalogue lookups and an operations map lookup, and the
// names of one stream share their prefixes (ingot.anvil_client.) and often their suffixes:
// three bytes put 3 of the simulator's 16 names on a slot already taken.
func nameSlot(name string) int {
	n := len(name)
	if n < 8 {
		var x uint64
		for i := 0; i < n; i++ {
			x = x<<8 | uint64(name[i])
		}
		return int(mix64(x^uint64(n)<<56) & (nameSlots - 1))
	}
	word := func(s string) uint64 {
		return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
			uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
	}
	return int(mix64(word(name[:8])*0x9e3779b97f4a7c15^word(name[n-8:])^uint64(n)) & (nameSlots - 1))
}

const nameSlots = 64

// nameInfo looks a name up in its slot and the next (two names on one slot then both stay),
// and on a miss fills an empty one of the two, else the first.
func (s *state) nameInfo(name string) *nameInfo {
	i := nameSlot(name)
	ni := &s.names[i]
	if ni.name == name && name != "" {
		return ni
	}
	if alt := &s.names[(i+1)&(nameSlots-1)]; alt.name == name && name != "" {
		return alt
	} else if ni.name != "" && alt.name == "" {
		ni = alt
	}
	svc, _, client := wire.ClientOperation(name)
	*ni = nameInfo{name: name, known: wire.Known(name), client: client, forge: svc == "forge"}
	return ni
}

// opOf is op(ni.name) through the cache.
func (s *state) opOf(ni *nameInfo) *opState {
	if ni.op != nil && ni.opGen == s.opsGen {
		return ni.op
	}
	op := s.op(ni.name)
	if op != s.opOther { // the fold stands in only until an operation goes idle
		ni.op, ni.opGen = op, s.opsGen
	}
	return op
}

// metaKeys are the ids an error entry lifts out of metadata.
var idKeys = [...]string{"queue_id", "assignment_id", "sample_id", "user_id", "labeler_id", "pipeline_id", "artifact_id"}

func (s *state) event(ev *wire.Event) {
	// Data goes into the slices of its arrival, so a batch that waited in the input queue
	// still lands where it belongs; arrivals stamped after engine time are clamped to it.
	if r := ev.Received; !r.IsZero() && r.Before(s.now) {
		s.at.sliceIdx = s.indexesOf(r)
		s.at.t = r
	} else {
		s.at = s.nowPos
	}
	s.totals.Events++
	s.eventsSec.add(s.at.sec, 0, 1)
	name := ev.Name
	ni := s.nameInfo(name)
	known := ni.known
	if !known {
		s.countUnknown(name)
	}
	var f evFields
	f.read(ev)
	isErr := f.result == "error"
	if isErr {
		s.totals.Errors++
	}
	if ev.HasTime {
		lag := lagMS(ev.Received, ev.Time)
		s.lag.add(s.at.fine, lag, s.kit) // clamped to 0 when the emitter's clock runs ahead
		s.lagVersion++
	}
	var rec *traceRec
	if ev.Trace.TraceID != "" {
		rec = s.traces.add(ev, &f, isErr, s.at.t, &s.lineageDirty)
	}
	qid, who := f.queueID, f.userID
	if who == "" {
		who = f.labelerID
	}
	client := ni.client
	// An event is tied to a queue and user when it is a client call (for the error figures)
	// or when it names what its trace does not know yet (for the calls of that trace).
	var ref callRef
	if client || rec != nil && (qid != "" && rec.link.q == nil || who != "" && !rec.link.hasUser) {
		ref = s.link(rec, qid, who)
	}
	dur, hasDur := f.duration, f.hasDuration
	var durValue sketchValue
	if hasDur {
		durValue = s.kit.value(dur)
	}
	if hasDur && known {
		op := s.opOf(ni)
		op.latFine.addValue(s.at.fine, durValue, s.kit) // and latCoarse, when the slice leaves
		if isErr {
			op.errs.add(s.at.fine, 0, 1)
		}
		s.countOpSecond(op, dur, isErr)
		if s.at.t.After(op.lastEvent) {
			op.lastEvent = s.at.t
		}
		op.version++
	}
	if known {
		s.extraFigures(ev, name)
	}
	if client {
		ss := s.services[0]
		if ni.forge {
			ss = s.services[1]
		}
		ss.calls.add(s.at.fine, 0, 1)
		if isErr {
			ss.calls.add(s.at.fine, 1, 1)
		}
		s.countCall(rec, ref, isErr)
	}
	switch name {
	case wire.EventLabelSubmit, wire.EventLabelSubmitted, wire.EventAssignmentAbandoned, wire.EventQueueStatsUpdated:
		s.queueEvent(ev, &f, name, qid, who, ref, durValue, hasDur, isErr)
	}
	if isErr {
		s.logError(ev, &f, ref, dur, hasDur)
	}
}

// lagMS is received.Sub(emitted) in milliseconds, for every event. Sub proves its result
// did not overflow with an Add and an Equal, which cost more than the subtraction; for two
// instants within 2^32 s (136 years) of 1970 the difference in nanoseconds fits an int64 and
// is the same. (Sub takes monotonic readings when both times have one; an emitter's time is
// read off the wire and never has.)
func lagMS(received, emitted time.Time) float64 {
	rs, es := received.Unix(), emitted.Unix()
	const bound = 1 << 32
	if rs <= -bound || rs >= bound || es <= -bound || es >= bound {
		return float64(received.Sub(emitted)) / float64(time.Millisecond)
	}
	d := (rs-es)*int64(time.Second) + int64(received.Nanosecond()-emitted.Nanosecond())
	return float64(d) / float64(time.Millisecond)
}

func (s *state) queueEvent(ev *wire.Event, f *evFields, name, qid, who string, ref callRef, dur sketchValue, hasDur, isErr bool) {
	if qid == "" {
		return
	}
	q := ref.q
	if q == nil || ref.viaTrace {
		q = s.queues.lookup(qid, s.at.t, s.weight)
	}
	if s.at.t.After(q.lastEvent) {
		q.lastEvent = s.at.t
	}
	q.version++
	var lab *labelerState
	if who != "" {
		lab = ref.lab
		if lab == nil || ref.q != q {
			lab = s.queues.labeler(q, who, s.at.t)
		}
		if s.at.t.After(lab.lastSeen) {
			lab.lastSeen = s.at.t
		}
		lab.version++
		q.labVersion++
	}
	switch name {
	case wire.EventLabelSubmit, wire.EventLabelSubmitted:
		if name == wire.EventLabelSubmit {
			col := qOtherMethod
			switch f.method {
			case "keyboard":
				col = qKeyboard
			case "mouse":
				col = qMouse
			case "api":
				col = qAPI
			}
			q.counts.add(s.at.fine, col, 1)
			if hasDur {
				q.tpsFine.addValue(s.at.fine, dur, s.kit) // and tpsCoarse, when the slice leaves
				q.latStale[s.at.fine%fineSketchSlots] = true
				q.tpsVersion++
				if lab != nil {
					lab.tps.addValue(s.at.lab, dur, s.kit)
				}
			}
		}
		if isErr { // a rejected submission is not a label
			return
		}
		if asg := f.assignmentID; asg != "" {
			qh := q.idHash // a tracked queue's id is qid (see lookup); the fold's is not
			if q == s.queues.other {
				qh = maphash.String(s.seed, qid)
			}
			h := qh ^ mix64(maphash.String(s.seed, asg))
			if !s.dedupe.firstSeen(h) {
				return
			}
		}
		q.counts.add(s.at.fine, qLabels, 1)
		q.perSecond.add(s.at.sec, 0, 1)
		if lab != nil {
			lab.fine.add(s.at.fine, lLabels, 1) // and lab.coarse, when the slice leaves
		}
	case wire.EventAssignmentAbandoned:
		q.counts.add(s.at.fine, qAbandoned, 1)
	case wire.EventQueueStatsUpdated:
		if q == s.queues.other {
			return // latest figures of an arbitrary folded queue would mislead
		}
		q.hasStats = true
		q.statsAt = s.at.t
		q.pending, _ = ev.Measure("pending")
		q.inProgress, _ = ev.Measure("in_progress")
		q.completed, _ = ev.Measure("completed")
		q.statsLabel, q.hasStatsLabelers = ev.Measure("active_labelers")
	}
}

func (s *state) op(name string) *opState {
	if op, ok := s.ops[name]; ok {
		return op
	}
	if len(s.ops) >= s.cfg.MaxOps {
		// Reuse an operation idle past the longest window; it holds no windowed data.
		var idle *opState
		for _, op := range s.ops {
			if s.now.Sub(op.lastEvent) > WindowDurations[Window15m]+fineWidth && (idle == nil || op.lastEvent.Before(idle.lastEvent)) {
				idle = op
			}
		}
		if idle == nil {
			s.opsFolded.addHash(maphash.String(s.seed, name))
			if s.opOther == nil {
				s.opOther = newOpState(OtherID, OtherID)
			}
			return s.opOther
		}
		delete(s.ops, idle.name)
		s.opsGen++
	}
	op := newOpState(strings.Clone(name), wire.ServiceOf(name))
	s.ops[op.name] = op
	return op
}

func newOpState(name, service string) *opState {
	op := &opState{name: name, service: service, latFine: newSketchRing(fineSketchSlots), latCoarse: newSketchRing(coarseSlots), errs: newCountRing(fineSlots, 1), sec: newCountRing(secondSlots, rCols)}
	pairSketchRings(&op.latFine, &op.latCoarse)
	op.latFine.dense = true
	return op
}

func (s *state) countUnknown(name string) {
	s.totals.Unknown++
	if _, ok := s.unknown[name]; ok || len(s.unknown) < s.cfg.MaxUnknownNames {
		if !ok {
			name = strings.Clone(name)
		}
		s.unknown[name]++
		return
	}
	s.unknownRest++
	s.unkFolded.addHash(maphash.String(s.seed, name))
}

// maxReasons caps distinct invalid reasons; the feed only sends wire's fixed set, but a
// map keyed by a string from outside the package must not grow without bound.
const maxReasons = 64

func (s *state) invalidMsg(bad *ingest.Invalid) {
	s.totals.Invalid++
	reason := bad.Reason
	if _, ok := s.invalid[reason]; !ok && len(s.invalid) >= maxReasons {
		reason = OtherID
	}
	s.invalid[reason]++
	sample := BadSample{Received: bad.Received, Subject: bad.Subject, Reason: string(bad.Reason), Detail: bad.Detail, Excerpt: bad.Excerpt}
	if len(s.badSamples) < s.cfg.BadSamples {
		s.badSamples = append(s.badSamples, sample)
		s.badHead = len(s.badSamples) % s.cfg.BadSamples
		return
	}
	s.badSamples[s.badHead] = sample
	s.badHead = (s.badHead + 1) % len(s.badSamples)
}

func (s *state) logError(ev *wire.Event, f *evFields, ref callRef, dur float64, hasDur bool) {
	// The entry outlives the event by minutes, and the decoder's strings sit in blocks shared
	// by the events around it (wire.Decoder): a kept string would keep its block. One string
	// holds this entry's.
	var b strings.Builder
	n := len(ev.Trace.TraceID) + len(ev.Trace.SpanID) + len(ev.Node) + len(f.reason)
	for _, m := range ev.Metadata {
		n += len(m.Value)
	}
	b.Grow(n)
	for _, v := range [...]string{ev.Trace.TraceID, ev.Trace.SpanID, ev.Node, f.reason} {
		b.WriteString(v)
	}
	for _, m := range ev.Metadata {
		b.WriteString(m.Value)
	}
	all := b.String()
	next := func(l int) string {
		v := all[:l]
		all = all[l:]
		return v
	}
	e := ErrorEntry{
		Time:      ev.Time,
		Received:  ev.Received,
		Event:     ev.Name,
		Operation: ev.Segments[len(ev.Segments)-1],
		Service:   wire.ServiceOf(ev.Name),
		TraceID:   next(len(ev.Trace.TraceID)),
		SpanID:    next(len(ev.Trace.SpanID)),
		Node:      next(len(ev.Node)),
		Reason:    next(len(f.reason)),
		StreamSeq: ev.StreamSeq,
	}
	if hasDur {
		e.DurationMS = dur
	}
	if ref.q != nil {
		e.Queue, e.QueueVia = ref.q.id, QueueViaEvent
		if ref.viaTrace {
			e.QueueVia = QueueViaTrace
		}
	}
	nIDs := 0
	for _, k := range idKeys {
		if _, ok := ev.Meta(k); ok {
			nIDs++
		}
	}
	// One allocation holds both the ids and the full metadata; keys are the decoder's
	// interned ones, values the entry's own copies.
	kv := make([]KVPair, nIDs+len(ev.Metadata))
	meta := kv[nIDs:]
	for i, m := range ev.Metadata {
		meta[i] = KVPair{Key: m.Key, Value: next(len(m.Value))}
	}
	ids := kv[:0:nIDs]
	for _, k := range idKeys {
		for _, m := range meta {
			if m.Key == k {
				ids = append(ids, m)
				break
			}
		}
	}
	e.IDs = ids
	e.Metadata = meta
	s.errors.push(e)
	s.errGroups.add(&e, s.at)
	if e.TraceID != "" {
		s.lineageDirty = true
	}
}

// dedupeSet remembers recently counted (queue, assignment) hashes in two generations of
// half the capacity each: when the young one fills it becomes the old one, and the old one
// is cleared and reused, so memory is bounded and steady-state inserts do not allocate.
// Each generation is an open-addressing table of hashes (linear probing, at most half full):
// 8 bytes a slot, where a Go map of 65,536 uint64 keys held 3 MB; a lookup is one or two
// cache lines.
type dedupeSet struct {
	half       int
	young, old hashTable
}

type hashTable struct {
	slots []uint64 // 0 is empty; a hash of 0 is stored as 1
	n     int
}

func newDedupeSet(capacity int) dedupeSet {
	half := max(capacity/2, 1)
	size := 1
	for size < 2*half { // at most half full, so probes stay short
		size <<= 1
	}
	return dedupeSet{half: half, young: hashTable{slots: make([]uint64, size)}, old: hashTable{slots: make([]uint64, size)}}
}

// firstSeen reports whether h is new, and remembers it.
func (d *dedupeSet) firstSeen(h uint64) bool {
	if h == 0 {
		h = 1
	}
	// Both generations are the same size, so h starts at the same slot in each. Both first
	// slots are read before either is compared: a new id (every submit) probes both tables,
	// and their two cache misses then overlap instead of following each other. A repeat
	// (Anvil's confirmation of the submit Ingot just sent) is almost always in the young one.
	i := int(h) & (len(d.young.slots) - 1)
	y, o := d.young.slots[i], d.old.slots[i]
	if y == h || o == h {
		return false
	}
	slot, found := d.young.find(h)
	if found || o != 0 && d.old.has(h) { // o == 0 ends old's probe sequence at once
		return false
	}
	if d.young.n >= d.half {
		d.young, d.old = d.old, d.young
		clear(d.young.slots)
		d.young.n = 0
		slot, _ = d.young.find(h)
	}
	d.young.slots[slot] = h
	d.young.n++
	return true
}

// find returns h's slot and true, or the empty slot where h would go and false.
func (t *hashTable) find(h uint64) (int, bool) {
	mask := len(t.slots) - 1
	// The hashes are maphash values: their low bits are already uniform.
	for i := int(h) & mask; ; i = (i + 1) & mask {
		switch t.slots[i] {
		case h:
			return i, true
		case 0:
			return i, false
		}
	}
}

func (t *hashTable) has(h uint64) bool {
	_, ok := t.find(h)
	return ok
}

func (d *dedupeSet) len() int { return d.young.n + d.old.n }
