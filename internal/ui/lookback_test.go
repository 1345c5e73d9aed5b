package ui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/golden"

	"github.com/nsai/ingot-top/internal/alerts"
	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/health"
	"github.com/nsai/ingot-top/internal/history"
)

// recordedFrames records n seconds of SampleFrame ending at fixedAt into a history ring, with
// an incident that starts 5 minutes before the end: until then Anvil is healthy, submit_label
// fast and no alert fires. Second k carries submit_label's 1m p95 as 100+k ms before the
// incident, so a rebuilt moment can be told apart from any other. It returns the newest
// frame, carrying the ring.
func recordedFrames(t testing.TB, n int) Frame {
	t.Helper()
	ring := history.New(history.Config{})
	var f Frame
	incident := fixedAt.Add(-5 * time.Minute)
	for k := n - 1; k >= 0; k-- {
		at := fixedAt.Add(-time.Duration(k) * time.Second)
		f = SampleFrame(at)
		if at.Before(incident) {
			calm(&f, float64(n-k))
		}
		f.History = ring
		ring.Record(history.Input{At: f.At, Stream: f.Stream, Conn: f.Conn, Health: f.Health, Alerts: f.Alerts, Prom: f.Prom})
	}
	return f
}

// calm makes a SampleFrame look like the minutes before the incident.
func calm(f *Frame, k float64) {
	s := *f.Stream
	s.Ops = append([]engine.OpStats(nil), s.Ops...)
	for i := range s.Ops {
		op := &s.Ops[i]
		if op.Name != "ingot.anvil_client.submit_label" && op.Name != "ingot.label.submit" {
			continue
		}
		for w := range engine.NumWindows {
			op.Latency[w].P50, op.Latency[w].P95, op.Latency[w].P99 = 40, 100+k, 2000
			op.Errors[w], op.ErrorRate[w] = 0, 0
		}
	}
	f.Stream = &s
	f.Health = append([]health.Status(nil), f.Health...)
	for i := range f.Health {
		if strings.Contains(f.Health[i].Name, "anvil") {
			f.Health[i].State, f.Health[i].LastError, f.Health[i].Detail = health.StateHealthy, "", ""
		}
	}
	f.Alerts = alerts.State{At: f.At, History: f.Alerts.History}
}

func TestLookBackStepsThroughHistory(t *testing.T) {
	f := recordedFrames(t, 16*60)
	m := withFrame(t, sized(t, New(Options{NoColor: true}), 160, 48), f)
	m = press(t, m, "2") // Latency
	live := m.View()
	if !strings.Contains(live, "LIVE") || strings.Contains(live, "PAST") {
		t.Fatalf("live view marked as past:\n%s", live)
	}
	m = press(t, m, "p")
	if v := m.View(); !strings.Contains(v, "PAST 14:30:00") {
		t.Fatalf("p does not mark the paused moment:\n%s", v)
	}
	// 6 minutes back: before the incident; second k = 16*60-360 carries p95 100+k ms
	for i := 0; i < 6; i++ {
		m = press(t, m, "{")
	}
	v := m.View()
	if !strings.Contains(v, "PAST 14:24:00 (-6m00s), now 14:30:00") {
		t.Fatalf("status bar lacks the past marker:\n%s", v)
	}
	if n := strings.Count(v, "PAST 14:24:00 · "); n < 1 {
		t.Fatalf("pane titles not marked:\n%s", v)
	}
	if want := fmtMS(100 + float64(16*60-360)); !strings.Contains(v, want) {
		t.Fatalf("latency at 14:24:00 should show submit_label p95 %s:\n%s", want, v)
	}
	if strings.Contains(v, "FIRING") {
		t.Fatalf("an alert that fired later shows in the past:\n%s", v)
	}
	// single seconds and tens
	m = press(t, m, "left", "left", "[")
	if !strings.Contains(m.View(), "PAST 14:23:48") {
		t.Fatalf("← ← [ from 14:24:00 should reach 14:23:48:\n%s", m.View())
	}
	m = press(t, m, "]", "right")
	if !strings.Contains(m.View(), "PAST 14:23:59") {
		t.Fatalf("] → from 14:23:48 should reach 14:23:59:\n%s", m.View())
	}
	// a new live frame does not move the moment; p returns to live
	next := SampleFrame(fixedAt.Add(time.Second))
	next.History = f.History
	m = withFrame(t, m, next)
	if !strings.Contains(m.View(), "PAST 14:23:59") || !strings.Contains(m.View(), "now 14:30:01") {
		t.Fatalf("live frame moved the look-back moment:\n%s", m.View())
	}
	m = press(t, m, "p")
	if v := m.View(); strings.Contains(v, "PAST") || !strings.Contains(v, "14:30:01") {
		t.Fatalf("p did not return to live:\n%s", v)
	}
}

