package engine

import (
	"sort"
	"time"
)

// Slices per window for each ring width.
var (
	fineKs       = [NumWindows]int{slicesFor(Window1m, fineWidth), slicesFor(Window5m, fineWidth), slicesFor(Window15m, fineWidth)}
	coarseKs     = [NumWindows]int{0, slicesFor(Window5m, coarseWidth), slicesFor(Window15m, coarseWidth)}
	fineSketchKs = [NumWindows]int{fineSketchSlots, 0, 0}
	labelerKs    = [NumWindows]int{0, 0, labelerSlots}
	// a labeler's fine ring holds the last minute only
	labelerFineKs = [NumWindows]int{fineSketchSlots, fineSketchSlots, fineSketchSlots}
)

// activeLabelerWindow is how recently a labeler must have been seen to count as active, and
// how fresh a stats_updated active_labelers figure must be to be preferred.
const activeLabelerWindow = 5 * time.Minute

// coarseRefresh bounds how stale a queue's 5m and 15m time-per-sample quantiles may be in a
// periodic (unforced) snapshot.
const coarseRefresh = 5 * time.Second

// fastRefresh bounds how stale 1m quantiles and labeler rows may be in a periodic snapshot.
const fastRefresh = time.Second

// build assembles an immutable snapshot. Rows whose inputs did not change since the last
// build are shared with the previous snapshot (they are never written after being built).
func (s *state) build(now time.Time, force bool) *Snapshot {
	s.advance(now)
	s.force = force
	s.decideHolds()
	snap := &Snapshot{At: s.now, Started: s.started}

	snap.Totals = s.totals
	snap.Totals.FoldedIDs = s.queues.folded.estimate() + s.queues.labelersFolded.estimate() +
		s.opsFolded.estimate() + s.unkFolded.estimate()
	var last10 uint64
	snap.EventsPerSec = make([]float64, secondSlots)
	for i := 0; i < secondSlots; i++ {
		idx := s.sec - int64(secondSlots-1-i)
		v := s.eventsSec.get(idx, 0)
		snap.EventsPerSec[i] = float64(v)
		if i >= secondSlots-10 {
			last10 += uint64(v)
		}
	}
	snap.Totals.RatePerSec = float64(last10) / s.covered(secondWidth, 10).Seconds()

	snap.Queues = s.buildQueues()
	snap.Ops = s.buildOps()
	snap.Activity = s.buildActivity()
	snap.Services = s.buildServices()
	s.errGroups.expire(s.now)
	snap.ErrorGroups = s.errGroups.build(s.fine)
	snap.Totals.FoldedIDs += s.errGroups.folded.estimate()
	s.buildErrors(snap)
	s.buildLag(snap)
	s.buildInvalid(snap)
	s.holdSlowWindows(snap)
	s.buildImpact(snap)

	s.prev = snap
	return snap
}

// rows is the row builder at the engine's clock.
func (s *state) rows() rowBuilder { return rowBuilder{now: s.now, started: s.started} }

func (s *state) buildQueues() []QueueStats {
	t := s.queues
	ptrs := make([]*QueueStats, 0, len(t.list))
	for _, q := range t.list {
		ptrs = append(ptrs, s.queueRow(q, 1))
	}
	var other *QueueStats
	if t.folded.touched {
		other = s.queueRow(t.other, int(max(t.folded.estimate(), 1)))
	}
	return queueRows(ptrs, other)
}

