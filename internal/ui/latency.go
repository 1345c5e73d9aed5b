package ui

import (
	"math"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/nsai/ingot-top/internal/alerts"
	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/view"
)

// submitOp is the operation of the runbook's label-submit latency rule.
const submitOp = "ingot.label.submit"

// latencyPane draws p50/p95/p99 per operation as one bar each on a common scale: the bar
// runs to p99, solid to p50, medium to p95, light to p99, numbers beside.
type latencyPane struct {
	c    *Common
	act  Actions
	w, h int
	// f is the frame on display; ops are its joined latency rows (view.Build), shared and
	// never modified here.
	f      Frame
	got    bool
	ops    []view.OpRow
	log    bool
	cursor int
	offset int

	// held are the figures on display per op (p50, p95, p99, error rate, fleet p95), as in
	// queuesPane.
	held    map[string][5]float64
	heldWin engine.Window

	// trends are each operation's p95 over the last 15 minutes (from history), by name.
	trends map[string][]float64
	// detail shows the focused chart of the operation in chart (Enter).
	detail bool
	chart  opChart
	// chartOut is the chart drawn in Update: drawing through ntcharts' canvas costs about
	// 10 ms, which a View on every key would pay again.
	chartOut string

	// rows are the visual rows (latrows.go), sel those the cursor moves over; cursor
	// indexes sel, offset rows.
	rows []latRow
	sel  []int
	// anyCut is set when some operation's name does not fit its column: a line under the
	// table then shows the selected one in full.
	anyCut bool
}

// trendCells is the width of the p95 trend column; each cell is trendStep of history.
const (
	trendCells = 10
	trendStep  = 90 * time.Second
)

func newLatencyPane(c *Common, act Actions) *latencyPane {
	return &latencyPane{c: c, act: act, log: true}
}

// noData reports that no source has sent anything yet.
func (p *latencyPane) noData() bool { return !p.got || (p.f.Stream == nil && p.f.Prom == nil) }

// activity is the stream's counted events without a duration.
func (p *latencyPane) activity() []engine.ActivityStats {
	if p.f.Stream == nil {
		return nil
	}
	return p.f.Stream.Activity
}

func (p *latencyPane) Title() string {
	scale := "linear"
	if p.log {
		scale = "log"
	}
	return "Latency p50/p95/p99 · " + scale + " · " + p.c.Window.String()
}
func (p *latencyPane) Capturing() bool { return false }
func (p *latencyPane) Detail() bool    { return p.detail }
func (p *latencyPane) SetSize(w, h int) {
	resized := w != p.w || h != p.h
	p.w, p.h = w, h
	p.relayout()
	if resized {
		p.loadChart()
	}
}

func (p *latencyPane) ShortHelp() []key.Binding {
	k := p.c.Keys
	if p.detail && p.chart.showTrace {
		return []key.Binding{k.Back, k.Trace, k.Copy}
	}
	if p.detail && p.chart.overall {
		return []key.Binding{k.Back}
	}
	if p.detail {
		b := []key.Binding{k.Back, k.Up, k.Down, k.Scale}
		if len(p.chart.exemplars) > 0 {
			b = append(b, k.Trace)
		}
		return b
	}
	return []key.Binding{k.Up, k.Down, k.Enter, k.Scale}
}
func (p *latencyPane) FullHelp() [][]key.Binding {
	k := p.c.Keys
	return [][]key.Binding{{k.Up, k.Down, k.Top, k.Bottom}, {k.Enter, k.Back, k.Scale}}
}

// findOp is the row of name in the frame on display, nil when it has none.
func (p *latencyPane) findOp(name string) *view.OpRow {
	for i := range p.ops {
		if p.ops[i].Name == name {
			return &p.ops[i]
		}
	}
	return nil
}

// updateTrends reads each operation's p95 trend from history at the moment on display.
func (p *latencyPane) updateTrends() {
	if p.c.History == nil || p.noData() {
		p.trends = nil
		return
	}
	next := make(map[string][]float64, len(p.ops))
	for i := range p.ops {
		name := p.ops[i].Name
		next[name] = p.c.History.Trend(name, engine.Window1m, p.c.Now, trendCells, trendStep)
	}
	p.trends = next
}

// loadChart reads the focused chart's series from history, ending at the moment on display.
func (p *latencyPane) loadChart() {
	if !p.detail {
		return
	}
	p.chart.window = p.c.Window
	p.chart.end = p.c.Now
	if p.chart.overall {
		p.chart.impact = p.c.History.Impact(p.c.Window, p.c.Now.Add(-chartSpan), p.c.Now)
	} else {
		p.chart.series = p.c.History.Op(p.chart.name, p.c.Window, p.c.Now.Add(-chartSpan), p.c.Now)
	}
	p.chartOut = strings.Join(p.chartView(), "\n")
}

