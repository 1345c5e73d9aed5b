package view

import (
	"math"
	"time"

	"github.com/nsai/ingot-top/internal/engine"
)

// What the screen redraws, and how often. A dashboard that redraws every figure that moved
// since the last second writes mostly noise: a queue's backlog that wanders by a few
// samples, the labelers seen in the last minutes, an event rate, error counts that swap two
// signatures' rows back and forth. Nobody reads a cell at that rate, and over SSH or a slow
// link those bytes are the dashboard's cost. The engine already recomputes the 5m and 15m
// figures every 5 s (engine/hold.go); Holder does the same, once per frame and for every
// viewer, for the noisy figures the engine does not hold: they are held on screen and
// refreshed together every HoldEvery, except that a change too large to be noise passes at
// once, so an incident is never shown late:
//
//   - a queue's gauges (users, pending and the backlog ETA, with in-progress and completed):
//     users moving by max(3, 50 %), pending passing to or from zero or moving by
//     max(100, 50 %), stats arriving or an ETA becoming (un)known pass at once. Users of a
//     small queue go 0, 1, 0 as labelers take and submit assignments: that is the noise,
//     and the Queues pane's figure is not an alert's (the status bar's users hit is);
//   - the counted events' rows (rate, mean and last score): a rate in any window passing to
//     or from zero or moving by max(10/min, 25 %) passes at once;
//   - the order of the Errors pane's signatures (ErrorOrder, per window): a row keeps its
//     place unless the one below has clearly more errors (by max(2, 10 %)), or more than
//     none where it has none; a new signature is placed by its count at once. The counts
//     themselves are the engine's, held there between its 5 s recomputes (a signature
//     whose 1m count surges passes at once there).
//
// The status bar (events/s, the client error rate, the users and queues hit), the alerts,
// the banner and the error log are never held: they are the 1 s answers to "is something
// wrong now". The Queues pane's trend moves in 30 s buckets for the same reason (trendOf,
// view.go). The tolerance bands some panes keep for their windowed figures (a velocity
// or a p95 that moved by under 2 % keeps its digits: ui/queues.go, ui/latency.go) predate
// the Holder and are still per pane.

// HoldEvery is how often held figures take their fresh values, the engine's cadence for
// the 5m and 15m figures.
const HoldEvery = 5 * time.Second

// Thresholds of a change that passes at once (see the top of this file).
const (
	usersJumpAbs     = 3
	pendingJumpAbs   = 100
	gaugeJumpRel     = 0.5
	activityJumpAbs  = 10 // events/min
	activityJumpRel  = 0.25
	errorOrderAbs    = 2
	errorOrderRel    = 0.10
	maxHeldErrorRows = 1000 // past it (the engine keeps 100 by default) the pane sorts by count: the order is n² at worst
)

// Holder holds the noisy figures of successive live frames (see HoldEvery). It is owned
// by one session's frame loop; look-back frames are rebuilt from history unheld.
type Holder struct {
	refreshed time.Time
	queues    map[string]queueGauges
	nextQ     map[string]queueGauges
	activity  map[string]engine.ActivityStats
	// order is, per window, the signatures' keys in the order on display.
	order [engine.NumWindows][]string
}

// queueGauges are a queue's figures that are not windowed, held as one so that the
// pending count and its ETA always come from the same moment.
type queueGauges struct {
	users                          int
	has, etaKnown                  bool
	pending, inProgress, completed float64
	statsAt                        time.Time
	eta                            time.Duration
}

// NewHolder returns a Holder with nothing held yet: the first frame passes whole.
func NewHolder() *Holder { return &Holder{} }

// Apply returns f with its noisy figures held. It never modifies what f points at (the
// stream snapshot is shared with history): the rows it changes are copies.
func (h *Holder) Apply(f Frame) Frame {
	if !f.Joined || f.Past {
		return f
	}
	tick := h.refreshed.IsZero() || f.At.Sub(h.refreshed) >= HoldEvery || f.At.Before(h.refreshed)
	if tick {
		h.refreshed = f.At
	}
	f.Queues = h.holdQueues(f.Queues, tick)
	if f.Stream != nil {
		snap := *f.Stream
		snap.Activity = h.holdActivity(snap.Activity, tick)
		f.Stream = &snap
		f.ErrorOrder = h.errorOrder(snap.ErrorGroups)
	}
	return f
}

func gaugesOf(q *QueueRow) queueGauges {
	return queueGauges{users: q.ActiveLabelers, has: q.HasStats, etaKnown: q.EtaKnown, pending: q.Pending,
		inProgress: q.InProgress, completed: q.Completed, statsAt: q.StatsAt, eta: q.BacklogETA}
}

// moved reports a change from shown to fresh of at least max(abs, rel × |shown|).
func moved(shown, fresh, abs, rel float64) bool {
	return math.Abs(fresh-shown) >= max(abs, rel*math.Abs(shown))
}

// jumped is moved, or a figure passing to or from zero.
func jumped(shown, fresh, abs, rel float64) bool {
	return (shown == 0) != (fresh == 0) || moved(shown, fresh, abs, rel)
}

