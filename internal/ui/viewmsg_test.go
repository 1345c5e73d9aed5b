package ui

import (
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/nsai/ingot-top/internal/view"
)

// countingPane counts the Updates a pane gets.
type countingPane struct {
	pane
	n *int
}

func (c countingPane) Update(msg tea.Msg) (pane, tea.Cmd) {
	*c.n++
	p, cmd := c.pane.Update(msg)
	return countingPane{p, c.n}, cmd
}

// TestOneUpdatePerPanePerFrame: a frame reaches each pane once (it was four messages to
// every pane, twenty Updates a frame, and the Queues and Latency panes merged live and
// fleet figures twice).
func TestOneUpdatePerPanePerFrame(t *testing.T) {
	m := sized(t, New(Options{}), 160, 48)
	var counts [numPanes]int
	for i := range m.panes {
		m.panes[i] = countingPane{m.panes[i], &counts[i]}
	}
	m = withFrame(t, m, fleetFrame(fixedAt))
	for i, n := range counts {
		if n != 1 {
			t.Errorf("pane %s: %d Updates for one frame, want 1", paneNames[i], n)
		}
	}
}

// TestOneFrameManyViewers: a built frame is shared by every viewer (one terminal, or many
// SSH sessions), so drawing it must not write to it. Under -race, a pane that sorted or
// filled the frame's rows in place fails here.
func TestOneFrameManyViewers(t *testing.T) {
	f := view.Build(fleetFrame(fixedAt))
	done := make(chan string)
	for _, size := range [][2]int{{80, 24}, {160, 48}, {200, 60}, {120, 35}} {
		go func() {
			m := withFrame(t, sized(t, New(Options{}), size[0], size[1]), f)
			for _, k := range []string{"s", "s", "enter", "esc", "2", "w", "enter", "p", "[", "3", "5"} {
				m = press(t, m, k)
			}
			done <- m.View()
		}()
	}
	for range 4 {
		if v := <-done; v == "" {
			t.Error("empty view")
		}
	}
}
