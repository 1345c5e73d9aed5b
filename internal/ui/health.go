package ui

import (
	"sort"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/health"
	"github.com/nsai/ingot-top/internal/ingest"
)

// healthPane has one row per dependency: Forge, Anvil (probes), NATS (connection state),
// Prometheus (data source), then Ingot and its broken-out "ingot/..." rows.
type healthPane struct {
	c      *Common
	w, h   int
	conn   ingest.ConnState
	probes []health.Status
	srcs   []SourceInfo
	snap   *engine.Snapshot
	got    bool
	cursor int
	// detail shows the row with key detailKey in full (Enter; Esc goes back).
	detail    bool
	detailKey string
	// heldLatency is the probe latency on display per row (ms); probe latency jitters by
	// tens of percent between checks, and a row repaint per check is not worth it.
	heldLatency map[string]float64
}

const probeLatencyTolerance = 0.5

func newHealthPane(c *Common) *healthPane { return &healthPane{c: c} }

func (p *healthPane) Title() string {
	if p.detail {
		return "Health · " + clean(p.detailName())
	}
	return "Health · uptime " + p.c.Window.String()
}
func (p *healthPane) Capturing() bool  { return false }
func (p *healthPane) Detail() bool     { return p.detail }
func (p *healthPane) SetSize(w, h int) { p.w, p.h = w, h }
func (p *healthPane) ShortHelp() []key.Binding {
	if p.detail {
		return []key.Binding{p.c.Keys.Back}
	}
	return []key.Binding{p.c.Keys.Up, p.c.Keys.Down, p.c.Keys.Enter}
}
func (p *healthPane) FullHelp() [][]key.Binding {
	k := p.c.Keys
	return [][]key.Binding{{k.Up, k.Down, k.Top, k.Bottom}, {k.Enter, k.Back}}
}

func (p *healthPane) Update(msg tea.Msg) (pane, tea.Cmd) {
	switch msg := msg.(type) {
	case viewMsg:
		p.snap = msg.Stream
		p.conn, p.probes, p.srcs, p.got = msg.Conn, msg.Health, msg.Sources, true
		next := make(map[string]float64, len(p.probes))
		for _, s := range p.probes {
			old, ok := p.heldLatency[s.Name]
			next[s.Name] = holdWithin(old, float64(s.Latency)/float64(time.Millisecond), ok, probeLatencyTolerance)
		}
		p.heldLatency = next
	case jumpMsg:
		if msg.health == "" {
			break
		}
		for i, r := range p.rows() {
			if r.key == msg.health {
				p.cursor, p.detail, p.detailKey = i, true, r.key
			}
		}
	case tea.KeyMsg:
		k := p.c.Keys
		if p.detail {
			if key.Matches(msg, k.Back) {
				p.detail = false
			}
			return p, nil
		}
		switch {
		case key.Matches(msg, k.Enter):
			if rows := p.rows(); p.cursor >= 0 && p.cursor < len(rows) {
				p.detail, p.detailKey = true, rows[p.cursor].key
			}
		case key.Matches(msg, k.Up):
			p.cursor--
		case key.Matches(msg, k.Down):
			p.cursor++
		case key.Matches(msg, k.Top):
			p.cursor = 0
		case key.Matches(msg, k.Bottom):
			p.cursor = 1 << 30
		}
		p.cursor = max(min(p.cursor, len(p.rows())-1), 0)
	}
	return p, nil
}

// healthRow is one line before layout.
type healthRow struct {
	// key identifies the row across frames (probe name, "nats", "prometheus", source name)
	key     string
	name    string
	state   health.State
	latency string
	uptime  string
	strip   []health.Check
	errRate string
	lastErr string
}

