package ui

import (
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/NimbleMarkets/ntcharts/canvas/runes"
	"github.com/NimbleMarkets/ntcharts/linechart/timeserieslinechart"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/promsrc"
	"github.com/nsai/ingot-top/internal/view"
)

// queueSort is the Queues sort key, cycled by `s`.
type queueSort int

const (
	sortVelocity queueSort = iota
	sortP50
	sortAbandonment
	sortPending
	sortETA
	sortName
	sortErrors
	numQueueSorts
)

var queueSortNames = [numQueueSorts]string{"velocity", "p50", "abandonment", "pending", "ETA", "name", "errors"}

// queuesPane lists queues and drills down into one.
type queuesPane struct {
	c    *Common
	w, h int

	// f is the frame on display; rows are its joined queue rows (view.Build), shared and
	// never modified here.
	f     Frame
	got   bool
	rows  []view.QueueRow
	sortK queueSort
	// order holds indexes into rows, sorted, without the folded OtherID row.
	order []int
	other int // index of the OtherID row, -1 if none
	// cursor is a position in the visible rows.
	cursor int
	// nameW is the width the queue name column asks for before other columns are kept: the
	// longest name within [minQueueNameW, maxQueueNameW]. Set in resort, not in View.
	nameW int

	detail   bool
	detailID string

	// held are the figures on display per queue id, moved only when the live figure leaves a
	// tolerance band (see hold): steady traffic then repaints nothing and rows do not swap.
	held     map[string]heldQueue
	heldWin  engine.Window
	heldNext map[string]heldQueue
}

type heldQueue struct{ vel, p50, aband, fleet, errRate float64 }

func newQueuesPane(c *Common) *queuesPane {
	return &queuesPane{c: c, other: -1, nameW: minQueueNameW}
}

// noData reports that no source has sent anything yet.
func (p *queuesPane) noData() bool { return !p.got || (p.f.Stream == nil && p.f.Prom == nil) }

// at is the time of the figures on display.
func (p *queuesPane) at() time.Time {
	if p.f.Stream != nil {
		return p.f.Stream.At
	}
	return p.f.At
}

// holdTolerance is the relative change a displayed figure ignores.
const holdTolerance = 0.02

// hold returns the displayed figure: prev while cur stays within holdTolerance of it.
func hold(prev, cur float64, known bool) float64 {
	return holdWithin(prev, cur, known, holdTolerance)
}

func holdWithin(prev, cur float64, known bool, tol float64) float64 {
	if !known || prev == 0 || cur == 0 || math.Abs(cur-prev) > tol*math.Abs(prev) {
		return cur
	}
	return prev
}

// figures returns a queue's displayed figures.
func (p *queuesPane) figures(q *view.QueueRow) heldQueue {
	if h, ok := p.held[q.ID]; ok {
		return h
	}
	w := p.c.Window
	return heldQueue{q.LabelsPerMin[w], q.TimePerSample[w].P50, q.Abandonment[w], q.FleetRate, queueErrRate(q, w)}
}

// queueErrRate is the queue's client error rate in w, -1 when it had no calls (unknown).
func queueErrRate(q *view.QueueRow, w engine.Window) float64 {
	if q.Calls[w] == 0 {
		return -1
	}
	return q.ErrorRate[w]
}

func (p *queuesPane) updateHeld() {
	w := p.c.Window
	if w != p.heldWin {
		p.held, p.heldWin = nil, w
	}
	next := p.heldNext
	if next == nil {
		next = make(map[string]heldQueue)
	}
	clear(next)
	for i := range p.rows {
		q := &p.rows[i]
		old, ok := p.held[q.ID]
		next[q.ID] = heldQueue{
			vel:   hold(old.vel, q.LabelsPerMin[w], ok),
			p50:   hold(old.p50, q.TimePerSample[w].P50, ok),
			aband: hold(old.aband, q.Abandonment[w], ok),
			fleet: hold(old.fleet, q.FleetRate, ok),
			// an error rate leaving zero must show at once: hold only between non-zero rates
			errRate: holdWithin(old.errRate, queueErrRate(q, w), ok && old.errRate > 0, 0.05),
		}
	}
	// two maps swapped each frame: bounded by the snapshot's queue cap, no garbage per frame
	p.held, p.heldNext = next, p.held
}

