package engine

import (
	"hash/maphash"
	"math/bits"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/nsai/ingot-top/internal/wire"
)

// errorLog is the rolling log of error events.
type errorLog struct {
	ring    []ErrorEntry
	head    int // the newest entry; the ring runs newest first from it
	n       int
	version uint64
}

func newErrorLog(size int) errorLog {
	return errorLog{ring: make([]ErrorEntry, size)}
}

// push writes e before the newest entry, overwriting the oldest when full: newest first in
// the ring, a snapshot's copy (newestFirst, once a second while errors come in) is two bulk
// copies rather than a thousand single ones.
func (l *errorLog) push(e ErrorEntry) {
	l.head = (l.head - 1 + len(l.ring)) % len(l.ring)
	l.ring[l.head] = e
	if l.n < len(l.ring) {
		l.n++
	}
	l.version++
}

// newestFirst returns a fresh slice of the entries, newest first.
func (l *errorLog) newestFirst() []ErrorEntry {
	out := make([]ErrorEntry, l.n)
	k := copy(out, l.ring[l.head:min(l.head+l.n, len(l.ring))])
	copy(out[k:], l.ring[:l.n-k])
	return out
}

// span is one indexed event of a trace, kept compact; TraceSpan is built from it on demand.
// It holds no string of the decoded event: those are slices of one per-event string (the
// decoder's arena), and a span keeping its ids would keep the whole event's strings alive,
// 20,000 traces long (15 MB at 2,000 events/s before this). Ids that are W3C hex (all of
// them on the contract's wire) are kept as numbers, the rest cloned.
type span struct {
	at       int64  // event time, unix nanos
	event    string // interned by the decoder, shared by every event of the name
	duration float64
	spanID   uint64 // 16 lower-case hex characters as a number; 0 with extra ids for others
	parentID uint64
	extra    *spanExtra // what few spans have: an error reason, an unusual result or ids
	next     int32      // next span of the same trace; -1 at the end
	result   spanResult
}

type spanResult uint8

const (
	resultNone spanResult = iota
	resultOK
	resultError
	resultOther // the text is in extra.result
)

// spanExtra holds a span's rare fields, cloned from the event.
type spanExtra struct {
	reason, result   string
	spanID, parentID string // when one of them is not hex-encodable
	rawIDs           bool
}

func (sp *span) ext() *spanExtra {
	if sp.extra == nil {
		sp.extra = &spanExtra{}
	}
	return sp.extra
}

func (sp *span) setResult(result, reason string) {
	switch result {
	case "":
		sp.result = resultNone
	case "ok":
		sp.result = resultOK
	case "error":
		sp.result = resultError
		sp.ext().reason = strings.Clone(reason)
	default:
		sp.result = resultOther
		sp.ext().result = strings.Clone(result)
	}
}

func (sp *span) resultText() string {
	switch sp.result {
	case resultOK:
		return "ok"
	case resultError:
		return "error"
	case resultOther:
		return sp.extra.result
	}
	return ""
}

func (sp *span) reason() string {
	if sp.extra == nil {
		return ""
	}
	return sp.extra.reason
}

// hexSpanID reads a non-zero 16-character lower-case hex span id. Every traced event has
// one or two, so it works on eight characters at a time (SWAR): a character-by-character
// loop was a chain of 16 dependent shifts, 3 % of aggregation.
func hexSpanID(id string) (uint64, bool) {
	if len(id) != 16 {
		return 0, false
	}
	hi, okHi := hex8(id[:8])
	lo, okLo := hex8(id[8:])
	v := hi<<32 | lo
	return v, okHi && okLo && v != 0
}

// Byte lanes of a 64-bit word.
const (
	lanesLow  = 0x0101010101010101
	lanesHigh = 0x8080808080808080
)