func (p *healthPane) rows() []healthRow {
	w := p.c.Window
	byName := map[string]*health.Status{}
	for i := range p.probes {
		byName[p.probes[i].Name] = &p.probes[i]
	}
	svcRate := func(svc string) string {
		if p.snap == nil {
			return "—"
		}
		for _, s := range p.snap.Services {
			if s.Service == svc {
				if s.Calls[w] == 0 {
					return "—"
				}
				return fmtPct(s.ErrorRate[w])
			}
		}
		return "—"
	}
	probeRow := func(name, display string) healthRow {
		r := healthRow{key: name, name: display, state: health.StateUnknown, latency: "—", uptime: "—", errRate: "—", lastErr: "not probed (no URL configured)"}
		s, ok := byName[name]
		if !ok {
			return r
		}
		r.state = s.State
		r.lastErr = ""
		if s.State != health.StateUnknown && s.Latency > 0 {
			r.latency = fmtMS(p.heldLatency[name])
		}
		if int(w) < len(s.Uptime) && s.Uptime[w] >= 0 {
			r.uptime = fmtPct(s.Uptime[w])
		}
		r.strip = s.Recent
		if s.LastError != "" {
			r.lastErr = clean(s.LastError)
			if !s.LastErrorAt.IsZero() {
				r.lastErr = s.LastErrorAt.Format(clockLayout) + " " + r.lastErr
			}
		} else if s.Detail != "" {
			r.lastErr = clean(s.Detail)
		}
		return r
	}
	var out []healthRow
	forge := probeRow("forge", "Forge")
	forge.errRate = svcRate("forge")
	anvil := probeRow("anvil", "Anvil")
	anvil.errRate = svcRate("anvil")
	out = append(out, forge, anvil)

	nats := healthRow{key: "nats", name: "NATS", latency: "—", uptime: "—", errRate: "—"}
	switch p.conn.Phase {
	case ingest.PhaseConnected:
		nats.state = health.StateHealthy
		nats.lastErr = clean(p.conn.Server) + " since " + p.conn.Since.Format(clockLayout)
	case ingest.PhaseReconnecting, ingest.PhaseDisconnected:
		nats.state = health.StateUnhealthy
		nats.lastErr = string(p.conn.Phase) + " since " + p.conn.Since.Format(clockLayout)
	default:
		nats.state = health.StateUnknown
		nats.lastErr = "connecting to " + clean(p.conn.Server)
	}
	if p.conn.LastError != "" {
		nats.lastErr += "; " + clean(p.conn.LastError)
	}
	if p.conn.SinkErrors > 0 {
		nats.lastErr += "; sink errors " + fmtCount(float64(p.conn.SinkErrors))
	}
	if p.conn.SlowConsumerDrops > 0 {
		nats.lastErr += "; slow-consumer drops " + fmtCount(float64(p.conn.SlowConsumerDrops))
	}
	out = append(out, nats)

	prom := healthRow{key: "prometheus", name: "Prometheus", state: health.StateUnknown, latency: "—", uptime: "—", errRate: "—", lastErr: "not configured"}
	for _, s := range p.srcs {
		if s.Name != "prometheus" {
			continue
		}
		prom.state = health.StateHealthy
		prom.lastErr = sourceDetail(s)
		if s.Stale {
			prom.state = health.StateUnhealthy
		}
	}
	out = append(out, prom)
	for _, s := range p.srcs {
		if !strings.HasPrefix(s.Name, "scrape") && !strings.HasPrefix(s.Name, DaemonSourcePrefix) {
			continue
		}
		r := healthRow{key: s.Name, name: "scrape", state: health.StateHealthy, latency: "—", uptime: "—", errRate: "—",
			lastErr: sourceDetail(s)}
		if id, ok := strings.CutPrefix(s.Name, DaemonSourcePrefix); ok {
			r.name, r.lastErr = "daemon", clean(id)+": "+r.lastErr
		}
		if s.Stale {
			r.state = health.StateUnhealthy
		}
		out = append(out, r)
	}

	var ingot []string
	for name := range byName {
		if name == "ingot" || strings.HasPrefix(name, "ingot/") {
			ingot = append(ingot, name)
		}
	}
	sort.Strings(ingot)
	for _, name := range ingot {
		out = append(out, probeRow(name, name))
	}
	return out
}