func (p *queuesPane) Title() string {
	if p.detail {
		return "Queue " + clean(p.detailID) + " · " + p.c.Window.String()
	}
	return "Queues · by " + queueSortNames[p.sortK] + " · " + p.c.Window.String() + daemonNote(p.f) + partialNote(p.f.Fleet)
}
func (p *queuesPane) Capturing() bool  { return false }
func (p *queuesPane) Detail() bool     { return p.detail }
func (p *queuesPane) SetSize(w, h int) { p.w, p.h = w, h; p.clampCursor() }

func (p *queuesPane) ShortHelp() []key.Binding {
	k := p.c.Keys
	if p.detail {
		return []key.Binding{k.Back}
	}
	return []key.Binding{k.Up, k.Down, k.Enter, k.Sort}
}

func (p *queuesPane) FullHelp() [][]key.Binding {
	k := p.c.Keys
	return [][]key.Binding{{k.Up, k.Down, k.Top, k.Bottom}, {k.Enter, k.Back, k.Sort}}
}

func (p *queuesPane) Update(msg tea.Msg) (pane, tea.Cmd) {
	switch msg := msg.(type) {
	case viewMsg:
		p.f, p.got, p.rows = msg.Frame, true, msg.Queues
		p.resort()
	case windowMsg:
		p.resort()
	case tea.KeyMsg:
		p.handleKey(msg)
	}
	return p, nil
}

func (p *queuesPane) handleKey(msg tea.KeyMsg) {
	k := p.c.Keys
	if p.detail {
		if key.Matches(msg, k.Back) {
			p.detail = false
		}
		return
	}
	switch {
	case key.Matches(msg, k.Up):
		p.cursor--
	case key.Matches(msg, k.Down):
		p.cursor++
	case key.Matches(msg, k.Top):
		p.cursor = 0
	case key.Matches(msg, k.Bottom):
		p.cursor = 1 << 30
	case key.Matches(msg, k.Sort):
		p.sortK = (p.sortK + 1) % numQueueSorts
		p.resort()
	case key.Matches(msg, k.Enter):
		if q, ok := p.selected(); ok {
			p.detail, p.detailID = true, q.ID
		}
	}
	p.clampCursor()
}

// resort orders the queues by the sort key in the selected window; ties by id so the order is
// stable between frames.
func (p *queuesPane) resort() {
	p.order = p.order[:0]
	p.other = -1
	p.nameW = minQueueNameW
	if p.noData() {
		return
	}
	p.updateHeld()
	qs := p.rows
	p.nameW = queueNameWidth(qs)
	for i := range qs {
		if qs[i].ID == engine.OtherID {
			p.other = i
			continue
		}
		p.order = append(p.order, i)
	}
	less := func(a, b *view.QueueRow) (bool, bool) { // (less, decided)
		var x, y float64
		desc := true
		switch p.sortK {
		case sortVelocity:
			x, y = p.held[a.ID].vel, p.held[b.ID].vel
		case sortP50:
			x, y = p.held[a.ID].p50, p.held[b.ID].p50
		case sortAbandonment:
			x, y = p.held[a.ID].aband, p.held[b.ID].aband
		case sortPending:
			x, y = a.Pending, b.Pending
		case sortETA:
			// unknown ETAs last; longest backlog first, as that is the one to worry about
			ax, bx := etaKey(a), etaKey(b)
			x, y = ax, bx
		case sortName:
			return false, false
		case sortErrors:
			x, y = p.held[a.ID].errRate, p.held[b.ID].errRate
		}
		if x != y {
			if desc {
				return x > y, true
			}
			return x < y, true
		}
		return false, false
	}
	sort.SliceStable(p.order, func(i, j int) bool {
		a, b := &qs[p.order[i]], &qs[p.order[j]]
		if l, ok := less(a, b); ok {
			return l
		}
		return a.ID < b.ID
	})
	p.clampCursor()
}

// Bounds of the queue name column: below the minimum, names such as "queue_sentiment_en"
// are cut to a common prefix; past the maximum a name would take cells the figures need.
const (
	minQueueNameW = 12
	maxQueueNameW = 28
)

// queueNameWidth is the width the longest queue name needs, within the bounds.
func queueNameWidth(qs []view.QueueRow) int {
	w := minQueueNameW
	for i := range qs {
		if w >= maxQueueNameW {
			break
		}
		id := qs[i].ID
		if id == engine.OtherID {
			continue // drawn as "other (N)", shorter than the minimum for any N that fits
		}
		if isPlainASCII(id) {
			w = max(w, len(id))
		} else {
			w = max(w, width(clean(id)))
		}
	}
	return min(w, maxQueueNameW)
}