// hex8 reads eight lower-case hex characters as a 32-bit number, the first the most
// significant, and reports whether all eight were 0-9 or a-f.
func hex8(s string) (uint64, bool) {
	_ = s[7]
	x := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
	// With every byte below 0x80, adding a constant below 0x80 to each lane carries into no
	// other lane, and a lane's top bit then says whether the byte reached a bound: digits are
	// 0x30-0x39, letters 0x61-0x66.
	digit := (x + (0x80-0x30)*lanesLow) &^ (x + (0x80-0x3a)*lanesLow)
	letter := (x + (0x80-0x61)*lanesLow) &^ (x + (0x80-0x67)*lanesLow)
	ok := x&lanesHigh == 0 && (digit|letter)&lanesHigh == lanesHigh
	// A digit's value is its low nibble; a letter's is its low nibble + 9, and bit 6 is set
	// in letters only.
	n := x&(0x0f*lanesLow) + (x>>6)&lanesLow*9
	n = bits.ReverseBytes64(n) // the first character into the top lane
	n = (n | n>>4) & 0x00ff00ff00ff00ff
	n = (n | n>>8) & 0x0000ffff0000ffff
	n = (n | n>>16) & 0x00000000ffffffff
	return n, ok
}

func (sp *span) setIDs(spanID, parentID string) {
	var okSpan, okParent bool
	sp.spanID, okSpan = hexSpanID(spanID)
	sp.parentID, okParent = hexSpanID(parentID)
	if (okSpan || spanID == "") && (okParent || parentID == "") {
		return
	}
	sp.spanID, sp.parentID = 0, 0
	e := sp.ext()
	e.spanID, e.parentID, e.rawIDs = strings.Clone(spanID), strings.Clone(parentID), true
}

func (sp *span) ids() (spanID, parentID string) {
	if sp.extra != nil && sp.extra.rawIDs {
		return sp.extra.spanID, sp.extra.parentID
	}
	return hexID(sp.spanID), hexID(sp.parentID)
}

// hexID is hexSpanID's inverse: 16 lower-case hex characters, "" for 0. A failed trace's
// lineage is built when it leaves the index, on the event path, where fmt cost more than
// the rest of the build.
func hexID(v uint64) string {
	if v == 0 {
		return ""
	}
	var b [16]byte
	for i := 15; i >= 0; i-- {
		b[i] = "0123456789abcdef"[v&0xf]
		v >>= 4
	}
	return string(b[:])
}

// traceRec is one trace_id's events. Records live in a FIFO ring in first-seen order, so
// expiry by horizon and eviction at MaxTraces are both "drop the oldest".
//
// Nearly every event finds its trace's record out of cache: what add and event() read and
// write (up to link.hasUser) is laid out first, and a record is 128 bytes, so that part is
// one cache line (records sit in one array, 64-byte aligned); it was two or three.
type traceRec struct {
	// The record's spans in traceIndex.pool, newest first, linked by span.next; -1 when none.
	// A new span is put in front, so adding one never touches the previous span's (cold)
	// slot; oldest is where the pool's cursor meets the record (liveAt).
	newest, oldest int32
	nSpans         int32
	hasError       bool
	cached         *[]TraceSpan // built lineage, nil when spans changed since
	link           traceLink    // the request's queue and user (impact.go)
	dropped        int
	key            uint64 // maphash of the trace id
	first          int64  // unix nanos
	_              [8]byte
}

// spansPerTrace sizes the span pool: traces average a few spans (a request and its client
// calls), so MaxTraces × 4 spans hold them all; when the pool is full the oldest trace goes
// first, as it would at MaxTraces. One pool instead of a slice per trace keeps the index's
// memory fixed, where per-trace slices kept the largest capacity each ring slot ever had.
const spansPerTrace = 4

const failedTracesKept = 256

// traceIndex is keyed by a 64-bit hash of the trace id: at 20,000 traces a collision is
// about a 1e-11 event, and hashing spares a string copy and compare per event. The ring and
// the span pool grow on demand up to their caps, so an idle dashboard does not hold them.
//
// The span pool is itself a ring, written in arrival order at cursor: a dropped trace's
// spans are not walked (at 2,000 events/s that walk over cold memory was a fifth of the
// index's cost), they are overwritten when the cursor comes round to them. The cursor finds
// a live span only at the first span of the oldest trace (every other live span arrived
// after it, and traces are dropped oldest first), which is then the trace that makes room.
type traceIndex struct {
	maxTraces, maxSpans int
	recs                []traceRec
	head, n             int
	byID                keyIndex // trace id hash → index in recs
	seed                maphash.Seed
	pool                []span // grows up to poolCap, in arrival order from cursor on
	poolCap             int
	cursor              int32 // next slot of pool to write
	failed              failedTraces
}

