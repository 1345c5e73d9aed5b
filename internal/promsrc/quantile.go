package promsrc

import (
	"math"
	"sort"
)

// bucket is one cumulative classic bucket: observations <= upper.
type bucket struct {
	upper float64
	count float64
}

// bucketQuantile is Prometheus's histogram_quantile over classic buckets (promql
// bucketQuantile): buckets sorted by upper bound, the last one +Inf; the quantile is
// interpolated linearly inside the bucket where the rank falls, the first bucket's lower
// bound is 0 (when its upper bound is positive), and a rank in the +Inf bucket yields the
// largest finite bound. NaN when there are no observations.
func bucketQuantile(q float64, buckets []bucket) float64 {
	if math.IsNaN(q) {
		return math.NaN()
	}
	if q < 0 {
		return math.Inf(-1)
	}
	if q > 1 {
		return math.Inf(+1)
	}
	sort.Slice(buckets, func(i, j int) bool { return buckets[i].upper < buckets[j].upper })
	if len(buckets) < 2 || !math.IsInf(buckets[len(buckets)-1].upper, +1) {
		return math.NaN()
	}
	// Counts from different series can be non-monotonic after a partial reset; Prometheus
	// fixes that the same way.
	for i := 1; i < len(buckets); i++ {
		if buckets[i].count < buckets[i-1].count {
			buckets[i].count = buckets[i-1].count
		}
	}
	total := buckets[len(buckets)-1].count
	if total == 0 {
		return math.NaN()
	}
	rank := q * total
	b := sort.Search(len(buckets)-1, func(i int) bool { return buckets[i].count >= rank })
	if b == len(buckets)-1 {
		return buckets[len(buckets)-2].upper
	}
	if b == 0 && buckets[0].upper <= 0 {
		return buckets[0].upper
	}
	var (
		start = 0.0
		end   = buckets[b].upper
		count = buckets[b].count
	)
	if b > 0 {
		start = buckets[b-1].upper
		count -= buckets[b-1].count
		rank -= buckets[b-1].count
	}
	return start + (end-start)*(rank/count)
}