func etaKey(q *view.QueueRow) float64 {
	if !q.EtaKnown {
		return -1
	}
	return float64(q.BacklogETA)
}

// rowsFit is how many queue rows fit under the header.
func (p *queuesPane) rowsFit() int { return max(p.h-1, 0) }

// visible returns the queue rows shown: the top ones and, when some do not fit, an "other"
// row standing for the rest (merged with the engine's own OtherID row). aggregated is true
// when the last row is synthesised.
func (p *queuesPane) visible() (rows []*view.QueueRow, rest *view.QueueRow) {
	if p.noData() {
		return nil, nil
	}
	qs := p.rows
	n := p.rowsFit()
	total := len(p.order)
	if p.other >= 0 {
		total++
	}
	if total <= n {
		for _, i := range p.order {
			rows = append(rows, &qs[i])
		}
		if p.other >= 0 {
			rows = append(rows, &qs[p.other])
		}
		return rows, nil
	}
	if n <= 0 {
		return nil, nil
	}
	top := n - 1
	for _, i := range p.order[:top] {
		rows = append(rows, &qs[i])
	}
	agg := &view.QueueRow{QueueStats: engine.QueueStats{ID: engine.OtherID}, Src: p.f.StreamSrc, FleetRate: -1}
	add := func(q *view.QueueRow) {
		f := q.Folded
		if f < 1 {
			f = 1
		}
		agg.Folded += f
		for w := range agg.LabelsPerMin {
			agg.LabelsPerMin[w] += q.LabelsPerMin[w]
			agg.Methods[w].Keyboard += q.Methods[w].Keyboard
			agg.Methods[w].Mouse += q.Methods[w].Mouse
			agg.Methods[w].API += q.Methods[w].API
			agg.Methods[w].Other += q.Methods[w].Other
		}
		for w := range agg.Calls {
			agg.Calls[w] += q.Calls[w]
			agg.Errors[w] += q.Errors[w]
		}
		agg.ActiveLabelers += q.ActiveLabelers
		if q.HasStats {
			agg.HasStats = true
			agg.Pending += q.Pending
		}
	}
	for _, i := range p.order[top:] {
		add(&qs[i])
	}
	if p.other >= 0 {
		add(&qs[p.other])
	}
	// a sum of quantiles or ratios means nothing: those stay unknown on the synthesised row
	for w := range agg.Calls { // counts add up, so their ratio is right
		if agg.Calls[w] > 0 {
			agg.ErrorRate[w] = float64(agg.Errors[w]) / float64(agg.Calls[w])
		}
	}
	for w := range agg.Abandonment {
		agg.Abandonment[w] = -1
	}
	if v := agg.LabelsPerMin[engine.Window5m]; agg.HasStats && v > 0 {
		agg.BacklogETA, agg.EtaKnown = time.Duration(agg.Pending/v*float64(time.Minute)), true
	}
	return rows, agg
}

func (p *queuesPane) selected() (*view.QueueRow, bool) {
	rows, _ := p.visible()
	if p.cursor >= 0 && p.cursor < len(rows) {
		return rows[p.cursor], true
	}
	return nil, false
}

func (p *queuesPane) clampCursor() {
	rows, rest := p.visible()
	n := len(rows)
	if rest != nil {
		n++ // the synthesised row can be selected but not opened
	}
	if p.cursor >= n {
		p.cursor = n - 1
	}
	if p.cursor < 0 {
		p.cursor = 0
	}
}

var queueCols = []column{
	// view.TrendCells cells of view.TrendCell (30 s): the last 6 minutes, shifting every
	// 30 s rather than every 5 s (see view.trendOf). Widths are the values' widest, so that every
	// column fits at 160 columns (the grid's Queues pane) beside 20-character queue names.
	{title: "trend", width: 12, priority: 3},
	{title: "lab/min", width: 7, right: true, priority: 9},
	{title: "err%", width: 5, right: true, priority: 8}, // client calls of the queue that failed
	{title: "p50", width: 6, right: true, priority: 8},
	{title: "aband", width: 5, right: true, priority: 6},
	{title: "k/m/a%", width: 8, right: true, priority: 2}, // keyboard/mouse/api
	{title: "users", width: 5, right: true, priority: 4},
	{title: "pending", width: 7, right: true, priority: 7},
	{title: "ETA", width: 6, right: true, priority: 5},
}