// failedTraces keeps the lineage of traces that had an error after they leave the index, up
// to the horizon, oldest dropped first past its cap. The index holds every trace for as long
// as MaxTraces allows (about 15 s at 2,000 events/s), which is what linking a request's calls
// to its queue and user needs; a waterfall is asked for from the error log, whose entries
// stay for minutes. Keeping only the failed traces longer serves every entry of the log at a
// fraction of the memory of indexing every trace for that long.
//
// failedTracesKept caps them: a kept lineage is its spans as the UI reads them (about 3 KB for
// a failed pipeline's trace), so 256 hold the newest quarter of a full error log in under
// 1 MB; within the index's reach (the last ~30 s) every failed trace has its waterfall anyway.
type failedTraces struct {
	ring    []failedTrace
	head, n int
	byID    map[uint64]int32
}

type failedTrace struct {
	key   uint64
	first time.Time
	spans []TraceSpan
}

func newTraceIndex(maxTraces, maxSpans, maxFailed int, seed maphash.Seed) traceIndex {
	return traceIndex{
		maxTraces: maxTraces, maxSpans: maxSpans,
		seed:    seed,
		poolCap: min(maxTraces*spansPerTrace, maxTraces*maxSpans),
		failed:  failedTraces{ring: make([]failedTrace, maxFailed), byID: make(map[uint64]int32)},
	}
}

// keep stores a failed trace's lineage, dropping the oldest kept one when full.
func (f *failedTraces) keep(key uint64, first time.Time, spans []TraceSpan) {
	if len(f.ring) == 0 {
		return
	}
	if i, ok := f.byID[key]; ok { // the trace came back to the index and failed again
		f.ring[i].spans = spans
		return
	}
	if f.n == len(f.ring) {
		f.dropOldest()
	}
	i := (f.head + f.n) % len(f.ring)
	f.ring[i] = failedTrace{key: key, first: first, spans: spans}
	f.byID[key] = int32(i)
	f.n++
}

func (f *failedTraces) dropOldest() {
	delete(f.byID, f.ring[f.head].key)
	f.ring[f.head] = failedTrace{}
	f.head = (f.head + 1) % len(f.ring)
	f.n--
}

func (f *failedTraces) expire(horizon time.Time) {
	for f.n > 0 && f.ring[f.head].first.Before(horizon) {
		f.dropOldest()
	}
}

func (f *failedTraces) lineage(key uint64) ([]TraceSpan, bool) {
	i, ok := f.byID[key]
	if !ok {
		return nil, false
	}
	return f.ring[i].spans, true
}

func (t *traceIndex) dropOldest(dirty *bool) {
	r := &t.recs[t.head]
	t.byID.del(r.key)
	if r.hasError {
		*dirty = true
		t.failed.keep(r.key, time.Unix(0, r.first), t.recLineage(r))
	}
	r.cached = nil
	r.link.reset()
	r.newest, r.oldest, r.nSpans = -1, -1, 0
	t.head = (t.head + 1) % len(t.recs)
	t.n--
}

// liveAt reports whether pool slot i holds a span of an indexed trace, when i is the cursor.
func (t *traceIndex) liveAt(i int32) bool {
	return t.n > 0 && t.recs[t.head].oldest == i
}

// allocSpan returns a pool index for a new span of r, or -1 when the pool is full and the
// only trace that could make room is r itself.
func (t *traceIndex) allocSpan(r *traceRec, dirty *bool) int32 {
	if t.poolCap <= 0 {
		return -1
	}
	for {
		if len(t.pool) == 0 {
			t.growPool()
		}
		i := t.cursor
		if !t.liveAt(i) {
			t.cursor = (i + 1) % int32(len(t.pool))
			return i
		}
		if len(t.pool) < t.poolCap {
			t.growPool()
			continue
		}
		if &t.recs[t.head] == r {
			return -1
		}
		t.dropOldest(dirty)
	}
}

// growPool doubles the pool (never past poolCap), laying its spans out oldest first so the
// cursor goes on through the new, empty slots and comes round to the oldest after them.
func (t *traceIndex) growPool() {
	old := len(t.pool)
	size := min(max(2*old, 256), t.poolCap)
	pool := make([]span, size)
	c := t.cursor
	move := func(i int32) int32 {
		if i < 0 {
			return i
		}
		return (i - c + int32(old)) % int32(old)
	}
	for k := 0; k < old; k++ {
		sp := t.pool[(int(c)+k)%old]
		sp.next = move(sp.next)
		pool[k] = sp
	}
	for k := 0; k < t.n; k++ {
		r := &t.recs[(t.head+k)%len(t.recs)]
		r.newest, r.oldest = move(r.newest), move(r.oldest)
	}
	t.pool, t.cursor = pool, int32(old)
}

