package ui

import (
	"math"
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

// Tests for the problems a user test found.

func update(t *testing.T, m Model, msg tea.Msg) Model {
	t.Helper()
	nm, _ := m.Update(msg)
	return nm.(Model)
}

// TestCoalescedKeysAreOneKeyEach: over SSH or with key repeat bubbletea v1 delivers "jjj" as
// one KeyRunes message; it must act as three presses of j.
func TestCoalescedKeysAreOneKeyEach(t *testing.T) {
	m := sampleModel(t, 80, 24, Options{})
	q := m.panes[paneQueues].(*queuesPane)
	m = update(t, m, tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("jjj")})
	if q.cursor != 3 {
		t.Fatalf(`"jjj" in one message moved the cursor to %d, want 3`, q.cursor)
	}
	m = update(t, m, tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("jj"), Paste: true})
	if q.cursor != 3 {
		t.Fatalf("a paste was taken as keys: cursor %d", q.cursor)
	}
	// "4/econn" typed fast: focus Errors, open the filter, and the rest is filter text
	m = update(t, m, tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("4/econn")})
	e := m.panes[paneErrors].(*errorsPane)
	if m.focus != paneErrors || !e.Capturing() || e.filter != "econn" {
		t.Fatalf("focus %d capturing %v filter %q, want Errors, filtering, \"econn\"", m.focus, e.Capturing(), e.filter)
	}
	// while the filter is focused, several runes are text, including q and p
	m = update(t, m, tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("qp")})
	if e.filter != "econnqp" || m.paused {
		t.Fatalf("filter %q paused %v: runes typed into the filter were taken as keys", e.filter, m.paused)
	}
	m = press(t, m, "esc", "1")
	_, cmd := m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("jq")})
	if cmd == nil {
		t.Fatal(`"jq" in one message did not quit`)
	}
	if _, ok := findMsg(cmd).(tea.QuitMsg); !ok {
		t.Fatalf(`"jq" in one message: command gives %T, want tea.QuitMsg`, findMsg(cmd))
	}
}

// findMsg runs cmd and returns the first tea.QuitMsg in it, or the first message.
func findMsg(cmd tea.Cmd) tea.Msg {
	msg := cmd()
	if b, ok := msg.(tea.BatchMsg); ok {
		var first tea.Msg
		for _, c := range b {
			if c == nil {
				continue
			}
			got := findMsg(c)
			if _, ok := got.(tea.QuitMsg); ok {
				return got
			}
			if first == nil {
				first = got
			}
		}
		return first
	}
	return msg
}

func bannerLine(t *testing.T, view string) string {
	t.Helper()
	for _, l := range strings.Split(ansi.Strip(view), "\n") {
		if strings.Contains(l, "FIRING") || strings.Contains(l, "pending ") {
			return l
		}
	}
	t.Fatalf("no banner in:\n%s", ansi.Strip(view))
	return ""
}

func unhealthyAlerts(at time.Time) []alerts.Alert {
	a := func(state alerts.AlertState, labels map[string]string, name string) alerts.Alert {
		return alerts.Alert{Name: name, Source: alerts.SourceLive, State: state, Labels: labels,
			ActiveAt: at.Add(-time.Minute), FiredAt: at.Add(-30 * time.Second)}
	}
	return []alerts.Alert{
		a(alerts.StatePending, map[string]string{"service": "anvil", "operation": "submit_label"}, "IngotHighErrorRate"),
		a(alerts.StateFiring, map[string]string{"service": "forge"}, "IngotServiceUnhealthy"),
		a(alerts.StateFiring, map[string]string{"service": "anvil"}, "IngotServiceUnhealthy"),
		a(alerts.StateFiring, map[string]string{"service": "ingot"}, "IngotServiceUnhealthy"),
	}
}

