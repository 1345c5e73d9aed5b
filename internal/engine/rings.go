package engine

import (
	"math"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/DataDog/sketches-go/ddsketch/mapping"
	"github.com/DataDog/sketches-go/ddsketch/store"
)

// Time is cut into aligned slices; a slice index is unix-nanos / width. A window of W covers
// the current slice and the W/width-1 before it, so a value leaves a window at most W after
// it arrived (and stays at least W-width).
const (
	secondWidth  = time.Second
	fineWidth    = 10 * time.Second
	coarseWidth  = time.Minute
	labelerWidth = 5 * time.Minute

	secondSlots     = 60
	fineSlots       = 90 // 15 min of 10 s slices
	coarseSlots     = 15 // 15 min of 1 min slices
	labelerSlots    = 3  // 15 min of 5 min slices
	fineSketchSlots = 6  // 1m of 10 s slices for per-queue sketches
)

// sliceIndex maps t to its slice of the given width.
func sliceIndex(t time.Time, width time.Duration) int64 {
	return t.UnixNano() / int64(width)
}

// slicesFor is how many slices of width make up window w.
func slicesFor(w Window, width time.Duration) int {
	n := int(WindowDurations[w] / width)
	if n < 1 {
		n = 1
	}
	return n
}

// ringSlot is idx % n, a slice index's slot in a ring of n. Every event writes a dozen
// rings or more, and a 64-bit division is tens of cycles: for the ring lengths in use the
// compiler turns the remainder by a constant into multiplications.
func ringSlot(idx int64, n int) int {
	if idx >= 0 {
		u := uint64(idx)
		switch n {
		case secondSlots:
			return int(u % secondSlots)
		case fineSlots:
			return int(u % fineSlots)
		case coarseSlots:
			return int(u % coarseSlots)
		case fineSketchSlots:
			return int(u % fineSketchSlots)
		case labelerSlots:
			return int(u % labelerSlots)
		}
	}
	return int(idx % int64(n))
}

// countRing is a ring of slices, each a row of cols counters. Slots are tagged with the slice
// they hold, so stale slots are reset lazily on first write and ignored on read.
//
// A slot's tag and counters sit side by side in one array: an event writes a dozen rings
// of a dozen different queues, labelers and operations, mostly out of cache, and separate
// tag and counter arrays cost two cache misses a write where this costs one.
//
// A labeler's counts are kept in 10 s and in 1 min slices; like sketchRing, the fine ring
// takes every add and a slice goes into the coarse ring when it leaves (spill, pending; see
// pairCountRings). A paired coarse ring is read through windowRows only, which counts the
// pending slices.
type countRing struct {
	cols, slots int
	// data is slots rows of cols+2 words: the tag (the slice index held, -1 for none; low
	// half, then high half), then the counters.
	data []uint32
	// spill, on a fine ring, is the coarse ring its slices go into when they leave.
	spill *countRing
	// pending, on a coarse ring, is the fine ring whose live slices it does not hold yet.
	pending *countRing
}

// pairCountRings makes coarse hold fine's slices as they leave it. Both have the same
// columns; fine's slices are fineWidth, coarse's coarseWidth.
func pairCountRings(fine, coarse *countRing) {
	fine.spill, coarse.pending = coarse, fine
}

func newCountRing(slots, cols int) countRing {
	r := countRing{cols: cols, slots: slots, data: make([]uint32, slots*(cols+2))}
	r.reset()
	return r
}

// row returns slot's words: tag halves, then counters.
func (r *countRing) row(slot int) []uint32 {
	base := slot * (r.cols + 2)
	return r.data[base : base+r.cols+2 : base+r.cols+2]
}

func rowTag(row []uint32) int64 { return int64(uint64(row[0]) | uint64(row[1])<<32) }

func setRowTag(row []uint32, idx int64) { row[0], row[1] = uint32(idx), uint32(uint64(idx)>>32) }