// grow doubles the ring (up to maxTraces) when it is full, laying the records out oldest
// first again; the map's indexes move with them.
func (t *traceIndex) grow() {
	size := min(max(2*len(t.recs), 64), t.maxTraces)
	recs := make([]traceRec, size)
	for k := 0; k < t.n; k++ {
		recs[k] = t.recs[(t.head+k)%len(t.recs)]
		t.byID.put(recs[k].key, int32(k))
	}
	t.recs, t.head = recs, 0
}

// expire drops traces first seen before horizon.
func (t *traceIndex) expire(horizon time.Time, dirty *bool) {
	for h := horizon.UnixNano(); t.n > 0 && t.recs[t.head].first < h; {
		t.dropOldest(dirty)
	}
	if t.failed.n > 0 && t.failed.ring[t.failed.head].first.Before(horizon) {
		*dirty = true
		t.failed.expire(horizon)
	}
}

// add indexes ev in its trace's record and returns the record, valid until the next add.
func (t *traceIndex) add(ev *wire.Event, f *evFields, isErr bool, now time.Time, dirty *bool) *traceRec {
	key := maphash.String(t.seed, ev.Trace.TraceID)
	i, ok := t.byID.get(key)
	if !ok {
		if t.n == len(t.recs) {
			if len(t.recs) < t.maxTraces {
				t.grow()
			} else {
				t.dropOldest(dirty)
			}
		}
		i = int32((t.head + t.n) % len(t.recs))
		t.n++
		r := &t.recs[i]
		*r = traceRec{key: key, first: now.UnixNano(), newest: -1, oldest: -1}
		t.byID.put(key, i)
	}
	r := &t.recs[i]
	if isErr {
		r.hasError = true
	}
	if int(r.nSpans) >= t.maxSpans {
		r.dropped++
		return r
	}
	at := t.allocSpan(r, dirty)
	if at < 0 {
		r.dropped++
		return r
	}
	// allocSpan may have dropped older records, never r; r's slot did not move.
	sp := &t.pool[at]
	*sp = span{at: ev.Time.UnixNano(), event: ev.Name, next: r.newest}
	sp.setIDs(ev.Trace.SpanID, ev.Trace.ParentSpanID)
	if f.hasDuration {
		sp.duration = f.duration
	}
	sp.setResult(f.result, f.reason)
	if r.oldest < 0 {
		r.oldest = at
	}
	r.newest = at
	r.nSpans++
	r.cached = nil
	if r.hasError {
		*dirty = true
	}
	return r
}

// lineage returns the trace's events oldest first; the slice is shared between snapshots
// and never modified after it is built.
func (t *traceIndex) lineage(traceID string) ([]TraceSpan, bool) {
	key := maphash.String(t.seed, traceID)
	i, ok := t.byID.get(key)
	if !ok {
		return t.failed.lineage(key)
	}
	return t.recLineage(&t.recs[i]), true
}

// recLineage builds (once) and returns r's lineage.
func (t *traceIndex) recLineage(r *traceRec) []TraceSpan {
	if r.cached == nil {
		out := make([]TraceSpan, 0, r.nSpans)
		for at := r.newest; at >= 0; at = t.pool[at].next {
			sp := &t.pool[at]
			spanID, parentID := sp.ids()
			ts := TraceSpan{
				Time:         time.Unix(0, sp.at).UTC(),
				Event:        sp.event,
				Service:      wire.ServiceOf(sp.event),
				SpanID:       spanID,
				ParentSpanID: parentID,
				DurationMS:   sp.duration,
				Result:       sp.resultText(),
				Reason:       sp.reason(),
			}
			out = append(out, ts)
		}
		slices.Reverse(out) // arrival order, which the stable sort keeps among equal times
		sort.SliceStable(out, func(a, b int) bool { return out[a].Time.Before(out[b].Time) })
		r.cached = &out
	}
	return *r.cached
}
