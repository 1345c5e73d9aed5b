package history

import (
	"math"
	"time"

	"github.com/nsai/ingot-top/internal/engine"
)

// OpSeries is an operation's figures second by second, oldest first; NaN where the second
// was not recorded or the operation had no data in it.
type OpSeries struct {
	Start time.Time // time of index 0
	// P50, P95, P99 are the latency quantiles over the window asked for, in ms.
	P50, P95, P99 []float64
	// ErrorRate is errors/calls over the window (0..1).
	ErrorRate []float64
	// FleetP95 and FleetErr are the fleet's (Prometheus or scrape) figures; NaN without.
	FleetP95, FleetErr []float64
	// Calls is the number of timed calls in the window.
	Calls []float64
}

// Op returns name's figures over window w for every second from `from` to `to`
// (inclusive), clamped to what the ring holds.
func (r *Ring) Op(name string, w engine.Window, from, to time.Time) OpSeries {
	if r == nil || w < 0 || w >= engine.NumWindows {
		return OpSeries{}
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	lo, hi := max(from.Unix(), r.first), min(to.Unix(), r.last)
	if r.last == 0 || hi < lo {
		return OpSeries{}
	}
	n := int(hi - lo + 1)
	s := OpSeries{Start: r.timeOf(lo), P50: nans(n), P95: nans(n), P99: nans(n), ErrorRate: nans(n),
		FleetP95: nans(n), FleetErr: nans(n), Calls: nans(n)}
	i, ok := r.ops.index[name]
	if !ok {
		return s
	}
	for k := 0; k < n; k++ {
		row, ok := r.ops.at(i, lo+int64(k))
		if !ok {
			continue
		}
		if row.flags&hasLive != 0 {
			q := row.lat[w]
			s.Calls[k] = float64(q.count)
			if q.count > 0 {
				s.P50[k], s.P95[k], s.P99[k] = f64(q.p50), f64(q.p95), f64(q.p99)
				s.ErrorRate[k] = float64(row.errs[w]) / float64(q.count)
			}
		}
		if row.flags&hasFleet != 0 {
			if row.fleetP95 > 0 {
				s.FleetP95[k] = f64(row.fleetP95)
			}
			if row.fleetErr >= 0 {
				s.FleetErr[k] = f64(row.fleetErr)
			}
		}
	}
	return s
}

// Trend is an operation's p95 over window w in n buckets of d ending at `end`, oldest
// first: the highest p95 of each bucket, so that a spike shows however short. NaN for a
// bucket with no data. Buckets are aligned to the wall clock (a trend does not shift every
// second) and the last one is the bucket still filling: an incident shows in the trend the
// second it shows in the figures, not when its bucket closes.
func (r *Ring) Trend(name string, w engine.Window, end time.Time, n int, d time.Duration) []float64 {
	out := nans(n)
	if r == nil || n <= 0 || d < time.Second || w < 0 || w >= engine.NumWindows {
		return out
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	i, ok := r.ops.index[name]
	if !ok || r.last == 0 {
		return out
	}
	per := int64(d / time.Second)
	now := min(end.Unix(), r.last)
	// the filling bucket ends where an aligned bucket would
	hi := now + (per-1-now%per+per)%per
	for b := n - 1; b >= 0; b-- {
		top := hi - int64(n-1-b)*per
		for s := top - per + 1; s <= min(top, now); s++ {
			if s < r.first {
				continue
			}
			row, ok := r.ops.at(i, s)
			if !ok || row.flags&hasLive == 0 || row.lat[w].count == 0 {
				continue
			}
			v := f64(row.lat[w].p95)
			if math.IsNaN(out[b]) || v > out[b] {
				out[b] = v
			}
		}
	}
	return out
}

// ServiceErrors is the client error rate of calls to a service ("anvil" or "forge") over
// window w for every second from `from` to `to`; NaN where unknown.
func (r *Ring) ServiceErrors(service string, w engine.Window, from, to time.Time) (time.Time, []float64) {
	if r == nil || w < 0 || w >= engine.NumWindows {
		return time.Time{}, nil
	}
	si := 0
	switch service {
	case "anvil":
	case "forge":
		si = 1
	default:
		return time.Time{}, nil
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	lo, hi := max(from.Unix(), r.first), min(to.Unix(), r.last)
	if r.last == 0 || hi < lo {
		return time.Time{}, nil
	}
	out := nans(int(hi - lo + 1))
	for k := range out {
		st := &r.status[r.idx(lo+int64(k))]
		if st.sec != lo+int64(k) || st.svcCalls[si][w] == 0 {
			continue
		}
		out[k] = float64(st.svcErrs[si][w]) / float64(st.svcCalls[si][w])
	}
	return r.timeOf(lo), out
}

func nans(n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = math.NaN()
	}
	return out
}
