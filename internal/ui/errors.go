package ui

import (
	"cmp"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/nsai/ingot-top/internal/engine"
)

var serviceFilters = []string{"all", "forge", "anvil", "ingot"}

// errorsPane is the rolling error log with a filter and a detail view with the lineage.
type errorsPane struct {
	c    *Common
	w, h int
	copy func(string) error

	snap *engine.Snapshot
	// order is the frame's order of snap.ErrorGroups per window (view.Frame.ErrorOrder).
	order [engine.NumWindows][]int
	// shown are indexes into snap.Errors passing the filters, newest first.
	shown []int

	cursor, offset int
	// follow keeps the selection on the newest entry; off, the selection stays on the same
	// entry while new ones arrive above it.
	follow bool

	input     textinput.Model
	filtering bool
	filter    string
	re        *regexp.Regexp
	filterErr string
	service   int

	detail   bool
	detailE  engine.ErrorEntry
	detailOK bool
	// detailSpans are the detail's trace as last seen: a snapshot carries the lineage of
	// the errors it lists only, and an open detail keeps its waterfall after its error has
	// scrolled out of the log.
	detailSpans []engine.TraceSpan

	// grouped shows error signatures (engine.ErrorGroup) instead of the log: at tens of
	// errors a second the log scrolls faster than anyone reads, while the groups keep their
	// rows and say what is failing, how often and since when.
	grouped bool
	// groups are indexes into snap.ErrorGroups passing the filters, by count in the window.
	groups []int
	// detailG is the group the detail was opened from (detailFromGroup).
	detailG         engine.ErrorGroup
	detailFromGroup bool
}

func newErrorsPane(c *Common, copyFn func(string) error, grouped bool) *errorsPane {
	in := textinput.New()
	in.Prompt = "/"
	in.Placeholder = "substring or regex"
	in.CharLimit = 200
	return &errorsPane{c: c, copy: copyFn, follow: true, input: in, grouped: grouped}
}

func (p *errorsPane) Title() string {
	if p.detail {
		return "Error detail"
	}
	t := "Errors · " + serviceFilters[p.service]
	switch {
	case p.grouped:
		t += " · by signature · " + p.c.Window.String()
	case p.follow:
		t += " · follow"
	default:
		t += " · held"
	}
	if p.filter != "" {
		t += " · /" + clean(p.filter)
	}
	return t
}
func (p *errorsPane) Capturing() bool { return p.filtering }
func (p *errorsPane) Detail() bool    { return p.detail }
func (p *errorsPane) SetSize(w, h int) {
	p.w, p.h = w, h
	p.input.Width = max(w-3, 1)
	p.clamp()
}

func (p *errorsPane) ShortHelp() []key.Binding {
	k := p.c.Keys
	if p.detail {
		b := []key.Binding{k.Back}
		if p.copy != nil {
			b = append(b, k.Copy)
		}
		return b
	}
	if p.filtering {
		return []key.Binding{key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "apply")), key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "clear"))}
	}
	return []key.Binding{k.Up, k.Down, k.Enter, k.Filter, k.Service, k.ErrorView}
}

func (p *errorsPane) FullHelp() [][]key.Binding {
	k := p.c.Keys
	cols := [][]key.Binding{{k.Up, k.Down, k.Top, k.Bottom}, {k.Enter, k.Back, k.Filter, k.Service, k.ErrorView}}
	if p.copy != nil {
		cols[1] = append(cols[1], k.Copy)
	}
	return cols
}

// entryKey identifies an entry across snapshots.
func entryKey(e *engine.ErrorEntry) string {
	return strconv.FormatUint(e.StreamSeq, 10) + "|" + strconv.FormatInt(e.Time.UnixNano(), 10) + "|" + e.SpanID + "|" + e.Event
}

