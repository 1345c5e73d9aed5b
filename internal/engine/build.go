package engine

import (
	"cmp"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
)

// Slices per window for each ring width.
var (
	fineKs    = [NumWindows]int{slicesFor(Window1m, fineWidth), slicesFor(Window5m, fineWidth), slicesFor(Window15m, fineWidth)}
	coarseKs  = [NumWindows]int{0, slicesFor(Window5m, coarseWidth), slicesFor(Window15m, coarseWidth)}
	queueFKs  = [NumWindows]int{queueFine, 0, 0}
	labelerKs = [NumWindows]int{0, 0, labelerSlots}
	// a labeler's fine ring holds the last minute only
	labelerFineKs = [NumWindows]int{queueFine, queueFine, queueFine}
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
	snap := &Snapshot{At: s.now, Started: s.started, Lineage: map[string][]TraceSpan{}}

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

func (s *state) buildQueues() []QueueStats {
	t := s.queues
	ptrs := make([]*QueueStats, 0, len(t.list))
	for _, q := range t.list {
		ptrs = append(ptrs, s.queueRow(q, 1))
	}
	// Sort pointers: rows are large to swap.
	slices.SortFunc(ptrs, func(a, b *QueueStats) int {
		if c := cmp.Compare(b.LabelsPerMin[Window1m], a.LabelsPerMin[Window1m]); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	rows := make([]QueueStats, len(ptrs), len(ptrs)+1)
	for i, p := range ptrs {
		rows[i] = *p
	}
	if t.folded.touched {
		rows = append(rows, *s.queueRow(t.other, int(max(t.folded.estimate(), 1))))
	}
	return rows
}

// queueRow returns q's row, rebuilding it only when q had events since, or when time moved
// on while q still has data inside the longest window.
func (s *state) queueRow(q *queueState, folded int) *QueueStats {
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
			r.Labels[Window1m] = q.perSecond.sum(s.sec, secondSlots, 0)
			r.LabelsPerMin[Window1m] = float64(r.Labels[Window1m]) / s.covered(secondWidth, secondSlots).Minutes()
			r.ActiveLabelers = s.activeLabelers(q)
			q.built, q.builtSecond = &r, s.sec
			return &r
		}
	}
	r := &QueueStats{ID: q.id, Folded: folded}

	var sums [NumWindows][qCols]uint64
	q.counts.windowRows(s.fine, fineKs, &sums)
	perSec1m := q.perSecond.sum(s.sec, secondSlots, 0)
	for w := Window(0); w < NumWindows; w++ {
		c := &sums[w]
		n := c[qLabels]
		if w == Window1m {
			n = perSec1m // 1 s resolution keeps the headline velocity smooth
		}
		r.Labels[w] = n
		span := s.covered(fineWidth, fineKs[w])
		if w == Window1m {
			span = s.covered(secondWidth, secondSlots)
		}
		r.LabelsPerMin[w] = float64(n) / span.Minutes()
		if d := c[qAbandoned] + c[qLabels]; d > 0 {
			r.Abandonment[w] = float64(c[qAbandoned]) / float64(d)
		}
		r.Methods[w] = MethodShare{Keyboard: c[qKeyboard], Mouse: c[qMouse], API: c[qAPI], Other: c[qOtherMethod]}
		r.Calls[w], r.Errors[w] = c[qCalls], c[qErrors]
		if c[qCalls] > 0 {
			r.ErrorRate[w] = float64(c[qErrors]) / float64(c[qCalls])
		}
	}
	// Between forced builds a busy queue's 1m quantiles and labeler rows are refreshed at
	// most every fastRefresh; a 1 s lag is invisible in a 1 minute window.
	if s.force || q.fineQIdx != s.fine || (q.fineQVer != q.tpsVersion && s.now.Sub(q.fineQAt) >= fastRefresh) {
		var fine [NumWindows]Quantiles
		q.tpsFine.windowQuantiles(s.fine, queueFKs, s.acc, &fine)
		q.fineQ, q.fineQIdx, q.fineQVer, q.fineQAt = fine[Window1m], s.fine, q.tpsVersion, s.now
	}
	r.TimePerSample[Window1m] = q.fineQ
	// The 5m and 15m quantiles merge up to 15 slices; between forced builds they are
	// refreshed when the minute turns or at most every coarseRefresh, which a 5-15 minute
	// window does not notice.
	if s.force || q.coarseIdx != s.coarse || (q.coarseVer != q.tpsVersion && s.now.Sub(q.coarseAt) >= coarseRefresh) {
		var coarse [NumWindows]Quantiles
		q.tpsCoarse.windowQuantiles(s.coarse, coarseKs, s.acc, &coarse)
		q.coarseQ = [2]Quantiles{coarse[Window5m], coarse[Window15m]}
		q.coarseIdx, q.coarseVer, q.coarseAt = s.coarse, q.tpsVersion, s.now
	}
	r.TimePerSample[Window5m], r.TimePerSample[Window15m] = q.coarseQ[0], q.coarseQ[1]

	// One backing array for the three series of the row.
	series := make([]float64, secondSlots+2*fineSlots)
	r.Spark = series[:secondSlots:secondSlots]
	r.History = series[secondSlots : secondSlots+fineSlots : secondSlots+fineSlots]
	r.LatencyHistory = series[secondSlots+fineSlots:]
	s.fillSpark(q, r.Spark)
	s.refreshLatencyHistory(q)
	perMin := float64(time.Minute / fineWidth)
	for i := 0; i < fineSlots; i++ {
		idx := s.fine - int64(fineSlots-1-i)
		r.History[i] = float64(q.counts.get(idx, qLabels)) * perMin
		if slot := int(idx % fineSlots); q.latTags[slot] == idx {
			r.LatencyHistory[i] = float64(q.latP50[slot])
		}
	}

	r.HasStats = q.hasStats
	r.Pending, r.InProgress, r.Completed, r.StatsAt = q.pending, q.inProgress, q.completed, q.statsAt
	if q.hasStats {
		r.BacklogETA, r.EtaKnown = backlogETA(q.pending, r.LabelsPerMin[Window5m])
	}

	r.ActiveLabelers = s.activeLabelers(q)
	r.Labelers = s.labelerRows(q)

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
	activeSince := s.now.Add(-activeLabelerWindow)
	if q.hasStatsLabelers && !q.statsAt.Before(activeSince) {
		return int(q.statsLabel)
	}
	n := 0
	for _, l := range q.labelers {
		if !l.lastSeen.Before(activeSince) {
			n++
		}
	}
	// Folded labelers are not told apart: they count as one.
	if q.labOther != nil && !q.labOther.lastSeen.Before(activeSince) {
		n++
	}
	return n
}

// refreshLatencyHistory stores the p50 of every live fine slice that changed since.
func (s *state) refreshLatencyHistory(q *queueState) {
	for slot := 0; slot < queueFine; slot++ {
		if !q.latStale[slot] {
			continue
		}
		q.latStale[slot] = false
		idx := q.tpsFine.tags[slot]
		sl := q.tpsFine.get(idx)
		if sl == nil {
			continue
		}
		v, err := sl.sk.GetValueAtQuantile(0.5)
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
	since := s.now.Add(-WindowDurations[Window15m])
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
		if l.lastSeen.Before(since) {
			continue
		}
		rows = append(rows, row(l))
	}
	slices.SortFunc(rows, func(a, b LabelerStats) int {
		if c := cmp.Compare(b.Labels[Window15m], a.Labels[Window15m]); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	if q.labOther != nil && !q.labOther.lastSeen.Before(since) {
		rows = append(rows, row(q.labOther))
	}
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
		r := OpStats{Name: op.name, Service: op.service, Recent: s.recent(op)}
		ks := fineKs
		if skipLong {
			ks = [NumWindows]int{fineKs[Window1m], fineKs[Window1m], fineKs[Window1m]}
		}
		op.lat.windowQuantiles(s.fine, ks, s.acc, &r.Latency)
		errs := op.errs.windowSums(s.fine, fineKs, 0)
		for w := Window(0); w < NumWindows; w++ {
			r.Errors[w] = errs[w]
			if r.Latency[w].Count > 0 {
				r.ErrorRate[w] = float64(errs[w]) / float64(r.Latency[w].Count)
			}
		}
		op.built, op.builtVersion, op.builtFine, op.builtAll = r, op.version, s.fine, !skipLong
		rows = append(rows, r)
	}
	for _, op := range s.ops {
		add(op)
	}
	if s.opOther != nil {
		add(s.opOther)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	return rows
}

func (s *state) buildServices() []ServiceStats {
	out := make([]ServiceStats, 0, len(s.services))
	for _, ss := range s.services {
		r := ServiceStats{Service: ss.name}
		r.Calls = ss.calls.windowSums(s.fine, fineKs, 0)
		r.Errors = ss.calls.windowSums(s.fine, fineKs, 1)
		for w := Window(0); w < NumWindows; w++ {
			if r.Calls[w] > 0 {
				r.ErrorRate[w] = float64(r.Errors[w]) / float64(r.Calls[w])
			}
		}
		out = append(out, r)
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
	addLineage := func(id string) {
		if id == "" {
			return
		}
		if _, done := snap.Lineage[id]; done {
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

// backlogETA is how long pending labels take at perMin labels a minute; unknown at 0.
func backlogETA(pending, perMin float64) (time.Duration, bool) {
	if perMin <= 0 {
		return 0, false
	}
	minutes := pending / perMin
	if minutes >= float64(math.MaxInt64/int64(time.Minute)) {
		return 0, false
	}
	return time.Duration(minutes * float64(time.Minute)), true
}
