package engine

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
)

// AggregateVersion is the layout of Aggregate. A reader rejects any other version: the windows,
// slice widths and sketch mapping are part of the layout, and mixing them would merge
// numbers that do not mean the same thing.
const AggregateVersion = 1

// Aggregate is the mergeable aggregate a daemon republishes: what a Snapshot is built from, cut
// at the producer's instant, in a form where the aggregates of several producers that saw
// disjoint parts of the stream add up to what one engine would have seen.
//
// What merges exactly: every count (totals, per-second and per-10 s series, per-window
// sums), and every latency sketch (DDSketch bins add, so merged quantiles are those of one
// sketch fed all values, within the sketch's 1% relative accuracy). Series are tagged with
// the slice they end at (Second, Fine) and realigned on merge. Per-window sums and
// sketches are the producer's windows at At: producers whose aggregates straddle a 10 s (or,
// for 5m/15m time per sample, 1 min) boundary contribute windows up to one slice apart.
//
// What does not merge exactly, and is approximated on merge: labeler time per sample (sent
// as quantiles, not sketches, to keep the payload small), the per-10 s p50 history of time
// per sample, folded-id estimates (summed), and active labelers (union of the sent labeler
// ids, at least the largest producer figure).
//
// Caps (AggregateLimits) bound the payload: the top MaxQueues queues by 1m velocity are sent,
// the rest merged into the OtherID row (QueuesOmitted says how many); labelers per queue
// and recent errors are capped too.
type Aggregate struct {
	Version  int       `json:"v"`
	Producer string    `json:"producer"`
	Host     string    `json:"host,omitempty"`
	At       time.Time `json:"at"`
	Started  time.Time `json:"started"`
	// SketchAccuracy is the relative accuracy of the logarithmic mapping the sketches use.
	SketchAccuracy float64 `json:"sketch_accuracy"`

	Totals AggregateTotals `json:"totals"`
	// Second and Fine are the slice indexes (unix time / 1 s and / 10 s) at At: per-second
	// series end at Second, per-10 s series at Fine.
	Second int64 `json:"second"`
	Fine   int64 `json:"fine"`
	// EventsPerSec is events received per second, 60 values ending at Second.
	EventsPerSec []uint32 `json:"events_per_sec"`

	Queues        []AggregateQueue            `json:"queues"`
	QueuesOmitted int                         `json:"queues_omitted,omitempty"`
	Ops           []AggregateOp               `json:"ops"`
	Services      []ServiceStats              `json:"services"`
	Lag           [NumWindows]AggregateSketch `json:"lag"`

	Invalid        []ReasonCount `json:"invalid,omitempty"`
	InvalidSamples []BadSample   `json:"invalid_samples,omitempty"`
	Unknown        []NameCount   `json:"unknown,omitempty"`

	// Errors are the newest error log entries, newest first, at most AggregateLimits.MaxErrors;
	// Lineage holds the trace lineage of those entries.
	Errors  []ErrorEntry           `json:"errors,omitempty"`
	Lineage map[string][]TraceSpan `json:"lineage,omitempty"`
	// ErrorGroups are the error signatures with their per-window counts, at most
	// AggregateLimits.MaxErrorGroups (most frequent in 5m first).
	ErrorGroups []ErrorGroup `json:"error_groups,omitempty"`
	// Health is the producer's /health probes (aggregateprobes.go); the engine leaves it empty,
	// the daemon fills it in before encoding.
	Health []AggregateProbe `json:"health,omitempty"`
	// Impact is who the producer's failing client calls hit (aggregateimpact.go); nil from
	// a producer too old to send it.
	Impact *AggregateImpact `json:"impact,omitempty"`
	// Alerts are the producer's alert states (aggregatealerts.go); the engine leaves it nil,
	// the daemon fills it in. Nil from a producer that does not evaluate alerts.
	Alerts *AggregateAlerts `json:"alerts,omitempty"`
}

// AggregateTotals are the producer's counters since it started.
type AggregateTotals struct {
	Events    uint64 `json:"events"`
	Invalid   uint64 `json:"invalid"`
	Unknown   uint64 `json:"unknown"`
	Errors    uint64 `json:"errors"`
	FoldedIDs uint64 `json:"folded_ids"`
}

