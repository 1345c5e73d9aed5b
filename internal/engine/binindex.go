package engine

import (
	"math"
	"sync"

	"github.com/DataDog/sketches-go/ddsketch/mapping"
)

// binTable computes LogarithmicMapping.Index without a logarithm, for the values a sketch
// here mostly sees (fastBinLo to fastBinHi milliseconds): every event with a time adds its
// lag, and most add a duration, so Index's math.Log was a twentieth of the engine's time.
//
// bounds[k] is the smallest float64 whose Index is at least first+k, found by bisecting on
// the float's bits with Index itself, so the table reproduces Index exactly wherever Index
// does not decrease as its argument grows (math.Log, a product and a sum by constants, and
// the truncation all preserve that; TestBinTableMatchesIndex checks every bound and its
// neighbours). A value is placed by its top 18 bits (sign, exponent and 6 mantissa bits):
// such a bucket spans a ratio of at most 65/64 ≈ 1.016, less than a bin's γ ≈ 1.020, so
// it holds at most one bound and one comparison finishes the lookup.
type binTable struct {
	first  int
	bounds []float64
	base   uint64  // bucket of fastBinLo
	bucket []int32 // bin (relative to first) of each bucket's smallest value
}

const (
	fastBinLo    = 1e-3
	fastBinHi    = maxValueMS // values are clamped to it
	bucketShift  = 52 - 6     // keep the exponent and 6 mantissa bits
	fastBinSlack = 2          // bounds kept past the last bucket's bin
)

var sharedBinTable = sync.OnceValue(func() *binTable {
	m, err := mapping.NewLogarithmicMapping(sketchAccuracy)
	if err != nil {
		panic(err) // a constant accuracy cannot be invalid
	}
	return newBinTable(m)
})

func newBinTable(m *mapping.LogarithmicMapping) *binTable {
	t := &binTable{first: m.Index(fastBinLo)}
	last := m.Index(fastBinHi) + fastBinSlack
	for k := t.first; k <= last; k++ {
		t.bounds = append(t.bounds, smallestWithIndex(m, k))
	}
	t.base = math.Float64bits(fastBinLo) >> bucketShift
	top := math.Float64bits(fastBinHi) >> bucketShift
	t.bucket = make([]int32, top-t.base+1)
	for b := range t.bucket {
		v := math.Float64frombits((t.base + uint64(b)) << bucketShift)
		t.bucket[b] = int32(max(m.Index(max(v, fastBinLo)), t.first) - t.first)
	}
	return t
}

// smallestWithIndex returns the smallest positive float64 with m.Index(v) >= k. The
// mapping's own bound for k is within a few floats of it: a short walk from there finds it
// (the table is built at start-up, in well under a millisecond); a bisection over the
// floats' bits (ordered as the floats) is the fallback.
func smallestWithIndex(m *mapping.LogarithmicMapping, k int) float64 {
	v := m.LowerBound(k)
	for range 16 {
		below := math.Nextafter(v, 0)
		switch {
		case m.Index(v) < k:
			v = math.Nextafter(v, math.Inf(1))
		case m.Index(below) >= k:
			v = below
		default:
			return v
		}
	}
	lo, hi := math.Float64bits(m.MinIndexableValue()), math.Float64bits(m.MaxIndexableValue())
	for lo < hi {
		mid := lo + (hi-lo)/2
		if m.Index(math.Float64frombits(mid)) >= k {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return math.Float64frombits(lo)
}

// index returns m.Index(v) for v in [fastBinLo, fastBinHi], and false outside.
func (t *binTable) index(v float64) (int, bool) {
	if !(v >= fastBinLo && v <= fastBinHi) {
		return 0, false
	}
	k := int(t.bucket[math.Float64bits(v)>>bucketShift-t.base])
	if v >= t.bounds[k+1] {
		k++
	}
	return t.first + k, true
}