// TestBannerNamesLabelsAndCountsOverflow: one entry per fault, named by the service at fault
// with what its alerts say, firing ones first, and what does not fit is counted, not cut
// mid-word.
func TestBannerNamesLabelsAndCountsOverflow(t *testing.T) {
	f := SampleFrame(fixedAt)
	f.Alerts.Active = unhealthyAlerts(fixedAt)
	m := withFrame(t, sized(t, New(Options{}), 240, 60), f)
	line := bannerLine(t, m.View())
	for _, want := range []string{"FIRING anvil since ~14:29:00: down · submit_label 0.0% (2 alerts)", "FIRING forge since ~14:29:00: down", "FIRING ingot since ~14:29:00: down"} {
		if !strings.Contains(line, want) {
			t.Errorf("banner lacks %q: %s", want, line)
		}
	}
	if strings.Contains(line, "pending") {
		t.Errorf("the pending error rate is explained by the Anvil fault, not listed apart: %s", line)
	}

	m = sized(t, m, 80, 24)
	line = strings.TrimRight(bannerLine(t, m.View()), " ")
	checkScreen(t, m.View(), 80, 24)
	if strings.Contains(line, "…") || !strings.HasSuffix(line, " more") {
		t.Errorf("80 columns: banner cut instead of counted: %q", line)
	}
	if !strings.Contains(line, "FIRING anvil since ~14:29:00: down · submit_label") || !strings.Contains(line, "+2 more") {
		t.Errorf("80 columns: want the first fault whole and +2 more: %q", line)
	}

	// Prometheus alerts of one name told apart by a label other than service
	f.Alerts.Active = []alerts.Alert{
		{Name: "NodeDown", Source: alerts.SourcePrometheus, State: alerts.StateFiring, Labels: map[string]string{"alertname": "NodeDown", "instance": "web-1"}},
		{Name: "NodeDown", Source: alerts.SourcePrometheus, State: alerts.StateFiring, Labels: map[string]string{"alertname": "NodeDown", "instance": "web-2"}},
	}
	m = withFrame(t, sized(t, m, 200, 60), f)
	line = bannerLine(t, m.View())
	if !strings.Contains(line, "NodeDown{web-1} (prom)") || !strings.Contains(line, "NodeDown{web-2} (prom)") {
		t.Errorf("instances not told apart: %s", line)
	}
	// a width too small for even one alert still fits
	for w := 50; w <= 90; w++ {
		f.Alerts.Active = unhealthyAlerts(fixedAt)
		m = withFrame(t, sized(t, New(Options{}), w, 24), f)
		checkScreen(t, m.View(), w, 24)
	}
}

// TestErrorFilterAnchorsPerField: "^econn" finds reasons that start with econnrefused.
func TestErrorFilterAnchorsPerField(t *testing.T) {
	f := SampleFrame(fixedAt)
	for i := 0; i < 5; i++ {
		f.Stream.Errors[i].Reason = "econnrefused 10.0.0.7:4001"
	}
	f.Stream.Errors[5].Reason = "oom killed"
	m := withFrame(t, sized(t, New(Options{}), 120, 40), f)
	m = press(t, m, "4")
	e := m.panes[paneErrors].(*errorsPane)
	e.setFilter("^econn")
	if len(e.shown) != 5 {
		t.Fatalf("^econn matches %d entries, want 5", len(e.shown))
	}
	e.setFilter("econn|oom")
	if len(e.shown) != 6 {
		t.Fatalf("econn|oom matches %d entries, want 6", len(e.shown))
	}
	e.setFilter("^submit_label$") // the operation field on its own
	if len(e.shown) == 0 {
		t.Fatal("^submit_label$ matches nothing; the operation is a field")
	}
	e.setFilter("^econn(")
	if e.filterErr == "" || len(e.shown) != 0 {
		t.Fatalf("invalid regex: message %q, %d shown by substring", e.filterErr, len(e.shown))
	}
	e.setFilter("refused 10.0.0.7(") // invalid regex, found as a substring
	if e.filterErr == "" {
		t.Fatal("invalid regex not reported")
	}
	e.setFilter("econnrefused 10.0.0.7:4001[")
	if len(e.shown) != 0 {
		t.Fatalf("substring fallback matched %d", len(e.shown))
	}
	e.setFilter("ECONNREFUSED 10.0.0.7:4001(")
	if e.filterErr == "" {
		t.Fatal("invalid regex not reported")
	}
}

// TestQueueNamesGetTheSpareWidth: at 160 columns the name column is at least 12 cells and
// wide enough for the demo's queue names; no size cuts a name below 12 cells.
func TestQueueNamesGetTheSpareWidth(t *testing.T) {
	f := SampleFrame(fixedAt)
	names := []string{"queue_sentiment_en", "queue_toxicity_fr", "queue_img_bbox", "queue_summaries"}
	for i := range f.Stream.Queues {
		f.Stream.Queues[i].ID = names[i%len(names)] + strings.Repeat("x", i/len(names))
	}
	for _, sz := range [][2]int{{80, 24}, {160, 48}, {200, 60}} {
		m := withFrame(t, sized(t, New(Options{}), sz[0], sz[1]), f)
		v := ansi.Strip(m.View())
		checkScreen(t, m.View(), sz[0], sz[1])
		head := lineWith(t, v, "lab/min")
		i := strings.Index(head, "queue")
		rest := head[i+len("queue"):]
		nameW := len("queue") + len(rest) - len(strings.TrimLeft(rest, " "))
		if nameW < minQueueNameW {
			t.Errorf("%dx%d: name column %d cells, want at least %d:\n%s", sz[0], sz[1], nameW, minQueueNameW, head)
		}
		if sz[0] >= 160 && !strings.Contains(v, "queue_sentiment_en ") {
			t.Errorf("%dx%d: queue name cut:\n%s", sz[0], sz[1], v)
		}
	}
}

