package ui

import (
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/nsai/ingot-top/internal/alerts"
	"github.com/nsai/ingot-top/internal/engine"
)

// streamPane is the health of the stream itself: totals, lag, contract violations, unknown
// event names and the alert list with history.
type streamPane struct {
	c      *Common
	w, h   int
	snap   *engine.Snapshot
	alerts alerts.State
	offset int
}

func newStreamPane(c *Common) *streamPane { return &streamPane{c: c} }

func (p *streamPane) Title() string    { return "Stream & alerts" }
func (p *streamPane) Capturing() bool  { return false }
func (p *streamPane) Detail() bool     { return false }
func (p *streamPane) SetSize(w, h int) { p.w, p.h = w, h }
func (p *streamPane) ShortHelp() []key.Binding {
	return []key.Binding{p.c.Keys.Up, p.c.Keys.Down}
}
func (p *streamPane) FullHelp() [][]key.Binding {
	k := p.c.Keys
	return [][]key.Binding{{k.Up, k.Down, k.Top}}
}

func (p *streamPane) Update(msg tea.Msg) (pane, tea.Cmd) {
	switch msg := msg.(type) {
	case StreamMsg:
		p.snap = msg.Snap
	case AlertsMsg:
		p.alerts = msg.State
	case tea.KeyMsg:
		k := p.c.Keys
		switch {
		case key.Matches(msg, k.Up):
			p.offset--
		case key.Matches(msg, k.Down):
			p.offset++
		case key.Matches(msg, k.Top):
			p.offset = 0
		}
		p.offset = max(p.offset, 0)
	}
	return p, nil
}

func (p *streamPane) View() string {
	if p.snap == nil && len(p.alerts.Active) == 0 && len(p.alerts.History) == 0 {
		return emptyState(p.w, true, "")
	}
	st := p.c.Styles
	var lines []string
	w := p.c.Window
	if s := p.snap; s != nil {
		t := s.Totals
		lines = append(lines, st.Header.S("totals since "+s.Started.Format(clockLayout)),
			"  events "+strconv.FormatUint(t.Events, 10)+"  errors "+strconv.FormatUint(t.Errors, 10)+
				"  invalid "+strconv.FormatUint(t.Invalid, 10)+"  unknown "+strconv.FormatUint(t.Unknown, 10)+
				"  folded ids "+strconv.FormatUint(t.FoldedIDs, 10))
		lag := s.Lag[w]
		lagText := "no data"
		if lag.Count > 0 {
			lagText = "p50 " + fmtMS(lag.P50) + "  p95 " + fmtMS(lag.P95) + "  p99 " + fmtMS(lag.P99) + "  max " + fmtMS(lag.Max)
		}
		// The last second is still filling: drawn, it would always end in a dip.
		perSec := s.EventsPerSec
		if len(perSec) > 1 {
			perSec = perSec[:len(perSec)-1]
		}
		lines = append(lines, "  lag ("+w.String()+") "+lagText,
			"  events/s (60 s) "+sparkline(perSec, min(59, max(p.w-20, 0)), p.c.ASCII))
		lines = append(lines, st.Header.S("contract violations"))
		if len(s.Invalid) == 0 {
			lines = append(lines, "  none")
		}
		for _, r := range s.Invalid {
			lines = append(lines, "  "+fitRight(strconv.FormatUint(r.Count, 10), 8)+" "+clean(r.Reason))
		}
		for _, b := range s.InvalidSamples {
			lines = append(lines, st.Dim.S(cut("    "+b.Received.Format(clockLayout)+" "+clean(b.Subject)+" "+clean(b.Reason)+": "+clean(b.Detail)+" "+clean(b.Excerpt), p.w)))
		}
		lines = append(lines, st.Header.S("unknown event names"))
		if len(s.Unknown) == 0 {
			lines = append(lines, "  none")
		}
		for _, u := range s.Unknown {
			lines = append(lines, "  "+fitRight(strconv.FormatUint(u.Count, 10), 8)+" "+clean(u.Name))
		}
	}
	lines = append(lines, st.Header.S("alerts"))
	if len(p.alerts.Active) == 0 {
		lines = append(lines, "  none active")
	}
	for _, a := range p.alerts.Active {
		lines = append(lines, p.alertLine(a))
	}
	if len(p.alerts.History) > 0 {
		lines = append(lines, st.Header.S("alert history"))
		for _, a := range p.alerts.History {
			lines = append(lines, st.Dim.S(cut(p.alertLine(a), p.w)))
		}
	}
	off := min(p.offset, max(len(lines)-p.h, 0))
	lines = lines[off:]
	if len(lines) > p.h {
		lines = lines[:p.h]
	}
	return strings.Join(lines, "\n")
}

func (p *streamPane) alertLine(a alerts.Alert) string {
	st := p.c.Styles
	state := fit(string(a.State), 8)
	switch a.State {
	case alerts.StateFiring:
		state = st.Bad.S(state)
	case alerts.StatePending:
		state = st.Warn.S(state)
	}
	// The banner's "since" for a firing alert is when it fired; say both here, labelled.
	when := "since " + a.ActiveAt.Format(clockLayout)
	if !a.FiredAt.IsZero() {
		when = "pending " + a.ActiveAt.Format(clockLayout) + ", fired " + a.FiredAt.Format(clockLayout)
	}
	if !a.ResolvedAt.IsZero() {
		when += ", resolved " + a.ResolvedAt.Format(clockLayout)
	}
	return "  " + state + " " + fit(clean(a.Name), 24) + " " + fit(clean(a.Severity), 6) + " " + when + " " + clean(string(a.Source)) + " " + clean(a.Summary)
}
