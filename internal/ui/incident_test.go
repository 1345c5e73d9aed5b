package ui

import (
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/nsai/ingot-top/internal/alerts"
	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/health"
	"github.com/nsai/ingot-top/internal/ingest"
)

// pressRun presses keys and delivers the jumps their commands ask for, as bubbletea would.
func pressRun(t *testing.T, m Model, keys ...string) Model {
	t.Helper()
	for _, k := range keys {
		nm, cmd := m.Update(keyMsg(k))
		m = nm.(Model)
		for _, msg := range runCmd(cmd) {
			if j, ok := msg.(jumpMsg); ok {
				nm, _ := m.Update(j)
				m = nm.(Model)
			}
		}
	}
	return m
}

func runCmd(cmd tea.Cmd) []tea.Msg {
	if cmd == nil {
		return nil
	}
	msg := cmd()
	if b, ok := msg.(tea.BatchMsg); ok {
		var out []tea.Msg
		for _, c := range b {
			out = append(out, runCmd(c)...)
		}
		return out
	}
	return []tea.Msg{msg}
}

func screenLines(m Model) []string { return strings.Split(ansi.Strip(m.View()), "\n") }

// The status bar must say, at every size and without colour, the state of Forge, Anvil,
// Ingot and NATS as words, and how bad the errors are: the rate and who they hit.
func TestVitalsAtEverySize(t *testing.T) {
	f := SampleFrame(fixedAt)
	for _, size := range [][2]int{{80, 24}, {100, 30}, {160, 48}, {200, 60}, {240, 60}} {
		for _, opts := range []Options{{NoColor: true}, {NoColor: true, ASCII: true}, {}} {
			m := withFrame(t, sized(t, New(opts), size[0], size[1]), f)
			v := m.View()
			checkScreen(t, v, size[0], size[1])
			line := screenLines(m)[1]
			for _, want := range []string{"forge ok", "anvil DOWN", "ingot degraded", "nats ok", "6.1%", "31 users", "13+ queues"} {
				if !strings.Contains(line, want) {
					t.Errorf("%dx%d %+v: vitals line lacks %q: %q", size[0], size[1], opts, want, line)
				}
			}
		}
	}
	// at the minimum size the service states still show
	m := withFrame(t, sized(t, New(Options{NoColor: true}), 50, 12), f)
	if line := screenLines(m)[1]; !strings.HasPrefix(line, "forge ok anvil DOWN ingot degraded nats ok") {
		t.Errorf("50 columns: %q", line)
	}
}

func TestVitalsSayWhatIsUnknown(t *testing.T) {
	f := SampleFrame(fixedAt)
	snap := *f.Stream
	snap.Impact = engine.Impact{} // a merged daemon snapshot: no per-user figures
	f.Stream = &snap
	f.Health = []health.Status{{Name: "anvil", State: health.StateUnknown}}
	f.Conn.Phase = ingest.PhaseReconnecting
	m := withFrame(t, sized(t, New(Options{NoColor: true}), 160, 48), f)
	line := screenLines(m)[1]
	for _, want := range []string{"forge n/a", "anvil ?", "ingot n/a", "nats RECONNECTING", "errors 6.1%", "? users, ? queues"} {
		if !strings.Contains(line, want) {
			t.Errorf("vitals lack %q: %q", want, line)
		}
	}
	snap.Impact = engine.Impact{Known: true, Calls: [3]uint64{10, 10, 10}, Errors: [3]uint64{1, 1, 1},
		AffectedUsers: [3]uint64{0, 9000, 0}, UsersEstimated: true, AffectedQueues: [3]int{0, 2, 0}}
	m = withFrame(t, m, f)
	if line := screenLines(m)[1]; !strings.Contains(line, "hit ~9.00k users, 2 queues") {
		t.Errorf("estimate not marked: %q", line)
	}
}

func TestBannerResolvingSaysWhenItStopped(t *testing.T) {
	f := SampleFrame(fixedAt)
	for i := range f.Alerts.Active {
		a := &f.Alerts.Active[i]
		a.State, a.ResolvingAt = alerts.StateResolving, fixedAt.Add(-time.Duration(10+i)*time.Second)
	}
	m := withFrame(t, sized(t, New(Options{NoColor: true}), 160, 48), f)
	line := bannerLine(t, strings.ReplaceAll(m.View(), "RESOLVING", "FIRING"))
	if !strings.Contains(line, "▼ FIRING anvil since 14:29:50 (onset 14:26:28): down") {
		t.Errorf("resolving banner: %q", line)
	}
}

