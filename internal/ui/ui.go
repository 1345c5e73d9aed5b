// Package ui owns the full-screen bubbletea dashboard of ingot-top: the status bar and the
// Queues, Latency, Health, Errors and Stream panes, their keys, styles and layout. It does no
// I/O: data arrives as Frames on a channel, and side effects (scenario switches, incident
// reports, clipboard) go through the injected Actions, always from a tea.Cmd.
package ui

import (
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/nsai/ingot-top/internal/alerts"
	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/promsrc"
	"github.com/nsai/ingot-top/internal/view"
)

// Frame is everything the dashboard shows at one instant: the joined, immutable view-model
// that internal/app builds once per refresh (view.Build) and every viewer draws. The panes
// only draw it; they never join sources themselves.
type Frame = view.Frame

// ReplayStatus is how a replay is playing (view.Frame.Replay).
type ReplayStatus = view.ReplayStatus

// SourceInfo is one data source and how fresh its data is; shown in the status bar.
type SourceInfo = view.SourceInfo

// DaemonSourcePrefix starts the name of a source that stands for one daemon (view).
const DaemonSourcePrefix = view.DaemonSourcePrefix

// Actions are side effects the CLI injects. A nil func hides the feature. The UI calls them
// only from tea.Cmds, never from Update or View.
type Actions struct {
	SetScenario func(name string) error                // demo: "normal", "degraded-anvil", "error-burst", "forge-down"
	WriteReport func(f Frame) (path string, err error) // incident report (Markdown) of the current state
	Copy        func(text string) error                // OSC 52 copy of a trace id
	// Bell rings the terminal bell (BEL to the tty); called when an alert starts firing and
	// Options.Bell is set. bubbletea v1 has no bell of its own and the UI does no I/O.
	Bell func()
	// Exemplars returns an operation's traced observations from Prometheus between two
	// times, slowest first (--prometheus with exemplar storage); the focused chart lists
	// them and opens their traces.
	Exemplars func(op string, from, to time.Time) ([]promsrc.Exemplar, error)
	// Trace returns the spans of a trace the session's engine has seen, for an exemplar's
	// waterfall.
	Trace func(traceID string) ([]engine.TraceSpan, bool)
	// ReplayPause pauses or resumes a replay and reports whether it is now paused;
	// ReplaySkip plays the next stretch of the recording at once. Both nil unless replaying.
	ReplayPause func() bool
	ReplaySkip  func(d time.Duration)
}

// Options configure the dashboard.
type Options struct {
	// Frames are built frames (view.Build): shared, never changed after they are sent.
	Frames         <-chan Frame
	Refresh        time.Duration
	ASCII          bool
	NoColor        bool
	DarkBackground bool
	Bell           bool
	Demo           bool
	Target         string // the NATS server we try to reach, for the empty state
	// ErrorGroups opens the Errors pane grouped by signature instead of on the rolling log.
	ErrorGroups bool
	Actions     Actions
	// Rules are the alert rules in force; the zero value means alerts.DefaultRules().
	Rules *alerts.Rules
	// Renderer, when set, gives the colour profile of a terminal that is not this
	// process's stdout (a dashboard served over SSH); nil means lipgloss's default.
	Renderer *lipgloss.Renderer
}

// Messages. A frame on display reaches every pane once, as one viewMsg: each pane takes
// the joined rows it draws.
type (
	frameMsg      Frame
	framesDoneMsg struct{}
	// viewMsg is the frame on display (live or rebuilt from history).
	viewMsg struct{ Frame }
	// windowMsg tells panes the window changed.
	windowMsg struct{}
	// noticeMsg is a one-line message for the status line (report written, copied, ...).
	noticeMsg struct {
		text string
		bad  bool
	}
)

// pane is a component, in the manner of soft-serve's common.Component.
type pane interface {
	help.KeyMap
	Update(tea.Msg) (pane, tea.Cmd)
	View() string
	SetSize(w, h int)
	// Title is shown in the border and the tab bar.
	Title() string
	// Capturing reports that the pane takes all keys (a filter being typed).
	Capturing() bool
	// Detail reports a drill-down, which the layout shows full size.
	Detail() bool
}

