package history

import (
	"time"

	"github.com/nsai/ingot-top/internal/engine"
)

// ImpactSeries is the overall client error rate and who it hit, second by second, oldest
// first; NaN where the second was not recorded or, for users, not known (a merged
// aggregate without per-call impact).
type ImpactSeries struct {
	Start time.Time
	// ErrorRate is failed client calls / client calls over the window (0..1); NaN without calls.
	ErrorRate []float64
	// Users is the number of users with a failed call in the window.
	Users []float64
}

// Impact returns the client error rate and affected users over window w for every second
// from `from` to `to` (inclusive), clamped to what the ring holds: the focused chart of the
// status line's error rate.
func (r *Ring) Impact(w engine.Window, from, to time.Time) ImpactSeries {
	if r == nil || w < 0 || w >= engine.NumWindows {
		return ImpactSeries{}
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	lo, hi := max(from.Unix(), r.first), min(to.Unix(), r.last)
	if r.last == 0 || hi < lo {
		return ImpactSeries{}
	}
	n := int(hi - lo + 1)
	s := ImpactSeries{Start: r.timeOf(lo), ErrorRate: nans(n), Users: nans(n)}
	for k := 0; k < n; k++ {
		st := &r.status[r.idx(lo+int64(k))]
		if st.sec != lo+int64(k) {
			continue
		}
		im := &st.impact
		calls, errs := uint64(im.calls[w]), uint64(im.errors[w])
		if !im.known {
			// as view.Build does: the per-service counts stand for the overall rate
			calls = uint64(st.svcCalls[0][w]) + uint64(st.svcCalls[1][w])
			errs = uint64(st.svcErrs[0][w]) + uint64(st.svcErrs[1][w])
		}
		if calls > 0 {
			s.ErrorRate[k] = float64(errs) / float64(calls)
		}
		if im.known {
			s.Users[k] = float64(im.users[w])
		}
	}
	return s
}