var healthCols = []column{
	{title: "status", width: 9, priority: 9},
	{title: "probe", width: 6, right: true, priority: 8},
	{title: "uptime", width: 6, right: true, priority: 7},
	{title: "recent checks", width: 13, priority: 5}, // a minute at the default 5 s; the error text needs the room more
	{title: "err%", width: 6, right: true, priority: 6},
}

const healthNameW = 14

func (p *healthPane) View() string {
	if !p.got {
		return emptyState(p.w, true, "")
	}
	if p.detail {
		return p.detailView()
	}
	st := p.c.Styles
	rows := p.rows()
	// the last error takes what is left after the fixed columns
	keep, flexW := chooseColumns(healthCols, p.w-2-healthNameW-1, 12)
	heads := make([]string, len(healthCols))
	for i, c := range healthCols {
		heads[i] = c.title
	}
	lines := []string{st.Header.S("  " + fit("service", healthNameW) + " " + tableLine("", 0, healthCols, keep, heads)[1:] + " " + fit("last error / detail", flexW))}
	cells := make([]string, len(healthCols))
	for i, r := range rows {
		if len(lines) >= p.h {
			break
		}
		stateText := string(r.state)
		switch r.state {
		case health.StateHealthy:
			cells[0] = st.OK.S(fit(stateText, 9))
		case health.StateUnhealthy:
			cells[0] = st.Bad.S(fit(stateText, 9))
		default:
			cells[0] = st.Dim.S(fit(stateText, 9))
		}
		cells[1], cells[2] = r.latency, r.uptime
		cells[3] = p.strip(r.strip, healthCols[3].width)
		cells[4] = r.errRate
		cur := "  "
		if i == p.cursor {
			cur = cursorMark(p.c.ASCII)
		}
		line := cur + fit(r.name, healthNameW) + " " + tableLine("", 0, healthCols, keep, cells)[1:] + " " + fit(r.lastErr, flexW)
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n")
}

// strip shows the last checks, newest right: ▮ green/red, '+'/'x' in ASCII.
func (p *healthPane) strip(checks []health.Check, w int) string {
	if len(checks) > w {
		checks = checks[len(checks)-w:]
	}
	st := p.c.Styles
	okR, badR, unkR := "▮", "▮", "·"
	if p.c.ASCII {
		okR, badR, unkR = "+", "x", "."
	} else if st.OK.pre == "" {
		badR = "▯" // without colour, red and green would look the same
	}
	var b strings.Builder
	// runs of equal state share one escape sequence
	run, runState := "", health.State("")
	flush := func() {
		switch runState {
		case health.StateHealthy:
			b.WriteString(st.OK.S(run))
		case health.StateUnhealthy:
			b.WriteString(st.Bad.S(run))
		default:
			b.WriteString(st.Dim.S(run))
		}
		run = ""
	}
	for _, c := range checks {
		if c.State != runState && run != "" {
			flush()
		}
		runState = c.State
		switch c.State {
		case health.StateHealthy:
			run += okR
		case health.StateUnhealthy:
			run += badR
		default:
			run += unkR
		}
	}
	if run != "" {
		flush()
	}
	if len(checks) == 0 {
		return "—"
	}
	return b.String()
}

// sourceDetail is a data source's "last error / detail" cell. When the source fails, the
// reason comes first, since the column is narrow; a source that never answered says so
// instead of giving an age of data it never had.
func sourceDetail(s SourceInfo) string {
	age := "data " + fmtAge(s.Age) + " old"
	if s.Never {
		age = "no answer yet"
	}
	switch {
	case s.Detail == "":
		return age
	case s.Stale:
		return clean(s.Detail) + "; " + age
	default:
		return age + "; " + clean(s.Detail)
	}
}
