package engine

import (
	"hash/maphash"
	"sort"
	"time"

	"github.com/nsai/ingot-top/internal/wire"
)

// errorLog is the rolling log of error events.
type errorLog struct {
	ring    []ErrorEntry
	head    int // next write position
	n       int
	version uint64
}

func newErrorLog(size int) errorLog {
	return errorLog{ring: make([]ErrorEntry, size)}
}

func (l *errorLog) push(e ErrorEntry) {
	l.ring[l.head] = e
	l.head = (l.head + 1) % len(l.ring)
	if l.n < len(l.ring) {
		l.n++
	}
	l.version++
}

// newestFirst returns a fresh slice of the entries, newest first.
func (l *errorLog) newestFirst() []ErrorEntry {
	out := make([]ErrorEntry, l.n)
	for i := 0; i < l.n; i++ {
		out[i] = l.ring[(l.head-1-i+2*len(l.ring))%len(l.ring)]
	}
	return out
}

// span is one indexed event of a trace, kept compact; TraceSpan is built from it on demand.
type span struct {
	at       int64 // event time, unix nanos
	event    string
	spanID   string
	parentID string
	reason   string
	duration float64
	result   string
}

// traceRec is one trace_id's events. Records live in a FIFO ring in first-seen order, so
// expiry by horizon and eviction at MaxTraces are both "drop the oldest".
type traceRec struct {
	key      uint64 // maphash of the trace id
	first    time.Time
	spans    []span
	hasError bool
	dropped  int
	cached   []TraceSpan // built lineage, nil when spans changed since
	link     traceLink   // the request's queue and user (impact.go)
}

// traceIndex is keyed by a 64-bit hash of the trace id: at 20,000 traces a collision is
// about a 1e-11 event, and hashing spares a string copy and compare per event.
type traceIndex struct {
	maxSpans int
	recs     []traceRec
	head, n  int
	byID     map[uint64]int32
	seed     maphash.Seed
}

func newTraceIndex(maxTraces, maxSpans int, seed maphash.Seed) traceIndex {
	return traceIndex{maxSpans: maxSpans, recs: make([]traceRec, maxTraces), byID: make(map[uint64]int32, maxTraces), seed: seed}
}

func (t *traceIndex) dropOldest(dirty *bool) {
	r := &t.recs[t.head]
	delete(t.byID, r.key)
	if r.hasError {
		*dirty = true
	}
	r.cached = nil
	r.link.reset()
	clear(r.spans)
	r.spans = r.spans[:0]
	t.head = (t.head + 1) % len(t.recs)
	t.n--
}

// expire drops traces first seen before horizon.
func (t *traceIndex) expire(horizon time.Time, dirty *bool) {
	for t.n > 0 && t.recs[t.head].first.Before(horizon) {
		t.dropOldest(dirty)
	}
}

// add indexes ev in its trace's record and returns the record, valid until the next add.
func (t *traceIndex) add(ev *wire.Event, f *evFields, isErr bool, now time.Time, dirty *bool) *traceRec {
	key := maphash.String(t.seed, ev.Trace.TraceID)
	i, ok := t.byID[key]
	if !ok {
		if t.n == len(t.recs) {
			t.dropOldest(dirty)
		}
		i = int32((t.head + t.n) % len(t.recs))
		t.n++
		r := &t.recs[i]
		r.key = key
		r.first = now
		r.hasError, r.dropped, r.cached = false, 0, nil
		r.link.reset()
		t.byID[key] = i
	}
	r := &t.recs[i]
	if isErr {
		r.hasError = true
	}
	if len(r.spans) >= t.maxSpans {
		r.dropped++
		return r
	}
	sp := span{at: ev.Time.UnixNano(), event: ev.Name, spanID: ev.Trace.SpanID, parentID: ev.Trace.ParentSpanID}
	if f.hasDuration {
		sp.duration = f.duration
	}
	sp.result = f.result
	if sp.result == "error" {
		sp.reason = f.reason
	}
	r.spans = append(r.spans, sp)
	r.cached = nil
	if r.hasError {
		*dirty = true
	}
	return r
}

// lineage returns the trace's events oldest first; the slice is shared between snapshots
// and never modified after it is built.
func (t *traceIndex) lineage(traceID string) ([]TraceSpan, bool) {
	i, ok := t.byID[maphash.String(t.seed, traceID)]
	if !ok {
		return nil, false
	}
	r := &t.recs[i]
	if r.cached == nil {
		out := make([]TraceSpan, len(r.spans))
		for k, sp := range r.spans {
			ts := TraceSpan{
				Time:         time.Unix(0, sp.at).UTC(),
				Event:        sp.event,
				Service:      wire.ServiceOf(sp.event),
				SpanID:       sp.spanID,
				ParentSpanID: sp.parentID,
				DurationMS:   sp.duration,
				Result:       sp.result,
				Reason:       sp.reason,
			}
			out[k] = ts
		}
		sort.SliceStable(out, func(a, b int) bool { return out[a].Time.Before(out[b].Time) })
		r.cached = out
	}
	return r.cached, true
}