// TestHealthDetail: Enter on a Health row shows the full last error, detail, URL, uptime
// per window, state since and recent checks with times and latencies; Esc goes back.
func TestHealthDetail(t *testing.T) {
	f := SampleFrame(fixedAt)
	long := "HTTP 503 Service Unavailable: upstream connect error or disconnect/reset before headers; reset reason: connection failure, transport failure reason: delayed connect error: 111"
	f.Health[1].LastError = long
	for _, sz := range [][2]int{{200, 60}, {80, 24}, {120, 35}} {
		m := withFrame(t, sized(t, New(Options{}), sz[0], sz[1]), f)
		m = press(t, m, "3")
		table := ansi.Strip(m.View())
		if strings.Contains(table, "delayed connect error: 111") {
			t.Fatalf("%dx%d: the table already shows the whole error; the test proves nothing", sz[0], sz[1])
		}
		m = press(t, m, "j", "enter")
		h := m.panes[paneHealth].(*healthPane)
		if !h.Detail() {
			t.Fatalf("%dx%d: enter does not open the detail", sz[0], sz[1])
		}
		v := ansi.Strip(m.View())
		checkScreen(t, m.View(), sz[0], sz[1])
		flat := strings.Join(strings.Fields(v), " ")
		for _, want := range []string{"Health · anvil", "unhealthy since 14:27:50 (2m)", "http://anvil:4001/health", "delayed connect error: 111",
			"status=degraded db=slow", "1m 50.0%", "5m 77.0%", "15m 92.0%", "recent checks"} {
			if !strings.Contains(flat, want) {
				t.Errorf("%dx%d: detail lacks %q:\n%s", sz[0], sz[1], want, v)
			}
		}
		newest := f.Health[1].Recent[len(f.Health[1].Recent)-1]
		check := newest.At.Format(clockLayout) + " " + string(newest.State)
		if sz[1] >= 35 && !strings.Contains(flat, check) {
			t.Errorf("%dx%d: no line for the newest check %q:\n%s", sz[0], sz[1], check, v)
		}
		m = press(t, m, "esc")
		if h.Detail() || !strings.Contains(ansi.Strip(m.View()), "service") {
			t.Fatalf("%dx%d: esc does not go back to the table", sz[0], sz[1])
		}
	}
	// NATS and Prometheus rows open too
	m := withFrame(t, sized(t, New(Options{}), 120, 35), f)
	m = press(t, m, "3", "j", "j", "enter")
	if v := ansi.Strip(m.View()); !strings.Contains(v, "Health · NATS") || !strings.Contains(v, "received") {
		t.Fatalf("NATS detail:\n%s", v)
	}
}

// TestErrorDetailWithoutNodeAndLongIDKeys: no "node )" when there is no node, and id keys
// are not cut.
func TestErrorDetailWithoutNodeAndLongIDKeys(t *testing.T) {
	f := SampleFrame(fixedAt)
	e := &f.Stream.Errors[0]
	e.Node = ""
	e.IDs = []engine.KVPair{{Key: "assignment_id", Value: "asg_42"}, {Key: "queue_id", Value: "sentiment-en"}}
	m := withFrame(t, sized(t, New(Options{}), 120, 40), f)
	m = press(t, m, "4", "enter")
	v := ansi.Strip(m.View())
	checkScreen(t, m.View(), 120, 40)
	if strings.Contains(v, "node )") || strings.Contains(v, ", node") {
		t.Errorf("empty node shown:\n%s", v)
	}
	if !strings.Contains(v, "("+e.Service+")") {
		t.Errorf("service missing from the event line:\n%s", v)
	}
	if !strings.Contains(v, "assignment_id asg_42") && !strings.Contains(v, "assignment_id = asg_42") {
		t.Errorf("id key cut:\n%s", v)
	}
	// with a node, it is still shown
	f = SampleFrame(fixedAt)
	m = withFrame(t, sized(t, New(Options{}), 120, 40), f)
	m = press(t, m, "4", "enter")
	if v := ansi.Strip(m.View()); !strings.Contains(v, ", node "+f.Stream.Errors[0].Node+")") {
		t.Errorf("node missing:\n%s", v)
	}
}

