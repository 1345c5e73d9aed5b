package ui

import (
	"sort"
	"strings"
	"time"

	"github.com/nsai/ingot-top/internal/alerts"
	"github.com/nsai/ingot-top/internal/feed"
)

// statusBar is the top of the screen. Line 1 holds everything that changes often (clock,
// events/s, lag) so that a steady stream repaints one line; line 2 holds slow-changing
// things (sources with coarse ages, window, pause, notices); line 3 is the alert banner,
// present only while alerts are active.
type statusBar struct {
	c      *Common
	opts   Options
	w      int
	frame  Frame
	got    bool
	paused bool

	noticeText string
	noticeBad  bool
	noticeAt   time.Time
}

// noticeTTL is how long (in frame time) a notice stays on screen.
const noticeTTL = 15 * time.Second

func newStatusBar(c *Common, opts Options) *statusBar { return &statusBar{c: c, opts: opts} }

func (s *statusBar) SetSize(w, _ int) { s.w = w }

func (s *statusBar) setFrame(f Frame) {
	s.frame, s.got = f, true
	if s.noticeText != "" && !s.noticeAt.IsZero() && f.At.Sub(s.noticeAt) > noticeTTL {
		s.noticeText = ""
	}
}

func (s *statusBar) notice(text string, bad bool) {
	s.noticeText, s.noticeBad, s.noticeAt = clean(text), bad, s.frame.At
}

func (s *statusBar) height() int {
	if len(s.frame.Alerts.Active) > 0 {
		return 3
	}
	return 2
}

func (s *statusBar) View() []string {
	w := s.w
	f := s.frame
	lines := []string{s.line1(w), s.line2(w)}
	if len(f.Alerts.Active) > 0 {
		lines = append(lines, s.banner(w))
	}
	return lines
}

const clockLayout = "15:04:05"

// line1: clock first, then connection, events/s and lag. Nothing is right-aligned and the
// line is not padded, so the per-second repaint writes only these few cells.
func (s *statusBar) line1(w int) string {
	st := s.c.Styles
	f := s.frame
	var left strings.Builder
	if s.got {
		left.WriteString(f.At.Format(clockLayout) + " ")
	}
	left.WriteString(st.Title.S("ingot-top") + " ")
	conn := f.Conn
	dot := "●"
	if s.c.ASCII {
		dot = "*"
	}
	connected := s.got && conn.Phase == feed.PhaseConnected
	switch {
	case !s.got:
		left.WriteString(st.Warn.S(dot + " waiting for data"))
	case connected:
		left.WriteString(st.OK.S(dot + " connected"))
	case conn.Phase == feed.PhaseReconnecting:
		left.WriteString(st.Warn.S(dot + " reconnecting"))
	case conn.Phase == feed.PhaseDisconnected:
		left.WriteString(st.Bad.S(dot + " disconnected"))
	default:
		left.WriteString(st.Warn.S(dot + " connecting"))
	}
	if snap := f.Stream; snap != nil && connected {
		left.WriteString(" │ " + fitRight(fmtRate(snap.Totals.RatePerSec), 6) + " ev/s")
		if lag := snap.Lag[s.c.Window]; lag.Count > 0 {
			left.WriteString(" │ lag p95 " + fitRight(fmtMS(lag.P95), 6))
		}
	} else {
		// not connected: say what we are trying to reach, right here
		left.WriteString(" " + s.where())
	}
	return cut(left.String(), w)
}

// where is the server and since when (connected or reconnecting), or the target.
func (s *statusBar) where() string {
	conn := s.frame.Conn
	target := clean(conn.Server)
	if target == "" {
		target = clean(s.opts.Target)
	}
	if target == "" {
		target = "(no server configured)"
	}
	switch {
	case !s.got:
		return "from " + target
	case conn.Phase == feed.PhaseConnected || conn.Phase == feed.PhaseReconnecting:
		return target + s.c.Styles.Dim.S(" since "+conn.Since.Format(clockLayout))
	case conn.Phase == feed.PhaseDisconnected:
		return target
	}
	return "to " + target
}

// line2: server, window and pause, last error, sources and their age; a notice on the right.
func (s *statusBar) line2(w int) string {
	st := s.c.Styles
	f := s.frame
	var b strings.Builder
	if s.got && f.Conn.Phase == feed.PhaseConnected {
		b.WriteString(s.where() + " │ ")
	}
	mode := st.OK.S("LIVE")
	if s.paused {
		mode = st.Warn.S("PAUSED")
	}
	b.WriteString("window " + s.c.Window.String() + " " + mode)
	if s.got && f.Conn.Phase != feed.PhaseConnected && f.Conn.LastError != "" {
		b.WriteString(" │ " + st.Bad.S("last error: "+clean(f.Conn.LastError)))
	}
	srcs := append([]SourceInfo(nil), f.Sources...)
	sort.SliceStable(srcs, func(i, j int) bool { return srcs[i].Name < srcs[j].Name })
	for _, src := range srcs {
		b.WriteString(" │ " + clean(src.Name) + " ")
		if src.Stale {
			b.WriteString(st.Bad.S("stale " + fmtAge(src.Age)))
		} else {
			b.WriteString(st.Dim.S(fmtAge(src.Age)))
		}
	}
	left := b.String()
	right := ""
	if s.noticeText != "" {
		p := st.OK
		if s.noticeBad {
			p = st.Bad
		}
		right = p.S(cut(s.noticeText, max(w/2, 10)))
	}
	return joinLR(left, right, w)
}

// banner lists active alerts, firing first; pending dimmer.
func (s *statusBar) banner(w int) string {
	st := s.c.Styles
	var b strings.Builder
	mark := "▲ "
	if s.c.ASCII {
		mark = "! "
	}
	for i, a := range s.frame.Alerts.Active {
		if i > 0 {
			b.WriteString("  ")
		}
		since := a.ActiveAt
		if a.State == alerts.StateFiring && !a.FiredAt.IsZero() {
			since = a.FiredAt
		}
		text := clean(a.Name) + " since " + since.Format(clockLayout)
		if a.Source == alerts.SourcePrometheus {
			text = clean(a.Name) + " (prom) since " + since.Format(clockLayout)
		}
		if a.State == alerts.StateFiring {
			b.WriteString(st.Firing.S(mark + "FIRING " + text))
		} else {
			b.WriteString(st.Pending.S("pending " + text))
		}
	}
	return b.String()
}

// joinLR puts right at the right edge, cutting left to make room.
func joinLR(left, right string, w int) string {
	rw := width(right)
	if rw >= w {
		return fit(right, w)
	}
	lw := w - rw - 1
	if rw == 0 {
		return cut(left, w)
	}
	out := fit(left, lw)
	if rw > 0 {
		out += " " + right
	}
	return out
}