func (p *latencyPane) Update(msg tea.Msg) (pane, tea.Cmd) {
	switch msg := msg.(type) {
	case viewMsg:
		p.f, p.got, p.ops = msg.Frame, true, msg.Ops
		p.updateHeld()
		p.relayout()
		p.updateTrends()
		p.loadChart()
	case windowMsg:
		p.updateHeld()
		p.relayout()
		p.loadChart()
	case errorChartMsg:
		p.detail, p.chart = true, opChart{overall: true}
		p.loadChart()
	case jumpMsg:
		if msg.op != "" {
			for k, v := range p.sel {
				if r := p.rows[v]; r.kind == rowOp && p.ops[r.idx].Name == msg.op {
					p.cursor = k
				}
			}
			p.clamp()
		}
	case tea.KeyMsg:
		k := p.c.Keys
		switch {
		case key.Matches(msg, k.Scale):
			p.log = !p.log
		case key.Matches(msg, k.Up):
			p.cursor--
		case key.Matches(msg, k.Down):
			p.cursor++
		case key.Matches(msg, k.Top):
			p.cursor = 0
		case key.Matches(msg, k.Bottom):
			p.cursor = 1 << 30
		case key.Matches(msg, k.Enter) && !p.detail:
			if op := p.selected(); op != nil {
				p.detail, p.chart = true, opChart{name: op.Name}
			}
		case key.Matches(msg, k.Back) && p.chart.showTrace:
			p.chart.showTrace = false
			return p, nil
		case key.Matches(msg, k.Back):
			p.detail = false
		case key.Matches(msg, k.Trace) && p.detail:
			return p, p.nextExemplarTrace()
		case key.Matches(msg, k.Copy) && p.chart.showTrace && p.act.Copy != nil:
			return p, copyCmd(p.act.Copy, p.chart.traceID)
		}
		p.clamp()
		if op := p.selected(); p.detail && !p.chart.overall && op != nil && op.Name != p.chart.name {
			// up and down move the chart to the next operation
			p.chart = opChart{name: op.Name}
		}
		p.loadChart()
		return p, p.fetchExemplars()
	case exemplarsMsg:
		if msg.op == p.chart.name && p.detail {
			p.chart.exemplars, p.chart.exErr, p.chart.exLoading = msg.list, msg.err, false
			p.loadChart()
		}
	case exemplarTraceMsg:
		if p.detail && p.chart.showTrace && msg.id == p.chart.traceID {
			p.chart.traceSpans, p.chart.traceSeen = msg.spans, msg.ok
		}
	}
	return p, nil
}

func (p *latencyPane) updateHeld() {
	if p.noData() {
		return
	}
	w := p.c.Window
	if w != p.heldWin {
		p.held, p.heldWin = nil, w
	}
	next := make(map[string][5]float64, len(p.ops))
	for i := range p.ops {
		op := &p.ops[i]
		old, ok := p.held[op.Name]
		q := op.Latency[w]
		// The percentiles are held as one: held apart, a p99 kept within tolerance could
		// show below a p95 that moved.
		pcts := [3]float64{old[0], old[1], old[2]}
		if cur := [3]float64{q.P50, q.P95, q.P99}; !ok || hold(old[0], cur[0], ok) != old[0] ||
			hold(old[1], cur[1], ok) != old[1] || hold(old[2], cur[2], ok) != old[2] {
			pcts = cur
		}
		if p.c.Past {
			// a moment from history is drawn as recorded
			pcts, ok = [3]float64{q.P50, q.P95, q.P99}, false
		}
		next[op.Name] = [5]float64{pcts[0], pcts[1], pcts[2], hold(old[3], op.ErrorRate[w], ok), hold(old[4], op.FleetP95, ok)}
	}
	p.held = next
}

// rowsFit is how many visual rows fit: the header, the legend and, when a name is cut,
// the line that shows the selected row's name in full.
func (p *latencyPane) rowsFit() int {
	n := p.h - 2
	if p.anyCut {
		n--
	}
	return max(n, 1)
}

// clamp keeps the cursor on a selectable row and that row on screen.
func (p *latencyPane) clamp() {
	n := len(p.sel)
	p.cursor = max(min(p.cursor, n-1), 0)
	rows := p.rowsFit()
	vis := 0
	if n > 0 {
		vis = p.sel[p.cursor]
	}
	if vis < p.offset {
		p.offset = vis
		if vis > 0 && p.rows[vis-1].kind == rowGroup {
			p.offset-- // the group's header comes with its first row
		}
	}
	if vis >= p.offset+rows {
		p.offset = vis - rows + 1
	}
	p.offset = max(min(p.offset, len(p.rows)-rows), 0)
}

