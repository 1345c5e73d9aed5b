package engine

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"time"
)

// rowBuilder is the one place where snapshot rows get their figures. An engine fills the
// inputs from its rings (build.go); a merge fills them from the sums of several daemons'
// aggregates (merge.go). Everything computed from those inputs (rates, ratios, ETA, the
// per-minute history, the order of the rows, which labelers are listed and counted as
// active) is written here once, so that a new column shows the same in the dashboard and
// in every merged view.
type rowBuilder struct {
	now, started time.Time
}

// covered is the time the last k slices of width hold data for (coveredSpan).
func (b rowBuilder) covered(width time.Duration, k int) time.Duration {
	return coveredSpan(b.now, b.started, width, k)
}

// labelsSpan is what a window's label count is divided by for velocity: the 1m count is
// taken at 1 s resolution, the longer ones from 10 s slices.
func (b rowBuilder) labelsSpan(w Window) time.Duration {
	if w == Window1m {
		return b.covered(secondWidth, secondSlots)
	}
	return b.covered(fineWidth, fineKs[w])
}

// queueWindowCounts are one window of a queue: the sums of its 10 s slices.
type queueWindowCounts struct {
	labels, abandoned, calls, errors uint64
	methods                          MethodShare
}

// queueStatsFigures are the latest anvil.queue.stats_updated figures of a queue.
type queueStatsFigures struct {
	has                            bool
	pending, inProgress, completed float64
	at                             time.Time
}

// queueRowInput is everything a queue row is computed from.
type queueRowInput struct {
	id      string
	folded  int
	windows [NumWindows]queueWindowCounts
	// labels1m is the last minute's labels counted per second: the headline velocity then
	// moves smoothly instead of by 10 s steps (windows[Window1m].labels still divides
	// abandonment, which is counted per 10 s slice).
	labels1m       uint64
	tps            [NumWindows]Quantiles
	stats          queueStatsFigures
	activeLabelers int
	labelers       []LabelerStats
}

// queueSeriesFill writes a queue's series into the row's slices: labels per second (60,
// oldest first), labels per 10 s slice and the time-per-sample p50 per slice (90 each, 0 =
// no data). The builder turns labels per slice into the per-minute History.
type queueSeriesFill func(spark, labels10s, p50 []float64)

// queueRow builds one queue row.
func (b rowBuilder) queueRow(in *queueRowInput, fill queueSeriesFill) *QueueStats {
	r := &QueueStats{ID: in.id, Folded: in.folded, TimePerSample: in.tps, ActiveLabelers: in.activeLabelers, Labelers: in.labelers}
	for w := Window(0); w < NumWindows; w++ {
		c := &in.windows[w]
		n := c.labels
		if w == Window1m {
			n = in.labels1m
		}
		r.Labels[w] = n
		r.LabelsPerMin[w] = float64(n) / b.labelsSpan(w).Minutes()
		r.Abandonment[w] = ratio(c.abandoned, c.abandoned+c.labels)
		r.Methods[w] = c.methods
		r.Calls[w], r.Errors[w], r.ErrorRate[w] = c.calls, c.errors, ratio(c.errors, c.calls)
	}
	// One backing array for the three series of the row.
	series := make([]float64, secondSlots+2*fineSlots)
	r.Spark = series[:secondSlots:secondSlots]
	r.History = series[secondSlots : secondSlots+fineSlots : secondSlots+fineSlots]
	r.LatencyHistory = series[secondSlots+fineSlots:]
	fill(r.Spark, r.History, r.LatencyHistory)
	perMin := float64(time.Minute / fineWidth)
	for i := range r.History {
		r.History[i] *= perMin
	}
	st := in.stats
	r.HasStats = st.has
	r.Pending, r.InProgress, r.Completed, r.StatsAt = st.pending, st.inProgress, st.completed, st.at
	setBacklogETA(r)
	return r
}

// holdQueueWindow replaces window w's figures of r by those of p, the same queue's row in
// the previous build (hold.go). Every per-window column queueRow computes is held here.
func holdQueueWindow(r, p *QueueStats, w Window) {
	r.LabelsPerMin[w], r.Labels[w] = p.LabelsPerMin[w], p.Labels[w]
	r.TimePerSample[w], r.Abandonment[w], r.Methods[w] = p.TimePerSample[w], p.Abandonment[w], p.Methods[w]
	r.Calls[w], r.Errors[w], r.ErrorRate[w] = p.Calls[w], p.Errors[w], p.ErrorRate[w]
}

// setBacklogETA is the time the pending labels take at the 5m velocity; unknown without a
// stats_updated figure or at velocity 0.
func setBacklogETA(r *QueueStats) {
	r.BacklogETA, r.EtaKnown = 0, false
	if r.HasStats {
		r.BacklogETA, r.EtaKnown = backlogETA(r.Pending, r.LabelsPerMin[Window5m])
	}
}

