package ui

import (
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/nsai/ingot-top/internal/alerts"
	"github.com/nsai/ingot-top/internal/engine"
)

func fleetFrame(at time.Time) Frame {
	f := SampleFrame(at)
	f.Prom = SampleFleet(at)
	f.Alerts = withPromAlerts(f.Alerts, f.Prom.Alerts)
	return f
}

// withPromAlerts is the one alert list alerts.Evaluator hands app when Prometheus reports
// alerts (alerts.Input.PromAlerts): the live ones and Prometheus' together, firing first,
// then by ActiveAt. The panes add nothing to it.
func withPromAlerts(st alerts.State, prom []alerts.Alert) alerts.State {
	active := append(append([]alerts.Alert(nil), st.Active...), prom...)
	sort.SliceStable(active, func(i, j int) bool {
		fi, fj := active[i].State == alerts.StateFiring, active[j].State == alerts.StateFiring
		if fi != fj {
			return fi
		}
		return active[i].ActiveAt.Before(active[j].ActiveAt)
	})
	st.Active = active
	return st
}

// freshFrame is a dashboard a second after start: the stream has nothing yet, Prometheus
// has an hour of history.
func freshFrame(at time.Time) Frame {
	f := SampleFrame(at)
	f.Stream = &engine.Snapshot{At: at, Started: at.Add(-time.Second)}
	f.Prom = SampleFleet(at)
	f.Alerts = withPromAlerts(alerts.State{At: at}, f.Prom.Alerts)
	return f
}

func lineWith(t *testing.T, view, needle string) string {
	t.Helper()
	for _, l := range strings.Split(ansi.Strip(view), "\n") {
		if strings.Contains(l, needle) {
			return l
		}
	}
	t.Fatalf("no line with %q in:\n%s", needle, ansi.Strip(view))
	return ""
}

// TestFreshDashboardShowsFleetHistory: with no live data, every queue Prometheus knows is
// listed, tagged P, with its fleet figures, a full sparkline and, in the drill-down, an
// hour-long chart from the Prometheus history.
func TestFreshDashboardShowsFleetHistory(t *testing.T) {
	m := withFrame(t, sized(t, New(Options{}), 200, 60), freshFrame(fixedAt))
	v := ansi.Strip(m.View())
	checkScreen(t, v, 200, 60)
	if !strings.Contains(lineWith(t, v, "  queue "), "fleet·P") || !strings.Contains(lineWith(t, v, "  queue "), "src") {
		t.Errorf("queue header lacks the source columns:\n%s", v)
	}
	row := lineWith(t, v, "zz-fleet-only-a")
	if tagAfter(row, "zz-fleet-only-a") != "P" {
		t.Errorf("fleet-only row not tagged P: %q", row)
	}
	if !strings.ContainsAny(row, "▁▂▃▄▅▆▇█") {
		t.Errorf("fleet-only row has no sparkline from history: %q", row)
	}
	rate := fmtRate(SampleFleet(fixedAt).Queues[0].LabelsPerMin) // image-bbox-cars sorts first
	if r := lineWith(t, v, "image-bbox-cars"); strings.Count(r, " "+rate+" ") < 2 {
		t.Errorf("fleet rate %s expected in both lab/min and fleet columns: %q", rate, r)
	}
	// drill-down into the top row: charts from the fleet's hour of history
	m = press(t, m, "enter")
	d := ansi.Strip(m.View())
	if !strings.Contains(d, "velocity, labels/min (fleet·P, 59m at 10s steps)") || !strings.Contains(d, "time per sample p50, ms (fleet·P") {
		t.Errorf("drill-down does not chart the fleet history:\n%s", d)
	}
	if strings.Contains(d, "no data yet") {
		t.Errorf("drill-down chart empty:\n%s", d)
	}
}