// queueRow returns q's row, rebuilding it only when q had events since, or when time moved
// on while q still has data inside the longest window.
func (s *state) queueRow(q *queueState, folded int) *QueueStats {
	b := s.rows()
	recent := s.now.Sub(q.lastEvent) <= WindowDurations[Window15m]+2*coarseWidth
	if !s.force && q.built != nil && q.builtVersion == q.version && q.built.Folded == folded {
		if q.builtSecond == s.sec || !recent {
			return q.built
		}
		if q.builtFine == s.fine {
			// Same 10 s slice, no new events: only the per-second figures moved.
			r := *q.built
			r.Spark = make([]float64, secondSlots)
			s.fillSpark(q, r.Spark)
			b.refreshLabels1m(&r, q.perSecond.sum(s.sec, secondSlots, 0))
			r.ActiveLabelers = s.activeLabelers(q)
			q.built, q.builtSecond = &r, s.sec
			return &r
		}
	}
	in := queueRowInput{id: q.id, folded: folded, labels1m: q.perSecond.sum(s.sec, secondSlots, 0)}
	var sums [NumWindows][qCols]uint64
	q.counts.windowRows(s.fine, fineKs, &sums)
	for w := Window(0); w < NumWindows; w++ {
		c := &sums[w]
		in.windows[w] = queueWindowCounts{
			labels: c[qLabels], abandoned: c[qAbandoned], calls: c[qCalls], errors: c[qErrors],
			methods: MethodShare{Keyboard: c[qKeyboard], Mouse: c[qMouse], API: c[qAPI], Other: c[qOtherMethod]},
		}
	}
	// Between forced builds a busy queue's 1m quantiles and labeler rows are refreshed at
	// most every fastRefresh; a 1 s lag is invisible in a 1 minute window.
	if s.force || q.fineQIdx != s.fine || (q.fineQVer != q.tpsVersion && s.now.Sub(q.fineQAt) >= fastRefresh) {
		var fine [NumWindows]Quantiles
		q.tpsFine.windowQuantiles(s.fine, fineSketchKs, s.acc, &fine)
		q.fineQ, q.fineQIdx, q.fineQVer, q.fineQAt = fine[Window1m], s.fine, q.tpsVersion, s.now
	}
	in.tps[Window1m] = q.fineQ
	// The 5m and 15m quantiles merge up to 15 slices; between forced builds they are
	// refreshed when the minute turns or at most every coarseRefresh, which a 5-15 minute
	// window does not notice.
	if s.force || q.coarseIdx != s.coarse || (q.coarseVer != q.tpsVersion && s.now.Sub(q.coarseAt) >= coarseRefresh) {
		var coarse [NumWindows]Quantiles
		q.tpsCoarse.windowQuantiles(s.coarse, coarseKs, s.acc, &coarse)
		q.coarseQ = [2]Quantiles{coarse[Window5m], coarse[Window15m]}
		q.coarseIdx, q.coarseVer, q.coarseAt = s.coarse, q.tpsVersion, s.now
	}
	in.tps[Window5m], in.tps[Window15m] = q.coarseQ[0], q.coarseQ[1]
	in.stats = queueStatsFigures{has: q.hasStats, pending: q.pending, inProgress: q.inProgress, completed: q.completed, at: q.statsAt}
	in.activeLabelers = s.activeLabelers(q)
	in.labelers = s.labelerRows(q)

	s.refreshLatencyHistory(q)
	r := b.queueRow(&in, func(spark, labels10s, p50 []float64) {
		s.fillSpark(q, spark)
		for i := range labels10s {
			idx := s.fine - int64(fineSlots-1-i)
			labels10s[i] = float64(q.counts.get(idx, qLabels))
			if slot := int(idx % fineSlots); q.latTags[slot] == idx {
				p50[i] = float64(q.latP50[slot])
			}
		}
	})
	q.built, q.builtVersion, q.builtSecond, q.builtFine = r, q.version, s.sec, s.fine
	return r
}

func (s *state) fillSpark(q *queueState, spark []float64) {
	for i := range spark {
		spark[i] = float64(q.perSecond.get(s.sec-int64(len(spark)-1-i), 0))
	}
}

// activeLabelers prefers a fresh stats_updated figure, else counts labelers seen lately.
func (s *state) activeLabelers(q *queueState) int {
	b := s.rows()
	if q.hasStatsLabelers && b.labelerActive(q.statsAt) {
		return int(q.statsLabel) // the figure wins: no need to count
	}
	return b.activeLabelers(q.hasStatsLabelers, q.statsLabel, q.statsAt, s.seenLabelers(q))
}

// seenLabelers counts the queue's labelers seen lately; folded labelers are not told
// apart, they count as one.
func (s *state) seenLabelers(q *queueState) int {
	b := s.rows()
	n := 0
	for _, l := range q.labelers {
		if b.labelerActive(l.lastSeen) {
			n++
		}
	}
	if q.labOther != nil && b.labelerActive(q.labOther.lastSeen) {
		n++
	}
	return n
}

// refreshLatencyHistory stores the p50 of every live fine slice that changed since.
func (s *state) refreshLatencyHistory(q *queueState) {
	for slot := 0; slot < fineSketchSlots; slot++ {
		if !q.latStale[slot] {
			continue
		}
		q.latStale[slot] = false
		idx := q.tpsFine.slots[slot].tag
		sl := q.tpsFine.get(idx)
		if sl == nil {
			continue
		}
		v, err := sl.sketch().GetValueAtQuantile(0.5)
		if err != nil {
			continue
		}
		h := int(idx % fineSlots)
		q.latTags[h], q.latP50[h] = idx, float32(min(v, sl.max))
	}
}

