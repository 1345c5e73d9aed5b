package ui

import (
	"errors"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/ingest"
	"github.com/nsai/ingot-top/internal/view"
)

func sampleModel(t testing.TB, w, h int, opts Options) Model {
	t.Helper()
	return withFrame(t, sized(t, New(opts), w, h), SampleFrame(fixedAt))
}

// run executes a command and feeds its message back, as the bubbletea runtime would.
func run(t testing.TB, m Model, cmd tea.Cmd) Model {
	t.Helper()
	if cmd == nil {
		t.Fatal("expected a command")
	}
	msg := cmd()
	if b, ok := msg.(tea.BatchMsg); ok {
		for _, c := range b {
			if c != nil {
				m = run(t, m, c)
			}
		}
		return m
	}
	nm, _ := m.Update(msg)
	return nm.(Model)
}

func pressCmd(t testing.TB, m Model, k string) (Model, tea.Cmd) {
	t.Helper()
	nm, cmd := m.Update(keyMsg(k))
	return nm.(Model), cmd
}

func TestEverySizeFitsAndNeverPanics(t *testing.T) {
	frames := map[string]Frame{"sample": SampleFrame(fixedAt), "hostile": hostileFrame(fixedAt), "empty": {}}
	for name, f := range frames {
		for _, ascii := range []bool{false, true} {
			grouped := ascii // both Errors views, at every size
			sizes := [][2]int{{80, 24}, {160, 40}, {159, 39}, {160, 39}, {49, 11}, {50, 12}}
			for w := 20; w <= 210; w += 19 {
				for h := 5; h <= 64; h += 8 {
					sizes = append(sizes, [2]int{w, h})
				}
			}
			for _, sz := range sizes {
				w, h := sz[0], sz[1]
				{
					m := sized(t, New(Options{ASCII: ascii, ErrorGroups: grouped, Target: "nats://localhost:4222"}), w, h)
					if name != "empty" {
						m = withFrame(t, m, f)
					}
					for _, keys := range [][]string{nil, {"enter"}, {"4", "enter"}, {"3"}, {"5"}, {"2"}, {"?"}} {
						mm := press(t, m, keys...)
						checkScreen(t, mm.View(), w, h)
					}
				}
			}
		}
	}
}

func TestTooSmallExplains(t *testing.T) {
	m := sized(t, New(Options{}), 20, 5)
	v := m.View()
	checkScreen(t, v, 20, 5)
	if !strings.Contains(v, "too small") || !strings.Contains(v, "(20x5)") {
		t.Fatalf("no explanation:\n%s", v)
	}
}

func TestEmptyStateSaysWhatItTries(t *testing.T) {
	m := sized(t, New(Options{Target: "nats://broker:4222"}), 80, 24)
	v := m.View()
	if !strings.Contains(v, "nats://broker:4222") || !strings.Contains(v, "waiting") {
		t.Fatalf("empty state does not name the target:\n%s", v)
	}
	f := Frame{At: fixedAt, Conn: ingest.ConnState{Phase: ingest.PhaseConnecting, Server: "nats://broker:4222", LastError: "dial tcp: connection refused"}}
	m = withFrame(t, m, f)
	v = m.View()
	for _, want := range []string{"connecting", "nats://broker:4222", "connection refused", "waiting for the first snapshot"} {
		if !strings.Contains(v, want) {
			t.Errorf("missing %q:\n%s", want, v)
		}
	}
	checkScreen(t, v, 80, 24)
}

func TestPaneSwitching(t *testing.T) {
	m := sampleModel(t, 80, 24, Options{})
	for i, k := range []string{"2", "3", "4", "5", "1"} {
		m = press(t, m, k)
		want := []int{1, 2, 3, 4, 0}[i]
		if m.focus != want {
			t.Fatalf("key %s: focus %d, want %d", k, m.focus, want)
		}
	}
	m = press(t, m, "tab", "tab")
	if m.focus != 2 {
		t.Fatalf("tab tab: focus %d", m.focus)
	}
	m = press(t, m, "shift+tab", "shift+tab", "shift+tab")
	if m.focus != 4 {
		t.Fatalf("shift-tab wraps: focus %d", m.focus)
	}
	if !strings.Contains(m.View(), "[5 Stream]") {
		t.Fatalf("tab bar does not show the focused pane:\n%s", m.View())
	}
}