// Logical queue cells; queueCols is in this order, and fleet mode inserts two columns.
const (
	qcTrend = iota
	qcVel
	qcErr
	qcP50
	qcAband
	qcMethods
	qcUsers
	qcPending
	qcETA
	qcFleet
	qcSrc
	numQueueCells
)

// fleetQueueOrder is the column order with fleet figures: the source tag first, the fleet
// velocity beside the live one.
var fleetQueueOrder = []int{qcSrc, qcTrend, qcVel, qcFleet, qcErr, qcP50, qcAband, qcMethods, qcUsers, qcPending, qcETA}

// columns returns the columns on display and, for each, its logical cell.
func (p *queuesPane) columns() ([]column, []int) {
	if p.f.Fleet.Source == "" {
		return queueCols, plainQueueOrder
	}
	cols := make([]column, len(fleetQueueOrder))
	for i, id := range fleetQueueOrder {
		switch id {
		case qcSrc:
			cols[i] = column{title: "src", width: 3, right: true, priority: 9}
		case qcFleet:
			cols[i] = column{title: "fleet·" + p.f.Fleet.Tag(), width: 8, right: true, priority: 8}
		default:
			cols[i] = queueCols[id]
		}
	}
	return cols, fleetQueueOrder
}

var plainQueueOrder = []int{qcTrend, qcVel, qcErr, qcP50, qcAband, qcMethods, qcUsers, qcPending, qcETA}

func (p *queuesPane) View() string {
	if p.detail {
		return p.detailView()
	}
	if p.noData() || len(p.rows) == 0 {
		return emptyState(p.w, p.noData(), "no queue activity yet: velocity appears with the first ingot.label.submit or anvil.label.submitted event")
	}
	st := p.c.Styles
	cols, order := p.columns()
	// the name column gets the width of the longest name (within bounds) before any other
	// column is kept: a cut name cannot tell "queue_sentiment_en" from "queue_sentiment_fr"
	keep, flexW := chooseColumns(cols, p.w-2, p.nameW)
	headers := make([]string, len(cols))
	for i, c := range cols {
		headers[i] = c.title
	}
	lines := make([]string, 0, p.h)
	lines = append(lines, st.Header.S(tableLine("  queue", flexW+2, cols, keep, headers)))
	rows, rest := p.visible()
	cells := make([]string, len(cols))
	for i, q := range rows {
		lines = append(lines, p.row(q, i == p.cursor, flexW, cols, order, keep, cells))
	}
	if rest != nil {
		lines = append(lines, p.row(rest, len(rows) == p.cursor, flexW, cols, order, keep, cells))
	}
	return strings.Join(lines, "\n")
}

// fleetSpark is the trend cell from the fleet's history, when the stream has not been
// running for the sparkline's minute or has no sparkline for the queue.
func (p *queuesPane) fleetSpark(q *view.QueueRow) (string, bool) {
	if len(q.Trend) > 0 && liveSpan(p.f.Stream) >= time.Minute {
		return "", false
	}
	fq := q.Fleet
	if fq == nil || len(fq.History.Values) == 0 {
		return "", false
	}
	w := queueCols[qcTrend].width
	return sparkline(lastValues(fq.History, w), w, p.c.ASCII), true
}

