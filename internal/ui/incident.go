package ui

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nsai/ingot-top/internal/alerts"
	"github.com/nsai/ingot-top/internal/health"
	"github.com/nsai/ingot-top/internal/ingest"
	"github.com/nsai/ingot-top/internal/view"
	"github.com/nsai/ingot-top/internal/wire"
)

// The status bar answers the on-call questions that do not fit a pane: what is broken and
// since when (the banner), how bad and who (the vitals line: the state of every service as
// a word, the client error rate, the users and queues hit). Every figure is exact, or says
// it is a lower bound ("31+") or an estimate ("~31"); a figure that cannot be known shows "?".

// serviceWord is a probed service's state as a word, with its paint: colour only repeats
// what the word says.
func (s *statusBar) serviceWord(name string) (string, Paint) {
	st := s.c.Styles
	var row *health.Status
	degraded := false
	for i := range s.frame.Health {
		h := &s.frame.Health[i]
		if h.Name == name {
			row = h
		}
		if rest, ok := strings.CutPrefix(h.Name, name+"/"); ok && rest != "" && h.State == health.StateUnhealthy {
			degraded = true
		}
	}
	switch {
	case row == nil:
		return "n/a", st.Dim // not probed
	case row.State == health.StateUnhealthy:
		return "DOWN", st.Bad
	case row.State == health.StateUnknown:
		return "?", st.Warn
	case degraded:
		return "degraded", st.Warn
	}
	return "ok", st.OK
}

// natsWord is the NATS connection as a word.
func (s *statusBar) natsWord() (string, Paint) {
	st := s.c.Styles
	if !s.got {
		return "?", st.Warn
	}
	if s.frame.Replay != nil && s.frame.Replay.Recording {
		return "n/a", st.Dim // a recording: no NATS here
	}
	switch s.frame.Conn.Phase {
	case ingest.PhaseConnected:
		return "ok", st.OK
	case ingest.PhaseReconnecting:
		return "RECONNECTING", st.Bad
	case ingest.PhaseDisconnected:
		return "DOWN", st.Bad
	}
	return "connecting", st.Warn
}

// vitals is the line that says, at every width, the state of Forge, Anvil, Ingot and NATS
// and how bad the client errors are: the rate and who they hit, over the selected window.
func (s *statusBar) vitals(w int) string {
	var b strings.Builder
	for _, name := range [...]string{"forge", "anvil", "ingot"} {
		word, p := s.serviceWord(name)
		b.WriteString(name + " " + p.S(word) + " ")
	}
	word, p := s.natsWord()
	b.WriteString("nats " + p.S(word))
	compact := w < 120
	if s.frame.Stream != nil {
		b.WriteString(" │ " + s.impactText(s.frame.Impact, compact))
	}
	return cut(b.String(), w)
}

// impactText is "errors 12.3% of 4.1k calls (5m) │ hit 31 users, 4 queues", shorter when
// compact.
func (s *statusBar) impactText(im view.Impact, compact bool) string {
	st := s.c.Styles
	win := s.c.Window
	// without Known, view.Build has summed the per-service counts
	calls, errs := im.Calls[win], im.Errors[win]
	var b strings.Builder
	label := "errors "
	if compact {
		label = "err "
	}
	switch {
	case calls == 0:
		b.WriteString(label + "— (no calls)")
	default:
		rate := float64(errs) / float64(calls)
		p := st.OK
		if rate > s.c.Rules.ErrorRate.Threshold {
			p = st.Bad
		} else if errs > 0 {
			p = st.Warn
		}
		b.WriteString(label + p.S(fmtPct(rate)))
		if !compact {
			b.WriteString(" of " + fmtCount(float64(calls)) + " calls")
		}
	}
	b.WriteString(" " + win.String() + " │ ")
	if !compact {
		b.WriteString("hit ")
	}
	if !im.Known {
		b.WriteString("? users, ? queues")
		return b.String()
	}
	users := countText(im.AffectedUsers[win], im.ErrorsNoUser[win] > 0, im.UsersEstimated && im.AffectedUsers[win] > 0)
	queues := countText(uint64(im.AffectedQueues[win]), im.ErrorsNoQueue[win] > 0 || im.QueuesLowerBound[win], false)
	sep := ", "
	if compact {
		sep = " "
	}
	b.WriteString(users + plural(im.AffectedUsers[win], " user", " users") + sep + queues + plural(uint64(im.AffectedQueues[win]), " queue", " queues"))
	return b.String()
}

// countText is n, marked "31+" when it is a lower bound and "~31" when an estimate.
func countText(n uint64, lowerBound, estimated bool) string {
	s := fmtCount(float64(n))
	switch {
	case estimated:
		return "~" + s
	case lowerBound:
		return s + "+"
	}
	return s
}