const (
	paneQueues = iota
	paneLatency
	paneHealth
	paneErrors
	paneStream
	numPanes
)

var paneNames = [numPanes]string{"Queues", "Latency", "Health", "Errors", "Stream"}

// Minimum size for the dashboard; below it a message says so.
const (
	minWidth  = 50
	minHeight = 12
	// grid layout from this size up
	gridWidth  = 160
	gridHeight = 40
)

// Model is the root tea.Model.
type Model struct {
	opts   Options
	common *Common
	help   help.Model

	status *statusBar
	panes  [numPanes]pane
	focus  int
	full   bool // full help shown
	paused bool

	latest Frame // last frame received
	shown  Frame // frame on display (== latest unless paused)
	got    bool  // a frame arrived

	layout layout
}

// New builds the dashboard.
func New(opts Options) Model {
	c := &Common{
		Styles: StylesFor(opts.Renderer, opts.DarkBackground, opts.NoColor),
		Keys:   DefaultKeyMap(),
		ASCII:  opts.ASCII,
		Window: engine.Window5m,
		Rules:  alerts.DefaultRules(),
	}
	if opts.Rules != nil {
		c.Rules = *opts.Rules
	}
	h := help.New()
	h.Styles = c.Styles.Help
	if opts.ASCII {
		h.Ellipsis = "..."
		h.ShortSeparator = " | "
		// The arrows' one-cell ASCII stand-ins would read as keys ("v" is one).
		c.Keys.Up.SetHelp("k", "up")
		c.Keys.Down.SetHelp("j", "down")
		c.Keys.StepBack.SetHelp("left/right", "step 1s")
	}
	m := Model{opts: opts, common: c, help: h}
	m.status = newStatusBar(c, opts)
	m.panes[paneQueues] = newQueuesPane(c)
	m.panes[paneLatency] = newLatencyPane(c, opts.Actions)
	m.panes[paneHealth] = newHealthPane(c)
	m.panes[paneErrors] = newErrorsPane(c, opts.Actions.Copy, opts.ErrorGroups)
	m.panes[paneStream] = newStreamPane(c)
	m.relayout()
	return m
}

// Init starts waiting for frames.
func (m Model) Init() tea.Cmd { return waitForFrame(m.opts.Frames) }

// waitForFrame is re-armed after every frame (bubbletea examples/realtime).
func waitForFrame(ch <-chan Frame) tea.Cmd {
	if ch == nil {
		return nil
	}
	return func() tea.Msg {
		f, ok := <-ch
		if !ok {
			return framesDoneMsg{}
		}
		return frameMsg(f)
	}
}

// Update routes messages.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.common.Width, m.common.Height = msg.Width, msg.Height
		m.help.Width = msg.Width
		m.relayout()
		return m, nil
	case tea.KeyMsg:
		if coalesced(msg) && !m.panes[m.focus].Capturing() {
			return m.handleKeyRunes(msg)
		}
		return m.handleKey(msg)
	case frameMsg:
		cmd := m.handleData(Frame(msg))
		return m, tea.Batch(cmd, waitForFrame(m.opts.Frames))
	case framesDoneMsg:
		m.status.notice("data feed closed", true)
		return m, nil
	case noticeMsg:
		m.status.notice(msg.text, msg.bad)
		return m, nil
	case exemplarsMsg, exemplarTraceMsg:
		var cmd tea.Cmd
		m.panes[paneLatency], cmd = m.panes[paneLatency].Update(msg)
		return m, cmd
	case jumpMsg:
		return m, m.jump(msg)
	case tea.MouseMsg:
		var cmd tea.Cmd
		m.panes[m.focus], cmd = m.panes[m.focus].Update(msg)
		return m, cmd
	}
	return m, nil
}