// AggregateSketch is one window's DDSketch, encoded with sketches-go's compact encoding
// (ddsketch.DDSketch.Encode without the index mapping, which Aggregate.SketchAccuracy fixes).
// N and Max are exact; Max also caps quantiles, as the engine does.
type AggregateSketch struct {
	N    uint64  `json:"n,omitempty"`
	Max  float64 `json:"max,omitempty"`
	Bins []byte  `json:"bins,omitempty"`
}

// AggregateQueue is one queue row's mergeable parts.
type AggregateQueue struct {
	ID     string `json:"id"`
	Folded int    `json:"folded,omitempty"`
	// PerSecond is labels per second, 60 values ending at Aggregate.Second.
	PerSecond []uint32 `json:"per_sec"`
	// Labels10s is labels per 10 s slice, 90 values ending at Aggregate.Fine.
	Labels10s []uint32 `json:"labels_10s"`
	// P50History is time-per-sample p50 per 10 s slice (0 = none), 90 values ending at Fine.
	P50History []float32 `json:"p50_10s"`
	// Windows holds per-window counts and the time-per-sample sketch.
	Windows [NumWindows]AggregateQueueWindow `json:"windows"`

	LastEvent time.Time `json:"last_event"`
	// SeenLabelers is the number of labelers seen in the last 5 min (stats figure aside).
	SeenLabelers int                `json:"seen_labelers"`
	Labelers     []AggregateLabeler `json:"labelers,omitempty"`

	HasStats         bool      `json:"has_stats,omitempty"`
	Pending          float64   `json:"pending,omitempty"`
	InProgress       float64   `json:"in_progress,omitempty"`
	Completed        float64   `json:"completed,omitempty"`
	StatsLabelers    float64   `json:"stats_labelers,omitempty"`
	HasStatsLabelers bool      `json:"has_stats_labelers,omitempty"`
	StatsAt          time.Time `json:"stats_at,omitzero"`
}

// AggregateQueueWindow is one window of a queue.
type AggregateQueueWindow struct {
	// Calls and Errors are the queue's client calls and failed ones (its err%).
	Calls     uint64          `json:"calls,omitempty"`
	Errors    uint64          `json:"errors,omitempty"`
	Abandoned uint64          `json:"abandoned,omitempty"`
	Methods   MethodShare     `json:"methods"`
	TPS       AggregateSketch `json:"tps"`
}

// AggregateLabeler is one labeler row within a queue, kept compact: there are many.
type AggregateLabeler struct {
	ID     string             `json:"id"`
	Labels [NumWindows]uint64 `json:"labels"`
	// TimePerSample is the 15m figure. Quantiles, not a sketch: per labeler a sketch would
	// dominate the payload, so a labeler seen by several producers gets count-weighted
	// quantiles on merge.
	TimePerSample AggregateQuantiles `json:"tps"`
	LastSeenMS    int64              `json:"seen_ms"` // unix milliseconds
	// Calls and Errors are the labeler's client calls on the queue and the failed ones.
	Calls  [NumWindows]uint64 `json:"calls,omitzero"`
	Errors [NumWindows]uint64 `json:"errors,omitzero"`
}

// AggregateQuantiles is Quantiles in float32 (the sketch's 1% error dwarfs float32 rounding).
type AggregateQuantiles struct {
	Count                   uint64  `json:"n,omitempty"`
	P50, P90, P95, P99, Max float32 `json:",omitempty"`
}

func aggregateQuantiles(q Quantiles) AggregateQuantiles {
	return AggregateQuantiles{Count: q.Count, P50: float32(q.P50), P90: float32(q.P90), P95: float32(q.P95), P99: float32(q.P99), Max: float32(q.Max)}
}

// Quantiles returns q in the snapshot's form.
func (q AggregateQuantiles) Quantiles() Quantiles {
	return Quantiles{Count: q.Count, P50: float64(q.P50), P90: float64(q.P90), P95: float64(q.P95), P99: float64(q.P99), Max: float64(q.Max)}
}