func TestQueueSortCycles(t *testing.T) {
	m := sampleModel(t, 120, 40, Options{})
	q := m.panes[paneQueues].(*queuesPane)
	first := func() *view.QueueRow { rows, _ := q.visible(); return rows[0] }
	if first().ID != "sentiment-en" {
		t.Fatalf("velocity sort: first %s", first().ID)
	}
	m = press(t, m, "s") // p50, slowest first
	rows, _ := q.visible()
	for i := 1; i < len(rows); i++ {
		if rows[i-1].TimePerSample[engine.Window5m].P50 < rows[i].TimePerSample[engine.Window5m].P50 {
			t.Fatalf("p50 sort broken at %d", i)
		}
	}
	m = press(t, m, "s", "s", "s", "s") // abandonment, pending, ETA, name
	if q.sortK != sortName || first().ID != "audio-transcripts" {
		t.Fatalf("name sort: key %v first %s", q.sortK, first().ID)
	}
	if !strings.Contains(m.View(), "by name") {
		t.Fatal("title does not show the sort key")
	}
	m = press(t, m, "s") // errors, the worst first
	rows, _ = q.visible()
	for i := 1; i < len(rows); i++ {
		if rows[i-1].ErrorRate[engine.Window5m] < rows[i].ErrorRate[engine.Window5m] {
			t.Fatalf("error sort broken at %d", i)
		}
	}
	m = press(t, m, "s")
	if q.sortK != sortVelocity {
		t.Fatalf("sort does not wrap: %v", q.sortK)
	}
}

func TestQueuesFoldIntoOtherWhenTooMany(t *testing.T) {
	f := bigFrame(fixedAt, 1000, 10)
	m := withFrame(t, sized(t, New(Options{}), 80, 24), f)
	v := m.View()
	checkScreen(t, v, 80, 24)
	if !strings.Contains(v, "other (") {
		t.Fatalf("no other row:\n%s", v)
	}
	q := m.panes[paneQueues].(*queuesPane)
	rows, rest := q.visible()
	if rest == nil || len(rows)+1 != q.rowsFit() {
		t.Fatalf("rows %d + other, fit %d", len(rows), q.rowsFit())
	}
	if rest.Folded != 1000-len(rows) {
		t.Fatalf("other stands for %d queues, want %d", rest.Folded, 1000-len(rows))
	}
}

func TestQueueDrillDown(t *testing.T) {
	for _, ascii := range []bool{false, true} {
		m := sampleModel(t, 120, 40, Options{ASCII: ascii})
		m = press(t, m, "j", "enter")
		q := m.panes[paneQueues].(*queuesPane)
		if !q.detail || q.detailID != "ner-medical" {
			t.Fatalf("enter: detail %v id %q", q.detail, q.detailID)
		}
		v := m.View()
		checkScreen(t, v, 120, 40)
		for _, want := range []string{"Queue ner-medical", "velocity, labels/min", "time per sample p50", "labeler", "labeler-020"} {
			if !strings.Contains(v, want) {
				t.Errorf("ascii=%v: drill-down lacks %q:\n%s", ascii, want, v)
			}
		}
		if ascii && strings.ContainsFunc(v, func(r rune) bool { return r > 127 }) {
			t.Errorf("ASCII drill-down has non-ASCII runes:\n%s", v)
		}
		m = press(t, m, "esc")
		if q.detail {
			t.Fatal("esc does not go back")
		}
	}
}

func TestLatencyScaleAndThresholds(t *testing.T) {
	m := sampleModel(t, 120, 40, Options{})
	m = press(t, m, "2")
	v := m.View()
	if !strings.Contains(v, "· log ·") || !strings.Contains(v, "!ingot.label.submit") || !strings.Contains(v, "!ingot.anvil_client.submit") {
		t.Fatalf("log scale and runbook marks expected:\n%s", v)
	}
	if strings.Contains(v, "!ingot.live_view.mount") {
		t.Fatal("healthy op marked")
	}
	m = press(t, m, "l")
	if !strings.Contains(m.View(), "· linear ·") {
		t.Fatal("l does not switch to linear")
	}
}

