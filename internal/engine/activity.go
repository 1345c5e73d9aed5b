package engine

import (
	"math"
	"time"

	"github.com/nsai/ingot-top/internal/wire"
)

// Figures the design names that are not an operation's own duration: the client round-trip
// of a label submit (client_latency_ms, beside the server's duration_ms), and the events
// without a duration that the dashboard still counts: Forge's sample creation and Anvil's
// agreement calculation (with its score).

// ClientLatencyOp is the operation row of ingot.label.submit's client_latency_ms: the
// round-trip the labeler's browser saw, shown beside the server's time.
const ClientLatencyOp = wire.EventLabelSubmit + ".client_latency"

// ActivityStats is one counted event without a duration.
type ActivityStats struct {
	Name   string
	Count  [NumWindows]uint64
	PerMin [NumWindows]float64
	// ScoreKey is the measurement averaged in MeanScore ("score" of an agreement
	// calculation); "" when the event has none.
	ScoreKey string
	// Scored counts the events with a score in each window, and MeanScore is their mean
	// (0 where Scored is 0).
	Scored    [NumWindows]uint64
	MeanScore [NumWindows]float64
	// LastScore is the newest score and LastAt when it arrived (zero without one).
	LastScore float64
	LastAt    time.Time
}

// activities are the events counted as activity, with the measurement averaged.
var activities = []struct{ name, score string }{
	{wire.EventSampleCreated, ""},
	{wire.EventAgreementCalculated, "score"},
}

// scoreScale keeps a score (−1 … 1 by the contract) as a whole number in a counter: the sum
// of (score+1)×scoreScale, which keeps four decimals.
const scoreScale = 10000

type activityState struct {
	name, scoreKey string
	counts         countRing // fineWidth × fineSlots; cols: events, events with a score, score sum
	last           float64
	lastAt         time.Time
}

// extraFigures counts what the operation rows do not: the client latency of a submit and the
// activity events. Called for every valid event.
func (s *state) extraFigures(ev *wire.Event, name string) {
	switch name {
	case wire.EventLabelSubmit:
		if v, ok := ev.Measure("client_latency_ms"); ok {
			op := s.opOf(&s.clientLatency)
			op.latFine.addValue(s.at.fine, s.kit.value(v), s.kit) // latCoarse gets the slice later
			if s.at.t.After(op.lastEvent) {
				op.lastEvent = s.at.t
			}
			op.version++
		}
		return
	}
	for i, a := range activities {
		if a.name != name {
			continue
		}
		if s.activity == nil {
			s.activity = make([]*activityState, len(activities))
		}
		st := s.activity[i]
		if st == nil {
			st = &activityState{name: a.name, scoreKey: a.score, counts: newCountRing(fineSlots, 3)}
			s.activity[i] = st
		}
		st.counts.add(s.at.fine, 0, 1)
		if a.score != "" {
			if v, ok := ev.Measure(a.score); ok && v >= -1 && v <= 1 {
				st.counts.add(s.at.fine, 1, 1)
				st.counts.add(s.at.fine, 2, uint32(math.Round((v+1)*scoreScale)))
				st.last, st.lastAt = v, s.at.t
			}
		}
		return
	}
}

func (s *state) buildActivity() []ActivityStats {
	var out []ActivityStats
	for _, st := range s.activity {
		if st == nil {
			continue
		}
		r := ActivityStats{Name: st.name, ScoreKey: st.scoreKey, LastScore: st.last, LastAt: st.lastAt}
		r.Count = st.counts.windowSums(s.fine, fineKs, 0)
		r.Scored = st.counts.windowSums(s.fine, fineKs, 1)
		sums := st.counts.windowSums(s.fine, fineKs, 2)
		for w := Window(0); w < NumWindows; w++ {
			r.PerMin[w] = float64(r.Count[w]) / s.covered(fineWidth, fineKs[w]).Minutes()
			if r.Scored[w] > 0 {
				r.MeanScore[w] = float64(sums[w])/float64(r.Scored[w])/scoreScale - 1
			}
		}
		out = append(out, r)
	}
	return out
}
