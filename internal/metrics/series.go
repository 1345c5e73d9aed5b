package metrics

import (
	"math"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
)

// family caches the children of one metric vector under their label values. The hot path
// is then one map lookup on a string or a [2]string (hashed by the runtime without
// allocating), instead of WithLabelValues' hashing, locking and slice building per event.
//
// It also enforces the series cap: the first limit-1 distinct label sets are admitted
// (first come, first served, so the fold is deterministic for a given stream order), the
// last slot is reserved for the all-"other" set, and every later new set folds into it.
// Memory is bounded by limit because only admitted sets are remembered.
type family[K comparable, C any] struct {
	limit    int
	children map[K]C
	other    K
	clone    func(K) K
	create   func(K) C
	overflow prometheus.Counter
}

func newFamily[K comparable, C any](limit int, other K, clone func(K) K, create func(K) C, overflow prometheus.Counter) *family[K, C] {
	return &family[K, C]{limit: limit, children: make(map[K]C), other: other, clone: clone, create: create, overflow: overflow}
}

// child returns the child for k, or the "other" child when k is a new set past the cap.
// folded says an earlier per-label cap already folded part of k; the overflow is then
// counted once for this metric and event either way.
func (f *family[K, C]) child(k K, folded bool) C {
	if c, ok := f.children[k]; ok {
		if folded {
			f.overflow.Inc()
		}
		return c
	}
	if len(f.children) < f.limit-1 || k == f.other {
		k = f.clone(k)
		c := f.create(k)
		f.children[k] = c
		if folded {
			f.overflow.Inc()
		}
		return c
	}
	f.overflow.Inc()
	c, ok := f.children[f.other]
	if !ok {
		c = f.create(f.other)
		f.children[f.other] = c
	}
	return c
}

// admit is child for gauges: a gauge value of "some other queue" means nothing, so past the
// cap (or when a per-label cap folded k) the update is counted as overflow and dropped.
func (f *family[K, C]) admit(k K, folded bool) (C, bool) {
	var none C
	if folded {
		f.overflow.Inc()
		return none, false
	}
	if c, ok := f.children[k]; ok {
		return c, true
	}
	if len(f.children) < f.limit {
		k = f.clone(k)
		c := f.create(k)
		f.children[k] = c
		return c, true
	}
	f.overflow.Inc()
	return none, false
}

func cloneOne(k string) string { return strings.Clone(k) }

func cloneTwo(k [2]string) [2]string { return [2]string{strings.Clone(k[0]), strings.Clone(k[1])} }

// valueCap caps the distinct values of one label (queue_id) across every metric that has
// it: the first limit values win, later ones become "other". Values are copied on
// admission so that a decoder reusing its buffers cannot change them under us.
type valueCap struct {
	limit  int
	values map[string]string
}

func (v *valueCap) fold(s string) (string, bool) {
	if kept, ok := v.values[s]; ok {
		return kept, false
	}
	if len(v.values) < v.limit {
		kept := strings.Clone(s)
		v.values[kept] = kept
		return kept, false
	}
	return OverflowValue, true
}

// latency is one histogram series that takes exemplars carrying the trace_id, at most one
// per bucket per exemplar interval (on the events' receive clock), because storing an
// exemplar allocates and Prometheus keeps only the latest per bucket anyway.
type latency struct {
	observer  prometheus.Observer
	exemplars prometheus.ExemplarObserver // nil if the observer cannot take exemplars
	bounds    []float64
	lastAt    []int64 // per classic bucket (+Inf last), UnixNano of the last exemplar; 0 = none
}

func newLatency(o prometheus.Observer, bounds []float64) *latency {
	ex, _ := o.(prometheus.ExemplarObserver)
	return &latency{observer: o, exemplars: ex, bounds: bounds, lastAt: make([]int64, len(bounds)+1)}
}

// exemplarSink is what observe needs to attach an exemplar without allocating a label map
// per call; client_golang copies the labels into the stored exemplar.
type exemplarSink struct {
	labels   prometheus.Labels
	interval time.Duration
}

func (h *latency) observe(seconds float64, traceID string, at time.Time, sink *exemplarSink) {
	if h.exemplars == nil || !validTraceID(traceID) {
		h.observer.Observe(seconds)
		return
	}
	bucket := sort.SearchFloat64s(h.bounds, seconds) // same upper-inclusive rule as client_golang
	now := at.UnixNano()
	// A receive clock that stepped back (now < last) must not silence the bucket until it
	// catches up again, so only a forward gap shorter than the interval skips the exemplar.
	if last := h.lastAt[bucket]; last != 0 && now >= last && now-last < int64(sink.interval) {
		h.observer.Observe(seconds)
		return
	}
	h.lastAt[bucket] = now
	sink.labels["trace_id"] = traceID
	h.exemplars.ObserveWithExemplar(seconds, sink.labels)
}

// validTraceID guards ObserveWithExemplar, which panics on invalid UTF-8 or on exemplar
// labels longer than 128 runes; the wire decoder already checks the W3C size, this keeps a
// decoder bug from crashing the daemon.
func validTraceID(id string) bool {
	return id != "" && len(id) <= 64 && utf8.ValidString(id)
}

// sampler decides which metric events are recorded when the sample rate is below 1.
// The decision hashes the trace_id (else the assignment_id), so it is deterministic, the
// same across processes and restarts, and keeps or drops all the events of one trace
// together (their exemplars then point at traces whose every event was recorded). Events
// with neither id are sampled by a counter: exactly rate·n of n are kept.
type sampler struct {
	all       bool
	rate      float64
	threshold uint64
	carry     float64
}

func newSampler(rate float64) sampler {
	if rate >= 1 {
		return sampler{all: true, rate: 1}
	}
	return sampler{rate: rate, threshold: uint64(rate * math.Exp2(64))}
}

func (s *sampler) keepKey(key string) bool {
	if s.all {
		return true
	}
	if key != "" {
		return mix64(fnv1a64(key)) < s.threshold
	}
	s.carry += s.rate
	if s.carry >= 1 {
		s.carry--
		return true
	}
	return false
}

func fnv1a64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// mix64 is the splitmix64 finaliser: FNV's high bits are poorly mixed for short keys, and
// the threshold compares the high bits.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