func TestWindowCycles(t *testing.T) {
	m := sampleModel(t, 120, 40, Options{})
	for _, want := range []string{"15m", "1m", "5m"} {
		m = press(t, m, "w")
		if m.common.Window.String() != want || !strings.Contains(m.View(), "window "+want) {
			t.Fatalf("window %s, want %s", m.common.Window, want)
		}
	}
}

func TestPauseFreezesPanesButKeepsReceiving(t *testing.T) {
	m := sampleModel(t, 120, 40, Options{})
	m = press(t, m, "p")
	later := SampleFrame(fixedAt.Add(time.Minute))
	later.Stream.Queues[0].ID = "brand-new-queue"
	m = withFrame(t, m, later)
	v := m.View()
	if strings.Contains(v, "brand-new-queue") {
		t.Fatal("paused view shows new data")
	}
	// the status bar shows the paused moment, marked as the past, with the live clock beside
	if !strings.Contains(v, "PAST 14:30:00 (-1m00s), now 14:31:00") {
		t.Fatalf("status bar should mark the past moment and keep the live clock:\n%s", v)
	}
	nm, cmd := m.Update(keyMsg("p"))
	m = nm.(Model)
	_ = cmd
	if !strings.Contains(m.View(), "brand-new-queue") {
		t.Fatal("unpause does not show the latest frame")
	}
}

func TestErrorsFilter(t *testing.T) {
	m := sampleModel(t, 120, 40, Options{})
	m = press(t, m, "4", "/")
	e := m.panes[paneErrors].(*errorsPane)
	if !e.Capturing() {
		t.Fatal("/ does not start the filter")
	}
	m = press(t, m, "p", "o", "o", "l") // 'p' must go to the filter, not pause
	if m.paused {
		t.Fatal("typing in the filter paused the view")
	}
	m = press(t, m, "enter")
	if len(e.shown) != 8 {
		t.Fatalf("substring 'pool' matches %d entries, want 8", len(e.shown))
	}
	m = press(t, m, "/", "backspace", "backspace", "backspace", "backspace")
	m = press(t, m, "t", "i", "m", "e", "o", "u", "t", "|", "s", "m", "p", "_", "enter")
	if len(e.shown) != 16 {
		t.Fatalf("regex timeout|smp_ matches %d, want 16", len(e.shown))
	}
	m = press(t, m, "/", "(", "enter")
	if e.filterErr == "" || !strings.Contains(m.View(), "invalid regex") {
		t.Fatal("invalid regex not reported")
	}
	if len(e.shown) != 0 {
		t.Fatalf("substring fallback '%s' matched %d", e.filter, len(e.shown))
	}
	m = press(t, m, "esc")
	if e.filter != "" || len(e.shown) != 40 {
		t.Fatalf("esc clears the filter: %q %d", e.filter, len(e.shown))
	}
	m = press(t, m, "f") // forge
	for _, i := range e.shown {
		if e.snap.Errors[i].Service != "forge" {
			t.Fatal("service filter leaks")
		}
	}
	if len(e.shown) != 16 || !strings.Contains(m.View(), "Errors · forge") {
		t.Fatalf("forge filter shows %d", len(e.shown))
	}
	m = press(t, m, "f", "f", "f")
	if len(e.shown) != 40 {
		t.Fatal("f does not cycle back to all")
	}
}