// TestLiveRowsKeepLiveFigures: a queue with live data shows the live figures tagged L and
// the fleet figure beside; an op with live data likewise; a fleet-only op is tagged P.
func TestLiveRowsKeepLiveFigures(t *testing.T) {
	f := fleetFrame(fixedAt)
	m := withFrame(t, sized(t, New(Options{}), 200, 60), f)
	v := ansi.Strip(m.View())
	line := lineWith(t, v, "sentiment-en")
	row := strings.Fields(line)
	live := f.Stream.Queues[0].LabelsPerMin[engine.Window5m]
	fleet, _ := f.Prom.Queue("sentiment-en")
	if tagAfter(line, "sentiment-en") != "L" || !strings.Contains(strings.Join(row, " "), fmtRate(live)+" "+fmtRate(fleet.LabelsPerMin)) {
		t.Errorf("sentiment-en: want L, live %s then fleet %s: %v", fmtRate(live), fmtRate(fleet.LabelsPerMin), row)
	}
	// latency pane focused, to see every column
	m = press(t, m, "2")
	v = ansi.Strip(m.View())
	if !strings.Contains(lineWith(t, v, "operation"), "p95·P") {
		t.Errorf("latency header lacks the fleet column:\n%s", v)
	}
	submit := lineWith(t, v, "anvil_client.submit")
	fo, _ := f.Prom.Op("ingot.anvil_client.submit_label")
	if !strings.Contains(submit, " L ") || !strings.HasSuffix(strings.TrimRight(submit, " ┃│"), fmtMS(fo.P95)) {
		t.Errorf("submit_label: want L and fleet p95 %s last: %q", fmtMS(fo.P95), submit)
	}
	only := lineWith(t, v, "forge_client.list")
	lo, _ := f.Prom.Op("ingot.forge_client.list_samples")
	if !strings.Contains(only, " P ") || !strings.Contains(only, fmtMS(lo.P50)) || !strings.Contains(only, fmtMS(lo.P99)) {
		t.Errorf("fleet-only op: want P with fleet p50 %s and p99 %s: %q", fmtMS(lo.P50), fmtMS(lo.P99), only)
	}
	if !strings.Contains(v, "src L live, P prometheus") {
		t.Errorf("latency legend lacks the source key:\n%s", v)
	}
}

func TestFleetSourcesInStatusAndHealth(t *testing.T) {
	m := withFrame(t, sized(t, New(Options{}), 200, 60), fleetFrame(fixedAt))
	status := lineWith(t, m.View(), "window 5m")
	if !strings.Contains(status, "prometheus <10s") || !strings.Contains(status, "scrape ingot-web-2:9101 stale 1m") {
		t.Errorf("status line: %q", status)
	}
	if strings.Count(status, "prometheus") != 1 {
		t.Errorf("the frame's own prometheus entry must be replaced, not repeated: %q", status)
	}
	m = press(t, m, "3")
	v := m.View()
	if !strings.Contains(lineWith(t, v, "Prometheus"), "http://prometheus:9090") {
		t.Errorf("health row of Prometheus lacks its URL:\n%s", ansi.Strip(v))
	}
	if !strings.Contains(lineWith(t, v, "scrape  "), "dial tcp 10.0.4.12:9101") {
		t.Errorf("health row of the stale scrape lacks its error:\n%s", ansi.Strip(v))
	}
}

func TestFleetAlertsInBannerAndList(t *testing.T) {
	f := fleetFrame(fixedAt)
	m := withFrame(t, sized(t, New(Options{}), 200, 60), f)
	v := ansi.Strip(m.View())
	// Prometheus says when its rule began to hold, a bound on the onset: "~"
	if !strings.Contains(v, "FIRING IngotAnvilLatencyHigh (prom) since ~14:24:00") {
		t.Errorf("banner lacks the Prometheus alert:\n%s", v)
	}
	m = press(t, m, "5")
	list := lineWith(t, m.View(), "IngotAnvilLatencyHigh (prom) · anvil submit_label")
	if !strings.Contains(list, "FIRING") {
		t.Errorf("alert list row: %q", list)
	}
	// the frame's alert list is the one list: the panes do not add Prometheus' alerts again
	if n := strings.Count(ansi.Strip(m.View()), "IngotAnvilLatencyHigh"); n != 2 { // banner + list
		t.Errorf("alert shown %d times, want 2 (banner and list)", n)
	}
	f.Alerts = SampleFrame(fixedAt).Alerts
	m = withFrame(t, m, f)
	if strings.Contains(ansi.Strip(m.View()), "IngotAnvilLatencyHigh") {
		t.Error("an alert the evaluator did not hand over is shown: the panes merged alerts themselves")
	}
}