// AggregateOp is one operation row's mergeable parts.
type AggregateOp struct {
	Name    string                      `json:"name"`
	Service string                      `json:"service"`
	Latency [NumWindows]AggregateSketch `json:"latency"`
	Errors  [NumWindows]uint64          `json:"errors"`
}

// AggregateLimits caps what one aggregate carries, so a 1000-queue engine still fits well inside
// NATS's default 1 MiB max payload.
type AggregateLimits struct {
	MaxQueues   int // queues sent with their own row; the rest merge into OtherID
	MaxLabelers int // labeler rows per queue (top by 15m labels)
	// MaxLabelerRows caps labeler rows over all queues: with many queues each sends fewer
	// (at least one), with few queues each sends up to MaxLabelers. Labeler counts merge
	// exactly while every producer sends all of a queue's labelers.
	MaxLabelerRows int
	MaxErrors      int // newest error entries
	MaxErrorGroups int // most frequent error signatures
}

// DefaultAggregateLimits returns the caps the daemon publishes with.
func DefaultAggregateLimits() AggregateLimits {
	return AggregateLimits{MaxQueues: 150, MaxLabelers: 50, MaxLabelerRows: 750, MaxErrors: 50, MaxErrorGroups: 50}
}

func (l AggregateLimits) withDefaults() AggregateLimits {
	d := DefaultAggregateLimits()
	if l.MaxQueues <= 0 {
		l.MaxQueues = d.MaxQueues
	}
	if l.MaxLabelers < 0 {
		l.MaxLabelers = 0
	}
	if l.MaxLabelerRows <= 0 {
		l.MaxLabelerRows = d.MaxLabelerRows
	}
	if l.MaxErrorGroups < 0 {
		l.MaxErrorGroups = 0
	}
	if l.MaxErrors < 0 {
		l.MaxErrors = 0
	}
	return l
}

// Aggregate builds the mergeable aggregate on the engine goroutine, after everything handed in
// before the call, with DefaultAggregateLimits. Producer and Host are left for the caller.
func (e *Engine) Aggregate(ctx context.Context) (*Aggregate, error) {
	return e.AggregateLimited(ctx, DefaultAggregateLimits())
}

// AggregateLimited is Aggregate with explicit caps.
func (e *Engine) AggregateLimited(ctx context.Context, limits AggregateLimits) (*Aggregate, error) {
	limits = limits.withDefaults()
	var x *Aggregate
	if err := e.onLoop(ctx, "aggregate", func(st *state) { x = st.aggregate(limits) }); err != nil {
		return nil, err
	}
	return x, nil
}

func (s *state) aggregate(lim AggregateLimits) *Aggregate {
	s.force = true // like Sync: nothing throttled, the aggregate is exact at s.now
	x := &Aggregate{
		Version:        AggregateVersion,
		At:             s.now,
		Started:        s.started,
		SketchAccuracy: sketchAccuracy,
		Second:         s.sec,
		Fine:           s.fine,
		Totals: AggregateTotals{
			Events: s.totals.Events, Invalid: s.totals.Invalid, Unknown: s.totals.Unknown, Errors: s.totals.Errors,
			FoldedIDs: s.queues.folded.estimate() + s.queues.labelersFolded.estimate() + s.opsFolded.estimate() + s.unkFolded.estimate(),
		},
		EventsPerSec: make([]uint32, secondSlots),
	}
	for i := range x.EventsPerSec {
		x.EventsPerSec[i] = s.eventsSec.get(s.sec-int64(secondSlots-1-i), 0)
	}
	x.Queues, x.QueuesOmitted = s.aggregateQueues(lim)
	x.Ops = s.aggregateOps()
	x.Services = s.buildServices()
	x.Impact = s.aggregateImpact()
	s.aggregateSketches(&s.lag, s.fine, fineKs, &x.Lag)

	// Invalid and unknown counts are small and built the same way as for a snapshot.
	var tmp Snapshot
	s.buildInvalid(&tmp)
	x.Invalid, x.InvalidSamples, x.Unknown = tmp.Invalid, tmp.InvalidSamples, tmp.Unknown

	errs := s.errors.newestFirst()
	if len(errs) > lim.MaxErrors {
		errs = errs[:lim.MaxErrors]
	}
	// IDs are a subset of Metadata: the reader lifts them out again (liftIDs).
	for i := range errs {
		errs[i].IDs = nil
	}
	x.Errors = errs
	groups := s.errGroups.build(s.fine)
	if len(groups) > lim.MaxErrorGroups {
		groups = groups[:lim.MaxErrorGroups]
	}
	for i := range groups {
		groups[i].Latest.IDs = nil
	}
	x.ErrorGroups = groups
	addLineage := func(id string) {
		if id == "" {
			return
		}
		if _, done := x.Lineage[id]; done {
			return
		}
		if spans, ok := s.traces.lineage(id); ok {
			if x.Lineage == nil {
				x.Lineage = map[string][]TraceSpan{}
			}
			x.Lineage[id] = spans
		}
	}
	for i := range errs {
		addLineage(errs[i].TraceID)
	}
	for i := range groups {
		addLineage(groups[i].Latest.TraceID)
	}
	return x
}