// handleData takes a frame: the status bar always follows the newest frame (connection,
// alerts and clock stay live while paused); the panes follow unless paused.
func (m *Model) handleData(f Frame) tea.Cmd {
	newlyFiring := m.got && firingNames(f.Alerts).notIn(firingNames(m.latest.Alerts))
	m.latest, m.got = f, true
	m.status.liveAt = f.At
	if !m.paused {
		m.status.setFrame(f)
	}
	var cmds []tea.Cmd
	if newlyFiring && m.opts.Bell && m.opts.Actions.Bell != nil {
		ring := m.opts.Actions.Bell
		cmds = append(cmds, func() tea.Msg { ring(); return nil })
	}
	if !m.paused {
		cmds = append(cmds, m.show(f))
	}
	m.relayout()
	return tea.Batch(cmds...)
}

type nameSet map[string]bool

// firingNames are the alerts firing or resolving: one back from resolving to firing is the
// same episode, and rings no second bell.
func firingNames(s alerts.State) nameSet {
	out := nameSet{}
	for _, a := range s.Active {
		if a.State == alerts.StateFiring || a.State == alerts.StateResolving {
			out[a.Name] = true
		}
	}
	return out
}

// notIn reports whether s has a name that old lacks.
func (s nameSet) notIn(old nameSet) bool {
	for n := range s {
		if !old[n] {
			return true
		}
	}
	return false
}

// show routes a frame's parts to the panes.
func (m *Model) show(f Frame) tea.Cmd {
	m.shown = f
	m.common.Now = f.At
	m.common.History = f.History
	return m.broadcast(viewMsg{f})
}

func (m *Model) broadcast(msgs ...tea.Msg) tea.Cmd {
	var cmds []tea.Cmd
	for _, msg := range msgs {
		for i := range m.panes {
			var cmd tea.Cmd
			m.panes[i], cmd = m.panes[i].Update(msg)
			cmds = append(cmds, cmd)
		}
	}
	return tea.Batch(cmds...)
}

// coalesced reports a key message that carries several typed keys: bubbletea v1 reads the
// terminal in chunks and delivers runes that arrived together (key repeat, a slow SSH link)
// as one KeyRunes message, "jjj", which matches no binding. A bracketed paste is text, not
// keys, and stays whole.
func coalesced(msg tea.KeyMsg) bool {
	return msg.Type == tea.KeyRunes && len(msg.Runes) > 1 && !msg.Paste
}

// handleKeyRunes handles a coalesced message as one key per rune, in order. Each rune goes
// through handleKey, so a rune that opens the filter ("/") sends the rest to the filter.
func (m Model) handleKeyRunes(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	var cmds []tea.Cmd
	for _, r := range msg.Runes {
		one := tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}, Alt: msg.Alt}
		nm, cmd := m.handleKey(one)
		m = nm.(Model)
		cmds = append(cmds, cmd)
	}
	return m, tea.Batch(cmds...)
}