func TestErrorsFollowAndHold(t *testing.T) {
	m := sampleModel(t, 120, 40, Options{})
	m = press(t, m, "4")
	e := m.panes[paneErrors].(*errorsPane)
	next := func(m Model, k int) Model {
		f := SampleFrame(fixedAt)
		extra := f.Stream.Errors[0]
		extra.StreamSeq, extra.Reason = uint64(200_000+k), "fresh"
		f.Stream.Errors = append([]engine.ErrorEntry{extra}, f.Stream.Errors...)
		return withFrame(t, m, f)
	}
	m = next(m, 1)
	if e.cursor != 0 {
		t.Fatal("follow mode leaves the newest")
	}
	m = press(t, m, "j", "j")
	sel, _ := e.selected()
	key := entryKey(sel)
	m = next(m, 2)
	sel2, _ := e.selected()
	if entryKey(sel2) != key {
		t.Fatal("held selection moved with new entries")
	}
	if !strings.Contains(m.View(), "held") {
		t.Fatal("title does not say held")
	}
	m = press(t, m, "g")
	if !e.follow || e.cursor != 0 {
		t.Fatal("g does not resume following")
	}
}

func TestErrorDetailLineageAndCopy(t *testing.T) {
	var copied string
	m := sampleModel(t, 120, 40, Options{Actions: Actions{Copy: func(s string) error { copied = s; return nil }}})
	m = press(t, m, "4", "enter")
	v := m.View()
	for _, want := range []string{"trace_id", "4bf92f3577b34da6a3ce929d0e0e4736", "trace waterfall", "ingot label.submit",
		"anvil anvil_client.submit_label", "◀     anvil label.submitted", "+2.00s", "assignment_id = asg_881000"} {
		if !strings.Contains(v, want) {
			t.Errorf("detail lacks %q", want)
		}
	}
	m, cmd := pressCmd(t, m, "y")
	m = run(t, m, cmd)
	if copied != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Fatalf("copied %q", copied)
	}
	if !strings.Contains(m.View(), "copied") {
		t.Fatal("copy is not confirmed")
	}
	m = press(t, m, "esc")
	if m.panes[paneErrors].Detail() {
		t.Fatal("esc does not leave the detail")
	}
}

func TestReportAction(t *testing.T) {
	var got Frame
	m := sampleModel(t, 120, 40, Options{Actions: Actions{WriteReport: func(f Frame) (string, error) { got = f; return "/tmp/incident-1.md", nil }}})
	m, cmd := pressCmd(t, m, "r")
	m = run(t, m, cmd)
	if !got.At.Equal(fixedAt) || !strings.Contains(m.View(), "report written to /tmp/incident-1.md") {
		t.Fatalf("report: at %v view:\n%s", got.At, m.View())
	}
	m = sampleModel(t, 120, 40, Options{Actions: Actions{WriteReport: func(Frame) (string, error) { return "", errors.New("disk full") }}})
	m, cmd = pressCmd(t, m, "r")
	m = run(t, m, cmd)
	if !strings.Contains(m.View(), "report failed: disk full") {
		t.Fatal("report error not shown")
	}
	m = sampleModel(t, 120, 40, Options{})
	if _, cmd := pressCmd(t, m, "r"); cmd != nil {
		t.Fatal("r without WriteReport must do nothing")
	}
}

func TestDemoKeys(t *testing.T) {
	var set []string
	opts := Options{Demo: true, Actions: Actions{SetScenario: func(n string) error { set = append(set, n); return nil }}}
	m := sampleModel(t, 120, 40, opts)
	for _, k := range []string{"D", "E", "F", "N"} {
		var cmd tea.Cmd
		m, cmd = pressCmd(t, m, k)
		m = run(t, m, cmd)
	}
	if strings.Join(set, ",") != "degraded-anvil,error-burst,forge-down,normal" {
		t.Fatalf("scenarios %v", set)
	}
	if !strings.Contains(m.View(), "scenario: normal") {
		t.Fatal("scenario switch not confirmed")
	}
	opts.Demo = false
	m = sampleModel(t, 120, 40, opts)
	set = nil
	if _, cmd := pressCmd(t, m, "D"); cmd != nil {
		t.Fatal("demo keys outside demo mode")
	}
}

func TestQuitKeys(t *testing.T) {
	m := sampleModel(t, 80, 24, Options{})
	for _, k := range []string{"q", "ctrl+c"} {
		_, cmd := pressCmd(t, m, k)
		if cmd == nil {
			t.Fatalf("%s: no command", k)
		}
		if _, ok := cmd().(tea.QuitMsg); !ok {
			t.Fatalf("%s does not quit", k)
		}
	}
}