func (p *queuesPane) row(q *view.QueueRow, sel bool, flexW int, cols []column, order, keep []int, cells []string) string {
	st := p.c.Styles
	w := p.c.Window
	name := clean(q.ID)
	if q.ID == engine.OtherID && q.Folded > 1 {
		name = "other (" + strconv.Itoa(q.Folded) + ")"
	}
	var vals [numQueueCells]string
	spark, fromFleet := p.fleetSpark(q)
	if !fromFleet && len(q.Trend) > 0 {
		spark = sparkline(q.Trend, queueCols[qcTrend].width, p.c.ASCII)
	}
	vals[qcTrend] = spark
	fig := p.figures(q)
	if q.ID == engine.OtherID {
		fig = heldQueue{q.LabelsPerMin[w], q.TimePerSample[w].P50, q.Abandonment[w], -1, queueErrRate(q, w)}
	}
	vals[qcVel] = fmtRate(fig.vel)
	vals[qcErr] = fmtErrPct(fig.errRate)
	vals[qcP50] = fmtMS(fig.p50)
	vals[qcAband] = fmtPct(fig.aband)
	vals[qcMethods] = methodSplit(q.Methods[w])
	vals[qcUsers] = strconv.Itoa(q.ActiveLabelers)
	vals[qcPending], vals[qcETA] = "—", "—"
	if q.HasStats {
		vals[qcPending] = fmtCount(q.Pending)
		if q.EtaKnown {
			vals[qcETA] = fmtETA(q.BacklogETA)
		} else if q.Pending > 0 {
			vals[qcETA] = "∞"
			if p.c.ASCII {
				vals[qcETA] = "never" // "~", the one-cell stand-in, reads as "about"
			}
		}
	}
	vals[qcSrc] = string(q.Src)
	if !p.f.Impact.Known {
		vals[qcErr] = "?" // merged daemon snapshots carry no per-queue calls
	}
	if q.FromFleet() {
		vals[qcErr] = "—"
		if q.ActiveLabelers == 0 {
			vals[qcUsers] = "—" // not in the fleet queries
		}
		if q.HasStats && fig.vel > 0 { // from the held velocity, so that it moves with it
			vals[qcETA] = fmtETA(time.Duration(q.Pending / fig.vel * float64(time.Minute)))
		}
	}
	vals[qcFleet] = "—"
	if fig.fleet >= 0 {
		vals[qcFleet] = fleetRateCell(q.Fleet, fig.fleet)
	}
	if q.FromFleet() {
		vals[qcVel] = fleetRateCell(q.Fleet, fig.vel)
	}
	for i, id := range order {
		cells[i] = vals[id]
	}
	cur := "  "
	if sel {
		cur = cursorMark(p.c.ASCII)
	}
	line := cur + tableLine(name, flexW, cols, keep, cells)
	if sel {
		return st.Selected.S(line)
	}
	return line
}

func cursorMark(ascii bool) string {
	if ascii {
		return "> "
	}
	return "▶ "
}

// rowStart is a row's first two cells: the cursor mark on the selected row, else blanks.
func rowStart(sel, ascii bool) string {
	if sel {
		return cursorMark(ascii)
	}
	return "  "
}

// fmtErrPct is an error rate, "—" when unknown (no calls).
func fmtErrPct(f float64) string {
	if f < 0 {
		return "—"
	}
	return fmtPct(f)
}

// methodSplit is keyboard/mouse/api as whole percentages, "—" without data.
func methodSplit(m engine.MethodShare) string {
	total := m.Keyboard + m.Mouse + m.API + m.Other
	if total == 0 {
		return "—"
	}
	pct := func(v uint64) string { return strconv.Itoa(int((v*100 + total/2) / total)) }
	return pct(m.Keyboard) + "/" + pct(m.Mouse) + "/" + pct(m.API)
}

// emptyState explains an empty pane instead of leaving it blank.
func emptyState(w int, noData bool, why string) string {
	if noData {
		why = "waiting for the first snapshot from the stream…"
	}
	return strings.Join(wrap(why, w), "\n")
}

// wrap breaks text into lines of at most w cells on spaces.
func wrap(text string, w int) []string {
	if w <= 0 {
		return nil
	}
	var lines []string
	cur := ""
	for _, word := range strings.Fields(text) {
		switch {
		case cur == "":
			cur = word
		case width(cur)+1+width(word) <= w:
			cur += " " + word
		default:
			lines = append(lines, cur)
			cur = word
		}
	}
	if cur != "" {
		lines = append(lines, cur)
	}
	for i := range lines {
		lines[i] = cut(lines[i], w)
	}
	return lines
}