func (m Model) handleKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	k := m.common.Keys
	if msg.String() == "ctrl+c" {
		return m, tea.Quit
	}
	focused := m.panes[m.focus]
	if focused.Capturing() {
		var cmd tea.Cmd
		m.panes[m.focus], cmd = focused.Update(msg)
		return m, cmd
	}
	switch {
	case key.Matches(msg, k.Quit):
		return m, tea.Quit
	case m.full && key.Matches(msg, k.Back):
		m.full = false // Esc closes the help first, as it closes a detail
		m.relayout()
		return m, nil
	case key.Matches(msg, k.Help):
		m.full = !m.full
		m.relayout()
		return m, nil
	case key.Matches(msg, k.NextPane):
		m.focus = (m.focus + 1) % numPanes
		m.relayout()
		return m, nil
	case key.Matches(msg, k.PrevPane):
		m.focus = (m.focus + numPanes - 1) % numPanes
		m.relayout()
		return m, nil
	case key.Matches(msg, k.Panes):
		m.focus = int(msg.Runes[0] - '1')
		m.relayout()
		return m, nil
	case key.Matches(msg, k.Pause):
		return m, m.setPaused(!m.paused)
	case key.Matches(msg, k.ReplayPause) && m.opts.Actions.ReplayPause != nil:
		return m, replayPauseCmd(m.opts.Actions.ReplayPause)
	case !m.paused && key.Matches(msg, k.ReplaySkip) && m.opts.Actions.ReplaySkip != nil:
		// Outside look-back, ] plays the next minute of the recording at once.
		return m, replaySkipCmd(m.opts.Actions.ReplaySkip, replaySkipBy)
	case key.Matches(msg, k.StepBack):
		return m, m.step(-1)
	case key.Matches(msg, k.StepFwd):
		return m, m.step(1)
	case key.Matches(msg, k.JumpBack):
		return m, m.step(-10)
	case key.Matches(msg, k.JumpFwd):
		return m, m.step(10)
	case key.Matches(msg, k.LeapBack):
		return m, m.step(-60)
	case key.Matches(msg, k.LeapFwd):
		return m, m.step(60)
	case key.Matches(msg, k.Window):
		m.common.Window = (m.common.Window + 1) % engine.NumWindows
		return m, m.broadcast(windowMsg{})
	case key.Matches(msg, k.Alerts):
		return m, m.jump(jumpMsg{pane: paneStream, alerts: true})
	case key.Matches(msg, k.ErrorChart):
		// the status line's error rate over time: the Latency pane's detail
		m.focus = paneLatency
		var cmd tea.Cmd
		m.panes[paneLatency], cmd = m.panes[paneLatency].Update(errorChartMsg{})
		m.relayout()
		return m, cmd
	case key.Matches(msg, k.Report) && m.opts.Actions.WriteReport != nil:
		return m, reportCmd(m.opts.Actions.WriteReport, m.shown)
	}
	if m.opts.Demo && m.opts.Actions.SetScenario != nil {
		scenarios := []struct {
			b    key.Binding
			name string
		}{{k.Degraded, "degraded-anvil"}, {k.Burst, "error-burst"}, {k.ForgeDown, "forge-down"}, {k.Normal, "normal"}}
		for _, s := range scenarios {
			if key.Matches(msg, s.b) {
				return m, scenarioCmd(m.opts.Actions.SetScenario, s.name)
			}
		}
	}
	var cmd tea.Cmd
	m.panes[m.focus], cmd = focused.Update(msg)
	m.relayout() // a drill-down changes the layout
	return m, cmd
}

// jump focuses the pane holding an alert's evidence and has every pane select it.
func (m *Model) jump(j jumpMsg) tea.Cmd {
	m.focus = j.pane
	cmd := m.broadcast(j)
	m.relayout()
	return cmd
}

func reportCmd(write func(Frame) (string, error), f Frame) tea.Cmd {
	return func() tea.Msg {
		path, err := write(f)
		if err != nil {
			return noticeMsg{text: "report failed: " + err.Error(), bad: true}
		}
		return noticeMsg{text: "report written to " + path}
	}
}

// replaySkipBy is how far ] jumps ahead in a replay.
const replaySkipBy = time.Minute

func replayPauseCmd(toggle func() bool) tea.Cmd {
	return func() tea.Msg {
		if toggle() {
			return noticeMsg{text: "replay paused (space resumes)"}
		}
		return noticeMsg{text: "replay resumed"}
	}
}

func replaySkipCmd(skip func(time.Duration), d time.Duration) tea.Cmd {
	return func() tea.Msg {
		skip(d)
		return noticeMsg{text: "replay: jumped ahead " + d.String()}
	}
}

func scenarioCmd(set func(string) error, name string) tea.Cmd {
	return func() tea.Msg {
		if err := set(name); err != nil {
			return noticeMsg{text: "scenario " + name + ": " + err.Error(), bad: true}
		}
		return noticeMsg{text: "scenario: " + name}
	}
}

// layout is where things go, computed in Update so that View only draws.
type layout struct {
	tooSmall  bool
	statusH   int
	footerH   int
	grid      bool
	split     bool // wide but short: the focused pane beside a companion pane
	companion int
	zoom      bool // focused pane full body (drill-down)
	bodyH     int
	cellW     [2]int
	cellH     [2]int
	fullHelpH int
}