func (g queueGauges) jumpedTo(fresh queueGauges) bool {
	return g.has != fresh.has || g.etaKnown != fresh.etaKnown ||
		moved(float64(g.users), float64(fresh.users), usersJumpAbs, gaugeJumpRel) ||
		jumped(g.pending, fresh.pending, pendingJumpAbs, gaugeJumpRel)
}

func (h *Holder) holdQueues(rows []QueueRow, tick bool) []QueueRow {
	if len(rows) == 0 {
		h.queues = nil
		return rows
	}
	out := make([]QueueRow, len(rows))
	copy(out, rows)
	next := h.nextQ
	if next == nil {
		next = make(map[string]queueGauges, len(rows))
	}
	clear(next)
	for i := range out {
		q := &out[i]
		fresh := gaugesOf(q)
		shown, ok := h.queues[q.ID]
		if !ok || tick || shown.jumpedTo(fresh) {
			shown = fresh
		}
		next[q.ID] = shown
		q.ActiveLabelers, q.HasStats, q.EtaKnown = shown.users, shown.has, shown.etaKnown
		q.Pending, q.InProgress, q.Completed, q.StatsAt, q.BacklogETA = shown.pending, shown.inProgress, shown.completed, shown.statsAt, shown.eta
	}
	// two maps swapped each frame: bounded by the snapshot's queue cap
	h.queues, h.nextQ = next, h.queues
	return out
}

func (h *Holder) holdActivity(rows []engine.ActivityStats, tick bool) []engine.ActivityStats {
	if len(rows) == 0 {
		h.activity = nil
		return rows
	}
	out := make([]engine.ActivityStats, len(rows))
	next := make(map[string]engine.ActivityStats, len(rows)) // a handful of catalogued events
	for i := range rows {
		fresh := rows[i]
		shown, ok := h.activity[fresh.Name]
		if !ok || tick || activityJumped(&shown, &fresh) {
			shown = fresh
		}
		out[i], next[fresh.Name] = shown, shown
	}
	h.activity = next
	return out
}

func activityJumped(shown, fresh *engine.ActivityStats) bool {
	for w := range shown.PerMin {
		if jumped(shown.PerMin[w], fresh.PerMin[w], activityJumpAbs, activityJumpRel) {
			return true
		}
	}
	return false
}

// errorOrder is, for each window, the order the signatures are shown in: the order on
// display, where a row passes the one above it only with clearly more errors in that
// window. Indexes are into groups.
func (h *Holder) errorOrder(groups []engine.ErrorGroup) [engine.NumWindows][]int {
	var out [engine.NumWindows][]int
	if len(groups) == 0 || len(groups) > maxHeldErrorRows {
		h.order = [engine.NumWindows][]string{}
		return out
	}
	keys := make([]string, len(groups))
	byKey := make(map[string]int, len(groups))
	for i := range groups {
		keys[i] = GroupKey(&groups[i])
		byKey[keys[i]] = i
	}
	for w := engine.Window(0); w < engine.NumWindows; w++ {
		out[w] = stickyOrder(groups, w, h.order[w], byKey)
		shown := make([]string, len(out[w]))
		for k, i := range out[w] {
			shown[k] = keys[i]
		}
		h.order[w] = shown
	}
	return out
}

// GroupKey identifies an error signature across snapshots.
func GroupKey(g *engine.ErrorGroup) string {
	return g.Service + "\x00" + g.Event + "\x00" + g.Signature
}

// clearlyMore reports whether a count should be shown above one with b: b has none and a
// some, or a exceeds b by max(errorOrderAbs, errorOrderRel × b).
func clearlyMore(a, b uint64) bool {
	if b == 0 {
		return a > 0
	}
	return float64(a) > float64(b)+max(errorOrderAbs, errorOrderRel*float64(b))
}

// stickyOrder keeps the signatures shown before in their order, places new ones where their
// count sorts them (groups is in the engine's order, by 5m count), then lets a row rise past
// each one above that it clearly outnumbers in w: an insertion sort, at most n² steps for n
// rows, and none in the steady state.
func stickyOrder(groups []engine.ErrorGroup, w engine.Window, prev []string, byKey map[string]int) []int {
	order := make([]int, 0, len(groups))
	placed := make([]bool, len(groups))
	for _, k := range prev {
		if i, ok := byKey[k]; ok && !placed[i] {
			order = append(order, i)
			placed[i] = true
		}
	}
	for i := range groups {
		if placed[i] {
			continue
		}
		// a new signature goes above the first row with fewer errors in w
		at := len(order)
		for k, j := range order {
			if groups[i].Count[w] > groups[j].Count[w] {
				at = k
				break
			}
		}
		order = append(order, 0)
		copy(order[at+1:], order[at:])
		order[at] = i
	}
	for i := 1; i < len(order); i++ {
		for j := i; j > 0 && clearlyMore(groups[order[j]].Count[w], groups[order[j-1]].Count[w]); j-- {
			order[j], order[j-1] = order[j-1], order[j]
		}
	}
	return order
}