// detailView is the drill-down: velocity and latency over 15 min, then the labelers.
func (p *queuesPane) detailView() string {
	var q *view.QueueRow
	for i := range p.rows {
		if p.rows[i].ID == p.detailID {
			q = &p.rows[i]
			break
		}
	}
	if q == nil {
		return strings.Join(wrap("queue "+clean(p.detailID)+" is no longer in the snapshot (it may have been folded into other); esc to go back", p.w), "\n")
	}
	st := p.c.Styles
	w := p.c.Window
	var lines []string
	lines = append(lines, cut("lab/min "+fmtRate(q.LabelsPerMin[w])+"  err "+fmtErrPct(queueErrRate(q, w))+
		" of "+fmtCount(float64(q.Calls[w]))+" calls  p50 "+fmtMS(q.TimePerSample[w].P50)+
		"  p95 "+fmtMS(q.TimePerSample[w].P95)+"  aband "+fmtPct(q.Abandonment[w])+
		"  kbd/mou/api% "+methodSplit(q.Methods[w])+"  users "+strconv.Itoa(q.ActiveLabelers), p.w))
	tableH := min(len(q.Labelers)+1, max(p.h/3, 3))
	chartsH := p.h - 1 - tableH - 1
	at := p.at()
	hist, p50Hist, step, end := q.History, q.LatencyHistory, 10*time.Second, at
	velTitle, p50Title := "velocity, labels/min (10 s steps, 15 min)", "time per sample p50, ms"
	if live := p.f.Stream; live != nil && !live.Started.IsZero() {
		// buckets before the engine started hold no data, not zero labels
		if n := pointsSince(live.Started, end, step); n < len(hist) {
			hist = hist[len(hist)-n:]
			p50Hist = lastN(p50Hist, n)
			velTitle = "velocity, labels/min (10 s steps, since " + live.Started.Format(clockLayout) + ")"
		}
	}
	if fq, ok := p.fleetHistory(q); ok {
		// Prometheus has no points before the first scrape: those are gaps, not zeros
		skip := leadingGaps(fq.History.Values)
		hist = lastValues(fq.History, min(promsrc.MaxHistoryPoints, len(fq.History.Values)-skip))
		p50Hist = lastValues(fq.P50History, len(hist))
		step, end = fq.History.Step, fq.History.End()
		span := "fleet·" + string(q.FleetSrc) + ", " + fmtDur(time.Duration(max(len(hist)-1, 0))*step) + " at " + fmtDur(step) + " steps"
		velTitle, p50Title = "velocity, labels/min ("+span+")", "time per sample p50, ms ("+span+")"
	}
	if chartsH >= 8 {
		ch := chartsH / 2
		lines = append(lines, st.Header.S(cut(velTitle, p.w)))
		lines = append(lines, p.chart(hist, end, step, p.w, ch-1)...)
		lines = append(lines, st.Header.S(cut(p50Title, p.w)))
		lines = append(lines, p.chart(p50Hist, end, step, p.w, chartsH-ch-1)...)
	} else if chartsH >= 2 {
		lines = append(lines, "velocity "+sparkline(hist, max(p.w-9, 0), p.c.ASCII))
		lines = append(lines, "p50      "+sparkline(p50Hist, max(p.w-9, 0), p.c.ASCII))
	}
	lines = append(lines, "")
	lines = append(lines, p.labelerTable(q, tableH)...)
	return strings.Join(lines, "\n")
}

// pointsSince is how many points of a series at `step` intervals ending at `end` fall at or
// after `start`.
func pointsSince(start, end time.Time, step time.Duration) int {
	if end.Before(start) || step <= 0 {
		return 0
	}
	return int(end.Sub(start)/step) + 1
}

func lastN(v []float64, n int) []float64 {
	if len(v) > n {
		return v[len(v)-n:]
	}
	return v
}

// leadingGaps counts the NaN values before a series' first point.
func leadingGaps(v []float64) int {
	for i, x := range v {
		if !math.IsNaN(x) {
			return i
		}
	}
	return len(v)
}

// fleetHistory is the fleet's history of a queue when it should draw the drill-down charts:
// the row's figures come from the fleet, or the stream has run for less than its 15-minute
// chart span.
func (p *queuesPane) fleetHistory(q *view.QueueRow) (*promsrc.QueueFleet, bool) {
	fq := q.Fleet
	if fq == nil || len(fq.History.Values) < 2 || fq.History.Step <= 0 {
		return nil, false
	}
	return fq, q.FromFleet() || liveSpan(p.f.Stream) < 15*time.Minute
}