// aggregateSketches encodes the window merges of r ending at cur (windows nest, so one pass
// serves all); windows with k == 0 are left empty.
func (s *state) aggregateSketches(r *sketchRing, cur int64, ks [NumWindows]int, out *[NumWindows]AggregateSketch) {
	r.eachWindow(cur, ks, s.acc, func(w Window, n uint64, mx float64) {
		out[w] = AggregateSketch{N: n, Max: mx}
		if n > 0 {
			s.acc.Encode(&out[w].Bins, true)
		}
	})
}

func (s *state) aggregateQueues(lim AggregateLimits) ([]AggregateQueue, int) {
	t := s.queues
	all := make([]ranked, 0, len(t.list))
	for _, q := range t.list {
		all = append(all, ranked{q, q.perSecond.sum(s.sec, secondSlots, 0)})
	}
	slices.SortFunc(all, func(a, b ranked) int { return queueOrder(a.perMn, b.perMn, a.q.id, b.q.id) })
	keep := min(len(all), lim.MaxQueues)
	rows := make([]AggregateQueue, 0, keep+1)
	lim.MaxLabelers = min(lim.MaxLabelers, max(lim.MaxLabelerRows/max(keep, 1), 1))
	for _, r := range all[:keep] {
		rows = append(rows, s.aggregateQueue(r.q, 1, lim))
	}
	omitted := len(all) - keep
	if !t.folded.touched && omitted == 0 {
		return rows, 0
	}
	// The fold and the omitted queues travel as one OtherID row, merged here exactly as the
	// engine merges an evicted queue; the engine's own fold is not touched.
	other := t.other
	folded := 0
	if t.folded.touched {
		folded = int(max(t.folded.estimate(), 1))
	}
	if omitted == 0 {
		return append(rows, s.aggregateQueue(other, folded, AggregateLimits{})), 0
	}
	// Counts merge slice by slice (cheap); sketches go straight into window accumulators
	// rather than per-slice sketches, which is several times faster with hundreds of
	// omitted queues. The p50 history is the engine fold's own.
	other = newQueueState(OtherID, -1)
	other.lastEvent = t.other.lastEvent
	// The 15m sketch is the 5m one plus the ten minutes before it, each slice merged once.
	var tps [NumWindows]windowAcc
	var older windowAcc
	for _, q := range append([]*queueState{t.other}, omittedQueues(all[keep:])...) {
		q.counts.mergeInto(&other.counts)
		q.perSecond.mergeInto(&other.perSecond)
		tps[Window1m].addRing(&q.tpsFine, s.fine, 0, fineSketchSlots, s.kit)
		tps[Window5m].addRing(&q.tpsCoarse, s.coarse, 0, coarseKs[Window5m], s.kit)
		older.addRing(&q.tpsCoarse, s.coarse, coarseKs[Window5m], coarseKs[Window15m], s.kit)
		if q.lastEvent.After(other.lastEvent) {
			other.lastEvent = q.lastEvent
		}
	}
	tps[Window15m] = tps[Window5m].plus(&older)
	row := s.aggregateQueue(other, folded+omitted, AggregateLimits{})
	for w := Window(0); w < NumWindows; w++ {
		row.Windows[w].TPS = tps[w].aggregate()
	}
	s.refreshLatencyHistory(t.other)
	for i := 0; i < fineSlots; i++ {
		idx := s.fine - int64(fineSlots-1-i)
		if slot := int(idx % fineSlots); t.other.latTags[slot] == idx {
			row.P50History[i] = float32(math.Round(float64(t.other.latP50[slot])*10) / 10)
		}
	}
	return append(rows, row), omitted
}