// TestStaleFleetMarked: when the source behind the figures is stale, the column headers say so.
func TestStaleFleetMarked(t *testing.T) {
	f := fleetFrame(fixedAt)
	f.Prom.Sources[0].Stale, f.Prom.Sources[0].LastError = true, "no answer yet, past the 3s timeout"
	m := withFrame(t, sized(t, New(Options{}), 200, 60), f)
	v := ansi.Strip(m.View())
	if !strings.Contains(lineWith(t, v, "  queue "), "fleet·P!") || !strings.Contains(lineWith(t, v, "window 5m"), "prometheus stale") {
		t.Errorf("stale fleet not marked:\n%s", v)
	}
}

// TestFleetViewsFitEverySize: the fleet columns never break the layout.
func TestFleetViewsFitEverySize(t *testing.T) {
	for _, size := range [][2]int{{50, 12}, {80, 24}, {120, 35}, {160, 30}, {200, 60}} {
		for _, f := range []Frame{fleetFrame(fixedAt), freshFrame(fixedAt)} {
			m := withFrame(t, sized(t, New(Options{}), size[0], size[1]), f)
			for _, keys := range [][]string{nil, {"enter"}, {"2"}, {"3"}, {"5"}, {"w", "2"}} {
				checkScreen(t, press(t, m, keys...).View(), size[0], size[1])
			}
		}
	}
	// no stream at all (NATS never connected), Prometheus only
	f := freshFrame(fixedAt)
	f.Stream = nil
	m := withFrame(t, sized(t, New(Options{}), 120, 40), f)
	if !strings.Contains(m.View(), "zz-fleet-only-b") {
		t.Errorf("fleet queues hidden without a stream:\n%s", ansi.Strip(m.View()))
	}
}

// tagAfter is the word after name in a row: the src tag of the Queues pane.
func tagAfter(row, name string) string {
	_, rest, ok := strings.Cut(row, name)
	if !ok {
		return ""
	}
	if f := strings.Fields(rest); len(f) > 0 {
		return f[0]
	}
	return ""
}

// TestFleetFiguresHeld: fleet figures moving within the hold tolerance between polls, and
// the source aging within its coarse step, repaint nothing.
func TestFleetFiguresHeld(t *testing.T) {
	m := withFrame(t, sized(t, New(Options{}), 200, 60), fleetFrame(fixedAt))
	before := m.View()
	f := fleetFrame(fixedAt)
	for i := range f.Prom.Queues {
		f.Prom.Queues[i].LabelsPerMin *= 1.01
	}
	for i := range f.Prom.Ops {
		f.Prom.Ops[i].P95 *= 0.99
	}
	f.Prom.Sources[0].Age = 7 * time.Second
	m = withFrame(t, m, f)
	if after := m.View(); after != before {
		t.Errorf("a 1%% move repainted:\n%s", diffLines(before, after))
	}
	for i := range f.Prom.Queues {
		f.Prom.Queues[i].LabelsPerMin *= 1.5
	}
	m = withFrame(t, m, f)
	if m.View() == before {
		t.Error("a 50% move is not shown")
	}
}

func diffLines(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out []string
	for i := range bl {
		if i >= len(al) || al[i] != bl[i] {
			out = append(out, ansi.Strip(bl[i]))
		}
	}
	return strings.Join(out, "\n")
}