// chart draws a series at `step` intervals ending at `at`: ntcharts braille line chart, or
// plain ASCII columns when ASCII is asked for (braille cannot degrade).
func (p *queuesPane) chart(series []float64, at time.Time, step time.Duration, w, h int) []string {
	if h < 2 || w < 10 {
		return nil
	}
	if len(series) < 2 {
		// one point draws no line (and a zero time range)
		return []string{"no data yet"}
	}
	if p.c.ASCII {
		return asciiChart(series, w, h)
	}
	start := at.Add(-time.Duration(len(series)-1) * step)
	hi := 1.0
	for _, v := range series {
		hi = max(hi, v)
	}
	loc := at.Location()
	ch := timeserieslinechart.New(w, h,
		timeserieslinechart.WithTimeRange(start, at),
		timeserieslinechart.WithYRange(0, hi*1.1),
		timeserieslinechart.WithXYSteps(4, 2),
		timeserieslinechart.WithLineStyle(runes.ThinLineStyle),
		timeserieslinechart.WithStyle(p.c.Styles.Renderer.NewStyle().Foreground(p.c.Styles.Accent)),
		timeserieslinechart.WithXLabelFormatter(func(_ int, v float64) string {
			return time.Unix(int64(v), 0).In(loc).Format("15:04")
		}),
		timeserieslinechart.WithYLabelFormatter(func(_ int, v float64) string { return fmtRate(v) }),
	)
	for i, v := range series {
		ch.Push(timeserieslinechart.TimePoint{Time: start.Add(time.Duration(i) * step), Value: v})
	}
	ch.DrawBraille()
	return strings.Split(ch.View(), "\n")
}

// asciiChart draws the series as columns of '#' with a max label, resampled to the width.
func asciiChart(series []float64, w, h int) []string {
	label := fmtRate(maxOf(series))
	lw := width(label) + 1
	cols := max(w-lw, 1)
	vals := resample(series, cols)
	hi := maxOf(vals)
	rows := make([][]byte, h)
	for r := range rows {
		rows[r] = []byte(strings.Repeat(" ", cols))
	}
	for x, v := range vals {
		n := 0
		if hi > 0 {
			n = int(v/hi*float64(h) + 0.5)
		}
		for y := 0; y < n && y < h; y++ {
			rows[h-1-y][x] = '#'
		}
	}
	out := make([]string, h)
	for r := range rows {
		axis := spaces(lw-1) + "|"
		if r == 0 {
			axis = fitRight(label, lw-1) + "|"
		}
		out[r] = axis + string(rows[r])
	}
	return out
}

func maxOf(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

// resample averages or repeats values to n points.
func resample(v []float64, n int) []float64 {
	out := make([]float64, n)
	if len(v) == 0 {
		return out
	}
	for i := range out {
		lo := i * len(v) / n
		hi := max((i+1)*len(v)/n, lo+1)
		sum := 0.0
		for _, x := range v[lo:hi] {
			sum += x
		}
		out[i] = sum / float64(hi-lo)
	}
	return out
}

var labelerCols = []column{
	{title: "1m", width: 6, right: true, priority: 5},
	{title: "5m", width: 6, right: true, priority: 6},
	{title: "15m", width: 6, right: true, priority: 7},
	{title: "p50", width: 6, right: true, priority: 4},
	{title: "p95", width: 6, right: true, priority: 3},
	{title: "last seen", width: 9, right: true, priority: 2},
	{title: "err/calls", width: 9, right: true, priority: 6}, // failed client calls in the window, of calls
}

func (p *queuesPane) labelerTable(q *view.QueueRow, h int) []string {
	if len(q.Labelers) == 0 {
		return []string{"no labeler breakdown yet"}
	}
	keep, flexW := chooseColumns(labelerCols, p.w, 10)
	heads := make([]string, len(labelerCols))
	for i, c := range labelerCols {
		heads[i] = c.title
	}
	out := []string{p.c.Styles.Header.S(tableLine("labeler", flexW, labelerCols, keep, heads))}
	cells := make([]string, len(labelerCols))
	for _, l := range q.Labelers {
		if len(out) >= h {
			break
		}
		for i := 0; i < 3; i++ {
			cells[i] = strconv.FormatUint(l.Labels[i], 10)
		}
		cells[3] = fmtMS(l.TimePerSample.P50)
		cells[4] = fmtMS(l.TimePerSample.P95)
		cells[5] = "—"
		if !l.LastSeen.IsZero() {
			cells[5] = fmtDur(p.c.Now.Sub(l.LastSeen)) + " ago"
		}
		cells[6] = "—"
		if w := p.c.Window; l.Calls[w] > 0 {
			cells[6] = strconv.FormatUint(l.Errors[w], 10) + "/" + fmtCount(float64(l.Calls[w]))
		}
		out = append(out, tableLine(clean(l.ID), flexW, labelerCols, keep, cells))
	}
	return out
}