// ranked is a tracked queue and its labels in the last minute, for picking the top ones.
type ranked struct {
	q     *queueState
	perMn uint64
}

func omittedQueues(rs []ranked) []*queueState {
	out := make([]*queueState, len(rs))
	for i := range rs {
		out[i] = rs[i].q
	}
	return out
}

// windowAcc accumulates one window's sketch over many rings.
type windowAcc struct {
	sk *ddsketch.DDSketch
	n  uint64
	mx float64
}

// addRing merges the slices aged from to to-1 before cur.
func (a *windowAcc) addRing(r *sketchRing, cur int64, from, to int, kit sketchKit) {
	for age := from; age < to && age < len(r.slots); age++ {
		a.addSlot(r.get(cur-int64(age)), kit)
	}
	for i := range r.pendingSlots() { // a coarse ring's fine slices not in it yet
		a.addSlot(r.pendingAt(i, cur, from, to), kit)
	}
}

func (a *windowAcc) addSlot(sl *sketchSlot, kit sketchKit) {
	if sl == nil {
		return
	}
	if a.sk == nil {
		a.sk = kit.accumulator()
	}
	_ = a.sk.MergeWith(sl.sketch())
	a.n += uint64(sl.n)
	a.mx = max(a.mx, sl.max)
}

// plus returns a new accumulator holding a and b.
func (a *windowAcc) plus(b *windowAcc) windowAcc {
	out := windowAcc{n: a.n + b.n, mx: max(a.mx, b.mx)}
	for _, src := range []*windowAcc{a, b} {
		if src.sk == nil {
			continue
		}
		if out.sk == nil {
			out.sk = src.sk.Copy()
			continue
		}
		_ = out.sk.MergeWith(src.sk)
	}
	return out
}

func (a *windowAcc) aggregate() AggregateSketch {
	if a.n == 0 {
		return AggregateSketch{}
	}
	out := AggregateSketch{N: a.n, Max: a.mx}
	a.sk.Encode(&out.Bins, true)
	return out
}

func (s *state) aggregateQueue(q *queueState, folded int, lim AggregateLimits) AggregateQueue {
	r := AggregateQueue{
		ID: q.id, Folded: folded, LastEvent: q.lastEvent,
		PerSecond:  make([]uint32, secondSlots),
		Labels10s:  make([]uint32, fineSlots),
		P50History: make([]float32, fineSlots),
	}
	for i := range r.PerSecond {
		r.PerSecond[i] = q.perSecond.get(s.sec-int64(secondSlots-1-i), 0)
	}
	s.refreshLatencyHistory(q)
	for i := 0; i < fineSlots; i++ {
		idx := s.fine - int64(fineSlots-1-i)
		r.Labels10s[i] = q.counts.get(idx, qLabels)
		if slot := int(idx % fineSlots); q.latTags[slot] == idx {
			// 0.1 ms is far below the sketch's 1%, and short numbers keep the payload small.
			r.P50History[i] = float32(math.Round(float64(q.latP50[slot])*10) / 10)
		}
	}
	var sums [NumWindows][qCols]uint64
	q.counts.windowRows(s.fine, fineKs, &sums)
	for w := Window(0); w < NumWindows; w++ {
		c := &sums[w]
		r.Windows[w].Abandoned = c[qAbandoned]
		r.Windows[w].Calls, r.Windows[w].Errors = c[qCalls], c[qErrors]
		r.Windows[w].Methods = MethodShare{Keyboard: c[qKeyboard], Mouse: c[qMouse], API: c[qAPI], Other: c[qOtherMethod]}
	}
	var fine, coarse [NumWindows]AggregateSketch
	s.aggregateSketches(&q.tpsFine, s.fine, fineSketchKs, &fine)
	s.aggregateSketches(&q.tpsCoarse, s.coarse, coarseKs, &coarse)
	r.Windows[Window1m].TPS = fine[Window1m]
	r.Windows[Window5m].TPS, r.Windows[Window15m].TPS = coarse[Window5m], coarse[Window15m]

	r.HasStats, r.Pending, r.InProgress, r.Completed, r.StatsAt = q.hasStats, q.pending, q.inProgress, q.completed, q.statsAt
	r.StatsLabelers, r.HasStatsLabelers = q.statsLabel, q.hasStatsLabelers

	r.SeenLabelers = s.seenLabelers(q)
	if lim.MaxLabelers > 0 {
		r.Labelers = s.aggregateLabelers(q, lim.MaxLabelers)
	}
	return r
}