// refreshLabels1m updates a row whose 10 s slices did not change since it was built: only
// the per-second figures moved. The 5m velocity, and so the ETA, stay.
func (b rowBuilder) refreshLabels1m(r *QueueStats, labels1m uint64) {
	r.Labels[Window1m] = labels1m
	r.LabelsPerMin[Window1m] = float64(labels1m) / b.labelsSpan(Window1m).Minutes()
}

// queueRows orders rows by 1m velocity, descending, then by id, and puts the folded
// OtherID row (nil if none) last. Pointers are sorted: rows are large to swap.
func queueRows(rows []*QueueStats, other *QueueStats) []QueueStats {
	slices.SortFunc(rows, func(a, b *QueueStats) int {
		return queueOrder(a.LabelsPerMin[Window1m], b.LabelsPerMin[Window1m], a.ID, b.ID)
	})
	out := make([]QueueStats, len(rows), len(rows)+1)
	for i, p := range rows {
		out[i] = *p
	}
	if other != nil {
		out = append(out, *other)
	}
	return out
}

// queueOrder is the order of queue rows: busiest in the last minute first, then by id. An
// aggregate picks the queues it sends in the same order (by count: the span is common).
func queueOrder[N cmp.Ordered](aLast1m, bLast1m N, aID, bID string) int {
	if c := cmp.Compare(bLast1m, aLast1m); c != 0 {
		return c
	}
	return strings.Compare(aID, bID)
}

// labelerOrder is the order of labeler rows: most labels in 15m first, then by id. An
// aggregate picks the labelers it sends in the same order.
func labelerOrder(aLabels15m, bLabels15m uint64, aID, bID string) int {
	if c := cmp.Compare(bLabels15m, aLabels15m); c != 0 {
		return c
	}
	return strings.Compare(aID, bID)
}

// labelerListed says whether a labeler last seen then has a row: it has labels in 15m.
func (b rowBuilder) labelerListed(lastSeen time.Time) bool {
	return !lastSeen.Before(b.now.Add(-WindowDurations[Window15m]))
}

// labelerActive says whether a labeler last seen then counts as active.
func (b rowBuilder) labelerActive(lastSeen time.Time) bool {
	return !lastSeen.Before(b.now.Add(-activeLabelerWindow))
}

// activeLabelers prefers a fresh stats_updated figure (has says one arrived, at when) to
// the count of labelers seen lately.
func (b rowBuilder) activeLabelers(has bool, figure float64, at time.Time, seen int) int {
	if has && b.labelerActive(at) {
		return int(figure)
	}
	return seen
}

// labelerRows orders a queue's labeler rows by 15m labels, descending, then by id, keeps
// the first limit (0: all) and puts the folded OtherID row (nil if none) last.
func labelerRows(rows []LabelerStats, other *LabelerStats, limit int) []LabelerStats {
	slices.SortFunc(rows, func(a, b LabelerStats) int {
		return labelerOrder(a.Labels[Window15m], b.Labels[Window15m], a.ID, b.ID)
	})
	if limit > 0 && len(rows) > limit {
		rows = rows[:limit]
	}
	if other != nil {
		rows = append(rows, *other)
	}
	return rows
}

// opRow builds one operation row from its latency per window (whose counts are the calls)
// and its failed calls.
func opRow(name, service string, latency [NumWindows]Quantiles, errs [NumWindows]uint64) OpStats {
	r := OpStats{Name: name, Service: service, Latency: latency, Errors: errs}
	for w := Window(0); w < NumWindows; w++ {
		r.ErrorRate[w] = ratio(errs[w], latency[w].Count)
	}
	return r
}

// holdOpWindow replaces window w's figures of r by those of p (holdQueueWindow).
func holdOpWindow(r, p *OpStats, w Window) {
	r.Latency[w], r.Errors[w], r.ErrorRate[w] = p.Latency[w], p.Errors[w], p.ErrorRate[w]
}

// opRows orders operation rows by name.
func opRows(rows []OpStats) []OpStats {
	slices.SortFunc(rows, func(a, b OpStats) int { return strings.Compare(a.Name, b.Name) })
	return rows
}

// serviceRow builds one service's client error rate.
func serviceRow(service string, calls, errs [NumWindows]uint64) ServiceStats {
	r := ServiceStats{Service: service, Calls: calls, Errors: errs}
	for w := Window(0); w < NumWindows; w++ {
		r.ErrorRate[w] = ratio(errs[w], calls[w])
	}
	return r
}

// holdServiceWindow replaces window w's figures of r by those of p (holdQueueWindow).
func holdServiceWindow(r, p *ServiceStats, w Window) {
	r.Calls[w], r.Errors[w], r.ErrorRate[w] = p.Calls[w], p.Errors[w], p.ErrorRate[w]
}

// ratio is part / whole, 0 when whole is 0.
func ratio(part, whole uint64) float64 {
	if whole == 0 {
		return 0
	}
	return float64(part) / float64(whole)
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