func (r *countRing) add(idx int64, col int, n uint32) {
	row := r.row(ringSlot(idx, r.slots))
	if tag := rowTag(row); tag != idx {
		if tag > idx { // older than the ring: time only moves forward, so drop
			if r.spill != nil { // or keep in the coarse ring, if it still holds the slice
				r.spill.add(idx/fineToCoarse, col, n)
			}
			return
		}
		if r.spill != nil && tag != -1 {
			for c, v := range row[2:] {
				if v > 0 {
					r.spill.add(tag/fineToCoarse, c, v)
				}
			}
		}
		setRowTag(row, idx)
		clear(row[2:])
	}
	row[2+col] += n
}

// get returns the counter for slice idx, 0 if the ring does not hold it.
func (r *countRing) get(idx int64, col int) uint32 {
	row := r.row(ringSlot(idx, r.slots))
	if rowTag(row) != idx {
		return 0
	}
	return row[2+col]
}

// sum adds col over the k slices ending at cur.
func (r *countRing) sum(cur int64, k int, col int) uint64 {
	var total uint64
	for i := 0; i < k && i < r.slots; i++ {
		total += uint64(r.get(cur-int64(i), col))
	}
	return total
}

// windowSums returns col summed over each window (nested), with k slices per window.
func (r *countRing) windowSums(cur int64, ks [NumWindows]int, col int) [NumWindows]uint64 {
	var out [NumWindows]uint64
	var total uint64
	age := 0
	for w := Window(0); w < NumWindows; w++ {
		for ; age < ks[w] && age < r.slots; age++ {
			total += uint64(r.get(cur-int64(age), col))
		}
		out[w] = total
	}
	return out
}

// windowRows sums every column (up to len(out[w])) over each window in one pass; on a
// coarse ring, with the pending fine slices in the windows of their coarse slices.
func (r *countRing) windowRows(cur int64, ks [NumWindows]int, out *[NumWindows][qCols]uint64) {
	var total [qCols]uint64
	cols := min(r.cols, qCols)
	age := 0
	for w := Window(0); w < NumWindows; w++ {
		from := age
		for ; age < ks[w] && age < r.slots; age++ {
			idx := cur - int64(age)
			row := r.row(ringSlot(idx, r.slots))
			if rowTag(row) != idx {
				continue
			}
			for c, v := range row[2 : 2+cols] {
				total[c] += uint64(v)
			}
		}
		if p := r.pending; p != nil {
			for slot := 0; slot < p.slots; slot++ {
				row := p.row(slot)
				tag := rowTag(row)
				if tag == -1 {
					continue
				}
				if a := cur - tag/fineToCoarse; a < int64(from) || a >= int64(min(ks[w], r.slots)) {
					continue
				}
				for c, v := range row[2 : 2+cols] {
					total[c] += uint64(v)
				}
			}
		}
		out[w] = total
	}
}

func (r *countRing) reset() {
	for slot := 0; slot < r.slots; slot++ {
		setRowTag(r.row(slot), -1)
	}
}

// mergeInto adds r's live slices into dst (same shape).
func (r *countRing) mergeInto(dst *countRing) {
	for slot := 0; slot < r.slots; slot++ {
		row := r.row(slot)
		idx := rowTag(row)
		if idx < 0 {
			continue
		}
		for c, v := range row[2:] {
			if v > 0 {
				dst.add(idx, c, v)
			}
		}
	}
}

// Durations are clamped into [0, maxValueMS] before they reach a sketch, which bounds the
// index range a sketch can span whatever the stream sends.
const maxValueMS = 1e7

// sketchAccuracy is the relative accuracy of every sketch (1%).
const sketchAccuracy = 0.01

// accumulatorBins caps the dense window accumulator: 2048 bins at 1% span a factor of 4e17.
const accumulatorBins = 2048