// selected is the operation under the cursor, nil on an activity row or with none.
func (p *latencyPane) selected() *view.OpRow {
	if p.cursor >= len(p.sel) {
		return nil
	}
	r := p.rows[p.sel[p.cursor]]
	if r.kind != rowOp {
		return nil
	}
	return &p.ops[r.idx]
}

// alarmLegend says what the "!" mark means with the rules in force.
func alarmLegend(rules *alerts.Rules) string {
	var parts []string
	if !rules.LabelSubmitP95.Disabled {
		parts = append(parts, "submit p95>"+fmtMS(float64(rules.LabelSubmitP95.Threshold)/float64(time.Millisecond)))
	}
	if !rules.ErrorRate.Disabled {
		parts = append(parts, "errors>"+fmtPct(rules.ErrorRate.Threshold))
	}
	return "alert: " + strings.Join(parts, ", ")
}

// opAlarm says whether an op breaks a threshold of the alert rules in force (the same ones the
// banner evaluates, so a mark and an alert never disagree on the threshold) in the window.
func opAlarm(op *view.OpRow, w engine.Window, rules *alerts.Rules) (slow, failing bool) {
	submit := rules.LabelSubmitP95
	slow = !submit.Disabled && op.Name == submitOp &&
		op.Latency[w].P95 > float64(submit.Threshold)/float64(time.Millisecond)
	failing = !rules.ErrorRate.Disabled && op.ErrorRate[w] > rules.ErrorRate.Threshold
	return slow, failing
}

// relayout rebuilds the visual rows and says whether a name is cut (which takes a line).
func (p *latencyPane) relayout() {
	p.reorder()
	p.anyCut = false
	if !p.noData() {
		nameW := p.columns().nameW
		for _, r := range p.rows {
			if r.kind == rowOp && width(clean(displayName(p.ops[r.idx].Name)))+1 > nameW {
				p.anyCut = true
				break
			}
		}
	}
	p.clamp()
}

// latCols is the pane's column layout at its width.
type latCols struct {
	nameW, barW, trendW, numsW, srcW int
	fleet                            bool
}

func (p *latencyPane) columns() latCols {
	c := latCols{numsW: 6*3 + 2 + 7, fleet: p.f.Fleet.Source != ""} // "p50 p95 p99 err%"
	if c.fleet {
		c.numsW += 9 // " fleet95·P" beside err
		c.srcW = 2
	}
	// names get a third of the pane, up to the longest one (the full name is a line away)
	c.nameW = min(max(p.w/3, 10), 40)
	if p.trends != nil && p.w-2-c.srcW-c.nameW-1-c.numsW-1 >= trendCells+1+5 {
		c.trendW = trendCells + 1
	}
	c.barW = p.w - 2 - c.srcW - c.nameW - 1 - c.numsW - 1 - c.trendW
	if c.barW < 5 {
		c.barW = 0
		c.nameW = max(p.w-2-c.srcW-c.numsW-1-c.trendW, 4)
	}
	return c
}

