package ui

import (
	"regexp"
	"strconv"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/nsai/ingot-top/internal/alerts"
	"github.com/nsai/ingot-top/internal/wire"
)

// The alert list: every active alert grouped by the fault that explains it (the lead, then
// its members indented), then the alerts resolved this session, newest first. A row is the
// whole width: state, severity, onset, when it fired, when its condition stopped, what it
// is, what it says and its runbook section. Enter on a row jumps to its evidence.

// jumpMsg moves the dashboard to an alert's evidence: the pane to focus, and what each pane
// should select. It is also how the `a` key opens the alert list (alerts set).
type jumpMsg struct {
	pane int
	// alerts opens the alert list (the Stream pane, full width).
	alerts bool
	// op selects an operation in the Latency pane (full event name).
	op string
	// service and filter set the Errors pane's service filter ("" = all) and text filter;
	// open opens the newest occurrence of the first signature left (its trace lineage).
	service string
	filter  string
	open    bool
	// health selects a row of the Health pane and opens its detail.
	health string
}

// evidence is where an alert's evidence is.
func evidence(a alerts.Alert) jumpMsg {
	svc := a.Labels["service"]
	switch a.Name {
	case alerts.NameHighErrorRate:
		j := jumpMsg{pane: paneErrors, service: errorsService(svc), open: true}
		if op := a.Labels["operation"]; op != "" {
			j.filter = "^" + regexp.QuoteMeta(op) + "$"
			j.op = operationEvent(a)
		}
		return j
	case alerts.NameServiceUnhealthy:
		return jumpMsg{pane: paneHealth, health: svc, service: errorsService(svc)}
	case alerts.NameSlowLabelSubmit:
		return jumpMsg{pane: paneLatency, op: wire.EventLabelSubmit}
	}
	return jumpMsg{pane: paneStream}
}

// errorsService is the Errors pane's service filter for a service label ("ingot/anvil"
// counts as anvil), "" when the pane has no such filter.
func errorsService(svc string) string {
	if rest, ok := strings.CutPrefix(svc, "ingot/"); ok {
		svc = rest
	}
	for _, s := range serviceFilters {
		if s == svc {
			return s
		}
	}
	return ""
}

func jumpCmd(j jumpMsg) tea.Cmd { return func() tea.Msg { return j } }

// alertRow is one row of the list.
type alertRow struct {
	alert   alerts.Alert
	member  bool // indented under its group's lead
	history bool
	tag     string
}

// alertRows flattens the state into rows: groups (lead, members), then history.
func alertRows(st alerts.State) []alertRow {
	groups := alerts.GroupAlerts(st.Active)
	leads := make([]alerts.Alert, len(groups))
	for i, g := range groups {
		leads[i] = g.Lead
	}
	tags := alertTags(leads)
	var rows []alertRow
	for i, g := range groups {
		rows = append(rows, alertRow{alert: g.Lead, tag: tags[i]})
		mt := alertTags(g.Members)
		for k, m := range g.Members {
			rows = append(rows, alertRow{alert: m, member: true, tag: mt[k]})
		}
	}
	ht := alertTags(st.History)
	for i, a := range st.History {
		rows = append(rows, alertRow{alert: a, history: true, tag: ht[i]})
	}
	return rows
}

var alertCols = []column{
	{title: "state", width: 9, priority: 9},
	{title: "sev", width: 6, priority: 5},
	{title: "onset", width: 9, priority: 8},
	{title: "fired", width: 8, priority: 4},
	{title: "stopped", width: 8, priority: 6},
	{title: "runbook", width: 32, priority: 3}, // "RUNBOOK.md#ingotserviceunhealthy"
}

// alertTable lays out rows at width w: the fixed columns that fit, then the alert's name and
// summary in what is left, then the runbook section when it fits.
type alertTable struct {
	keep  []int
	flexW int
}

func newAlertTable(w int) alertTable {
	keep, flexW := chooseColumns(alertCols, w-2, 50)
	return alertTable{keep: keep, flexW: flexW}
}

func (t alertTable) line(c *Common, cur, flex string, cells []string) string {
	var b strings.Builder
	b.WriteString(cur)
	for _, i := range t.keep {
		if i == len(alertCols)-1 {
			continue // the runbook goes last
		}
		b.WriteString(fit(cells[i], alertCols[i].width) + " ")
	}
	b.WriteString(fit(flex, t.flexW))
	for _, i := range t.keep {
		if i == len(alertCols)-1 {
			b.WriteString(" " + fit(cells[i], alertCols[i].width))
		}
	}
	return b.String()
}

func (t alertTable) header(c *Common) string {
	cells := make([]string, len(alertCols))
	for i, col := range alertCols {
		cells[i] = col.title
	}
	return c.Styles.Header.S(t.line(c, "  ", "alert · summary", cells))
}

func (t alertTable) row(c *Common, r alertRow, sel bool) string {
	st := c.Styles
	a := r.alert
	state := strings.ToUpper(string(a.State))
	if a.State == alerts.StatePending || r.history {
		state = string(a.State)
	}
	stamp := func(tm time.Time) string {
		if tm.IsZero() {
			return "—"
		}
		return tm.Format(clockLayout)
	}
	cells := []string{
		state,
		clean(a.Severity),
		onsetText(a.Onset, a.OnsetApprox),
		stamp(a.FiredAt),
		stamp(a.ResolvingAt),
		a.Runbook,
	}
	if a.Onset.IsZero() {
		cells[2] = onsetText(a.ActiveAt, true)
	}
	if cells[5] == "" {
		cells[5] = "—"
	}
	name := clean(a.Name) + r.tag
	if a.Source == alerts.SourcePrometheus {
		name += " (prom)"
	}
	if a.Source == alerts.SourceDaemon {
		name += " (D)" // the daemons' verdict, with their onset
	}
	if r.member {
		name = "  " + name
	}
	flex := name
	if a.Summary != "" {
		flex += " · " + clean(a.Summary)
	}
	line := t.line(c, rowStart(sel, c.ASCII), flex, cells)
	switch {
	case sel:
		return st.Selected.S(line)
	case r.history:
		return st.Dim.S(line)
	case a.State == alerts.StateFiring:
		return st.Bad.S(line)
	case a.State == alerts.StateResolving, a.State == alerts.StatePending:
		return st.Warn.S(line)
	}
	return line
}

// alertListView is the full list with a cursor (sel < 0: none) in w×h.
func alertListView(c *Common, st alerts.State, w, h, sel int) []string {
	t := newAlertTable(w)
	rows := alertRows(st)
	out := []string{t.header(c)}
	if len(st.Active) == 0 {
		out = append(out, "  none active")
	}
	histShown := false
	for i, r := range rows {
		if r.history && !histShown {
			histShown = true
			out = append(out, c.Styles.Header.S("  resolved this session ("+strconv.Itoa(len(st.History))+"), newest first"))
		}
		out = append(out, t.row(c, r, i == sel))
	}
	if sel >= 0 && len(out) > h {
		// keep the selected row in view: it is at out[sel+1 (+1 past the history header)]
		at := sel + 1
		if sel < len(rows) && rows[sel].history {
			at++
		}
		first := min(max(at-h+1, 0), len(out)-h)
		out = out[first:]
	}
	return out
}