// aggregateLabelers returns the queue's top n labelers (labelerOrder), then its OtherID
// fold, with the columns of a snapshot's labeler rows but quantiles only for the rows sent.
func (s *state) aggregateLabelers(q *queueState, n int) []AggregateLabeler {
	b := s.rows()
	type cand struct {
		l                     *labelerState
		labels, calls, errors [NumWindows]uint64
	}
	count := func(l *labelerState) cand {
		c := cand{l: l}
		var fine, coarse [NumWindows][qCols]uint64
		l.fine.windowRows(s.fine, labelerFineKs, &fine)
		l.coarse.windowRows(s.coarse, coarseKs, &coarse)
		c.labels[Window1m], c.calls[Window1m], c.errors[Window1m] = fine[Window1m][lLabels], fine[Window1m][lCalls], fine[Window1m][lErrors]
		for _, w := range [...]Window{Window5m, Window15m} {
			c.labels[w], c.calls[w], c.errors[w] = coarse[w][lLabels], coarse[w][lCalls], coarse[w][lErrors]
		}
		return c
	}
	cands := make([]cand, 0, len(q.labelers)+1)
	for _, l := range q.labelers {
		if b.labelerListed(l.lastSeen) {
			cands = append(cands, count(l))
		}
	}
	slices.SortFunc(cands, func(a, b cand) int { return labelerOrder(a.labels[Window15m], b.labels[Window15m], a.l.id, b.l.id) })
	cands = cands[:min(len(cands), n)]
	if q.labOther != nil && b.labelerListed(q.labOther.lastSeen) {
		cands = append(cands, count(q.labOther))
	}
	out := make([]AggregateLabeler, 0, len(cands))
	for _, c := range cands {
		var tq [NumWindows]Quantiles
		c.l.tps.windowQuantiles(s.labSlice, labelerKs, s.acc, &tq)
		out = append(out, AggregateLabeler{ID: c.l.id, Labels: c.labels, Calls: c.calls, Errors: c.errors,
			TimePerSample: aggregateQuantiles(tq[Window15m]), LastSeenMS: c.l.lastSeen.UnixMilli()})
	}
	return out
}

func (s *state) aggregateOps() []AggregateOp {
	rows := make([]AggregateOp, 0, len(s.ops)+1)
	add := func(op *opState) {
		r := AggregateOp{Name: op.name, Service: op.service}
		var fine, coarse [NumWindows]AggregateSketch
		s.aggregateSketches(&op.latFine, s.fine, fineSketchKs, &fine)
		s.aggregateSketches(&op.latCoarse, s.coarse, coarseKs, &coarse)
		r.Latency = [NumWindows]AggregateSketch{fine[Window1m], coarse[Window5m], coarse[Window15m]}
		r.Errors = op.errs.windowSums(s.fine, fineKs, 0)
		rows = append(rows, r)
	}
	for _, op := range s.ops {
		add(op)
	}
	if s.opOther != nil {
		add(s.opOther)
	}
	slices.SortFunc(rows, func(a, b AggregateOp) int { return strings.Compare(a.Name, b.Name) })
	return rows
}

// String names the aggregate for logs and errors.
func (x *Aggregate) String() string {
	return fmt.Sprintf("aggregate v%d from %q at %s", x.Version, x.Producer, x.At.UTC().Format(time.RFC3339))
}