func (p *latencyPane) View() string {
	if p.detail && p.chart.showTrace {
		return strings.Join(p.exemplarTraceView(), "\n")
	}
	if p.detail {
		return p.chartOut
	}
	if p.noData() || len(p.rows) == 0 {
		return emptyState(p.w, p.noData(), "no timed operations yet: bars appear with the first event carrying duration_ms")
	}
	st := p.c.Styles
	w := p.c.Window
	ops := p.ops
	cols := p.columns()
	// each group has its own scale: the highest p99 on display in it
	hi := [2]float64{1, 1}
	for _, r := range p.rows {
		if r.kind == rowOp {
			g := 0
			if r.human {
				g = 1
			}
			hi[g] = max(hi[g], p.held[ops[r.idx].Name][2])
		}
	}
	lo := 1.0 // log scale floor: 1 ms
	pos := func(v, hi float64) int {
		if v <= 0 {
			return 0
		}
		var f float64
		if p.log {
			f = math.Log10(max(v, lo)/lo) / math.Log10(max(hi, lo*10)/lo)
		} else {
			f = v / hi
		}
		return min(int(math.Round(f*float64(cols.barW))), cols.barW)
	}
	full, mid, light := "█", "▓", "░"
	if p.c.ASCII {
		full, mid, light = "#", "=", "-"
	}
	lines := make([]string, 0, p.h)
	head := "  "
	if cols.fleet {
		head += "  "
	}
	head += fit("operation", cols.nameW) + " "
	if cols.barW > 0 {
		head += fit("", cols.barW) + " "
	}
	if cols.trendW > 0 {
		head += fit("p95 15m", cols.trendW)
	}
	head += fitRight("p50", 6) + " " + fitRight("p95", 6) + " " + fitRight("p99", 6) + " " + fitRight("err", 6)
	if cols.fleet {
		head += " " + fitRight("p95·"+p.f.Fleet.Tag(), 8)
	}
	lines = append(lines, st.Header.S(head))
	selRow := -1
	if p.cursor < len(p.sel) {
		selRow = p.sel[p.cursor]
	}
	end := min(p.offset+p.rowsFit(), len(p.rows))
	for i := p.offset; i < end; i++ {
		r := p.rows[i]
		switch r.kind {
		case rowGroup:
			lines = append(lines, st.Header.S(cut("  ── "+r.title+" ", p.w)))
			continue
		case rowActivity:
			a := &p.activity()[r.idx]
			cur := "  "
			if i == selRow {
				cur = cursorMark(p.c.ASCII)
			}
			name := fit(" "+clean(a.Name), cols.nameW+cols.srcW)
			if i == selRow {
				name = st.Selected.S(name)
			}
			lines = append(lines, cut(cur+name+" "+activityCells(a, w), p.w))
			continue
		}
		op := &ops[r.idx]
		fig := p.held[op.Name]
		// alarms use the live figures: a threshold crossing shows at once
		slow, failing := opAlarm(op, w, &p.c.Rules)
		cur := "  "
		if i == selRow {
			cur = cursorMark(p.c.ASCII)
		}
		mark := " "
		if slow || failing {
			mark = "!"
		}
		var b strings.Builder
		b.WriteString(cur)
		if cols.fleet {
			b.WriteString(string(op.Src[w]) + " ")
		}
		name := fit(mark+clean(displayName(op.Name)), cols.nameW)
		if failing || slow {
			name = st.Bad.S(name)
		} else if i == selRow {
			name = st.Selected.S(name)
		}
		b.WriteString(name + " ")
		if cols.barW > 0 {
			scale := hi[0]
			if r.human {
				scale = hi[1]
			}
			a, c, d := pos(fig[0], scale), pos(fig[1], scale), pos(fig[2], scale)
			c, d = max(c, a), max(d, c)
			seg50, seg95, seg99 := strings.Repeat(full, a), strings.Repeat(mid, c-a), strings.Repeat(light, d-c)
			p95Paint := st.Bar95
			if slow {
				p95Paint = st.BarBad
			}
			b.WriteString(st.Bar50.S(seg50) + p95Paint.S(seg95) + st.Bar99.S(seg99) + spaces(cols.barW-d) + " ")
		}
		if cols.trendW > 0 {
			b.WriteString(st.Spark.S(trendSpark(p.trends[op.Name], p.c.ASCII)) + " ")
		}
		q := [3]string{fmtMS(fig[0]), fmtMS(fig[1]), fmtMS(fig[2])}
		fo, hasFleet := op.Fleet, op.Fleet != nil
		if op.FromFleet(w) && hasFleet {
			// the row's figures are the fleet's: a clamped quantile is a floor
			for k := range q {
				if fo.AtTop[k] {
					q[k] = fleetQuantile(fo, k)
				}
			}
		}
		nums := fitRight(q[0], 6) + " "
		p95 := fitRight(q[1], 6)
		if slow {
			p95 = st.Bad.S(p95)
		}
		nums += p95 + " " + fitRight(q[2], 6) + " "
		errS := fitRight(fmtPct(fig[3]), 6)
		if op.Name == engine.ClientLatencyOp {
			errS = fitRight("", 6) // the round-trip has no result of its own
		}
		if failing {
			errS = st.Bad.S(errS)
		}
		b.WriteString(nums + errS)
		if cols.fleet {
			fp := fmtMS(fig[4])
			if hasFleet && fo.AtTop[1] {
				fp = fleetQuantile(fo, 1)
			}
			b.WriteString(" " + fitRight(fp, 8))
		}
		lines = append(lines, b.String())
	}
	scale := "linear 0 … " + fmtMS(hi[0])
	if p.log {
		scale = "log 1ms … " + fmtMS(hi[0])
	}
	legend := "scale " + scale + "  " + full + " p50 " + mid + " p95 " + light + " p99  ! " + alarmLegend(&p.c.Rules)
	if cols.fleet {
		legend = "src " + string(p.f.StreamSrc) + " " + streamWord(p.f.StreamSrc) + ", " + string(p.f.Fleet.Source) + " " + string(p.f.Fleet.Kind) + " (5m, all nodes) · " + legend
	}
	for len(lines) < p.h-1-btoi(p.anyCut) {
		lines = append(lines, "")
	}
	if p.anyCut {
		// the selected row's name in full: what the column cut is one cursor move away
		tip := ""
		if op := p.selected(); op != nil {
			tip = "▶ " + clean(fullName(op.Name))
		}
		lines = append(lines, st.Dim.S(cut(tip, p.w)))
	}
	lines = append(lines, st.Dim.S(cut(legend, p.w)))
	return strings.Join(lines, "\n")
}

// streamWord names the stream's source in a legend.
func streamWord(s view.Source) string {
	if s == view.Daemon {
		return "daemons"
	}
	return "live"
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
