package ui

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nsai/ingot-top/internal/alerts"
	"github.com/nsai/ingot-top/internal/ingest"
)

// statusBar is the top of the screen. Line 1 holds what changes every second (clock,
// events/s, lag) so that a steady stream repaints one line; line 2 the vitals: Forge, Anvil,
// Ingot and NATS each as a word, the client error rate and the users and queues it hits;
// line 3 slow-changing things (sources with coarse ages, window, pause, notices); line 4 is
// the alert banner, one entry per fault, present only while alerts are active.
type statusBar struct {
	c      *Common
	opts   Options
	w      int
	frame  Frame
	got    bool
	paused bool
	// liveAt is the newest frame's time, shown beside a past moment.
	liveAt time.Time

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
		return 4
	}
	return 3
}

func (s *statusBar) View() []string {
	w := s.w
	f := s.frame
	lines := []string{s.line1(w), s.vitals(w), s.line2(w)}
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
	connected := s.got && conn.Phase == ingest.PhaseConnected
	switch {
	case !s.got:
		left.WriteString(st.Warn.S(dot + " waiting for data"))
	case f.Replay != nil:
		left.WriteString(replayMarker(st, f.Replay))
	case connected:
		left.WriteString(st.OK.S(dot + " connected"))
	case conn.Phase == ingest.PhaseReconnecting:
		left.WriteString(st.Warn.S(dot + " reconnecting"))
	case conn.Phase == ingest.PhaseDisconnected:
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

// replayMarker says the screen shows a recording, not the live stream: REPLAY beside the
// recorded clock that line 1 starts with, and how it plays.
func replayMarker(st *Styles, r *ReplayStatus) string {
	how := "×" + strconv.FormatFloat(r.Speed, 'g', 4, 64)
	switch {
	case r.Ended:
		how = "ended"
	case r.Paused:
		how = "paused"
	case r.Speed == 0:
		how = "max speed"
	}
	return st.Firing.S("REPLAY") + " " + st.Warn.S(how)
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
	case conn.Phase == ingest.PhaseConnected || conn.Phase == ingest.PhaseReconnecting:
		return target + s.c.Styles.Dim.S(" since "+conn.Since.Format(clockLayout))
	case conn.Phase == ingest.PhaseDisconnected:
		return target
	}
	return "to " + target
}

// line2: server, window and pause, last error, sources and their age; a notice on the right.
func (s *statusBar) line2(w int) string {
	st := s.c.Styles
	f := s.frame
	var b strings.Builder
	if s.paused {
		// a past moment is said first, where no width cuts it
		b.WriteString(s.lookbackMode() + " │ ")
	}
	if s.got && f.Conn.Phase == ingest.PhaseConnected {
		b.WriteString(s.where() + " │ ")
	}
	windowStart := b.Len()
	b.WriteString("window " + s.c.Window.String())
	if !s.paused {
		b.WriteString(" " + s.lookbackMode())
	}
	windowEnd := b.Len()
	if s.got && f.Conn.Phase != ingest.PhaseConnected && f.Conn.LastError != "" {
		// Line 1 says "connecting"/"reconnecting": the error follows without a label, which
		// keeps the reason itself within 80 columns.
		b.WriteString(" │ " + st.Bad.S(clean(f.Conn.LastError)))
	}
	srcs := append([]SourceInfo(nil), f.Sources...)
	sort.SliceStable(srcs, func(i, j int) bool { return srcs[i].Name < srcs[j].Name })
	neverConnected := s.got && f.Conn.Phase == ingest.PhaseConnecting && f.Conn.Received == 0
	for _, src := range srcs {
		if strings.HasPrefix(src.Name, DaemonSourcePrefix) && !src.Stale {
			continue // merged daemons are the "daemons" source; only a stale one is news
		}
		if neverConnected && isStreamSource(src.Name) {
			// "stale <10s" would suggest data that stopped; there never was any
			b.WriteString(" │ " + st.Warn.S(clean(src.Name)+": no data yet"))
			continue
		}
		b.WriteString(" │ " + clean(src.Name) + " ")
		if src.Stale && src.Never {
			b.WriteString(st.Bad.S("failing"))
		} else if src.Stale {
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
		// A notice is what the user just asked for (a report's path, a copied trace id): for
		// its few seconds it takes the place of the server and sources, not the other way.
		right = p.S(cut(s.noticeText, w))
		if width(left)+1+width(right) > w {
			left = left[windowStart:windowEnd]
			if width(left)+1+width(right) > w {
				left = ""
			}
		}
	}
	return joinLR(left, right, w)
}

// isStreamSource reports the source fed by the NATS connection: "stream", or "daemons" when
// several ingot-top daemons are merged. Fleet sources have their own connection state.
func isStreamSource(name string) bool { return name == "stream" || name == "daemons" }

// banner lists the active alerts grouped by the fault that explains them (alerts.GroupAlerts):
// firing first, each with its onset ("since" is when the condition began, not when the
// alert fired), a resolving group with the time its condition stopped. Groups that do not
// fit are counted in "+N more" rather than cut mid-word.
func (s *statusBar) banner(w int) string {
	st := s.c.Styles
	groups := alerts.GroupAlerts(s.frame.Alerts.Active)
	leads := make([]alerts.Alert, len(groups))
	for i, g := range groups {
		leads[i] = g.Lead
	}
	tags := alertTags(leads)
	const sep = "  "
	var b strings.Builder
	used := 0
	for i, g := range groups {
		gap := 0
		if i > 0 {
			gap = len(sep)
		}
		rest := len(groups) - i - 1
		more := ""
		if rest > 0 {
			more = sep + "+" + strconv.Itoa(rest) + " more"
		}
		room := w - used - gap - width(more)
		if i == 0 {
			// the first group always shows, in as much room as the count of the others leaves
			text, paint := s.groupText(g, tags[i], max(room, 1))
			b.WriteString(paint.S(text))
			used = width(text)
			continue
		}
		text, paint := s.groupText(g, tags[i], 1<<20)
		if width(text) > room {
			// not whole: count it and the rest rather than cut it
			if count := sep + "+" + strconv.Itoa(len(groups)-i) + " more"; used+width(count) <= w {
				b.WriteString(st.Warn.S(count))
			}
			return b.String()
		}
		b.WriteString(sep + paint.S(text))
		used += gap + width(text)
	}
	return b.String()
}

// alertTags returns, per alert, its distinguishing labels in braces: the service and
// operation when set ("{anvil/submit_label}"), then any other label whose value differs
// among alerts of the same name. Names Prometheus adds to every alert say nothing.
func alertTags(active []alerts.Alert) []string {
	preferred := []string{"service", "operation"}
	skip := map[string]bool{"alertname": true, "severity": true, "service": true, "operation": true}
	// per alert name: the other label keys whose values differ within the name
	varying := map[string][]string{}
	byName := map[string][]alerts.Alert{}
	for _, a := range active {
		byName[a.Name] = append(byName[a.Name], a)
	}
	for name, group := range byName {
		if len(group) < 2 {
			continue
		}
		keys := map[string]bool{}
		for _, a := range group {
			for k := range a.Labels {
				if !skip[k] {
					keys[k] = true
				}
			}
		}
		var diff []string
		for k := range keys {
			for _, a := range group[1:] {
				if a.Labels[k] != group[0].Labels[k] {
					diff = append(diff, k)
					break
				}
			}
		}
		sort.Strings(diff)
		varying[name] = diff
	}
	tags := make([]string, len(active))
	for i, a := range active {
		var vals []string
		for _, k := range preferred {
			if v := a.Labels[k]; v != "" {
				vals = append(vals, clean(v))
			}
		}
		for _, k := range varying[a.Name] {
			if v := a.Labels[k]; v != "" {
				vals = append(vals, clean(v))
			}
		}
		if len(vals) > 0 {
			tags[i] = "{" + strings.Join(vals, "/") + "}"
		}
	}
	return tags
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
