package report

import (
	"slices"
	"time"

	"github.com/nsai/ingot-top/internal/alerts"
	"github.com/nsai/ingot-top/internal/engine"
)

// maxTimeline bounds the timeline: an alert that flapped all night must not bury the rest.
const maxTimeline = 200

// Timeline entry kinds.
const (
	TimelineOnset      = "onset"       // an alert's condition began
	TimelineFired      = "fired"       // it held for its rule's `for` and fired
	TimelineStopped    = "stopped"     // its condition stopped holding (resolving)
	TimelineResolved   = "resolved"    // it stayed away for the hold-down
	TimelineFirstError = "first_error" // the first error of a signature
)

// TimelineEntry is one moment of an incident: what a postmortem reads first.
type TimelineEntry struct {
	Time time.Time `json:"time"`
	Kind string    `json:"kind"`
	// Approx says Time is a bound (an onset older than the data reaches).
	Approx bool `json:"approx,omitempty"`
	// What names the alert (with its service/operation) or the error signature.
	What   string `json:"what"`
	Detail string `json:"detail,omitempty"`
}

// buildTimeline lists, in time order, the onsets, firings, stops and resolutions of the
// alerts the report knows (active and resolved), and the first error of each signature the
// engine holds. The oldest entries go first when there are more than maxTimeline: the start
// of an incident is what a timeline is read for.
func buildTimeline(st alerts.State, groups []engine.ErrorGroup) []TimelineEntry {
	var out []TimelineEntry
	add := func(t time.Time, kind string, approx bool, what, detail string) {
		if !t.IsZero() {
			out = append(out, TimelineEntry{Time: t.UTC(), Kind: kind, Approx: approx, What: what, Detail: detail})
		}
	}
	for _, list := range [][]alerts.Alert{st.Active, st.History} {
		for _, a := range list {
			name := a.Name + labelTag(Alert{Labels: a.Labels})
			onset, approx := a.Onset, a.OnsetApprox
			if onset.IsZero() {
				onset, approx = a.ActiveAt, true
			}
			add(onset, TimelineOnset, approx, name, a.Summary)
			add(a.FiredAt, TimelineFired, false, name, a.Severity)
			add(a.ResolvingAt, TimelineStopped, false, name, "")
			add(a.ResolvedAt, TimelineResolved, false, name, "")
		}
	}
	for _, g := range groups {
		if g.Event == engine.OtherID {
			continue // folded past the cap: no one signature's first
		}
		add(g.First, TimelineFirstError, false, g.Service+" "+g.Event, g.Signature)
	}
	slices.SortStableFunc(out, func(a, b TimelineEntry) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return kindOrder(a.Kind) - kindOrder(b.Kind)
	})
	if len(out) > maxTimeline {
		out = out[:maxTimeline]
	}
	return out
}

// kindOrder puts the cause before its effects within one second.
func kindOrder(k string) int {
	return slices.Index([]string{TimelineFirstError, TimelineOnset, TimelineFired, TimelineStopped, TimelineResolved}, k)
}