func (m *Model) relayout() {
	c := m.common
	w, h := c.Width, c.Height
	l := layout{}
	if w < minWidth || h < minHeight {
		l.tooSmall = true
		m.layout = l
		return
	}
	l.statusH = m.status.height()
	l.footerH = 1
	if m.full {
		l.fullHelpH = min(len(m.fullHelpLines()), max(h/3, 1))
		l.footerH = l.fullHelpH
	}
	l.bodyH = h - l.statusH - l.footerH
	l.grid = w >= gridWidth && h >= gridHeight
	l.split = w >= gridWidth && !l.grid
	l.companion = paneErrors
	if m.focus == paneErrors {
		l.companion = paneQueues
	}
	l.zoom = m.panes[m.focus].Detail()
	m.status.SetSize(w, l.statusH)
	switch {
	case l.split && !l.zoom:
		// a tab bar, then the focused pane and its companion side by side
		l.cellW = [2]int{w / 2, w - w/2}
		for i := range m.panes {
			m.panes[i].SetSize(l.cellW[0]-2, l.bodyH-1-2)
		}
		m.panes[l.companion].SetSize(l.cellW[1]-2, l.bodyH-1-2)
	case l.zoom || !l.grid:
		// tab bar + one box
		for i := range m.panes {
			m.panes[i].SetSize(w-2, l.bodyH-1-2)
		}
	default:
		l.cellW = [2]int{w * 11 / 20, w - w*11/20}
		l.cellH = [2]int{l.bodyH / 2, l.bodyH - l.bodyH/2}
		m.panes[paneQueues].SetSize(l.cellW[0]-2, l.cellH[0]-2)
		m.panes[paneLatency].SetSize(l.cellW[1]-2, l.cellH[0]-2)
		m.panes[paneHealth].SetSize(l.cellW[0]-2, l.cellH[1]-2)
		m.panes[paneErrors].SetSize(l.cellW[1]-2, l.cellH[1]-2)
		// the Stream pane takes the slot of the pane it would hide when focused: Health's
		m.panes[paneStream].SetSize(l.cellW[0]-2, l.cellH[1]-2)
	}
	m.layout = l
}

func (m *Model) fullHelpLines() []string {
	s := m.help.FullHelpView(m.FullHelp())
	return strings.Split(s, "\n")
}

// View draws the screen. It changes nothing.
func (m Model) View() string {
	c := m.common
	w, h := c.Width, c.Height
	if w <= 0 || h <= 0 {
		return ""
	}
	l := m.layout
	if l.tooSmall {
		return strings.Join(tooSmall(w, h), "\n")
	}
	lines := make([]string, 0, h)
	lines = append(lines, m.status.View()...)
	switch {
	case l.split && !l.zoom:
		lines = append(lines, m.tabBar(w))
		left := m.cell(m.focus, l.cellW[0], l.bodyH-1)
		right := m.cell(l.companion, l.cellW[1], l.bodyH-1)
		for i := range left {
			lines = append(lines, left[i]+right[i])
		}
	case l.zoom || !l.grid:
		lines = append(lines, m.tabBar(w))
		p := m.panes[m.focus]
		lines = append(lines, c.box(m.pastMark()+strconv.Itoa(m.focus+1)+" "+p.Title(), strings.Split(p.View(), "\n"), w, l.bodyH-1, true)...)
	default:
		bottomLeft := paneHealth
		if m.focus == paneStream {
			bottomLeft = paneStream
		}
		rows := [2][2]int{{paneQueues, paneLatency}, {bottomLeft, paneErrors}}
		for r := 0; r < 2; r++ {
			left := m.cell(rows[r][0], l.cellW[0], l.cellH[r])
			right := m.cell(rows[r][1], l.cellW[1], l.cellH[r])
			for i := range left {
				lines = append(lines, left[i]+right[i])
			}
		}
	}
	if m.full {
		fl := m.fullHelpLines()
		lines = append(lines, clampLines(fl, w, l.fullHelpH)...)
	} else {
		lines = append(lines, fit(m.help.ShortHelpView(m.ShortHelp()), w))
	}
	lines = clampLines(lines, w, h)
	// Trailing blanks cost bytes on every repaint of a changed line, and the renderer clears
	// to the end of the line anyway.
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	out := strings.Join(lines, "\n")
	if c.ASCII {
		out = asciiReplacer.Replace(out)
	}
	return out
}