func TestHelpToggles(t *testing.T) {
	m := sampleModel(t, 120, 40, Options{})
	if strings.Contains(m.View(), "first") {
		t.Fatal("short help shows full bindings")
	}
	m = press(t, m, "?")
	v := m.View()
	if !strings.Contains(v, "first") || !strings.Contains(v, "prev pane") {
		t.Fatalf("full help missing:\n%s", v)
	}
	checkScreen(t, v, 120, 40)
}

func TestHealthRows(t *testing.T) {
	m := sampleModel(t, 200, 60, Options{})
	v := m.View()
	for _, want := range []string{"Forge", "Anvil", "NATS", "Prometheus", "ingot/pubsub", "unhealthy", "11.8%"} {
		if !strings.Contains(v, want) {
			t.Errorf("health lacks %q", want)
		}
	}
	f := SampleFrame(fixedAt)
	f.Sources = nil
	m = withFrame(t, m, f)
	if !strings.Contains(m.View(), "not configured") {
		t.Fatal("absent Prometheus not explained")
	}
}

func TestAlertBanner(t *testing.T) {
	m := sampleModel(t, 120, 40, Options{})
	v := m.View()
	// one fault, three alerts: the onset (not the firing time), what they say, how many
	if !strings.Contains(v, "FIRING anvil since 14:26:28: down · submit_label 12.5% · submit p95 2.99s (3 alerts)") {
		t.Fatalf("banner:\n%s", v)
	}
	f := SampleFrame(fixedAt)
	f.Alerts.Active = nil
	m = withFrame(t, m, f)
	if strings.Contains(m.View(), "FIRING") {
		t.Fatal("banner stays after alerts clear")
	}
	checkScreen(t, m.View(), 120, 40)
}

func TestNoColorEmitsNoEscapes(t *testing.T) {
	m := sampleModel(t, 200, 60, Options{NoColor: true})
	for _, keys := range [][]string{nil, {"4", "enter"}, {"1", "enter"}} {
		if v := press(t, m, keys...).View(); strings.Contains(v, "\x1b") {
			t.Fatalf("escape in NoColor output after %v", keys)
		}
	}
}

func TestColourKeepsFocusVisible(t *testing.T) {
	// With a colour renderer the focused title is styled; without, the border shape differs.
	m := sampleModel(t, 200, 60, Options{NoColor: true})
	v := m.View()
	if !strings.Contains(v, "┏━ 1 Queues") || !strings.Contains(v, "┌─ 2 Latency") {
		t.Fatal("focused pane not distinguishable without colour")
	}
}

func TestHostileStringsStayInPlace(t *testing.T) {
	m := withFrame(t, sized(t, New(Options{}), 100, 30), hostileFrame(fixedAt))
	for _, keys := range [][]string{nil, {"enter"}, {"4"}, {"4", "enter"}, {"4", "v"}, {"4", "v", "enter"}, {"3"}, {"5"}} {
		v := press(t, m, keys...).View()
		checkScreen(t, v, 100, 30)
		if strings.Contains(v, "\x1b[2J") || strings.Contains(v, "\x07") || strings.Contains(v, "\r") {
			t.Fatalf("control sequence leaked after %v", keys)
		}
	}
}

func TestResizeAnyTime(t *testing.T) {
	m := sampleModel(t, 200, 60, Options{})
	m = press(t, m, "4", "enter")
	for _, sz := range [][2]int{{80, 24}, {20, 5}, {160, 40}, {55, 13}, {200, 60}} {
		m = sized(t, m, sz[0], sz[1])
		checkScreen(t, m.View(), sz[0], sz[1])
	}
}

