package ui

import (
	"strings"
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/view"
)

func TestErrorGroupsView(t *testing.T) {
	m := sampleModel(t, 120, 40, Options{ErrorGroups: true})
	m = press(t, m, "4")
	e := m.panes[paneErrors].(*errorsPane)
	v := m.View()
	for _, want := range []string{"Errors · all · by signature · 5m", "signature (numbers as #)", "timeout after #ms", "db connection pool exhausted"} {
		if !strings.Contains(v, want) {
			t.Errorf("grouped view lacks %q", want)
		}
	}
	if len(e.groups) != 5 {
		t.Fatalf("%d groups shown, want 5", len(e.groups))
	}
	// By count in the window, most frequent first.
	first := e.snap.ErrorGroups[e.groups[0]]
	if first.Signature != "timeout after #ms" || !strings.Contains(v, "    60 anvil submit_label") {
		t.Errorf("first group %q, view:\n%s", first.Signature, v)
	}

	// Untouched, the cursor stays on the top row while the order changes.
	busy := SampleFrame(fixedAt)
	busy.Stream.ErrorGroups[4].Count[engine.Window5m] = 500
	m = withFrame(t, m, busy)
	if g, _ := e.selectedGroup(); e.cursor != 0 || g.Count[engine.Window5m] != 500 {
		t.Fatalf("cursor %d on %+v; want the new most frequent group on top, selected", e.cursor, g)
	}
	m = withFrame(t, m, SampleFrame(fixedAt))

	// Enter: the newest occurrence of the group, with its lineage and the group's counts.
	m = press(t, m, "j", "enter")
	v = m.View()
	for _, want := range []string{"Error detail", "anvil unavailable: 503 Service Unavailable", "50 in 5m", "trace waterfall", "label.submitted"} {
		if !strings.Contains(v, want) {
			t.Errorf("group detail lacks %q:\n%s", want, v)
		}
	}
	m = press(t, m, "esc")

	// A new frame with other counts keeps the selection on the same group.
	sel, _ := e.selectedGroup()
	key := groupKey(sel)
	f := SampleFrame(fixedAt)
	f.Stream.ErrorGroups[len(f.Stream.ErrorGroups)-1].Count[engine.Window5m] = 1000
	m = withFrame(t, m, f)
	if sel2, ok := e.selectedGroup(); !ok || groupKey(sel2) != key {
		t.Fatalf("selection moved to another group after a refresh")
	}
	if top := e.snap.ErrorGroups[e.groups[0]]; top.Count[engine.Window5m] != 1000 {
		t.Errorf("the busiest group is not first after a refresh: %+v", top)
	}

	// The window key re-sorts by that window's counts; f filters by service; / by text.
	m = press(t, m, "w") // 15m
	if !strings.Contains(m.View(), "by signature · 15m") {
		t.Error("title does not follow the window")
	}
	m = press(t, m, "f") // forge
	for _, i := range e.groups {
		if e.snap.ErrorGroups[i].Service != "forge" {
			t.Fatal("service filter leaks into groups")
		}
	}
	m = press(t, m, "f", "f", "f", "/", "p", "o", "o", "l", "enter")
	if len(e.groups) != 1 {
		t.Errorf("filter 'pool' shows %d groups, want 1", len(e.groups))
	}
	m = press(t, m, "esc")

	// v switches to the log and back.
	m = press(t, m, "v")
	if e.grouped || !strings.Contains(m.View(), "Errors · all · follow") {
		t.Fatal("v does not switch to the log")
	}
	m = press(t, m, "v")
	if !e.grouped {
		t.Fatal("v does not switch back to groups")
	}
}

func TestErrorGroupsEmptyAndCopy(t *testing.T) {
	var copied string
	m := sampleModel(t, 100, 30, Options{ErrorGroups: true, Actions: Actions{Copy: func(s string) error { copied = s; return nil }}})
	m = press(t, m, "4")
	m, cmd := pressCmd(t, m, "y")
	run(t, m, cmd)
	e := m.panes[paneErrors].(*errorsPane)
	if g, _ := e.selectedGroup(); copied == "" || copied != g.Latest.TraceID {
		t.Errorf("y copied %q, want the group's newest trace id", copied)
	}
	f := SampleFrame(fixedAt)
	f.Stream.ErrorGroups = nil
	m = withFrame(t, m, f)
	if v := m.View(); !strings.Contains(v, "no errors in the last 15m") {
		t.Errorf("empty groups view:\n%s", v)
	}
}