// TestLookBackEveryPane checks that each pane draws the past moment, not the newest frame.
func TestLookBackEveryPane(t *testing.T) {
	f := recordedFrames(t, 10*60)
	m := withFrame(t, sized(t, New(Options{NoColor: true}), 200, 60), f)
	m = press(t, m, "p", "{", "{", "{", "{", "{", "{")
	v := m.View()
	// Health: Anvil healthy before the incident
	if strings.Contains(v, "unhealthy") {
		t.Errorf("health shows the incident in the past:\n%s", v)
	}
	// Errors: nothing received after the moment
	for _, line := range strings.Split(v, "\n") {
		if strings.Contains(line, "14:29:") && strings.Contains(line, "submit_label") {
			t.Errorf("error log shows an entry from after the moment: %q", line)
		}
	}
	if c := strings.Count(v, "PAST 14:24:00 · "); c != 4 {
		t.Errorf("%d pane titles marked, want the 4 on screen", c)
	}
}

func TestLookBackWithoutHistorySaysSo(t *testing.T) {
	m := sampleModel(t, 120, 40, Options{})
	nm, cmd := m.Update(keyMsg("left"))
	m = nm.(Model)
	if cmd == nil {
		t.Fatal("no notice")
	}
	nm, _ = m.Update(cmd())
	if v := nm.(Model).View(); !strings.Contains(v, "no history yet") {
		t.Fatalf("look-back without history is silent:\n%s", v)
	}
}

func TestGoldenPaused160x48(t *testing.T) {
	f := recordedFrames(t, 16*60)
	m := withFrame(t, sized(t, New(Options{NoColor: true}), 160, 48), f)
	m = press(t, m, "p", "{", "{", "{", "{", "{", "{", "[", "[", "left")
	view := m.View()
	checkScreen(t, view, 160, 48)
	golden.RequireEqual(t, []byte(view))
}

func TestGoldenPaused80x24(t *testing.T) {
	f := recordedFrames(t, 16*60)
	m := withFrame(t, sized(t, New(Options{NoColor: true}), 80, 24), f)
	m = press(t, m, "2", "p", "{", "{", "{", "{", "{", "{")
	view := m.View()
	checkScreen(t, view, 80, 24)
	golden.RequireEqual(t, []byte(view))
}

func BenchmarkLookBackStep(b *testing.B) {
	f := recordedFrames(b, 16*60)
	m := withFrame(b, sized(b, New(Options{NoColor: true}), 200, 60), f)
	m = press(b, m, "p")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := "left"
		if i%2 == 1 {
			k = "right"
		}
		m = press(b, m, k)
	}
	_ = fmt.Sprint(m.View() != "")
}

func TestChartOfAnOperation(t *testing.T) {
	f := recordedFrames(t, 16*60)
	m := withFrame(t, sized(t, New(Options{NoColor: true}), 160, 48), f)
	m = press(t, m, "2", "j", "j", "j", "enter")
	v := m.View()
	for _, want := range []string{"ingot.anvil_client.submit_label · 5m window, second by second · 14:15:00–14:30:00",
		"p50 1.06s  p95 2.75s  p99 5.08s  err 12.5%", "latency, ms (log scale", "error rate, % of calls", " p99", " p95", " p50", " err"} {
		if !strings.Contains(v, want) {
			t.Fatalf("chart lacks %q:\n%s", want, v)
		}
	}
	// j moves the chart to the next operation; esc goes back to the table
	m = press(t, m, "j")
	if v := m.View(); !strings.Contains(v, "ingot.component.render_sample · 5m window") {
		t.Fatalf("j did not move the chart:\n%s", v)
	}
	m = press(t, m, "esc")
	if v := m.View(); !strings.Contains(v, "p95 15m") {
		t.Fatalf("esc did not return to the table:\n%s", v)
	}
	// looking back, the chart ends at the moment shown
	m = press(t, m, "k", "enter", "p", "{", "{")
	if v := m.View(); !strings.Contains(v, "–14:28:00") {
		t.Fatalf("chart does not end at the past moment:\n%s", v)
	}
}

func TestGoldenChart160x48(t *testing.T) {
	f := recordedFrames(t, 16*60)
	m := withFrame(t, sized(t, New(Options{NoColor: true}), 160, 48), f)
	m = press(t, m, "2", "j", "j", "j", "enter")
	view := m.View()
	checkScreen(t, view, 160, 48)
	golden.RequireEqual(t, []byte(view))
}

func BenchmarkChartView(b *testing.B) {
	f := recordedFrames(b, 16*60)
	m := withFrame(b, sized(b, New(Options{}), 200, 60), f)
	m = press(b, m, "2", "j", "j", "j", "enter")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = m.View()
	}
}

// BenchmarkChartFrame is a frame arriving with the chart open: the chart is drawn then.
func BenchmarkChartFrame(b *testing.B) {
	f := recordedFrames(b, 16*60)
	m := withFrame(b, sized(b, New(Options{}), 200, 60), f)
	m = press(b, m, "2", "j", "j", "j", "enter")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m = withFrame(b, m, f)
	}
}
