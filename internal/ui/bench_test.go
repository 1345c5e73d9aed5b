package ui

import (
	"fmt"
	"io"
	"math/rand/v2"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/promsrc"
	"github.com/nsai/ingot-top/internal/view"
)

// BenchmarkView200x60 is View() of the whole grid with 1,000 queues and 1,000 errors.
func BenchmarkView200x60(b *testing.B) {
	m := withFrame(b, withColour(sized(b, New(Options{}), 200, 60)), bigFrame(fixedAt, 1000, 1000))
	if !m.layout.grid {
		b.Fatal("not the grid layout")
	}
	var n int
	for b.Loop() {
		n += len(m.View())
	}
	b.ReportMetric(float64(n)/float64(b.N), "bytes/view")
}

// BenchmarkView200x60Groups is the same screen with the Errors pane on 100 signatures.
func BenchmarkView200x60Groups(b *testing.B) {
	m := withFrame(b, withColour(sized(b, New(Options{ErrorGroups: true}), 200, 60)), bigFrame(fixedAt, 1000, 1000))
	var n int
	for b.Loop() {
		n += len(m.View())
	}
	b.ReportMetric(float64(n)/float64(b.N), "bytes/view")
}

// BenchmarkFrame200x60 is the Update of one frame (sorting, filtering) plus its View.
func BenchmarkFrame200x60(b *testing.B) {
	m := sized(b, New(Options{}), 200, 60)
	f := view.Build(bigFrame(fixedAt, 1000, 1000)) // built once by app, drawn per viewer
	for b.Loop() {
		nm, _ := m.Update(frameMsg(f))
		m = nm.(Model)
		_ = m.View()
	}
}

// repaintBytes estimates what bubbletea v1's standard renderer writes for a new view: every
// changed line is rewritten whole (plus a few bytes of cursor movement and line clear).
func repaintBytes(prev, next string) int {
	a, b := strings.Split(prev, "\n"), strings.Split(next, "\n")
	n := 0
	for i := range b {
		if i < len(a) && a[i] == b[i] {
			continue
		}
		n += len(b[i]) + 8
	}
	return n
}

// steadyFrame is SampleFrame `step` seconds later under steady traffic: per-second counts
// noisy by ±3 % around a constant rate, windowed figures moving by ±0.3 %, the events/s
// figure changing every second, and a new error every 10 s.
func steadyFrame(step int) Frame {
	at := fixedAt.Add(time.Duration(step) * time.Second)
	rng := rand.New(rand.NewPCG(uint64(step), 7))
	f := SampleFrame(fixedAt)
	f.At = at
	s := f.Stream
	s.At = at
	for i := range s.Queues {
		q := &s.Queues[i]
		base := q.LabelsPerMin[engine.Window5m] / 60
		for j := range q.Spark {
			q.Spark[j] = base * (1 + 0.06*(rng.Float64()-0.5))
		}
		for w := range q.LabelsPerMin {
			q.LabelsPerMin[w] *= 1 + 0.006*(rng.Float64()-0.5)
		}
	}
	s.Totals.RatePerSec *= 1 + 0.06*(rng.Float64()-0.5)
	s.Lag[engine.Window5m].P95 *= 1 + 0.1*(rng.Float64()-0.5)
	if n := step / 10; n > 0 {
		fresh := make([]engine.ErrorEntry, 0, n)
		for k := 0; k < n; k++ {
			e := s.Errors[k%len(s.Errors)]
			e.StreamSeq = uint64(200_000 + k)
			e.Time = fixedAt.Add(time.Duration(k*10) * time.Second)
			fresh = append(fresh, e)
		}
		s.Errors = append(fresh, s.Errors...)[:len(s.Errors)]
	}
	for i := range f.Sources {
		f.Sources[i].Age = time.Duration(step%2) * 500 * time.Millisecond
	}
	return f
}

// TestSteadyTrafficRepaintBudget measures bytes written per second at 160x48 under steady
// traffic with colour, and logs it; the budget is 1 KB/s.
func TestSteadyTrafficRepaintBudget(t *testing.T) {
	for _, colour := range []bool{false, true} {
		m := sized(t, New(Options{}), 160, 48)
		if colour {
			m = withColour(m)
		}
		perSec := steadyRepaint(t, m)
		t.Logf("160x48 steady traffic, colour=%v: %d bytes/s repainted", colour, perSec)
		if perSec > 1024 {
			t.Fatalf("repaint %d B/s, above the 1 KB/s budget", perSec)
		}
	}
}

func withColour(m Model) Model {
	m.common.Styles = colourStyles()
	m.help.Styles = m.common.Styles.Help
	return m
}

func steadyRepaint(t *testing.T, m Model) int {
	m = withFrame(t, m, steadyFrame(0))
	prev := m.View()
	total := 0
	const seconds = 60
	for s := 1; s <= seconds; s++ {
		nm, _ := m.Update(frameMsg(view.Build(steadyFrame(s))))
		m = nm.(Model)
		v := m.View()
		total += repaintBytes(prev, v)
		prev = v
	}
	return total / seconds
}

var _ tea.Model = Model{}

// colourStyles is the dark theme with 256 colours, to measure with escapes in the output.
func colourStyles() *Styles {
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.ANSI256)
	return newStyles(r, true)
}

// bigFleet is SampleFleet with n queues (half of them unknown to the stream), for benchmarks.
func bigFleet(at time.Time, n int) *promsrc.Snapshot {
	p := SampleFleet(at)
	base := p.Queues[0]
	qs := make([]promsrc.QueueFleet, 0, n)
	for i := 0; i < n; i++ {
		q := base
		q.ID = fmt.Sprintf("queue-%04d", i*2) // every other id is also live in bigFrame
		q.LabelsPerMin = float64(n - i)
		qs = append(qs, q)
	}
	p.Queues = qs
	return p
}

// BenchmarkView200x60Fleet is View() of the grid with 1,000 live queues, 500 fleet queues,
// fleet latency and history.
func BenchmarkView200x60Fleet(b *testing.B) {
	f := bigFrame(fixedAt, 1000, 1000)
	f.Prom = bigFleet(fixedAt, 500)
	m := withFrame(b, withColour(sized(b, New(Options{}), 200, 60)), f)
	var n int
	for b.Loop() {
		n += len(m.View())
	}
	b.ReportMetric(float64(n)/float64(b.N), "bytes/view")
}

// BenchmarkFrame200x60Fleet is a viewer's Update plus View of a frame with fleet rows; the
// join itself is view.Build's, once per frame for every viewer (view's BenchmarkBuild).
func BenchmarkFrame200x60Fleet(b *testing.B) {
	m := sized(b, New(Options{}), 200, 60)
	f := bigFrame(fixedAt, 1000, 1000)
	f.Prom = bigFleet(fixedAt, 500)
	f = view.Build(f)
	for b.Loop() {
		nm, _ := m.Update(frameMsg(f))
		m = nm.(Model)
		_ = m.View()
	}
}
