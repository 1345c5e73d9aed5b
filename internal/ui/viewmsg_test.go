package ui

import (
	"testing"

	tea "github.com/charmbracelet/bubbletea"
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