func (s *state) labelerRows(q *queueState) []LabelerStats {
	key := [3]int64{int64(q.labVersion), s.fine, s.coarse}
	if !s.force && q.labRows != nil && (q.labRowsKey == key ||
		(q.labRowsKey[1] == s.fine && q.labRowsKey[2] == s.coarse && s.now.Sub(q.labRowsAt) < fastRefresh)) {
		return q.labRows
	}
	b := s.rows()
	rows := make([]LabelerStats, 0, len(q.labelers)+1)
	row := func(l *labelerState) LabelerStats {
		at := [2]int64{s.fine, s.coarse}
		if l.builtVer == l.version && l.builtAt == at && l.built.ID != "" && !s.force {
			return l.built
		}
		r := LabelerStats{ID: l.id, LastSeen: l.lastSeen}
		// every column in one pass per ring: labels, calls, errors
		var fine, coarse [NumWindows][qCols]uint64
		l.fine.windowRows(s.fine, labelerFineKs, &fine)
		l.coarse.windowRows(s.coarse, coarseKs, &coarse)
		r.Labels[Window1m], r.Calls[Window1m], r.Errors[Window1m] = fine[Window1m][lLabels], fine[Window1m][lCalls], fine[Window1m][lErrors]
		for _, w := range [...]Window{Window5m, Window15m} {
			r.Labels[w], r.Calls[w], r.Errors[w] = coarse[w][lLabels], coarse[w][lCalls], coarse[w][lErrors]
		}
		if s.force || l.tpsVer != l.version || l.tpsIdx != s.labSlice {
			var tq [NumWindows]Quantiles
			l.tps.windowQuantiles(s.labSlice, labelerKs, s.acc, &tq)
			l.tpsQ, l.tpsVer, l.tpsIdx = tq[Window15m], l.version, s.labSlice
		}
		r.TimePerSample = l.tpsQ
		l.built, l.builtVer, l.builtAt = r, l.version, at
		return r
	}
	for _, l := range q.labelers {
		if b.labelerListed(l.lastSeen) {
			rows = append(rows, row(l))
		}
	}
	var other *LabelerStats
	if q.labOther != nil && b.labelerListed(q.labOther.lastSeen) {
		o := row(q.labOther)
		other = &o
	}
	// The engine tracks at most MaxLabelersPerQueue already: no limit here.
	rows = labelerRows(rows, other, 0)
	q.labRows, q.labRowsKey, q.labRowsAt = rows, key, s.now
	return rows
}

func (s *state) buildOps() []OpStats {
	rows := make([]OpStats, 0, len(s.ops)+1)
	add := func(op *opState) {
		// The held windows are replaced from the previous snapshot (holdSlowWindows), so an
		// op that was in it merges only the 1m slices; a cached row is reused only if it
		// has every window or this build holds the ones it lacks.
		skipLong := s.hold[Window5m] && s.hold[Window15m] && op.built.Name != ""
		if op.builtVersion == op.version && op.builtFine == s.fine && op.built.Name != "" && (op.builtAll || skipLong) {
			rows = append(rows, op.built)
			return
		}
		var latency [NumWindows]Quantiles
		op.latFine.windowQuantiles(s.fine, fineSketchKs, s.acc, &latency)
		if skipLong { // placeholders, replaced by the held figures
			latency[Window5m], latency[Window15m] = latency[Window1m], latency[Window1m]
		} else {
			var coarse [NumWindows]Quantiles
			op.latCoarse.windowQuantiles(s.coarse, coarseKs, s.acc, &coarse)
			latency[Window5m], latency[Window15m] = coarse[Window5m], coarse[Window15m]
		}
		r := opRow(op.name, op.service, latency, op.errs.windowSums(s.fine, fineKs, 0))
		r.Recent = s.recent(op)
		op.built, op.builtVersion, op.builtFine, op.builtAll = r, op.version, s.fine, !skipLong
		rows = append(rows, r)
	}
	for _, op := range s.ops {
		add(op)
	}
	if s.opOther != nil {
		add(s.opOther)
	}
	return opRows(rows)
}