type sketchKit struct {
	mapping mapping.IndexMapping
	// log is mapping's concrete type and minIndexable its smallest indexable value: with
	// them sketchRing.add computes a value's bin without interface calls, once per value
	// however many rings it goes into (a submit's time goes into four).
	log          *mapping.LogarithmicMapping
	minIndexable float64
	bins         *binTable // log.Index for common values, without a logarithm
}

func newSketchKit() sketchKit {
	m, err := mapping.NewLogarithmicMapping(sketchAccuracy)
	if err != nil {
		panic(err) // a constant accuracy cannot be invalid
	}
	return sketchKit{mapping: m, log: m, minIndexable: m.MinIndexableValue(), bins: sharedBinTable()}
}

// slice returns a sketch for one time slice, and its positive store. The buffered paginated
// store keeps single values in a small buffer and allocates 32-bin pages only where values
// cluster, so a quiet slice costs bytes, not a dense array; it never collapses, so it adds
// no error of its own. Values are never negative here, so the negative side gets a dense
// store, which allocates nothing until written.
func (k sketchKit) slice() (*ddsketch.DDSketch, *store.BufferedPaginatedStore) {
	pos := store.NewBufferedPaginatedStore()
	return ddsketch.NewDDSketch(k.mapping, pos, store.NewDenseStore()), pos
}

// sketchValue is a value clamped for the sketches, with its bin when it has one (zero has
// none: a sketch counts it apart).
type sketchValue struct {
	v         float64
	bin       int
	indexable bool
	common    bool // in fastBinLo..fastBinHi, where a dense store's range stays small
}

// value prepares v for sketchRing.addValue: what DDSketch.Add computes, once.
func (k sketchKit) value(v float64) sketchValue {
	v = clampMS(v)
	if v > k.minIndexable {
		bin, ok := k.bins.index(v)
		if !ok {
			bin = k.log.Index(v)
		}
		return sketchValue{v: v, bin: bin, indexable: true, common: ok}
	}
	return sketchValue{v: v}
}

// accumulator returns the dense sketch that window merges are built in.
func (k sketchKit) accumulator() *ddsketch.DDSketch {
	return ddsketch.NewDDSketch(k.mapping, store.NewCollapsingLowestDenseStore(accumulatorBins), store.NewCollapsingLowestDenseStore(8))
}

func clampMS(v float64) float64 {
	if !(v > 0) { // negative, zero or NaN
		return 0
	}
	if v > maxValueMS {
		return maxValueMS
	}
	return v
}

// sketchSlot is one time slice of a sketchRing; max is exact. pos or dense is sk's positive
// store. tag is the slice index it holds (-1: none) and lives in the slot, not in an array
// of its own: an add then reads one cache line of the ring instead of two.
//
// zeros counts the values with no bin (zero, or too small to index) not yet in sk: a lag is
// zero whenever the emitter's clock runs ahead, and DDSketch.Add takes two interface calls
// to count one. Read sk through sketch(), which adds them.
type sketchSlot struct {
	tag   int64
	sk    *ddsketch.DDSketch
	pos   *store.BufferedPaginatedStore // sk's positive store, unless
	dense *store.DenseStore             // it is this one (sketchRing.dense)
	max   float64
	n     uint32
	zeros uint32
}

// undense moves a dense slot's values into a paginated store, which it keeps from then on.
func (s *sketchSlot) undense(kit sketchKit) {
	old := s.sketch()
	s.sk, s.pos = kit.slice()
	_ = s.sk.MergeWith(old) // same mapping; the bins, and the zero count, as they were
	s.dense = nil
}

// sketch returns the slot's sketch with every value in it.
func (s *sketchSlot) sketch() *ddsketch.DDSketch {
	if s.zeros > 0 {
		_ = s.sk.AddWithCount(0, float64(s.zeros)) // cannot fail: a positive count of 0
		s.zeros = 0
	}
	return s.sk
}