func plural(n uint64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// onsetText is "10:16:28", or "~10:16:28" when the onset is only a bound (the condition
// may have held earlier).
func onsetText(t time.Time, approx bool) string {
	if t.IsZero() {
		return "?"
	}
	if approx {
		return "~" + t.Format(clockLayout)
	}
	return t.Format(clockLayout)
}

// alertFact is what an alert says in a few words: "anvil down", "submit_label 31%",
// "31% errors", "submit p95 2.4s", "lag p95 7.2s".
func alertFact(a alerts.Alert) string {
	switch a.Name {
	case alerts.NameServiceUnhealthy:
		return clean(a.Labels["service"]) + " down"
	case alerts.NameHighErrorRate:
		if op := a.Labels["operation"]; op != "" {
			return clean(op) + " " + fmtPct(a.Value)
		}
		return fmtPct(a.Value) + " errors"
	case alerts.NameSlowLabelSubmit:
		return "submit p95 " + fmtMS(a.Value*1000)
	case alerts.NameStreamLag:
		return "lag p95 " + fmtMS(a.Value*1000)
	}
	if a.Summary != "" {
		return clean(a.Summary)
	}
	return clean(a.Name)
}

// groupHead names a group: its service, or the alert's name with its distinguishing
// labels for a lone alert.
func groupHead(g alerts.Group, tag string) string {
	if g.Service != "" {
		return clean(g.Service)
	}
	name := clean(g.Lead.Name) + tag
	if g.Lead.Source == alerts.SourcePrometheus {
		name += " (prom)"
	}
	if g.Lead.Source == alerts.SourceDaemon {
		name += " (D)" // the daemons' verdict, with their onset
	}
	return name
}

// factRank orders what a group says: the service down, then its failing operations (worst
// first), the slow submit, the service's overall rate, then Ingot's view of it.
func factRank(a alerts.Alert) int {
	switch {
	case a.Name == alerts.NameServiceUnhealthy && !strings.Contains(a.Labels["service"], "/") && a.Labels["service"] != "ingot":
		return 0 // the group's own service (Ingot's probe joins a dependency's group)
	case a.Name == alerts.NameHighErrorRate && a.Labels["operation"] != "":
		return 1
	case a.Name == alerts.NameSlowLabelSubmit:
		return 2
	case a.Name == alerts.NameHighErrorRate:
		return 3
	}
	return 4
}

// groupFacts lists what a group's alerts say, most telling first, each once.
func groupFacts(g alerts.Group) []string {
	var out []string
	seen := map[string]bool{}
	all := g.Alerts()
	sort.SliceStable(all, func(i, j int) bool {
		if ri, rj := factRank(all[i]), factRank(all[j]); ri != rj {
			return ri < rj
		}
		return all[i].Value > all[j].Value
	})
	for _, a := range all {
		f := alertFact(a)
		if a.Name == alerts.NameServiceUnhealthy && a.Labels["service"] == g.Service {
			f = "down" // the head already names the service
		}
		if a.Source == alerts.SourcePrometheus && g.Service != "" {
			f += " (prom)"
		}
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out
}

// groupText is one group in the banner within room cells: state, what, since when, then as
// many of its alerts' facts as fit (never a fact cut in half), then how many alerts:
//
//	▲ FIRING anvil since 10:16:28: down · submit_label 31% · submit p95 2.4s (7 alerts)
//	▼ RESOLVING anvil since 10:20:03 (onset 10:16:28): down · submit_label 31% (7 alerts)
//
// The head alone is returned, cut, when even it does not fit.
func (s *statusBar) groupText(g alerts.Group, tag string, room int) (string, Paint) {
	st := s.c.Styles
	head := groupHead(g, tag)
	var b strings.Builder
	paint := st.Pending
	switch g.State {
	case alerts.StateFiring:
		mark := "▲ "
		if s.c.ASCII {
			mark = "! "
		}
		b.WriteString(mark + "FIRING " + head + " since " + onsetText(g.Onset, g.OnsetApprox))
		paint = st.Firing
	case alerts.StateResolving:
		mark := "▼ "
		if s.c.ASCII {
			mark = "v "
		}
		b.WriteString(mark + "RESOLVING " + head + " since " + g.ResolvingAt.Format(clockLayout) +
			" (onset " + onsetText(g.Onset, g.OnsetApprox) + ")")
		paint = st.Warn
	default:
		b.WriteString("pending " + head + " since " + onsetText(g.Onset, g.OnsetApprox))
	}
	text := b.String()
	if width(text) >= room {
		return cut(text, room), paint
	}
	count := ""
	if g.Size() > 1 {
		count = " (" + strconv.Itoa(g.Size()) + " alerts)"
	}
	if g.Service != "" || g.Size() > 1 {
		sep := ": "
		for _, f := range groupFacts(g) {
			if width(text)+len(sep)+width(f) > room {
				break
			}
			text += sep + f
			sep = " · "
		}
	}
	if width(text)+len(count) <= room {
		text += count
	}
	return text, paint
}

// operationEvent is the event name of a client operation alert, "" for others.
func operationEvent(a alerts.Alert) string {
	op, svc := a.Labels["operation"], a.Labels["service"]
	if op == "" {
		return ""
	}
	switch svc {
	case "forge":
		return wire.ForgeClientPrefix + op
	case "anvil":
		return wire.AnvilClientPrefix + op
	}
	return ""
}