func (p *errorsPane) Update(msg tea.Msg) (pane, tea.Cmd) {
	switch msg := msg.(type) {
	case viewMsg:
		prev := p.selectedKey()
		p.snap, p.order = msg.Stream, msg.ErrorOrder
		p.refilter()
		p.reselectAfterRefilter(prev)
		p.updateDetailSpans()
	case windowMsg: // signatures re-sort by the new window's counts
		prev := p.selectedKey()
		p.refilter()
		p.reselectAfterRefilter(prev)
	case jumpMsg:
		p.jump(msg)
	case tea.KeyMsg:
		return p, p.handleKey(msg)
	}
	return p, nil
}

// jump shows an alert's errors: its service, its operation's signatures, and (open) the
// newest occurrence of the most frequent one with its trace lineage.
func (p *errorsPane) jump(j jumpMsg) {
	if j.service == "" && j.filter == "" {
		return
	}
	p.service = 0
	for i, s := range serviceFilters {
		if s == j.service {
			p.service = i
		}
	}
	p.filtering = false
	p.input.Blur()
	p.input.SetValue(j.filter)
	p.grouped, p.detail, p.detailFromGroup = true, false, false
	p.cursor, p.offset, p.follow = 0, 0, true
	p.setFilter(j.filter)
	if j.open && j.pane == paneErrors {
		if e, ok := p.selected(); ok {
			p.detail, p.detailE, p.detailOK = true, *e, true
			if g, ok := p.selectedGroup(); ok {
				p.detailG, p.detailFromGroup = *g, true
			}
		}
	}
}

func (p *errorsPane) handleKey(msg tea.KeyMsg) tea.Cmd {
	k := p.c.Keys
	if p.filtering {
		switch msg.String() {
		case "enter":
			p.filtering = false
			p.input.Blur()
			return nil
		case "esc":
			p.filtering = false
			p.input.Blur()
			p.input.SetValue("")
			p.setFilter("")
			return nil
		}
		var cmd tea.Cmd
		p.input, cmd = p.input.Update(msg)
		p.setFilter(p.input.Value())
		return cmd
	}
	if p.detail {
		switch {
		case key.Matches(msg, k.Back):
			p.detail, p.detailFromGroup = false, false
		case key.Matches(msg, k.Copy) && p.copy != nil:
			return copyCmd(p.copy, p.detailE.TraceID)
		}
		return nil
	}
	switch {
	case key.Matches(msg, k.Up):
		p.cursor--
		p.follow = p.cursor <= 0
	case key.Matches(msg, k.Down):
		p.cursor++
		p.follow = false
	case key.Matches(msg, k.Top):
		p.cursor, p.follow = 0, true
	case key.Matches(msg, k.Bottom):
		p.cursor, p.follow = 1<<30, false
	case key.Matches(msg, k.Filter):
		p.filtering = true
		p.input.SetValue(p.filter)
		p.input.CursorEnd()
		return p.input.Focus()
	case key.Matches(msg, k.Service):
		prev := p.selectedKey()
		p.service = (p.service + 1) % len(serviceFilters)
		p.refilter()
		p.reselectAfterRefilter(prev)
	case key.Matches(msg, k.ErrorView):
		p.grouped = !p.grouped
		p.cursor, p.offset, p.follow = 0, 0, true
		p.refilter()
	case key.Matches(msg, k.Back):
		if p.filter != "" {
			p.input.SetValue("")
			p.setFilter("")
		}
	case key.Matches(msg, k.Copy) && p.copy != nil:
		if e, ok := p.selected(); ok {
			return copyCmd(p.copy, e.TraceID)
		}
	case key.Matches(msg, k.Enter):
		if e, ok := p.selected(); ok {
			p.detail, p.detailE, p.detailOK, p.detailSpans = true, *e, true, nil
			p.updateDetailSpans()
			if g, ok := p.selectedGroup(); ok {
				p.detailG, p.detailFromGroup = *g, true
			}
		}
	}
	p.clamp()
	return nil
}

// updateDetailSpans takes the open detail's trace from the snapshot when it has it (more
// spans may have arrived), and keeps the last one seen when it does not.
func (p *errorsPane) updateDetailSpans() {
	if !p.detail || p.snap == nil || p.detailE.TraceID == "" {
		return
	}
	if spans, ok := p.snap.Lineage[p.detailE.TraceID]; ok {
		p.detailSpans = spans
	}
}