// sketchRing is a ring of per-slice sketches, allocated on first use and reused after.
//
// Latencies and times per sample are kept twice, in 10 s slices for the 1m window and in
// 1 min slices for 5m and 15m, and a sketch add is several dependent cache misses (slot,
// store, page table, page). So a value is added to its fine slice only: a fine slice goes
// into its coarse slice whole (a merge, bin by bin) when its slot is taken for a newer one,
// and whoever reads coarse windows counts the fine slices still pending as well (eachWindow,
// eachPending). Both give the bins, counts and maxima that adding every value twice gave.
type sketchRing struct {
	slots []sketchSlot
	// dense gives the slices dense stores: for the rings that take a value from most
	// events (an operation's 10 s slices), where a paginated store's buffer of values
	// outside its pages, sorted each time it fills, cost more than the adds themselves. A
	// dense store spans its slice's range of bins: at most 9 KB from fastBinLo to
	// fastBinHi, which these few rings can afford. A value outside that range (a duration
	// of 1e-300 ms would stretch it to 300 KB) turns its slot's store into a paginated one
	// (undense).
	dense bool
	// spill, on a fine ring, is the coarse ring its slices go into when they leave.
	spill *sketchRing
	// pending, on a coarse ring, is the fine ring whose live slices it does not hold yet.
	pending *sketchRing
}

// fineToCoarse is how many fine slices make a coarse one (both aligned on the epoch, so a
// fine slice idx belongs to coarse slice idx / fineToCoarse).
const fineToCoarse = int64(coarseWidth / fineWidth)

// pairSketchRings makes coarse hold fine's slices as they leave it (see sketchRing).
func pairSketchRings(fine, coarse *sketchRing) {
	fine.spill, coarse.pending = coarse, fine
}

func newSketchRing(slots int) sketchRing {
	r := sketchRing{slots: make([]sketchSlot, slots)}
	r.reset()
	return r
}

func (r *sketchRing) slotFor(idx int64, kit sketchKit) *sketchSlot {
	s := &r.slots[ringSlot(idx, len(r.slots))]
	if s.tag != idx {
		if s.tag > idx {
			return nil
		}
		if r.spill != nil && s.tag != -1 && s.n > 0 {
			r.spill.mergeSlot(s.tag/fineToCoarse, s, kit)
		}
		s.tag = idx
		if s.sk == nil {
			if r.dense {
				s.dense = store.NewDenseStore()
				s.sk = ddsketch.NewDDSketch(kit.mapping, s.dense, store.NewDenseStore())
			} else {
				s.sk, s.pos = kit.slice()
			}
		} else {
			s.sk.Clear()
		}
		s.max, s.n, s.zeros = 0, 0, 0
	}
	return s
}

func (r *sketchRing) add(idx int64, v float64, kit sketchKit) {
	r.addValue(idx, kit.value(v), kit)
}

// addValue adds a value prepared by kit.value: the same bins DDSketch.Add fills.
func (r *sketchRing) addValue(idx int64, sv sketchValue, kit sketchKit) {
	s := r.slotFor(idx, kit)
	if s == nil {
		if r.spill != nil { // too old for the fine ring, maybe not for the coarse one
			r.spill.addValue(idx/fineToCoarse, sv, kit)
		}
		return
	}
	if sv.indexable {
		switch {
		case s.dense == nil:
			s.pos.Add(sv.bin)
		case sv.common:
			s.dense.Add(sv.bin)
		default:
			s.undense(kit)
			s.pos.Add(sv.bin)
		}
	} else {
		s.zeros++ // v is 0 or below the smallest indexable value: DDSketch counts it as 0
	}
	s.n++
	if sv.v > s.max {
		s.max = sv.v
	}
}

func (r *sketchRing) get(idx int64) *sketchSlot {
	s := &r.slots[ringSlot(idx, len(r.slots))]
	if s.tag != idx || s.n == 0 {
		return nil
	}
	return s
}