func (s *state) buildServices() []ServiceStats {
	out := make([]ServiceStats, 0, len(s.services))
	for _, ss := range s.services {
		out = append(out, serviceRow(ss.name, ss.calls.windowSums(s.fine, fineKs, 0), ss.calls.windowSums(s.fine, fineKs, 1)))
	}
	return out
}

func (s *state) buildErrors(snap *Snapshot) {
	if s.prev != nil && s.prevErrors == s.errors.version {
		snap.Errors = s.prev.Errors
	} else {
		snap.Errors = s.errors.newestFirst()
		s.lineageDirty = true // entries (and the traces they reference) came and went
	}
	s.prevErrors = s.errors.version
	if s.prev != nil && !s.lineageDirty {
		snap.Lineage = s.prev.Lineage
		return
	}
	s.lineageDirty = false
	// Sized at once: grown from empty, the map of a full log rehashed its way to a thousand
	// entries every second. A trace id named twice is looked up twice, which is rarer than a
	// lookup to skip it would cost.
	snap.Lineage = make(map[string][]TraceSpan, len(snap.Errors)+len(snap.ErrorGroups))
	addLineage := func(id string) {
		if id == "" {
			return
		}
		if spans, ok := s.traces.lineage(id); ok {
			snap.Lineage[id] = spans
		}
	}
	for i := range snap.Errors {
		addLineage(snap.Errors[i].TraceID)
	}
	// A rare group's newest occurrence may have left the log; its detail still has a lineage.
	for i := range snap.ErrorGroups {
		addLineage(snap.ErrorGroups[i].Latest.TraceID)
	}
}

func (s *state) buildLag(snap *Snapshot) {
	holdLong := s.hold[Window5m] && s.hold[Window15m]
	switch {
	case s.prev != nil && s.prevLag == s.lagVersion && s.prevLagFine == s.fine && (s.prevLagAll || holdLong):
		snap.Lag = s.prev.Lag
	case holdLong:
		// holdSlowWindows takes the 5m and 15m lag from the previous snapshot
		ks := [NumWindows]int{fineKs[Window1m], fineKs[Window1m], fineKs[Window1m]}
		s.lag.windowQuantiles(s.fine, ks, s.acc, &snap.Lag)
		s.prevLagAll = false
	default:
		s.lag.windowQuantiles(s.fine, fineKs, s.acc, &snap.Lag)
		s.prevLagAll = true
	}
	s.prevLag, s.prevLagFine = s.lagVersion, s.fine
}

func (s *state) buildInvalid(snap *Snapshot) {
	snap.Invalid = make([]ReasonCount, 0, len(s.invalid))
	for r, n := range s.invalid {
		snap.Invalid = append(snap.Invalid, ReasonCount{Reason: string(r), Count: n})
	}
	sort.Slice(snap.Invalid, func(i, j int) bool { return snap.Invalid[i].Reason < snap.Invalid[j].Reason })

	n := len(s.badSamples)
	snap.InvalidSamples = make([]BadSample, n)
	for i := 0; i < n; i++ {
		snap.InvalidSamples[i] = s.badSamples[(s.badHead-1-i+2*n)%n]
	}

	snap.Unknown = make([]NameCount, 0, len(s.unknown)+1)
	for name, c := range s.unknown {
		snap.Unknown = append(snap.Unknown, NameCount{Name: name, Count: c})
	}
	sort.Slice(snap.Unknown, func(i, j int) bool {
		if snap.Unknown[i].Count != snap.Unknown[j].Count {
			return snap.Unknown[i].Count > snap.Unknown[j].Count
		}
		return snap.Unknown[i].Name < snap.Unknown[j].Name
	})
	if s.unknownRest > 0 {
		snap.Unknown = append(snap.Unknown, NameCount{Name: OtherID, Count: s.unknownRest})
	}
}

// covered is the time that the last k slices of width really hold data for: the current
// slice is only partly over, and a young engine has not seen the older ones. Dividing counts
// by the nominal window instead reads low by up to a slice (10% of a 10 s rate), and by
// nearly everything in the first seconds after start. At least a second, so the first
// events after start do not read as a huge rate.
func (s *state) covered(width time.Duration, k int) time.Duration {
	return coveredSpan(s.now, s.started, width, k)
}

func coveredSpan(now, started time.Time, width time.Duration, k int) time.Duration {
	from := time.Unix(0, (sliceIndex(now, width)-int64(k)+1)*int64(width))
	if started.After(from) {
		from = started
	}
	return max(now.Sub(from), time.Second)
}