func copyCmd(copyFn func(string) error, trace string) tea.Cmd {
	return func() tea.Msg {
		if trace == "" {
			return noticeMsg{text: "this error has no trace id", bad: true}
		}
		if err := copyFn(trace); err != nil {
			return noticeMsg{text: "copy failed: " + err.Error(), bad: true}
		}
		return noticeMsg{text: "trace id " + trace + " copied"}
	}
}

// setFilter compiles the filter as a case-insensitive regex; an invalid one is reported and
// matched as a plain substring instead.
func (p *errorsPane) setFilter(f string) {
	prev := p.selectedKey()
	defer p.reselectAfterRefilter(prev)
	p.filter, p.re, p.filterErr = f, nil, ""
	if f != "" {
		re, err := regexp.Compile("(?i)" + f)
		if err != nil {
			p.filterErr = "invalid regex (" + strings.TrimPrefix(err.Error(), "error parsing regexp: ") + "); matching as substring"
		} else {
			p.re = re
		}
	}
	p.refilter()
}

// matches applies the service filter and the text filter. The text filter is tried on each
// field on its own (reason, event, operation, service, trace id, node, ids, metadata values),
// so that anchors work per field: "^econn" finds reasons starting with "econnrefused".
func (p *errorsPane) matches(e *engine.ErrorEntry) bool {
	if s := serviceFilters[p.service]; s != "all" && e.Service != s {
		return false
	}
	if p.filter == "" {
		return true
	}
	match := func(field string) bool {
		if field == "" {
			return false
		}
		if p.re != nil {
			return p.re.MatchString(field)
		}
		return containsFold(field, p.filter)
	}
	for _, f := range [...]string{e.Reason, e.Event, e.Operation, e.Service, e.TraceID, e.Node} {
		if match(f) {
			return true
		}
	}
	for _, kv := range e.IDs {
		// "queue_id=sentiment-en" too, so that a filter can name the id
		if match(kv.Value) || match(kv.Key+"="+kv.Value) {
			return true
		}
	}
	if e.QueueVia == engine.QueueViaTrace && (match(e.Queue) || match("queue_id="+e.Queue)) {
		return true // a Forge error of that queue, tied through its trace
	}
	for _, kv := range e.Metadata {
		if match(kv.Value) {
			return true
		}
	}
	return false
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// matchesGroup applies the filters to a group: its signature, or any field of its newest
// occurrence.
func (p *errorsPane) matchesGroup(g *engine.ErrorGroup) bool {
	if s := serviceFilters[p.service]; s != "all" && g.Service != s {
		return false
	}
	if p.filter == "" {
		return true
	}
	if p.re != nil && p.re.MatchString(g.Signature) || p.re == nil && containsFold(g.Signature, p.filter) {
		return true
	}
	return p.matches(&g.Latest)
}

func (p *errorsPane) refilter() {
	p.shown, p.groups = p.shown[:0], p.groups[:0]
	if p.snap != nil {
		for i := range p.snap.Errors {
			if p.matches(&p.snap.Errors[i]) {
				p.shown = append(p.shown, i)
			}
		}
		w, gs := p.c.Window, p.snap.ErrorGroups
		if order := p.order[w]; len(order) == len(gs) {
			// a live frame's order (view.Holder): rows keep their places through noise
			for _, i := range order {
				if p.matchesGroup(&gs[i]) {
					p.groups = append(p.groups, i)
				}
			}
		} else {
			for i := range gs {
				if p.matchesGroup(&gs[i]) {
					p.groups = append(p.groups, i)
				}
			}
			// The snapshot is shared and immutable: sort the indexes, by count in the chosen
			// window (the engine sorts by 5m), keeping the engine's order for ties.
			slices.SortStableFunc(p.groups, func(a, b int) int { return cmp.Compare(gs[b].Count[w], gs[a].Count[w]) })
		}
	}
	if p.follow {
		p.cursor = 0
	}
	p.clamp()
}

// rows is the length of the list on display.
func (p *errorsPane) rows() int {
	if p.grouped {
		return len(p.groups)
	}
	return len(p.shown)
}

func groupKey(g *engine.ErrorGroup) string {
	return g.Service + "\x00" + g.Event + "\x00" + g.Signature
}

// selectedKey identifies the selection across snapshots; empty when the selection should
// follow the newest entry instead.
func (p *errorsPane) selectedKey() string {
	if p.follow {
		return "" // on the top row: the newest entry, or the most frequent signature
	}
	if g, ok := p.selectedGroup(); ok {
		return groupKey(g)
	}
	if e, ok := p.selected(); ok && !p.grouped {
		return entryKey(e)
	}
	return ""
}

// reselectAfterRefilter keeps the selection on the entry or signature it was on when a
// filter changed, if that one still passes.
func (p *errorsPane) reselectAfterRefilter(prev string) {
	if prev != "" {
		p.reselect(prev)
	}
}

func (p *errorsPane) reselect(k string) {
	if p.grouped {
		for pos, i := range p.groups {
			if groupKey(&p.snap.ErrorGroups[i]) == k {
				p.cursor = pos
				p.clamp()
				return
			}
		}
		return
	}
	for pos, i := range p.shown {
		if entryKey(&p.snap.Errors[i]) == k {
			p.cursor = pos
			p.clamp()
			return
		}
	}
}

func (p *errorsPane) selectedGroup() (*engine.ErrorGroup, bool) {
	if !p.grouped || p.snap == nil || p.cursor < 0 || p.cursor >= len(p.groups) {
		return nil, false
	}
	return &p.snap.ErrorGroups[p.groups[p.cursor]], true
}

// selected is the entry under the cursor: a log entry, or a group's newest occurrence.
func (p *errorsPane) selected() (*engine.ErrorEntry, bool) {
	if p.grouped {
		if g, ok := p.selectedGroup(); ok {
			return &g.Latest, true
		}
		return nil, false
	}
	if p.snap == nil || p.cursor < 0 || p.cursor >= len(p.shown) {
		return nil, false
	}
	return &p.snap.Errors[p.shown[p.cursor]], true
}

func (p *errorsPane) listRows() int {
	n := p.h - 1 // header
	if p.filtering || p.filterErr != "" {
		n--
	}
	return max(n, 1)
}

func (p *errorsPane) clamp() {
	n := p.rows()
	p.cursor = max(min(p.cursor, n-1), 0)
	rows := p.listRows()
	if p.cursor < p.offset {
		p.offset = p.cursor
	}
	if p.cursor >= p.offset+rows {
		p.offset = p.cursor - rows + 1
	}
	p.offset = max(min(p.offset, n-rows), 0)
}

var errorCols = []column{
	{title: "time", width: 8, priority: 9},
	{title: "svc", width: 5, priority: 8},
	{title: "operation", width: 18, priority: 6},
	{title: "trace", width: 8, priority: 4},
}

func (p *errorsPane) View() string {
	if p.detail {
		return p.detailView()
	}
	st := p.c.Styles
	var lines []string
	if p.filtering {
		lines = append(lines, p.input.View())
	}
	if p.filterErr != "" {
		lines = append(lines, st.Warn.S(cut(p.filterErr, p.w)))
	}
	if p.snap == nil {
		return strings.Join(append(lines, wrap("waiting for the first snapshot from the stream…", p.w)...), "\n")
	}
	if p.grouped {
		return strings.Join(append(lines, p.groupLines()...), "\n")
	}
	if len(p.shown) == 0 {
		why := "no errors in the log"
		if len(p.snap.Errors) > 0 {
			why = "no error matches the filter (" + strconv.Itoa(len(p.snap.Errors)) + " hidden)"
		}
		return strings.Join(append(lines, wrap(why, p.w)...), "\n")
	}
	// columns: time svc operation reason(flex) trace
	keep, flexW := chooseColumns(errorCols, p.w-2, 12)
	lines = append(lines, st.Header.S(fit(p.headerLine(keep, flexW), p.w)))
	end := min(p.offset+p.listRows(), len(p.shown))
	for pos := p.offset; pos < end; pos++ {
		e := &p.snap.Errors[p.shown[pos]]
		lines = append(lines, p.row(e, pos == p.cursor, keep, flexW))
	}
	return strings.Join(lines, "\n")
}

// headerLine and row put the flexible reason column before the trace column.
func (p *errorsPane) headerLine(keep []int, flexW int) string {
	var b strings.Builder
	b.WriteString("  ")
	for _, i := range keep {
		if errorCols[i].title == "trace" {
			continue
		}
		b.WriteString(fit(errorCols[i].title, errorCols[i].width) + " ")
	}
	b.WriteString(fit("reason", flexW))
	for _, i := range keep {
		if errorCols[i].title == "trace" {
			b.WriteString(" " + fit("trace", errorCols[i].width))
		}
	}
	return b.String()
}

func (p *errorsPane) row(e *engine.ErrorEntry, sel bool, keep []int, flexW int) string {
	st := p.c.Styles
	var b strings.Builder
	b.WriteString(rowStart(sel, p.c.ASCII))
	trace := ""
	for _, i := range keep {
		switch errorCols[i].title {
		case "time":
			b.WriteString(e.Time.Format(clockLayout) + " ")
		case "svc":
			b.WriteString(fit(clean(e.Service), 5) + " ")
		case "operation":
			b.WriteString(fit(clean(e.Operation), 18) + " ")
		case "trace":
			trace = " " + fit(clean(e.TraceID), 8)
		}
	}
	b.WriteString(fit(clean(e.Reason), flexW))
	b.WriteString(trace)
	if sel {
		return st.Selected.S(b.String())
	}
	return b.String()
}

// maxDetailLabel caps the label column of the error detail; a longer id key is cut.
const maxDetailLabel = 16

func (p *errorsPane) detailView() string {
	st := p.c.Styles
	e := p.detailE
	var lines []string
	// the label column fits the longest id key, so that "assignment_id" is not cut
	labelW := 10
	for _, id := range e.IDs {
		labelW = max(labelW, min(width(clean(id.Key)), maxDetailLabel))
	}
	// a long value wraps under itself: the list cuts it, and the detail is where it is read
	// in full
	kv := func(k, v string) {
		parts := []string{clean(v)}
		if avail := max(p.w-labelW-1, 1); width(parts[0]) > avail {
			parts = wrap(parts[0], avail)
		}
		for i, part := range parts {
			head := spaces(labelW)
			if i == 0 {
				head = st.Header.S(fit(clean(k), labelW))
			}
			lines = append(lines, head+" "+part)
		}
	}
	kv("time", e.Time.Format("2006-01-02 15:04:05.000")+"  received "+e.Received.Format(clockLayout))
	origin := e.Service
	if e.Node != "" {
		origin += ", node " + e.Node
	}
	if origin != "" {
		origin = "  (" + origin + ")"
	}
	kv("event", e.Event+origin)
	kv("reason", e.Reason)
	if e.QueueVia == engine.QueueViaTrace {
		// a Forge call names no queue: its trace's Ingot span does
		kv("queue", e.Queue+"  (from the trace)")
	}
	if p.detailFromGroup {
		g := &p.detailG
		w := p.c.Window
		kv("group", fmtCount(float64(g.Count[w]))+" in "+w.String()+", "+fmtCount(float64(g.Total))+" since start; first "+
			g.First.Format(clockLayout)+", newest "+g.Last.Format(clockLayout)+" (shown)")
	}
	kv("trace_id", orDash(e.TraceID)+"  span "+orDash(e.SpanID))
	spans := p.detailSpans
	if len(spans) == 0 {
		why := "no trace: the error has no trace_id"
		if e.TraceID != "" {
			why = "no spans of this trace seen within the trace horizon"
		}
		lines = append(lines, st.Header.S("trace"), "  "+why)
	} else {
		// the waterfall is what the detail was opened for: it comes first, the rest of the
		// fields follow while they fit
		room := max(p.h-len(lines)-3, 3)
		lines = append(lines, st.Header.S(cut("trace waterfall (Ingot → Anvil → Forge): "+spansText(len(spans))+" seen, "+
			traceExtent(spans), p.w)))
		lines = append(lines, p.c.waterfall(spans, e.SpanID, p.w, room)...)
	}
	// the lineage comes first because it is what the operator opened the detail for;
	// the rest follows while it fits
	lines = append(lines, "")
	if e.DurationMS > 0 {
		kv("duration", fmtMS(e.DurationMS))
	}
	if e.StreamSeq > 0 {
		kv("stream seq", strconv.FormatUint(e.StreamSeq, 10))
	}
	for _, id := range e.IDs {
		kv(id.Key, id.Value)
	}
	if len(e.Metadata) > 0 {
		lines = append(lines, st.Header.S("metadata"))
		for _, m := range e.Metadata {
			text := []string{clean(m.Key) + " = " + clean(m.Value)}
			if width(text[0]) > p.w-2 {
				text = wrap(text[0], max(p.w-4, 1))
			}
			for i, part := range text {
				indent := "  "
				if i > 0 {
					indent = "    "
				}
				lines = append(lines, indent+part)
			}
		}
	}
	if p.copy != nil {
		lines = append(lines, "", st.Dim.S("y copies the trace id"))
	}
	if len(lines) > p.h {
		lines = lines[:p.h]
	}
	return strings.Join(lines, "\n")
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

var groupCols = []column{
	{title: "count", width: 6, right: true, priority: 9},
	{title: "svc", width: 5, priority: 8},
	{title: "operation", width: 18, priority: 6},
	{title: "last", width: 5, right: true, priority: 7},
}

// groupLines is the grouped view: one row per signature. Cells change only when a count
// does, or when the coarse age of the newest occurrence steps.
func (p *errorsPane) groupLines() []string {
	st := p.c.Styles
	if len(p.groups) == 0 {
		why := "no errors in the last 15m"
		if len(p.snap.ErrorGroups) > 0 {
			why = "no error signature matches the filter (" + strconv.Itoa(len(p.snap.ErrorGroups)) + " hidden)"
		}
		return wrap(why, p.w)
	}
	keep, flexW := chooseColumns(groupCols, p.w-2, 12)
	var b strings.Builder
	b.WriteString("  ")
	for _, i := range keep {
		if c := groupCols[i]; c.title != "last" {
			b.WriteString(cellFor(c, c.title) + " ")
		}
	}
	b.WriteString(fit("signature (numbers as #)", flexW))
	for _, i := range keep {
		if c := groupCols[i]; c.title == "last" {
			b.WriteString(" " + cellFor(c, c.title))
		}
	}
	lines := []string{st.Header.S(fit(b.String(), p.w))}
	end := min(p.offset+p.listRows(), len(p.groups))
	w := p.c.Window
	for pos := p.offset; pos < end; pos++ {
		g := &p.snap.ErrorGroups[p.groups[pos]]
		sel := pos == p.cursor
		b.Reset()
		b.WriteString(rowStart(sel, p.c.ASCII))
		last := ""
		for _, i := range keep {
			c := groupCols[i]
			switch c.title {
			case "count":
				b.WriteString(cellFor(c, fmtCount(float64(g.Count[w]))) + " ")
			case "svc":
				b.WriteString(cellFor(c, clean(g.Service)) + " ")
			case "operation":
				b.WriteString(cellFor(c, clean(g.Operation)) + " ")
			case "last":
				last = " " + cellFor(c, fmtAge(p.c.Now.Sub(g.Last)))
			}
		}
		b.WriteString(fit(clean(g.Signature), flexW))
		b.WriteString(last)
		row := b.String()
		switch {
		case sel:
			row = st.Selected.S(row)
		case g.Count[w] == 0:
			row = st.Dim.S(row) // only in a longer window
		}
		lines = append(lines, row)
	}
	return lines
}

func cellFor(c column, s string) string {
	if c.right {
		return fitRight(s, c.width)
	}
	return fit(s, c.width)
}
