package engine

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
)

// Merge builds the Snapshot one engine would have built from the union of the events the
// aggregates' producers saw (see Aggregate for what is exact and what is approximated). Aggregates
// from the same producer are not double counted: the newest one is used.
func Merge(aggregates ...*Aggregate) (*Snapshot, error) {
	latest := map[string]*parsedAggregate{}
	for _, x := range aggregates {
		p, err := parseAggregate(x)
		if err != nil {
			return nil, err
		}
		if prev, ok := latest[x.Producer]; !ok || x.At.After(prev.x.At) {
			latest[x.Producer] = p
		}
	}
	ps := make([]*parsedAggregate, 0, len(latest))
	for _, p := range latest {
		ps = append(ps, p)
	}
	return mergeParsed(ps, nil), nil
}

// MergerConfig configures a Merger. Zero fields take the defaults.
type MergerConfig struct {
	// ExpireAfter marks a producer not heard from for this long stale (default 5 s: five
	// missed 1 Hz aggregates): its aggregate leaves the merge, so a daemon that died or was
	// cut off stops counting, and a restarted one is never counted twice.
	ExpireAfter time.Duration
	// ForgetAfter drops a stale producer from Producers (default 10 min): until then views
	// list it as stale, with how long it has been silent.
	ForgetAfter time.Duration
	// MaxProducers caps producers merged at once (default 64); aggregates from more are refused.
	MaxProducers int
	// MaxClockSkew refuses aggregates whose time is further than this from the merger's clock
	// (default 1 min; negative disables): series are aligned on producer time, and one
	// producer with a wrong clock would otherwise push everyone else's data out of the
	// windows.
	MaxClockSkew time.Duration
	// MaxExtraErrors bounds error entries added with AddErrors (default 1000).
	MaxExtraErrors int
	// Now is the merger's clock; nil means time.Now.
	Now func() time.Time
}

// ErrTooManyProducers is returned by Merger.Add when MaxProducers are live already.
var ErrTooManyProducers = errors.New("too many producers")

// Merger keeps the latest aggregate of each producer, leaves out producers not heard from for
// ExpireAfter (listing them as stale until ForgetAfter), and builds merged Snapshots. It is
// safe for concurrent use.
type Merger struct {
	cfg MergerConfig

	mu        sync.Mutex
	producers map[string]*producerEntry
	extra     []ErrorEntry // ring of entries from AddErrors
	extraHead int
}

type producerEntry struct {
	p     *parsedAggregate // nil once stale: a silent producer's aggregate is not merged
	id    string
	host  string
	at    time.Time
	heard time.Time
}

// ProducerStatus describes one producer, live or stale.
type ProducerStatus struct {
	Producer string
	Host     string
	At       time.Time // the producer's time of its latest aggregate
	Heard    time.Time // the merger's time when that aggregate arrived
	// Silent is how long ago, on the merger's clock, the latest aggregate arrived.
	Silent time.Duration
	// Stale is true once Silent passed ExpireAfter: the producer is left out of the merge.
	Stale bool
}