func TestFramesChannel(t *testing.T) {
	ch := make(chan Frame, 1)
	m := sized(t, New(Options{Frames: ch}), 80, 24)
	cmd := m.Init()
	ch <- view.Build(SampleFrame(fixedAt))
	msg := cmd()
	nm, next := m.Update(msg)
	m = nm.(Model)
	if !m.got || next == nil {
		t.Fatal("frame not taken or wait not re-armed")
	}
	close(ch)
	m = run(t, m, next)
	if !strings.Contains(m.View(), "data feed closed") {
		t.Fatal("closed feed not reported")
	}
}

func TestBellRingsWhenAnAlertStartsFiring(t *testing.T) {
	rang := 0
	opts := Options{Bell: true, Actions: Actions{Bell: func() { rang++ }}}
	quiet := SampleFrame(fixedAt)
	quiet.Alerts.Active = nil
	m := withFrame(t, sized(t, New(opts), 80, 24), quiet)
	nm, cmd := m.Update(frameMsg(view.Build(SampleFrame(fixedAt.Add(time.Second)))))
	m = nm.(Model)
	runAll(cmd)
	if rang != 1 {
		t.Fatalf("bell rang %d times on a new firing alert", rang)
	}
	_, cmd = m.Update(frameMsg(view.Build(SampleFrame(fixedAt.Add(2 * time.Second)))))
	runAll(cmd)
	if rang != 1 {
		t.Fatalf("bell rang again for the same alert (%d)", rang)
	}
}

// runAll runs a command tree, dropping the frame waits (there is no channel here).
func runAll(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	if b, ok := cmd().(tea.BatchMsg); ok {
		for _, c := range b {
			runAll(c)
		}
	}
}

func TestPaneKeysMoveCursors(t *testing.T) {
	m := sampleModel(t, 120, 40, Options{})
	m = press(t, m, "2", "G")
	if lp := m.panes[paneLatency].(*latencyPane); lp.cursor != len(lp.ops)-1 {
		t.Fatalf("G in latency: cursor %d", lp.cursor)
	}
	m = press(t, m, "k", "g")
	if lp := m.panes[paneLatency].(*latencyPane); lp.cursor != 0 {
		t.Fatalf("g in latency: cursor %d", lp.cursor)
	}
	m = press(t, m, "3", "j", "j", "down")
	if hp := m.panes[paneHealth].(*healthPane); hp.cursor != 3 {
		t.Fatalf("health cursor %d", hp.cursor)
	}
	m = press(t, m, "1", "G")
	q := m.panes[paneQueues].(*queuesPane)
	if rows, _ := q.visible(); q.cursor != len(rows)-1 {
		t.Fatalf("queues G: cursor %d of %d", q.cursor, len(rows))
	}
	m = press(t, m, "up")
	if rows, _ := q.visible(); q.cursor != len(rows)-2 {
		t.Fatal("up does not move")
	}
}

func TestHoldKeepsFiguresSteady(t *testing.T) {
	m := sampleModel(t, 160, 48, Options{})
	before := m.View()
	f := SampleFrame(fixedAt)
	f.Stream.Queues[0].LabelsPerMin[engine.Window5m] *= 1.01 // within tolerance
	m = withFrame(t, m, f)
	if m.View() != before {
		t.Fatal("a 1% wobble repainted")
	}
	f = SampleFrame(fixedAt)
	f.Stream.Queues[0].LabelsPerMin[engine.Window5m] *= 1.5
	want := fmtRate(f.Stream.Queues[0].LabelsPerMin[engine.Window5m])
	m = withFrame(t, m, f)
	if !strings.Contains(m.View(), " "+want+" ") {
		t.Fatalf("a real change is not shown:\n%s", m.View())
	}
}

func TestWideShortTerminalSplits(t *testing.T) {
	m := sampleModel(t, 180, 30, Options{})
	v := m.View()
	checkScreen(t, v, 180, 30)
	if !strings.Contains(v, "┏━ 1 Queues") || !strings.Contains(v, "┌─ 4 Errors") {
		t.Fatalf("split layout expected:\n%s", v)
	}
	m = press(t, m, "4")
	v = m.View()
	if !strings.Contains(v, "┏━ 4 Errors") || !strings.Contains(v, "┌─ 1 Queues") {
		t.Fatalf("errors focused: queues should be the companion:\n%s", v)
	}
}
