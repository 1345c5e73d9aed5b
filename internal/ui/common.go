package ui

import (
	"io"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/muesli/termenv"

	"github.com/nsai/ingot-top/internal/alerts"
	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/history"
)

// Common is what every pane shares: styles, keys, the clock of the latest frame and the
// selected window. The root model owns it; panes hold a pointer and only read it.
type Common struct {
	Styles *Styles
	Keys   *KeyMap
	// Width and Height are the terminal size.
	Width, Height int
	// Now is Frame.At of the frame on display: views never read the wall clock.
	Now    time.Time
	ASCII  bool
	Window engine.Window
	// Past is set while the panes show a moment from history (look-back): figures are drawn
	// exactly as recorded, none held from another moment.
	Past bool
	// History is the session's per-second record (Frame.History), for trends and charts;
	// nil without one.
	History *history.Ring
	// Rules are the alert rules in force (flags, env, config file), so that panes mark what
	// the banner alerts on, with the same thresholds.
	Rules alerts.Rules
}

// Paint is a style reduced to its escape prefix and suffix. Rendering through lipgloss for
// every cell costs microseconds; a Paint costs one concatenation, which keeps a full-screen
// View within its budget. An empty Paint (no colour profile) adds nothing.
type Paint struct{ pre, post string }

// S paints text.
func (p Paint) S(text string) string {
	if p.pre == "" || text == "" {
		return text
	}
	return p.pre + text + p.post
}

func paintOf(s lipgloss.Style) Paint {
	const marker = "X"
	out := s.Render(marker)
	i := strings.Index(out, marker)
	if i < 0 {
		return Paint{}
	}
	return Paint{pre: out[:i], post: out[i+len(marker):]}
}

// Styles is the colour theme. With NoColor every Paint is empty, so nothing but text and
// box-drawing reaches the terminal; focus stays visible through border shape (heavy vs light,
// '=' vs '-' in ASCII), the "▶"/">" cursor column and bracketed tab titles.
type Styles struct {
	Renderer *lipgloss.Renderer
	// Accent is the chart colour, for ntcharts styles built on Renderer.
	Accent lipgloss.Color

	Title, FocusTitle   Paint
	Border, FocusBorder Paint
	Header              Paint
	Selected            Paint
	Dim                 Paint
	OK, Warn, Bad       Paint
	Firing, Pending     Paint
	TabActive, TabIdle  Paint
	Bar50, Bar95, Bar99 Paint
	BarBad              Paint
	Spark               Paint
	// Chart line styles (ntcharts takes lipgloss styles): p50, p95, p99/muted, bad.
	ChartP50, ChartP95, ChartMuted, ChartBad lipgloss.Style
	Help                                     help.Styles
}

// DefaultStyles builds the theme for a dark or light background. Colours are ANSI-256
// indexes picked to keep contrast on both (dark: bright tones; light: deep tones). With
// noColor the renderer is forced to the Ascii profile, which emits no escapes at all.
func DefaultStyles(dark bool, noColor bool) *Styles {
	var r *lipgloss.Renderer
	if noColor {
		r = lipgloss.NewRenderer(io.Discard)
		r.SetColorProfile(termenv.Ascii)
	} else {
		r = lipgloss.DefaultRenderer()
	}
	return newStyles(r, dark)
}