func TestLatencyPercentilesAreHeldTogether(t *testing.T) {
	m := sampleModel(t, 120, 40, Options{})
	lp := m.panes[paneLatency].(*latencyPane)
	set := func(p95, p99 float64) Frame {
		f := SampleFrame(fixedAt)
		for i := range f.Stream.Ops {
			q := &f.Stream.Ops[i].Latency[engine.Window5m]
			q.P50, q.P95, q.P99 = 100, p95, p99
		}
		return f
	}
	m = withFrame(t, m, set(1000, 1010))
	// p95 moves 2.5 % (past the tolerance), p99 1.6 % (within it): both must move.
	m = withFrame(t, m, set(1025, 1026))
	for name, h := range lp.held {
		if h[1] > h[2] {
			t.Fatalf("%s shows p95 %v above p99 %v", name, h[1], h[2])
		}
		if h[1] != 1025 || h[2] != 1026 {
			t.Fatalf("%s shows p95 %v p99 %v, want 1025 and 1026", name, h[1], h[2])
		}
	}
	// Within tolerance for all three: all held.
	withFrame(t, m, set(1030, 1031))
	for name, h := range lp.held {
		if h[1] != 1025 || h[2] != 1026 {
			t.Fatalf("%s: small moves were not held: %v", name, h)
		}
	}
}

func TestFilterKeepsTheSelectedSignature(t *testing.T) {
	m := sampleModel(t, 120, 40, Options{ErrorGroups: true})
	m = press(t, m, "4", "j", "j", "j") // a forge signature, below the top
	e := m.panes[paneErrors].(*errorsPane)
	sel, _ := e.selectedGroup()
	want := groupKey(sel)
	if sel.Service != "forge" {
		t.Fatalf("fixture: selected %s, want a forge signature", sel.Service)
	}
	m = press(t, m, "f") // forge only: the selection is still listed
	if g, _ := e.selectedGroup(); groupKey(g) != want {
		t.Errorf("service filter moved the selection to %q", g.Signature)
	}
	m = press(t, m, "/", "e", "enter") // matches every signature
	if g, _ := e.selectedGroup(); groupKey(g) != want {
		t.Errorf("text filter moved the selection to %q", g.Signature)
	}
	press(t, m, "esc")
	if g, _ := e.selectedGroup(); groupKey(g) != want {
		t.Errorf("clearing the filter moved the selection to %q", g.Signature)
	}
}

func TestASCIIHelpDoesNotShowArrowStandIns(t *testing.T) {
	m := sampleModel(t, 120, 40, Options{ASCII: true})
	v := press(t, m, "4").View()
	if strings.Contains(v, "v/j") || !strings.Contains(v, "j down") {
		t.Errorf("ASCII footer:\n%s", v[strings.LastIndex(v, "\n")+1:])
	}
}

func TestNoticeTakesThePlaceOfTheServerAt80Columns(t *testing.T) {
	m := sampleModel(t, 80, 24, Options{})
	path := "/home/oncall/reports/ingot-top-incident-20261128T143000Z.md"
	nm, _ := m.Update(noticeMsg{text: "report written to " + path})
	v := nm.(Model).View()
	if !strings.Contains(v, path) {
		t.Fatalf("the report path is cut at 80 columns:\n%s", v)
	}
	checkScreen(t, v, 80, 24)
}

func TestEscClosesTheHelp(t *testing.T) {
	m := sampleModel(t, 120, 40, Options{})
	m = press(t, m, "?")
	if !m.full {
		t.Fatal("? does not open the help")
	}
	m = press(t, m, "esc")
	if m.full {
		t.Fatal("Esc does not close the help")
	}
}

// TestErrorGroupsKeepTheHeldOrder: on live frames the pane shows the signatures in the
// order view.Holder keeps, not re-sorted by count: a count that passes the top one by
// noise leaves the rows in place (nothing to redraw), one that clearly outnumbers it rises.
func TestErrorGroupsKeepTheHeldOrder(t *testing.T) {
	m := sampleModel(t, 120, 40, Options{ErrorGroups: true})
	m = press(t, m, "4")
	e := m.panes[paneErrors].(*errorsPane)
	h := view.NewHolder()
	frame := func(s int, second uint64) Frame {
		f := SampleFrame(fixedAt.Add(time.Duration(s) * time.Second))
		f.Stream.ErrorGroups[1].Count[engine.Window5m] = second // "anvil unavailable", 50 at first
		return h.Apply(view.Build(f))
	}
	top := func() string { return e.snap.ErrorGroups[e.groups[0]].Signature }
	m = withFrame(t, m, frame(0, 50))
	if top() != "timeout after #ms" {
		t.Fatalf("top row %q, want the most frequent", top())
	}
	m = withFrame(t, m, frame(1, 62)) // 62 against 60: noise
	if top() != "timeout after #ms" || !strings.Contains(m.View(), "    60 anvil submit_label") {
		t.Errorf("a count passing the top one by noise moved the rows: top %q", top())
	}
	m = withFrame(t, m, frame(2, 80)) // clearly more
	if top() != "anvil unavailable: # Service Unavailable" {
		t.Errorf("top row %q, want the signature with clearly more errors at once", top())
	}
	_ = m
}
