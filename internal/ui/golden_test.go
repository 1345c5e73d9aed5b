package ui

import (
	"bytes"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest"

	"github.com/nsai/ingot-top/internal/view"
)

// goldenRun drives the real bubbletea program: a frame arrives through Options.Frames, keys
// are typed, and the final view is compared with testdata/<test>.golden (go test -update).
func goldenRun(t *testing.T, w, h int, opts Options, keys ...string) {
	t.Helper()
	frames := make(chan Frame, 1)
	opts.Frames = frames
	tm := teatest.NewTestModel(t, New(opts), teatest.WithInitialTermSize(w, h))
	frames <- view.Build(SampleFrame(fixedAt))
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte("14:30:00")) },
		teatest.WithDuration(5*time.Second), teatest.WithCheckInterval(5*time.Millisecond))
	for _, k := range keys {
		tm.Send(keyMsg(k))
	}
	tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("q")})
	final := tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(Model)
	view := final.View()
	checkScreen(t, view, w, h)
	golden.RequireEqual(t, []byte(view))
}

func TestGolden80x24(t *testing.T)         { goldenRun(t, 80, 24, Options{}) }
func TestGolden80x24Errors(t *testing.T)   { goldenRun(t, 80, 24, Options{}, "4", "enter") }
func TestGolden80x24ASCII(t *testing.T)    { goldenRun(t, 80, 24, Options{ASCII: true}, "2") }
func TestGolden200x60(t *testing.T)        { goldenRun(t, 200, 60, Options{}) }
func TestGolden200x60Drill(t *testing.T)   { goldenRun(t, 200, 60, Options{}, "enter") }
func TestGolden200x60NoColor(t *testing.T) { goldenRun(t, 200, 60, Options{NoColor: true}, "3") }
func TestGolden120x35Health(t *testing.T)  { goldenRun(t, 120, 35, Options{NoColor: true}, "3") }
func TestGolden200x60Groups(t *testing.T) {
	goldenRun(t, 200, 60, Options{NoColor: true, ErrorGroups: true}, "4")
}
func TestGolden80x24Groups(t *testing.T) {
	goldenRun(t, 80, 24, Options{ErrorGroups: true}, "4", "j", "enter")
}

func goldenFleetRun(t *testing.T, w, h int, f Frame, opts Options, keys ...string) {
	t.Helper()
	m := withFrame(t, sized(t, New(opts), w, h), f)
	view := press(t, m, keys...).View()
	checkScreen(t, view, w, h)
	golden.RequireEqual(t, []byte(view))
}

func TestGolden200x60Fleet(t *testing.T) {
	goldenFleetRun(t, 200, 60, fleetFrame(fixedAt), Options{NoColor: true})
}
func TestGolden200x60FleetFresh(t *testing.T) {
	goldenFleetRun(t, 200, 60, freshFrame(fixedAt), Options{NoColor: true})
}
func TestGolden200x60FleetDrill(t *testing.T) {
	goldenFleetRun(t, 200, 60, freshFrame(fixedAt), Options{NoColor: true}, "enter")
}
func TestGolden80x24FleetASCII(t *testing.T) {
	goldenFleetRun(t, 80, 24, fleetFrame(fixedAt), Options{NoColor: true, ASCII: true}, "2")
}