// newStyles builds the theme on a given renderer (tests and benchmarks force a profile).
func newStyles(r *lipgloss.Renderer, dark bool) *Styles {
	r.SetHasDarkBackground(dark)
	pick := func(darkC, lightC string) lipgloss.Color {
		if dark {
			return lipgloss.Color(darkC)
		}
		return lipgloss.Color(lightC)
	}
	var (
		accent = pick("75", "25")   // blue
		fg     = pick("252", "236") // main text
		dim    = pick("244", "245")
		green  = pick("78", "28")
		yellow = pick("221", "130")
		red    = pick("203", "160")
		border = pick("240", "250")
	)
	ns := r.NewStyle
	st := &Styles{Renderer: r, Accent: accent}
	st.Title = paintOf(ns().Foreground(fg).Bold(true))
	st.FocusTitle = paintOf(ns().Foreground(accent).Bold(true).Reverse(true))
	st.Border = paintOf(ns().Foreground(border))
	st.FocusBorder = paintOf(ns().Foreground(accent))
	st.Header = paintOf(ns().Foreground(dim).Bold(true))
	st.Selected = paintOf(ns().Reverse(true))
	st.Dim = paintOf(ns().Foreground(dim))
	st.OK = paintOf(ns().Foreground(green))
	st.Warn = paintOf(ns().Foreground(yellow))
	st.Bad = paintOf(ns().Foreground(red).Bold(true))
	st.Firing = paintOf(ns().Foreground(red).Bold(true).Reverse(true))
	st.Pending = paintOf(ns().Foreground(yellow))
	st.TabActive = paintOf(ns().Foreground(accent).Bold(true).Reverse(true))
	st.TabIdle = paintOf(ns().Foreground(dim))
	st.Bar50 = paintOf(ns().Foreground(green))
	st.Bar95 = paintOf(ns().Foreground(yellow))
	st.Bar99 = paintOf(ns().Foreground(dim))
	st.BarBad = paintOf(ns().Foreground(red))
	st.Spark = paintOf(ns().Foreground(accent))
	st.ChartP50, st.ChartP95 = ns().Foreground(accent), ns().Foreground(yellow)
	st.ChartMuted, st.ChartBad = ns().Foreground(dim), ns().Foreground(red)
	st.Help = help.Styles{
		Ellipsis:       ns().Foreground(dim),
		ShortKey:       ns().Foreground(fg).Bold(true),
		ShortDesc:      ns().Foreground(dim),
		ShortSeparator: ns().Foreground(dim),
		FullKey:        ns().Foreground(fg).Bold(true),
		FullDesc:       ns().Foreground(dim),
		FullSeparator:  ns().Foreground(dim),
	}
	return st
}

// KeyMap holds every binding; panes show the ones they use in their help.
type KeyMap struct {
	NextPane, PrevPane, Panes  key.Binding
	Up, Down, Top, Bottom      key.Binding
	Enter, Back                key.Binding
	Filter, Help               key.Binding
	Pause, Window              key.Binding
	StepBack, StepFwd          key.Binding
	JumpBack, JumpFwd          key.Binding
	LeapBack, LeapFwd          key.Binding
	Sort, Scale                key.Binding
	Service, Copy              key.Binding
	ErrorView                  key.Binding
	Trace                      key.Binding
	Report                     key.Binding
	Alerts                     key.Binding
	ErrorChart                 key.Binding
	Degraded, Burst, ForgeDown key.Binding
	Normal                     key.Binding
	Quit                       key.Binding
}

// DefaultKeyMap follows k9s/htop habits.
func DefaultKeyMap() *KeyMap {
	b := func(keys []string, k, desc string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(k, desc))
	}
	return &KeyMap{
		NextPane:  b([]string{"tab"}, "tab", "next pane"),
		PrevPane:  b([]string{"shift+tab"}, "S-tab", "prev pane"),
		Panes:     b([]string{"1", "2", "3", "4", "5"}, "1-5", "pane"),
		Up:        b([]string{"k", "up"}, "↑/k", "up"),
		Down:      b([]string{"j", "down"}, "↓/j", "down"),
		Top:       b([]string{"g", "home"}, "g", "first"),
		Bottom:    b([]string{"G", "end"}, "G", "last"),
		Enter:     b([]string{"enter"}, "enter", "details"),
		Back:      b([]string{"esc"}, "esc", "back"),
		Filter:    b([]string{"/"}, "/", "filter"),
		Help:      b([]string{"?"}, "?", "help"),
		Pause:     b([]string{"p"}, "p", "pause"),
		StepBack:  b([]string{"left"}, "←/→", "step 1s"),
		StepFwd:   b([]string{"right"}, "→", "1s on"),
		JumpBack:  b([]string{"["}, "[/]", "step 10s"),
		JumpFwd:   b([]string{"]"}, "]", "10s on"),
		LeapBack:  b([]string{"{"}, "{/}", "step 1m"),
		LeapFwd:   b([]string{"}"}, "}", "1m on"),
		Window:    b([]string{"w"}, "w", "window"),
		Sort:      b([]string{"s"}, "s", "sort"),
		Scale:     b([]string{"l"}, "l", "log/linear"),
		Service:   b([]string{"f"}, "f", "service"),
		Copy:      b([]string{"y"}, "y", "copy trace id"),
		ErrorView: b([]string{"v"}, "v", "groups/log"),
		Trace:     b([]string{"t"}, "t", "exemplar trace"),
		Report:    b([]string{"r"}, "r", "report"),
		Alerts:    b([]string{"a"}, "a", "alert list"),
		// the status line's overall error rate over time (the "Enter on the error rate")
		ErrorChart: b([]string{"e"}, "e", "error-rate chart"),
		Degraded:   b([]string{"D"}, "D", "demo: degraded anvil"),
		Burst:      b([]string{"E"}, "E", "demo: error burst"),
		ForgeDown:  b([]string{"F"}, "F", "demo: forge down"),
		Normal:     b([]string{"N"}, "N", "demo: normal"),
		Quit:       b([]string{"q", "ctrl+c"}, "q", "quit"),
	}
}

