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
// event names and the alerts with history. Enter (or `a` anywhere) opens the alert list full
// width, with a cursor; Enter there jumps to the selected alert's evidence.
type streamPane struct {
	c      *Common
	w, h   int
	snap   *engine.Snapshot
	alerts alerts.State
	offset int
	// list is the alert list; sel the selected row (alertRows order).
	list bool
	sel  int
}

func newStreamPane(c *Common) *streamPane { return &streamPane{c: c} }

func (p *streamPane) Title() string {
	if p.list {
		return "Alerts · " + strconv.Itoa(len(p.alerts.Active)) + " active · " + strconv.Itoa(len(p.alerts.History)) + " resolved"
	}
	return "Stream & alerts"
}
func (p *streamPane) Capturing() bool  { return false }
func (p *streamPane) Detail() bool     { return p.list }
func (p *streamPane) SetSize(w, h int) { p.w, p.h = w, h }
func (p *streamPane) ShortHelp() []key.Binding {
	k := p.c.Keys
	if p.list {
		return []key.Binding{k.Up, k.Down, evidenceKey, k.Back}
	}
	return []key.Binding{k.Up, k.Down, k.Enter}
}
func (p *streamPane) FullHelp() [][]key.Binding {
	k := p.c.Keys
	if p.list {
		return [][]key.Binding{{k.Up, k.Down, k.Top, k.Bottom}, {evidenceKey, k.Back}}
	}
	return [][]key.Binding{{k.Up, k.Down, k.Top}, {k.Enter}}
}

// evidenceKey is Enter's help in the alert list.
var evidenceKey = key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "evidence"))

func (p *streamPane) Update(msg tea.Msg) (pane, tea.Cmd) {
	switch msg := msg.(type) {
	case viewMsg:
		p.snap = msg.Stream
		p.alerts = msg.Alerts
		p.sel = min(p.sel, max(len(alertRows(p.alerts))-1, 0))
	case jumpMsg:
		if msg.alerts {
			p.list = true
		}
	case tea.KeyMsg:
		k := p.c.Keys
		if p.list {
			return p, p.listKey(msg)
		}
		switch {
		case key.Matches(msg, k.Enter):
			p.list, p.sel = true, 0
			return p, nil
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

// listKey handles a key in the alert list.
func (p *streamPane) listKey(msg tea.KeyMsg) tea.Cmd {
	k := p.c.Keys
	rows := alertRows(p.alerts)
	switch {
	case key.Matches(msg, k.Back):
		p.list = false
	case key.Matches(msg, k.Up):
		p.sel--
	case key.Matches(msg, k.Down):
		p.sel++
	case key.Matches(msg, k.Top):
		p.sel = 0
	case key.Matches(msg, k.Bottom):
		p.sel = len(rows) - 1
	case key.Matches(msg, k.Enter):
		if p.sel >= 0 && p.sel < len(rows) {
			p.list = false
			return jumpCmd(evidence(rows[p.sel].alert))
		}
	}
	p.sel = max(min(p.sel, len(rows)-1), 0)
	return nil
}

func (p *streamPane) View() string {
	if p.list {
		return strings.Join(alertListView(p.c, p.alerts, p.w, p.h, p.sel), "\n")
	}
	if p.snap == nil && len(p.alerts.Active) == 0 && len(p.alerts.History) == 0 {
		return emptyState(p.w, true, "")
	}
	st := p.c.Styles
	// The alerts first: in an incident they are what this pane is opened for.
	lines := []string{st.Header.S("alerts (enter: the list, full width)")}
	lines = append(lines, alertListView(p.c, p.alerts, p.w, 1<<20, -1)...)
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
	off := min(p.offset, max(len(lines)-p.h, 0))
	lines = lines[off:]
	if len(lines) > p.h {
		lines = lines[:p.h]
	}
	return strings.Join(lines, "\n")
}
