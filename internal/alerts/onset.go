package alerts

import (
	"time"

	"github.com/nsai/ingot-top/internal/engine"
)

// The rules' windows (5 minutes for the error rate) are right for deciding that something is
// wrong, and wrong for saying since when or whether it still is: a 5-minute rate crosses 5 %
// a minute after the errors began and stays above it for minutes after they stopped. Both
// questions are answered from the per-second counts the engine keeps for the last 30
// seconds (engine.Recent): the onset is the first second of the bad run that is still going
// on, and a firing alert goes to resolving as soon as the last few seconds are good.

// recentSeconds is the span of the per-second counts.
const recentSeconds = engine.RecentSeconds

// series is per-second counts of calls and of bad ones (errors, or samples over a latency
// threshold) over the recentSeconds seconds that end with the one holding `at`.
type series struct {
	start time.Time // start of the oldest second
	// observed is when counting began (the engine's start): a run that begins in its first
	// second may have begun before.
	observed time.Time
	calls    [recentSeconds]uint64
	bad      [recentSeconds]uint64
	// has says some counts were added: without any, nothing is known second by second.
	has bool
}

func newSeries(at, observed time.Time) series {
	return series{start: at.Truncate(time.Second).Add(-(recentSeconds - 1) * time.Second), observed: observed}
}

// add adds an operation's per-second counts, with bad[i] the bad ones of second i. Seconds
// of r after its last one had no events (the engine reuses an idle operation's counts).
func (s *series) add(r *engine.Recent, bad *[engine.RecentSeconds]uint32) {
	if r == nil {
		return
	}
	s.has = true
	for i := 0; i < engine.RecentSeconds; i++ {
		idx := int(r.Start.Add(time.Duration(i)*time.Second).Sub(s.start) / time.Second)
		if idx < 0 || idx >= recentSeconds {
			continue
		}
		s.calls[idx] += uint64(r.Calls[i])
		s.bad[idx] += uint64(bad[i])
	}
}

func (s *series) second(i int) time.Time { return s.start.Add(time.Duration(i) * time.Second) }

// over reports whether bad/calls is above threshold (a fraction); false without calls.
func over(bad, calls uint64, threshold float64) bool {
	return calls > 0 && float64(bad)/float64(calls) > threshold
}

// short evaluates the condition over the newest seconds: at least minSpan of them, widened
// until they hold minCalls calls. known is false when the whole span holds fewer.
func (s *series) short(minSpan time.Duration, minCalls uint64, threshold float64) (holds, known bool) {
	return s.shortFrom(0, minSpan, minCalls, threshold)
}

// shortFrom is short over the seconds from index oldest on only.
func (s *series) shortFrom(oldest int, minSpan time.Duration, minCalls uint64, threshold float64) (holds, known bool) {
	if !s.has {
		return false, false
	}
	span := max(int(minSpan/time.Second), 1)
	var calls, bad uint64
	for n := 1; n <= recentSeconds-oldest; n++ {
		i := recentSeconds - n
		calls += s.calls[i]
		bad += s.bad[i]
		if n >= span && calls >= max(minCalls, 1) {
			return over(bad, calls, threshold), true
		}
	}
	return false, false
}

// runStart is the first second of the bad run going on now: the earliest second i with
// calls such that the rate over i..j stays above threshold for every later j. edge says i
// is the oldest second held, so the run may have begun before it.
func (s *series) runStart(threshold float64) (start time.Time, edge, ok bool) {
	return s.run(func(bad, calls uint64) bool { return over(bad, calls, threshold) })
}

// goodSince is the first second of the good run going on now (rate at or below threshold
// over i..j for every later j): when the condition stopped holding.
func (s *series) goodSince(threshold float64) (time.Time, bool) {
	t, _, ok := s.run(func(bad, calls uint64) bool { return !over(bad, calls, threshold) })
	return t, ok
}

