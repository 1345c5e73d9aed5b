package ui

import (
	"fmt"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/nsai/ingot-top/internal/history"
	"github.com/nsai/ingot-top/internal/view"
)

// Look-back: `p` stops the panes on the moment on screen, and the step keys move it through
// the session's per-second history (Frame.History). Every pane and the status bar then draw
// a frame rebuilt from history, and mark it: the status bar says PAST with the moment and
// the live clock, and every pane's title starts with the moment. `p` again returns to live.

// pastFrame turns a history moment into a frame for the panes, through the same builder as
// live frames (view.FromMoment).
func pastFrame(mo history.Moment, latest Frame) Frame { return view.FromMoment(mo, latest) }

// step moves the look-back moment n seconds (back when n < 0), pausing first when live.
func (m *Model) step(n int) tea.Cmd {
	ring := m.latest.History
	if !m.got || ring == nil {
		return func() tea.Msg {
			return noticeMsg{text: "no history yet: look-back needs the session's per-second record", bad: true}
		}
	}
	if !m.paused {
		m.setPaused(true)
	}
	at, ok := ring.Step(m.shown.At, n)
	if !ok {
		return nil
	}
	if at.Equal(m.shown.At) && m.shown.Past {
		return nil
	}
	mo, ok := ring.Moment(at)
	if !ok {
		return nil
	}
	f := pastFrame(mo, m.latest)
	m.status.setFrame(f)
	cmd := m.show(f)
	m.relayout()
	return cmd
}

// setPaused enters or leaves look-back. Leaving shows the newest frame at once.
func (m *Model) setPaused(on bool) tea.Cmd {
	m.paused = on
	m.status.paused = on
	m.common.Past = on
	if on || !m.got {
		return nil
	}
	m.status.setFrame(m.latest)
	cmd := m.show(m.latest)
	m.relayout()
	return cmd
}

// pastMark is the marker of a past moment in pane titles ("" when live).
func (m *Model) pastMark() string {
	if !m.paused {
		return ""
	}
	return "PAST " + m.shown.At.Format(clockLayout) + " · "
}

// lookbackMode is the status bar's mode: LIVE, RECORDED while a replay (or the history of
// --since) plays, or PAST with the moment shown and the live clock, so it is never
// mistaken for now.
func (s *statusBar) lookbackMode() string {
	st := s.c.Styles
	if !s.paused {
		if s.frame.Replay != nil {
			return st.Warn.S("RECORDED")
		}
		return st.OK.S("LIVE")
	}
	text := "PAST " + s.frame.At.Format(clockLayout)
	if !s.liveAt.IsZero() {
		if d := s.liveAt.Sub(s.frame.At); d >= time.Second {
			text += " (-" + fmtBack(d) + ")"
		}
		text += ", now " + s.liveAt.Format(clockLayout)
	}
	return st.Warn.S(text)
}

// fmtBack is how far back a moment is, to the second: "47s", "2m47s", "1h02m".
func fmtBack(d time.Duration) string {
	d = d.Truncate(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	}
	return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
}