// TestDrillChartStartsAtEngineStart: the 15-minute chart of a stream that started 2 minutes
// ago spans 2 minutes, not 13 minutes of zeros; with fleet history, the chart starts at the
// first Prometheus point.
func TestDrillChartStartsAtEngineStart(t *testing.T) {
	f := SampleFrame(fixedAt)
	f.Stream.Started = fixedAt.Add(-2 * time.Minute)
	m := withFrame(t, sized(t, New(Options{}), 200, 60), f)
	q := m.panes[paneQueues].(*queuesPane)
	m = press(t, m, "enter")
	if !q.Detail() {
		t.Fatal("enter does not open the drill-down")
	}
	v := ansi.Strip(m.View())
	checkScreen(t, m.View(), 200, 60)
	if !strings.Contains(v, "since 14:28:00") {
		t.Errorf("chart title does not say since when:\n%s", v)
	}
	for _, early := range []string{"14:15", "14:18", "14:20", "14:25"} {
		if strings.Contains(v, early) {
			t.Errorf("chart axis reaches %s, before the engine started at 14:28:\n%s", early, v)
		}
	}

	// fleet: Prometheus history with its first half missing
	f = freshFrame(fixedAt)
	for i := range f.Prom.Queues {
		h := &f.Prom.Queues[i].History
		for j := 0; j < len(h.Values)/2; j++ {
			h.Values[j] = math.NaN()
		}
	}
	full := len(f.Prom.Queues[0].History.Values)
	m = withFrame(t, sized(t, New(Options{NoColor: true}), 200, 60), f)
	m = press(t, m, "enter")
	v = ansi.Strip(m.View())
	step := f.Prom.Queues[0].History.Step
	want := "fleet·P, " + fmtDur(time.Duration(full-full/2-1)*step)
	if !strings.Contains(v, want) {
		t.Errorf("fleet chart does not start at the first Prometheus point (want %q):\n%s", want, v)
	}
}

// TestNeverConnectedSaysNoDataYet: before any connection the status bar says there is no
// data yet rather than "stale <10s", and still names the server it tries.
func TestNeverConnectedSaysNoDataYet(t *testing.T) {
	f := Frame{At: fixedAt,
		Conn:    ingest.ConnState{Phase: ingest.PhaseConnecting, Server: "nats://broker:4222", Since: fixedAt.Add(-3 * time.Second)},
		Sources: []SourceInfo{{Name: "stream", Stale: true, Detail: "no data yet"}},
		Health:  []health.Status{{Name: "forge", State: health.StateUnknown}},
	}
	m := withFrame(t, sized(t, New(Options{Target: "nats://broker:4222"}), 120, 30), f)
	v := ansi.Strip(m.View())
	checkScreen(t, m.View(), 120, 30)
	if strings.Contains(v, "stale") || !strings.Contains(v, "stream: no data yet") {
		t.Errorf("status bar:\n%s", strings.Join(strings.Split(v, "\n")[:3], "\n"))
	}
	if !strings.Contains(strings.Split(v, "\n")[0], "nats://broker:4222") {
		t.Errorf("connection line does not name the server:\n%s", v)
	}
	// once data has flowed, a stale stream is stale
	f.Conn.Phase, f.Conn.Received = ingest.PhaseReconnecting, 10
	f.Sources = []SourceInfo{{Name: "stream", Stale: true, Age: 30 * time.Second}}
	m = withFrame(t, m, f)
	if v := ansi.Strip(m.View()); !strings.Contains(v, "stream stale 30s") {
		t.Errorf("stale stream not said:\n%s", v)
	}
}

// TestNewViewsFitEverySize: the Health detail, the label-tagged banner and a drill-down of a
// young stream stay within the terminal at every size, with hostile strings too.
func TestNewViewsFitEverySize(t *testing.T) {
	young := SampleFrame(fixedAt)
	young.Stream.Started = fixedAt.Add(-25 * time.Second)
	young.Alerts.Active = append(unhealthyAlerts(fixedAt), young.Alerts.Active...)
	hostile := hostileFrame(fixedAt)
	hostile.Alerts.Active = append(hostile.Alerts.Active, alerts.Alert{Name: "X", State: alerts.StateFiring,
		Labels: map[string]string{"service": hostile.Stream.Queues[0].ID, "operation": "\x1b[2J" + strings.Repeat("y", 300)}})
	hostile.Health[1].LastError = strings.Repeat("日本語 ", 200)
	for _, f := range []Frame{young, hostile} {
		for _, ascii := range []bool{false, true} {
			for w := 50; w <= 210; w += 23 {
				for h := 12; h <= 64; h += 13 {
					m := withFrame(t, sized(t, New(Options{ASCII: ascii}), w, h), f)
					for _, keys := range [][]string{{"3", "j", "enter"}, {"3", "j", "j", "enter"}, {"1", "enter"}, {"4", "enter"}} {
						checkScreen(t, press(t, m, keys...).View(), w, h)
					}
				}
			}
		}
	}
}
