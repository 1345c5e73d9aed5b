package ui

import (
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"

	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/history"
)

// impactFrames records n seconds ending at fixedAt in which client calls start failing
// 5 minutes before the end: the overall error rate and the users it hits, from zero.
func impactFrames(t testing.TB, n int) Frame {
	t.Helper()
	ring := history.New(history.Config{})
	var f Frame
	incident := fixedAt.Add(-5 * time.Minute)
	for k := n - 1; k >= 0; k-- {
		at := fixedAt.Add(-time.Duration(k) * time.Second)
		f = SampleFrame(at)
		if at.Before(incident) {
			calm(&f, float64(n-k))
			s := *f.Stream
			s.Impact.Errors, s.Impact.ErrorRate, s.Impact.AffectedUsers = [engine.NumWindows]uint64{}, [engine.NumWindows]float64{}, [engine.NumWindows]uint64{}
			f.Stream = &s
		}
		f.History = ring
		ring.Record(history.Input{At: f.At, Stream: f.Stream, Conn: f.Conn, Health: f.Health, Alerts: f.Alerts, Prom: f.Prom})
	}
	return f
}

// TestErrorRateChart: `e` from any pane opens the status line's error rate over time (the
// issue's "Enter on the error rate"), with the rule's threshold and the users hit; it
// follows look-back, and esc returns to the Latency table.
func TestErrorRateChart(t *testing.T) {
	f := impactFrames(t, 16*60)
	im := f.Stream.Impact
	if !im.Known || im.Errors[engine.Window5m] == 0 {
		t.Fatalf("the sample has no failing calls: %+v", im)
	}
	for _, size := range [][2]int{{160, 48}, {80, 24}} {
		// panes are shared between copies of a Model: each branch opens its own
		open := func() Model {
			return press(t, withFrame(t, sized(t, New(Options{NoColor: true}), size[0], size[1]), f), "4", "e")
		}
		m := open()
		v := ansi.Strip(m.View())
		checkScreen(t, v, size[0], size[1])
		if m.focus != paneLatency || !m.panes[paneLatency].Detail() {
			t.Fatalf("%v: e: focus %d, detail %v", size, m.focus, m.panes[paneLatency].Detail())
		}
		if !strings.Contains(v, "client error rate, all calls") {
			t.Fatalf("%v: no error-rate chart:\n%s", size, v)
		}
		want := "errors " + fmtPct(float64(im.Errors[engine.Window5m])/float64(im.Calls[engine.Window5m]))
		if !strings.Contains(lineWith(t, v, "of "+fmtCount(float64(im.Calls[engine.Window5m]))+" calls  hit"), want) {
			t.Errorf("%v: the chart's figures disagree with the status line's %q", size, want)
		}
		if size[0] >= 160 {
			if !strings.Contains(v, "alert above "+fmtPct(m.common.Rules.ErrorRate.Threshold)) || !strings.ContainsAny(v, "⠁⠂⠄⡀⢀⠈⠐⠠⣀⠤") {
				t.Errorf("%v: chart lacks the threshold or the line:\n%s", size, v)
			}
			if !strings.Contains(v, "users with a failed call") {
				t.Errorf("%v: no affected-users chart:\n%s", size, v)
			}
		}
		// look back before the incident: the chart ends at that moment, and says so
		past := press(t, open(), "p", "{", "{", "{", "{", "{", "{")
		pv := ansi.Strip(past.View())
		if !strings.Contains(pv, "–"+fixedAt.Add(-6*time.Minute).Format(clockLayout)) || !strings.Contains(pv, "errors 0.0%") {
			t.Errorf("%v: chart does not follow look-back to %s:\n%s", size, fixedAt.Add(-6*time.Minute).Format(clockLayout), pv)
		}
		back := press(t, open(), "esc")
		if back.panes[paneLatency].Detail() || !strings.Contains(ansi.Strip(back.View()), "operation") {
			t.Errorf("%v: esc did not return to the table", size)
		}
		// keys in the chart do not turn it into an operation's chart
		if kv := ansi.Strip(press(t, open(), "l", "j").View()); !strings.Contains(kv, "client error rate, all calls") {
			t.Errorf("%v: a key left the error-rate chart:\n%s", size, kv)
		}
	}
}

func TestGoldenErrorRateChart160x48(t *testing.T) {
	f := impactFrames(t, 16*60)
	m := withFrame(t, sized(t, New(Options{NoColor: true}), 160, 48), f)
	view := press(t, m, "e").View()
	checkScreen(t, view, 160, 48)
	golden.RequireEqual(t, []byte(view))
}