func (s *series) run(holds func(bad, calls uint64) bool) (time.Time, bool, bool) {
	if !s.has {
		return time.Time{}, false, false
	}
	for i := 0; i < recentSeconds; i++ {
		if s.calls[i] == 0 {
			continue
		}
		var calls, bad uint64
		ok := true
		for j := i; j < recentSeconds; j++ {
			calls += s.calls[j]
			bad += s.bad[j]
			if calls > 0 && !holds(bad, calls) {
				ok = false
				break
			}
		}
		if ok {
			first := s.second(i)
			edge := i == 0 || !first.After(s.observed.Truncate(time.Second))
			return first, edge, true
		}
	}
	return time.Time{}, false, false
}

// slowFraction is the share of samples over a latency threshold that makes p95 exceed it.
const slowFraction = 0.05

// signal is one alert condition as read this evaluation.
type signal struct {
	alert       Alert // Name, Source, Severity, Summary, Labels, Value, Threshold
	forDuration time.Duration
	fromStream  bool
	// main: the condition holds over the rule's window (what makes an alert pending).
	main bool
	// short: it holds over the last seconds (what keeps an alert firing).
	short bool
	// onset is the start of the current bad run when the data shows it (zero otherwise);
	// onsetEdge says the run reaches back to the oldest second known.
	onset     time.Time
	onsetEdge bool
	// stopped is when the condition stopped holding, when the data shows it.
	stopped time.Time
	// recovered: the condition holds over the short window only because that window still
	// reaches back to bad seconds; the newest calls (as few seconds as hold minCalls of
	// them) are good. The fault is over as far as the data shows: that keeps a firing alert
	// firing (the short window is the hysteresis against flapping), but must not promote a
	// pending one, which would fire after the recovery on errors from before it.
	recovered bool
	// series, minSpan, minCalls and threshold are what short was read from (series nil without
	// per-second counts): holdsSince reads them again from a later start.
	series    *series
	minSpan   time.Duration
	minCalls  uint64
	threshold float64
	// quiet: the per-second counts exist but the last seconds hold too few calls to judge,
	// and short fell back to the rule's condition over a minute, which still holds the
	// failing seconds from before a recovery. It keeps a firing alert firing, but is no
	// evidence that a resolving one's condition came back.
	quiet bool
}

// readSeries fills a signal's short-window fields from per-second counts; without them
// (merged snapshots) short falls back to fallback, the rule's condition over 1 minute.
func (sg *signal) readSeries(s *series, minSpan time.Duration, minCalls uint64, threshold float64, fallback bool) {
	sg.series, sg.minSpan, sg.minCalls, sg.threshold = s, minSpan, minCalls, threshold
	holds, known := s.short(minSpan, minCalls, threshold)
	if !known {
		holds = fallback
		sg.quiet = s.has
	}
	sg.short = holds
	if holds {
		if now, known := s.short(time.Second, minCalls, threshold); known && !now {
			sg.recovered = true
		}
		if t, edge, ok := s.runStart(threshold); ok {
			sg.onset, sg.onsetEdge = t, edge
		}
		return
	}
	if t, ok := s.goodSince(threshold); ok {
		sg.stopped = t
	}
}

// holdsSince reports whether the condition holds over a short window made only of the
// seconds from the one holding t on (at least the short window's span, widened until it
// holds the rule's minimum of calls): evidence that a fault seen over at t (recovered, or
// resolving since t) came back. A short window that still reaches back to the failing
// seconds before t, with a chance error or two among the newest calls, is not. Without
// per-second counts there is nothing newer to read, and it says yes: the caller's other
// guards (recovered, quiet) decide alone.
func (sg *signal) holdsSince(t time.Time) bool {
	s := sg.series
	if s == nil || !s.has {
		return true
	}
	oldest := max(int(t.Truncate(time.Second).Sub(s.start)/time.Second), 0)
	if oldest >= recentSeconds {
		return false
	}
	holds, known := s.shortFrom(oldest, sg.minSpan, sg.minCalls, sg.threshold)
	return holds && known
}