// NewMerger returns an empty merger.
func NewMerger(cfg MergerConfig) *Merger {
	if cfg.ExpireAfter <= 0 {
		cfg.ExpireAfter = 5 * time.Second
	}
	if cfg.ForgetAfter <= 0 {
		cfg.ForgetAfter = 10 * time.Minute
	}
	if cfg.MaxProducers <= 0 {
		cfg.MaxProducers = 64
	}
	if cfg.MaxClockSkew == 0 {
		cfg.MaxClockSkew = time.Minute
	}
	if cfg.MaxExtraErrors <= 0 {
		cfg.MaxExtraErrors = DefaultConfig().ErrorLogSize
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Merger{cfg: cfg, producers: map[string]*producerEntry{}}
}

// AddEncoded decodes an untrusted encoded aggregate and adds it.
func (m *Merger) AddEncoded(data []byte) error {
	x, err := DecodeAggregate(data)
	if err != nil {
		return err
	}
	return m.Add(x)
}

// Add validates x and makes it its producer's current aggregate. An aggregate older than the one
// held (reordered delivery) is ignored. The merger keeps x: the caller must not modify it.
func (m *Merger) Add(x *Aggregate) error {
	p, err := parseAggregate(x)
	if err != nil {
		return err
	}
	now := m.cfg.Now()
	if skew := x.At.Sub(now).Abs(); m.cfg.MaxClockSkew > 0 && skew > m.cfg.MaxClockSkew {
		return fmt.Errorf("aggregate from producer %q is %s away from this clock (more than %s): check NTP on %s",
			x.Producer, skew.Round(time.Second), m.cfg.MaxClockSkew, cmp.Or(x.Host, "the producer"))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	live := m.expire(now)
	cur, ok := m.producers[x.Producer]
	if ok && cur.p != nil {
		if x.At.Before(cur.at) {
			return nil
		}
		cur.p, cur.host, cur.at, cur.heard = p, x.Host, x.At, now
		return nil
	}
	// A new producer, or a stale one back: it takes a live place.
	if live >= m.cfg.MaxProducers {
		return fmt.Errorf("aggregate from producer %q: %d producers live already: %w", x.Producer, live, ErrTooManyProducers)
	}
	m.producers[x.Producer] = &producerEntry{p: p, id: x.Producer, host: x.Host, at: x.At, heard: now}
	return nil
}

// AddErrors adds error entries that arrived outside aggregates (the errors subject); they are
// merged into the error log of the next snapshots, without duplicating entries an aggregate
// also carries, and the oldest are dropped beyond MaxExtraErrors.
func (m *Merger) AddErrors(entries ...ErrorEntry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range entries {
		if len(m.extra) < m.cfg.MaxExtraErrors {
			m.extra = append(m.extra, e)
			continue
		}
		m.extra[m.extraHead] = e
		m.extraHead = (m.extraHead + 1) % len(m.extra)
	}
}

// expire marks producers silent for ExpireAfter stale, forgets those silent for
// ForgetAfter (and the longest silent beyond MaxProducers stale ones, which bounds the
// list whatever the churn of producer ids), and returns how many are live.
func (m *Merger) expire(now time.Time) (live int) {
	var stale []*producerEntry
	for id, e := range m.producers {
		silent := now.Sub(e.heard)
		switch {
		case silent > m.cfg.ForgetAfter:
			delete(m.producers, id)
		case silent > m.cfg.ExpireAfter:
			e.p = nil
			stale = append(stale, e)
		default:
			live++
		}
	}
	if len(stale) > m.cfg.MaxProducers {
		slices.SortFunc(stale, func(a, b *producerEntry) int { return a.heard.Compare(b.heard) })
		for _, e := range stale[:len(stale)-m.cfg.MaxProducers] {
			delete(m.producers, e.id)
		}
	}
	return live
}

// Producers lists the producers, live and stale, by id.
func (m *Merger) Producers() []ProducerStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.cfg.Now()
	m.expire(now)
	out := make([]ProducerStatus, 0, len(m.producers))
	for _, e := range m.producers {
		out = append(out, ProducerStatus{Producer: e.id, Host: e.host, At: e.at, Heard: e.heard, Silent: now.Sub(e.heard), Stale: e.p == nil})
	}
	slices.SortFunc(out, func(a, b ProducerStatus) int { return strings.Compare(a.Producer, b.Producer) })
	return out
}

// Snapshot merges the live producers' latest aggregates. With no live producer it returns an
// empty snapshot at the merger's clock.
func (m *Merger) Snapshot() *Snapshot {
	now, ps, extra := m.live()
	if len(ps) == 0 {
		s := emptySnapshot(now)
		s.Errors = mergeErrors(nil, extra)
		return s
	}
	return mergeParsed(ps, extra)
}

// live returns the merger's clock, the live producers' aggregates (stale ones are left out)
// and the extra error entries.
func (m *Merger) live() (time.Time, []*parsedAggregate, []ErrorEntry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.cfg.Now()
	m.expire(now)
	ps := make([]*parsedAggregate, 0, len(m.producers))
	for _, e := range m.producers {
		if e.p != nil {
			ps = append(ps, e.p)
		}
	}
	return now, ps, slices.Clone(m.extra)
}

func emptySnapshot(at time.Time) *Snapshot {
	return &Snapshot{At: at, Started: at, Lineage: map[string][]TraceSpan{}, EventsPerSec: make([]float64, secondSlots),
		Queues: []QueueStats{}, Ops: []OpStats{}, Services: []ServiceStats{{Service: "anvil"}, {Service: "forge"}},
		Invalid: []ReasonCount{}, InvalidSamples: []BadSample{}, Unknown: []NameCount{}}
}

// realign adds src, a series ending at slice srcEnd, into dst, a series of the same length
// ending at dstEnd ≥ srcEnd; values that fall before dst's start are dropped.
func realign[T uint32 | float32](dst []float64, dstEnd int64, src []T, srcEnd int64, weight func(i int) float64) {
	shift := dstEnd - srcEnd
	if shift < 0 || shift >= int64(len(dst)) {
		return
	}
	for i, v := range src {
		j := i - int(shift)
		if j < 0 {
			continue
		}
		w := 1.0
		if weight != nil {
			w = weight(i)
		}
		dst[j] += float64(v) * w
	}
}

// sketchSet collects the sketches of one window and their exact count and max.
type sketchSet struct {
	sks []*ddsketch.DDSketch
	n   uint64
	max float64
}

func (ss *sketchSet) add(sk *ddsketch.DDSketch, es *AggregateSketch) {
	if sk == nil || es.N == 0 {
		return
	}
	ss.sks = append(ss.sks, sk)
	ss.n += es.N
	ss.max = max(ss.max, es.Max)
}

func (ss *sketchSet) quantiles(acc *ddsketch.DDSketch) Quantiles {
	acc.Clear()
	for _, sk := range ss.sks {
		_ = acc.MergeWith(sk) // every sketch was decoded with the engine's mapping
	}
	return readQuantiles(acc, ss.n, ss.max)
}

type mergedQueue struct {
	id        string
	folded    int
	perSec    []float64
	labels    []float64
	p50Sum    []float64
	p50Weight []float64
	abandoned [NumWindows]uint64
	calls     [NumWindows]uint64
	errors    [NumWindows]uint64
	methods   [NumWindows]MethodShare
	tps       [NumWindows]sketchSet
	lastEvent time.Time
	seen      int
	labelers  map[string]*mergedLabeler
	stats     *AggregateQueue // freshest stats
	statsLab  *AggregateQueue // freshest active_labelers figure
}

type mergedLabeler struct {
	row              LabelerStats
	qSum             [4]float64 // count-weighted p50, p90, p95, p99
	tpsCount, tpsMax float64
}

type mergedService struct {
	name          string
	calls, errors [NumWindows]uint64
}

type mergedOp struct {
	name, service string
	lat           [NumWindows]sketchSet
	errs          [NumWindows]uint64
}

// mergeParsed builds the merged snapshot; ps is non-empty.
func mergeParsed(ps []*parsedAggregate, extraErrors []ErrorEntry) *Snapshot {
	// Deterministic order: merging is commutative, but ties in sorts and error order
	// should not depend on map iteration.
	slices.SortFunc(ps, func(a, b *parsedAggregate) int { return strings.Compare(a.x.Producer, b.x.Producer) })
	cfg := DefaultConfig()
	at, started := ps[0].x.At, ps[0].x.Started
	sec, fine := ps[0].x.Second, ps[0].x.Fine
	for _, p := range ps[1:] {
		if p.x.At.After(at) {
			at = p.x.At
		}
		if p.x.Started.Before(started) {
			started = p.x.Started
		}
		sec, fine = max(sec, p.x.Second), max(fine, p.x.Fine)
	}
	// The same clock as the engine's, so a merge equals the engine that saw it all.
	rows := rowBuilder{now: at, started: started}
	acc := newSketchKit().accumulator()

	snap := &Snapshot{At: at, Started: started, Lineage: map[string][]TraceSpan{}}
	events := make([]float64, secondSlots)
	var lag [NumWindows]sketchSet
	queues := map[string]*mergedQueue{}
	ops := map[string]*mergedOp{}
	services := map[string]*mergedService{}
	invalid := map[string]uint64{}
	unknown := map[string]uint64{}
	var unknownRest uint64
	var errs []ErrorEntry
	groups := map[string]*ErrorGroup{}
	var samples []BadSample
	lineage := map[string][]TraceSpan{}

	for _, p := range ps {
		x := p.x
		snap.Totals.Events += x.Totals.Events
		snap.Totals.Invalid += x.Totals.Invalid
		snap.Totals.Unknown += x.Totals.Unknown
		snap.Totals.Errors += x.Totals.Errors
		snap.Totals.FoldedIDs += x.Totals.FoldedIDs
		realign(events, sec, x.EventsPerSec, x.Second, nil)
		for w := Window(0); w < NumWindows; w++ {
			lag[w].add(p.lag[w], &x.Lag[w])
		}
		for i := range x.Queues {
			mergeQueue(queues, &x.Queues[i], p.tps[i], x, sec, fine)
		}
		for i := range x.Ops {
			eo := &x.Ops[i]
			op := ops[eo.Name]
			if op == nil {
				op = &mergedOp{name: eo.Name, service: eo.Service}
				ops[eo.Name] = op
			}
			for w := Window(0); w < NumWindows; w++ {
				op.lat[w].add(p.ops[i][w], &eo.Latency[w])
				op.errs[w] += eo.Errors[w]
			}
		}
		for _, sv := range x.Services {
			agg := services[sv.Service]
			if agg == nil {
				agg = &mergedService{name: sv.Service}
				services[sv.Service] = agg
			}
			for w := Window(0); w < NumWindows; w++ {
				agg.calls[w] += sv.Calls[w]
				agg.errors[w] += sv.Errors[w]
			}
		}
		for _, r := range x.Invalid {
			invalid[r.Reason] += r.Count
		}
		for _, u := range x.Unknown {
			if u.Name == OtherID {
				unknownRest += u.Count
				continue
			}
			unknown[u.Name] += u.Count
		}
		samples = append(samples, x.InvalidSamples...)
		errs = append(errs, x.Errors...)
		for i := range x.ErrorGroups {
			mergeErrorGroup(groups, &x.ErrorGroups[i])
		}
		for id, spans := range x.Lineage {
			lineage[id] = append(lineage[id], spans...)
		}
	}

	snap.EventsPerSec = events
	var last10 float64
	for _, v := range events[secondSlots-10:] {
		last10 += v
	}
	snap.Totals.RatePerSec = last10 / rows.covered(secondWidth, 10).Seconds()

	for w := Window(0); w < NumWindows; w++ {
		snap.Lag[w] = lag[w].quantiles(acc)
	}
	snap.Queues = buildMergedQueues(queues, rows, acc, cfg)
	snap.Ops = make([]OpStats, 0, len(ops))
	for _, op := range ops {
		var latency [NumWindows]Quantiles
		for w := Window(0); w < NumWindows; w++ {
			latency[w] = op.lat[w].quantiles(acc)
		}
		snap.Ops = append(snap.Ops, opRow(op.name, op.service, latency, op.errs))
	}
	snap.Ops = opRows(snap.Ops)
	snap.Services = make([]ServiceStats, 0, len(services))
	for _, sv := range services {
		snap.Services = append(snap.Services, serviceRow(sv.name, sv.calls, sv.errors))
	}
	slices.SortFunc(snap.Services, func(a, b ServiceStats) int { return strings.Compare(a.Service, b.Service) })

	snap.Invalid = make([]ReasonCount, 0, len(invalid))
	for r, n := range invalid {
		snap.Invalid = append(snap.Invalid, ReasonCount{Reason: r, Count: n})
	}
	sort.Slice(snap.Invalid, func(i, j int) bool { return snap.Invalid[i].Reason < snap.Invalid[j].Reason })
	slices.SortStableFunc(samples, func(a, b BadSample) int { return b.Received.Compare(a.Received) })
	snap.InvalidSamples = samples[:min(len(samples), cfg.BadSamples)]
	snap.Unknown = mergeUnknown(unknown, unknownRest, cfg.MaxUnknownNames)

	snap.Errors = mergeErrors(errs, extraErrors)
	snap.ErrorGroups = make([]ErrorGroup, 0, min(len(groups), cfg.MaxErrorGroups+1))
	for _, g := range groups {
		if g.Latest.IDs == nil {
			g.Latest.IDs = LiftIDs(g.Latest.Metadata)
		}
		snap.ErrorGroups = append(snap.ErrorGroups, *g)
	}
	SortErrorGroups(snap.ErrorGroups, Window5m)
	if len(snap.ErrorGroups) > cfg.MaxErrorGroups {
		snap.ErrorGroups = snap.ErrorGroups[:cfg.MaxErrorGroups]
	}
	addLineage := func(id string) {
		if id == "" {
			return
		}
		if _, done := snap.Lineage[id]; done {
			return
		}
		if spans, ok := lineage[id]; ok {
			snap.Lineage[id] = mergeSpans(spans)
		}
	}
	for i := range snap.Errors {
		addLineage(snap.Errors[i].TraceID)
	}
	for i := range snap.ErrorGroups {
		addLineage(snap.ErrorGroups[i].Latest.TraceID)
	}
	return snap
}

// mergeErrorGroup adds one producer's group to the groups with the same signature.
func mergeErrorGroup(groups map[string]*ErrorGroup, eg *ErrorGroup) {
	key := eg.Service + "\x00" + eg.Event + "\x00" + eg.Signature
	g := groups[key]
	if g == nil {
		c := *eg
		groups[key] = &c
		return
	}
	for w := Window(0); w < NumWindows; w++ {
		g.Count[w] += eg.Count[w]
	}
	g.Total += eg.Total
	if !eg.First.IsZero() && (g.First.IsZero() || eg.First.Before(g.First)) {
		g.First = eg.First
	}
	if eg.Last.After(g.Last) {
		g.Last, g.Latest = eg.Last, eg.Latest
	}
}

func mergeQueue(queues map[string]*mergedQueue, eq *AggregateQueue, tps [NumWindows]*ddsketch.DDSketch, x *Aggregate, sec, fine int64) {
	q := queues[eq.ID]
	if q == nil {
		q = &mergedQueue{
			id: eq.ID, perSec: make([]float64, secondSlots), labels: make([]float64, fineSlots),
			p50Sum: make([]float64, fineSlots), p50Weight: make([]float64, fineSlots),
			labelers: map[string]*mergedLabeler{},
		}
		queues[eq.ID] = q
	}
	q.folded += eq.Folded
	realign(q.perSec, sec, eq.PerSecond, x.Second, nil)
	realign(q.labels, fine, eq.Labels10s, x.Fine, nil)
	// p50 per 10 s slice is not mergeable; weigh each producer's by its labels in the slice.
	weight := func(i int) float64 {
		if eq.P50History[i] == 0 {
			return 0
		}
		return float64(max(eq.Labels10s[i], 1))
	}
	realign(q.p50Sum, fine, eq.P50History, x.Fine, weight)
	ones := make([]float32, fineSlots)
	for i := range ones {
		ones[i] = 1
	}
	realign(q.p50Weight, fine, ones, x.Fine, weight)
	for w := Window(0); w < NumWindows; w++ {
		ew := &eq.Windows[w]
		q.abandoned[w] += ew.Abandoned
		q.calls[w] += ew.Calls
		q.errors[w] += ew.Errors
		m := &q.methods[w]
		m.Keyboard += ew.Methods.Keyboard
		m.Mouse += ew.Methods.Mouse
		m.API += ew.Methods.API
		m.Other += ew.Methods.Other
		q.tps[w].add(tps[w], &ew.TPS)
	}
	if eq.LastEvent.After(q.lastEvent) {
		q.lastEvent = eq.LastEvent
	}
	q.seen = max(q.seen, eq.SeenLabelers)
	if eq.HasStats && (q.stats == nil || eq.StatsAt.After(q.stats.StatsAt)) {
		q.stats = eq
	}
	if eq.HasStatsLabelers && (q.statsLab == nil || eq.StatsAt.After(q.statsLab.StatsAt)) {
		q.statsLab = eq
	}
	for _, el := range eq.Labelers {
		l := q.labelers[el.ID]
		if l == nil {
			l = &mergedLabeler{row: LabelerStats{ID: el.ID}}
			q.labelers[el.ID] = l
		}
		for w := Window(0); w < NumWindows; w++ {
			l.row.Labels[w] += el.Labels[w]
			l.row.Calls[w] += el.Calls[w]
			l.row.Errors[w] += el.Errors[w]
		}
		if seen := time.UnixMilli(el.LastSeenMS).UTC(); seen.After(l.row.LastSeen) {
			l.row.LastSeen = seen
		}
		if t := el.TimePerSample.Quantiles(); t.Count > 0 {
			c := float64(t.Count)
			l.qSum[0] += t.P50 * c
			l.qSum[1] += t.P90 * c
			l.qSum[2] += t.P95 * c
			l.qSum[3] += t.P99 * c
			l.tpsCount += c
			l.tpsMax = max(l.tpsMax, t.Max)
		}
	}
}

func buildMergedQueues(queues map[string]*mergedQueue, b rowBuilder, acc *ddsketch.DDSketch, cfg Config) []QueueStats {
	rows := make([]*QueueStats, 0, len(queues))
	var other *QueueStats
	for _, q := range queues {
		in := queueRowInput{id: q.id, folded: 1}
		if q.id == OtherID { // a tracked queue's row stands for itself, however many producers send it
			in.folded = max(q.folded, 1)
		}
		var labels1m float64
		for _, v := range q.perSec {
			labels1m += v
		}
		in.labels1m = uint64(labels1m)
		var labels [NumWindows]float64
		for i := range q.labels {
			age := fineSlots - 1 - i
			for w := Window(0); w < NumWindows; w++ {
				if age < fineKs[w] {
					labels[w] += q.labels[i]
				}
			}
		}
		for w := Window(0); w < NumWindows; w++ {
			in.windows[w] = queueWindowCounts{labels: uint64(labels[w]), abandoned: q.abandoned[w], calls: q.calls[w], errors: q.errors[w], methods: q.methods[w]}
			in.tps[w] = q.tps[w].quantiles(acc)
		}
		if st := q.stats; st != nil {
			in.stats = queueStatsFigures{has: true, pending: st.Pending, inProgress: st.InProgress, completed: st.Completed, at: st.StatsAt}
		}
		in.activeLabelers, in.labelers = mergedLabelers(q, b, cfg)
		r := b.queueRow(&in, func(spark, labels10s, p50 []float64) {
			copy(spark, q.perSec)
			copy(labels10s, q.labels)
			for i := range p50 {
				if q.p50Weight[i] > 0 {
					p50[i] = q.p50Sum[i] / q.p50Weight[i]
				}
			}
		})
		if q.id == OtherID {
			other = r
			continue
		}
		rows = append(rows, r)
	}
	return queueRows(rows, other)
}

// mergedLabelers returns active labelers and the labeler rows of a merged queue.
func mergedLabelers(q *mergedQueue, b rowBuilder, cfg Config) (int, []LabelerStats) {
	active := 0
	rows := make([]LabelerStats, 0, len(q.labelers))
	var other *LabelerStats
	for _, l := range q.labelers {
		if b.labelerActive(l.row.LastSeen) {
			active++
		}
		if !b.labelerListed(l.row.LastSeen) {
			continue
		}
		r := l.row
		if l.tpsCount > 0 {
			r.TimePerSample = Quantiles{Count: uint64(l.tpsCount), P50: l.qSum[0] / l.tpsCount, P90: l.qSum[1] / l.tpsCount,
				P95: l.qSum[2] / l.tpsCount, P99: l.qSum[3] / l.tpsCount, Max: l.tpsMax}
		}
		if r.ID == OtherID {
			other = &r
			continue
		}
		rows = append(rows, r)
	}
	// Producers send their top labelers; the union may hold more than one engine tracks.
	rows = labelerRows(rows, other, cfg.MaxLabelersPerQueue)
	// Producers count their own labelers; the union is at least the largest of them.
	seen := max(active, q.seen)
	if st := q.statsLab; st != nil {
		return b.activeLabelers(true, st.StatsLabelers, st.StatsAt, seen), rows
	}
	return seen, rows
}

func mergeUnknown(unknown map[string]uint64, rest uint64, maxNames int) []NameCount {
	out := make([]NameCount, 0, len(unknown)+1)
	for name, c := range unknown {
		out = append(out, NameCount{Name: name, Count: c})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Name < out[j].Name
	})
	if len(out) > maxNames {
		for _, nc := range out[maxNames:] {
			rest += nc.Count
		}
		out = out[:maxNames]
	}
	if rest > 0 {
		out = append(out, NameCount{Name: OtherID, Count: rest})
	}
	return out
}