// asciiReplacer maps the few decorative runes used outside data to one-cell ASCII, so the
// layout widths are unchanged.
var asciiReplacer = strings.NewReplacer(
	"·", "-", "—", "-", "–", "-", "…", "~", "│", "|", "▶", ">", "◀", "<", "●", "*", "▲", "!",
	"∞", "~", "×", "x", "→", ">", "↑", "^", "↓", "v", "•", "|", "─", "-", "└", "`", "≥", ">", "←", "<",
)

func (m Model) cell(i, w, h int) []string {
	p := m.panes[i]
	return m.common.box(m.pastMark()+strconv.Itoa(i+1)+" "+p.Title(), strings.Split(p.View(), "\n"), w, h, i == m.focus)
}

func (m Model) tabBar(w int) string {
	st := m.common.Styles
	var b strings.Builder
	used := 0
	for i := range m.panes {
		label := " " + strconv.Itoa(i+1) + " " + paneNames[i] + " "
		if i == m.focus {
			label = "[" + strconv.Itoa(i+1) + " " + paneNames[i] + "]"
		}
		lw := width(label)
		if used+lw+1 > w {
			break
		}
		if i == m.focus {
			b.WriteString(st.TabActive.S(label))
		} else {
			b.WriteString(st.TabIdle.S(label))
		}
		b.WriteByte(' ')
		used += lw + 1
	}
	return b.String()
}

// tooSmall word-wraps the size message into the space there is.
func tooSmall(w, h int) []string {
	msg := "terminal too small (" + strconv.Itoa(w) + "x" + strconv.Itoa(h) + "); need at least " +
		strconv.Itoa(minWidth) + "x" + strconv.Itoa(minHeight)
	var lines []string
	cur := ""
	for _, word := range strings.Fields(msg) {
		switch {
		case cur == "":
			cur = word
		case len(cur)+1+len(word) <= w:
			cur += " " + word
		default:
			lines = append(lines, cur)
			cur = word
		}
	}
	lines = append(lines, cur)
	return clampLines(lines, w, h)
}

// ShortHelp is the footer: global keys plus the focused pane's.
func (m Model) ShortHelp() []key.Binding {
	k := m.common.Keys
	out := append([]key.Binding{}, m.panes[m.focus].ShortHelp()...)
	if m.opts.Actions.ReplayPause != nil {
		out = append(out, k.ReplayPause, k.ReplaySkip)
	}
	out = append(out, k.Pause)
	if m.paused {
		out = append(out, k.StepBack, k.JumpBack)
	}
	out = append(out, k.Window, k.NextPane)
	if m.opts.Actions.WriteReport != nil {
		out = append(out, k.Report)
	}
	return append(out, k.Help, k.Quit)
}

// FullHelp is every key, by column.
func (m Model) FullHelp() [][]key.Binding {
	k := m.common.Keys
	out := append([][]key.Binding{}, m.panes[m.focus].FullHelp()...)
	global := []key.Binding{k.NextPane, k.PrevPane, k.Panes, k.Alerts, k.ErrorChart, k.Pause, k.StepBack, k.JumpBack, k.LeapBack, k.Window}
	if m.opts.Actions.WriteReport != nil {
		global = append(global, k.Report)
	}
	global = append(global, k.Help, k.Quit)
	out = append(out, global)
	if m.opts.Demo && m.opts.Actions.SetScenario != nil {
		out = append(out, []key.Binding{k.Degraded, k.Burst, k.ForgeDown, k.Normal})
	}
	if m.opts.Actions.ReplayPause != nil {
		out = append(out, []key.Binding{k.ReplayPause, k.ReplaySkip})
	}
	return out
}

// RendererFPS is the rate at which bubbletea's renderer looks for a new view to write
// (tea.WithFPS). Frames come once a refresh (1 s) and keys redraw at once, so the only cost of
// the default 60 is the renderer waking 60 times a second for nothing: at 20, a key's redraw
// waits at most 50 ms and the dashboard spends about a tenth less CPU (scripts/bench-ui.sh).
const RendererFPS = 20