// The alert list is the whole width; Enter on an alert goes to its evidence.
func TestAlertListJumpsToEvidence(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {160, 48}} {
		w, h := size[0], size[1]
		// panes are shared between copies of a Model: each step starts from a new one
		list := func() Model {
			return pressRun(t, withFrame(t, sized(t, New(Options{NoColor: true}), w, h), SampleFrame(fixedAt)), "a")
		}
		m := list()
		if m.focus != paneStream || !m.panes[paneStream].Detail() {
			t.Fatalf("%dx%d: a: focus %d, want the alert list", w, h, m.focus)
		}
		lines := screenLines(m)
		var row string
		for _, l := range lines {
			if strings.Contains(l, "IngotServiceUnhealthy{anvil}") {
				row = l
			}
		}
		if row == "" || ansi.StringWidth(row) != w {
			t.Fatalf("%dx%d: list row %q is not the whole width:\n%s", w, h, row, strings.Join(lines, "\n"))
		}
		for _, want := range []string{"FIRING", "14:26:28"} {
			if !strings.Contains(row, want) {
				t.Errorf("%dx%d: row lacks %q: %q", w, h, want, row)
			}
		}
		if w >= 160 && !strings.Contains(row, "RUNBOOK.md#ingotserviceunhealthy") {
			t.Errorf("%dx%d: row lacks its runbook section: %q", w, h, row)
		}
		if !strings.Contains(strings.Join(lines, "\n"), "resolved this session") {
			t.Errorf("%dx%d: no history section", w, h)
		}

		// the lead: Anvil's health, in detail
		hm := pressRun(t, list(), "enter")
		if hm.focus != paneHealth || !hm.panes[paneHealth].Detail() || !strings.Contains(hm.panes[paneHealth].Title(), "anvil") {
			t.Errorf("%dx%d: enter on IngotServiceUnhealthy: focus %d title %q", w, h, hm.focus, hm.panes[paneHealth].Title())
		}
		// the member below it: the operation's failing calls, newest with its trace
		em := pressRun(t, list(), "j", "enter")
		e := em.panes[paneErrors].(*errorsPane)
		if em.focus != paneErrors || serviceFilters[e.service] != "anvil" || e.filter != "^submit_label$" || !e.detail {
			t.Fatalf("%dx%d: enter on IngotHighErrorRate: focus %d service %s filter %q detail %v", w, h, em.focus, serviceFilters[e.service], e.filter, e.detail)
		}
		if v := ansi.Strip(em.View()); !strings.Contains(v, "trace_id") || !strings.Contains(v, "submit_label") {
			t.Errorf("%dx%d: no trace in the evidence:\n%s", w, h, v)
		}
		lp := em.panes[paneLatency].(*latencyPane)
		if lp.ops[lp.cursor].Name != "ingot.anvil_client.submit_label" {
			t.Errorf("%dx%d: latency pane on %s, want the operation", w, h, lp.ops[lp.cursor].Name)
		}
		// esc: the signatures of that operation
		em = pressRun(t, em, "esc")
		if v := ansi.Strip(em.View()); !strings.Contains(v, "/^submit_label$") {
			t.Errorf("%dx%d: after esc, the filtered signatures:\n%s", w, h, v)
		}
		// the slow submit: the Latency pane on ingot.label.submit
		sm := pressRun(t, list(), "j", "j", "enter")
		lp = sm.panes[paneLatency].(*latencyPane)
		if sm.focus != paneLatency || lp.ops[lp.cursor].Name != "ingot.label.submit" {
			t.Errorf("%dx%d: enter on IngotSlowLabelSubmit: focus %d op %s", w, h, sm.focus, lp.ops[lp.cursor].Name)
		}
		// esc leaves the list
		if bm := pressRun(t, list(), "esc"); bm.panes[paneStream].Detail() {
			t.Errorf("%dx%d: esc did not leave the list", w, h)
		}
	}
}

func TestQueuesErrorColumns(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {160, 48}} {
		m := withFrame(t, sized(t, New(Options{NoColor: true}), size[0], size[1]), SampleFrame(fixedAt))
		v := ansi.Strip(m.View())
		if !strings.Contains(lineWith(t, v, "  queue "), "err%") {
			t.Errorf("%dx%d: Queues has no err%% column:\n%s", size[0], size[1], v)
		}
		if row := lineWith(t, v, "sentiment-en"); !strings.Contains(row, "8.0%") {
			t.Errorf("%dx%d: sentiment-en row lacks its error rate: %q", size[0], size[1], row)
		}
		d := ansi.Strip(press(t, m, "enter").View())
		if !strings.Contains(d, "err/calls") || !strings.Contains(lineWith(t, d, "labeler-012"), "10/180") {
			t.Errorf("%dx%d: labeler table lacks errors:\n%s", size[0], size[1], d)
		}
		if !strings.Contains(d, "err 8.0% of") {
			t.Errorf("%dx%d: drill-down header lacks the error rate", size[0], size[1])
		}
	}
}

func TestForgeErrorShowsItsQueueFromTheTrace(t *testing.T) {
	f := SampleFrame(fixedAt)
	snap := *f.Stream
	snap.Errors = append([]engine.ErrorEntry(nil), snap.Errors...)
	snap.Errors[0].Queue, snap.Errors[0].QueueVia, snap.Errors[0].IDs = "queue_toxicity", engine.QueueViaTrace, nil
	f.Stream = &snap
	m := withFrame(t, sized(t, New(Options{NoColor: true, ErrorGroups: false}), 160, 48), f)
	m = press(t, m, "4", "v")
	e := m.panes[paneErrors].(*errorsPane)
	e.grouped = false
	e.setFilter("queue_id=queue_toxicity")
	if len(e.shown) != 1 {
		t.Fatalf("filter by the queue finds %d errors, want the one tied through its trace", len(e.shown))
	}
	m = press(t, m, "enter")
	if v := ansi.Strip(m.View()); !strings.Contains(v, "queue_toxicity  (from the trace)") {
		t.Errorf("detail lacks the queue from the trace:\n%s", v)
	}
}

// An alert back from resolving to firing is the same episode: one bell, not two.
func TestNoSecondBellAfterResolving(t *testing.T) {
	rings := 0
	m := sized(t, New(Options{Bell: true, Actions: Actions{Bell: func() { rings++ }}}), 120, 40)
	f := SampleFrame(fixedAt)
	f.Alerts.Active = nil
	m = withFrame(t, m, f)
	for _, state := range []alerts.AlertState{alerts.StateFiring, alerts.StateResolving, alerts.StateFiring} {
		f := SampleFrame(fixedAt)
		f.Alerts.Active = []alerts.Alert{{Name: alerts.NameServiceUnhealthy, State: state, Labels: map[string]string{"service": "anvil"}}}
		nm, cmd := m.Update(frameMsg(f))
		m = nm.(Model)
		runCmd(cmd)
	}
	if rings != 1 {
		t.Fatalf("bell rang %d times, want once", rings)
	}
}