// clean makes a data string safe for one line: the stream sanitises, but a control byte
// that slipped through would break the layout or the terminal, so it becomes a space/'?'.
func clean(s string) string {
	bad := false
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			bad = true
			break
		}
	}
	if !bad {
		return s
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return ' '
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			return '?'
		}
		return r
	}, s)
}

func isPlainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

// width is the display width of s (escape sequences count 0).
func width(s string) int {
	if isPlainASCII(s) {
		return len(s)
	}
	return ansi.StringWidth(s)
}

// fit returns s as exactly w display cells: cut with "…" when too long, padded with spaces.
func fit(s string, w int) string {
	if w <= 0 {
		return ""
	}
	sw := width(s)
	if sw > w {
		s = ansi.Truncate(s, w, "…")
		sw = ansi.StringWidth(s)
	}
	if sw < w {
		s += spaces(w - sw)
	}
	return s
}

// fitRight is fit with the padding on the left, for numbers.
func fitRight(s string, w int) string {
	if w <= 0 {
		return ""
	}
	sw := width(s)
	if sw > w {
		return fit(s, w)
	}
	return spaces(w-sw) + s
}

// cut truncates without padding.
func cut(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if width(s) <= w {
		return s
	}
	return ansi.Truncate(s, w, "…")
}

const blanks = "                                                                                                                                "

func spaces(n int) string {
	if n <= 0 {
		return ""
	}
	if n <= len(blanks) {
		return blanks[:n]
	}
	return strings.Repeat(" ", n)
}

// clampLines returns exactly h lines of exactly w cells.
func clampLines(lines []string, w, h int) []string {
	out := make([]string, h)
	for i := range out {
		if i < len(lines) {
			out[i] = fit(lines[i], w)
		} else {
			out[i] = spaces(w)
		}
	}
	return out
}

// box draws a bordered pane of w×h with the title in the top border.
func (c *Common) box(title string, body []string, w, h int, focused bool) []string {
	if w < 2 || h < 2 {
		return clampLines(nil, max(w, 0), max(h, 0))
	}
	var tl, tr, bl, br, hz, vt string
	switch {
	case c.ASCII && focused:
		tl, tr, bl, br, hz, vt = "#", "#", "#", "#", "=", "#"
	case c.ASCII:
		tl, tr, bl, br, hz, vt = "+", "+", "+", "+", "-", "|"
	case focused:
		tl, tr, bl, br, hz, vt = "┏", "┓", "┗", "┛", "━", "┃"
	default:
		tl, tr, bl, br, hz, vt = "┌", "┐", "└", "┘", "─", "│"
	}
	bp, tp := c.Styles.Border, c.Styles.Title
	if focused {
		bp, tp = c.Styles.FocusBorder, c.Styles.FocusTitle
	}
	inner := w - 2
	t := cut(" "+title+" ", max(inner-1, 0))
	tw := width(t)
	out := make([]string, 0, h)
	top := bp.S(tl+hz) + tp.S(t)
	if rest := inner - 1 - tw; rest > 0 {
		top += bp.S(strings.Repeat(hz, rest) + tr)
	} else {
		top += bp.S(tr)
	}
	if inner < 1 {
		top = bp.S(tl + tr)
	}
	out = append(out, top)
	left, right := bp.S(vt), bp.S(vt)
	lines := clampLines(body, inner, h-2)
	for _, l := range lines {
		out = append(out, left+l+right)
	}
	out = append(out, bp.S(bl+strings.Repeat(hz, inner)+br))
	return out
}