type errorKey struct {
	event, trace, span, node string
	at                       int64
	seq                      uint64
}

func keyOf(e *ErrorEntry) errorKey {
	return errorKey{event: e.Event, trace: e.TraceID, span: e.SpanID, node: e.Node, at: e.Time.UnixNano(), seq: e.StreamSeq}
}

// mergeErrors returns the union of the aggregates' entries and extra ones, newest first (by
// arrival, else event time), without duplicates, capped at the engine's error log size.
func mergeErrors(fromAggregates, extra []ErrorEntry) []ErrorEntry {
	seen := make(map[errorKey]bool, len(fromAggregates)+len(extra))
	out := make([]ErrorEntry, 0, len(fromAggregates)+len(extra))
	for _, list := range [][]ErrorEntry{fromAggregates, extra} {
		for i := range list {
			k := keyOf(&list[i])
			if seen[k] {
				continue
			}
			seen[k] = true
			out = append(out, list[i])
		}
	}
	when := func(e *ErrorEntry) time.Time {
		if !e.Received.IsZero() {
			return e.Received
		}
		return e.Time
	}
	slices.SortStableFunc(out, func(a, b ErrorEntry) int { return when(&b).Compare(when(&a)) })
	if n := DefaultConfig().ErrorLogSize; len(out) > n {
		out = out[:n]
	}
	for i := range out {
		if out[i].IDs == nil {
			out[i].IDs = LiftIDs(out[i].Metadata)
		}
	}
	return out
}

// LiftIDs returns the identifiers an error entry shows (queue, assignment, sample, user,
// labeler, pipeline, artifact ids) from its metadata, in the engine's order.
func LiftIDs(metadata []KVPair) []KVPair {
	var ids []KVPair
	for _, k := range idKeys {
		for _, kv := range metadata {
			if kv.Key == k {
				ids = append(ids, kv)
				break
			}
		}
	}
	return ids
}

// mergeSpans unions one trace's spans from several producers, oldest first.
func mergeSpans(spans []TraceSpan) []TraceSpan {
	type key struct {
		at                  int64
		event, span, parent string
	}
	seen := make(map[key]bool, len(spans))
	out := make([]TraceSpan, 0, len(spans))
	for _, sp := range spans {
		k := key{sp.Time.UnixNano(), sp.Event, sp.SpanID, sp.ParentSpanID}
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, sp)
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].Time.Before(out[b].Time) })
	return out
}
