package engine

import "time"

// A periodic snapshot recomputes the 1m figures every build and the 5m and 15m figures every
// 5 s. A figure over 5 minutes moves by noise from one second to the next, and redrawing that
// noise is most of what a dashboard writes to its terminal; held this way a 5m p95 is at
// most 5 s (1.7 % of its window) older than it could be. The 5m and 15m figures are held
// together, so that a longer window never shows less than a shorter one from another moment.
// Sync (force) recomputes everything.
var windowRefresh = [NumWindows]time.Duration{0, 5 * time.Second, 5 * time.Second}

// decideHolds, at the start of a build, says which windows this build holds (s.hold): the
// builders skip computing what holdSlowWindows will replace anyway.
func (s *state) decideHolds() {
	for w := Window(0); w < NumWindows; w++ {
		s.hold[w] = false
		if s.force || s.prev == nil || s.now.Sub(s.windowAt[w]) >= windowRefresh[w] || s.now.Before(s.windowAt[w]) {
			s.windowAt[w] = s.now
			continue
		}
		s.hold[w] = true
	}
}

// holdSlowWindows copies into snap, for each window held in this build, that window's
// figures from the previous snapshot, row by row (matched by id). Rows new since then keep
// their fresh figures.
func (s *state) holdSlowWindows(snap *Snapshot) {
	hold := s.hold
	if !hold[Window5m] && !hold[Window15m] {
		return
	}
	prev := s.prev
	for w := Window(0); w < NumWindows; w++ {
		if hold[w] {
			snap.Lag[w] = prev.Lag[w]
		}
	}

	prevQueues := make(map[string]*QueueStats, len(prev.Queues))
	for i := range prev.Queues {
		prevQueues[prev.Queues[i].ID] = &prev.Queues[i]
	}
	for i := range snap.Queues {
		q := &snap.Queues[i]
		p := prevQueues[q.ID]
		if p == nil {
			continue
		}
		for w := Window(0); w < NumWindows; w++ {
			if hold[w] {
				holdQueueWindow(q, p, w)
			}
		}
		if hold[Window5m] {
			setBacklogETA(q) // the live backlog at the (held) 5m velocity
		}
	}

	prevOps := make(map[string]*OpStats, len(prev.Ops))
	for i := range prev.Ops {
		prevOps[prev.Ops[i].Name] = &prev.Ops[i]
	}
	for i := range snap.Ops {
		op := &snap.Ops[i]
		if p := prevOps[op.Name]; p != nil {
			for w := Window(0); w < NumWindows; w++ {
				if hold[w] {
					holdOpWindow(op, p, w)
				}
			}
		}
	}

	for i := range snap.Services {
		sv := &snap.Services[i]
		for k := range prev.Services {
			if p := &prev.Services[k]; p.Service == sv.Service {
				for w := Window(0); w < NumWindows; w++ {
					if hold[w] {
						holdServiceWindow(sv, p, w)
					}
				}
			}
		}
	}

	prevGroups := make(map[string]*ErrorGroup, len(prev.ErrorGroups))
	for i := range prev.ErrorGroups {
		g := &prev.ErrorGroups[i]
		prevGroups[g.Service+"\x00"+g.Event+"\x00"+g.Signature] = g
	}
	// A signature's counts (every window and the total) are held as one, so that a row and
	// its detail agree: 1m ≤ 5m ≤ 15m ≤ total, all from the same moment. A signature whose
	// last minute surges is not held: an incident's errors show within the second.
	for i := range snap.ErrorGroups {
		g := &snap.ErrorGroups[i]
		if p := prevGroups[g.Service+"\x00"+g.Event+"\x00"+g.Signature]; p != nil && hold[Window5m] && !surged(p.Count[Window1m], g.Count[Window1m]) {
			g.Count, g.Total = p.Count, p.Total
		}
	}
	SortErrorGroups(snap.ErrorGroups, Window5m)
}

// A signature's 1m count surges when it grew by more than max(surgeAbs, surgeRel × shown)
// since the held figure: more than noise between two recomputes 5 s apart.
const (
	surgeAbs = 10
	surgeRel = 0.5
)

func surged(shown, fresh uint64) bool {
	return fresh > shown && float64(fresh-shown) > max(surgeAbs, surgeRel*float64(shown))
}