func (r *sketchRing) reset() {
	for i := range r.slots {
		r.slots[i].tag = -1
	}
}

// mergeInto adds r's live slices into dst (same shape; a fine ring's pending slices go to
// dst's, or to dst's coarse ring when too old for dst).
func (r *sketchRing) mergeInto(dst *sketchRing, kit sketchKit) {
	for i := range r.slots {
		src := &r.slots[i]
		if src.tag < 0 || src.n == 0 {
			continue
		}
		dst.mergeSlot(src.tag, src, kit)
	}
}

// mergeSlot adds src's sketch into slice idx, unless the ring is past it.
func (r *sketchRing) mergeSlot(idx int64, src *sketchSlot, kit sketchKit) {
	d := r.slotFor(idx, kit)
	if d == nil {
		if r.spill != nil {
			r.spill.mergeSlot(idx/fineToCoarse, src, kit)
		}
		return
	}
	_ = d.sketch().MergeWith(src.sketch()) // same mapping everywhere
	d.n += src.n
	d.max = max(d.max, src.max)
}

// pendingAt returns, on a coarse ring, the pending fine slice in slot i of the fine ring if
// it belongs to coarse slice age slices before cur for an age in [from, to), else nil.
func (r *sketchRing) pendingAt(i int, cur int64, from, to int) *sketchSlot {
	s := &r.pending.slots[i]
	if s.tag == -1 || s.n == 0 {
		return nil
	}
	age := cur - s.tag/fineToCoarse
	if age < int64(from) || age >= int64(min(to, len(r.slots))) {
		return nil
	}
	return s
}

// pendingSlots is how many fine slots pendingAt looks at: 0 on a ring with none.
func (r *sketchRing) pendingSlots() int {
	if r.pending == nil {
		return 0
	}
	return len(r.pending.slots)
}

// eachWindow merges the slices ending at cur into acc and calls fn after each window's k
// slices, with acc holding that window (windows nest, so one pass serves all). Windows with
// k == 0 are skipped.
func (r *sketchRing) eachWindow(cur int64, ks [NumWindows]int, acc *ddsketch.DDSketch, fn func(w Window, n uint64, mx float64)) {
	acc.Clear()
	var mx float64
	var n uint64
	age := 0
	for w := Window(0); w < NumWindows; w++ {
		if ks[w] == 0 {
			continue
		}
		from := age
		for ; age < ks[w] && age < len(r.slots); age++ {
			if s := r.get(cur - int64(age)); s != nil {
				_ = acc.MergeWith(s.sketch())
				mx = max(mx, s.max)
				n += uint64(s.n)
			}
		}
		for i := range r.pendingSlots() {
			if s := r.pendingAt(i, cur, from, ks[w]); s != nil {
				_ = acc.MergeWith(s.sketch())
				mx = max(mx, s.max)
				n += uint64(s.n)
			}
		}
		fn(w, n, mx)
	}
}

// windowQuantiles reads each window's quantiles (see eachWindow).
func (r *sketchRing) windowQuantiles(cur int64, ks [NumWindows]int, acc *ddsketch.DDSketch, out *[NumWindows]Quantiles) {
	r.eachWindow(cur, ks, acc, func(w Window, n uint64, mx float64) { out[w] = readQuantiles(acc, n, mx) })
}

func readQuantiles(sk *ddsketch.DDSketch, n uint64, mx float64) Quantiles {
	if n == 0 {
		return Quantiles{}
	}
	q := func(p float64) float64 {
		v, err := sk.GetValueAtQuantile(p)
		if err != nil || math.IsNaN(v) {
			return 0
		}
		return min(v, mx) // the sketch's bin value may sit just above the exact max
	}
	return Quantiles{Count: n, P50: q(0.50), P90: q(0.90), P95: q(0.95), P99: q(0.99), Max: mx}
}
