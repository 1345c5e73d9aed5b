package ui

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nsai/ingot-top/internal/engine"
)

// The error detail draws the trace as a waterfall: every span seen of the request, nested
// under its parent, each a bar on one time axis. A telemetry event is executed when its
// operation ends, so a span runs from its time minus duration_ms to its time; an event
// without a duration is a point. The failing span is marked. A span is shown as missing
// only when a span that was seen names it as its parent and it never arrived within the
// trace horizon: a callee that a timeout never reached is not a missing span.

// wfNode is one row of the waterfall: a span seen, or a parent that was not.
type wfNode struct {
	span       *engine.TraceSpan // nil for a missing parent
	id         string
	start, end time.Time
	depth      int
	children   []*wfNode
}

// waterfallRows orders the spans as a tree, depth first, children by start time; spans whose
// parent was not seen hang under a placeholder for that parent.
func waterfallRows(spans []engine.TraceSpan) []*wfNode {
	byID := make(map[string]*wfNode, len(spans))
	nodes := make([]*wfNode, 0, len(spans))
	for i := range spans {
		s := &spans[i]
		end := s.Time
		start := end.Add(-time.Duration(s.DurationMS * float64(time.Millisecond)))
		n := &wfNode{span: s, id: s.SpanID, start: start, end: end}
		nodes = append(nodes, n)
		if s.SpanID != "" {
			if _, dup := byID[s.SpanID]; !dup {
				byID[s.SpanID] = n
			}
		}
	}
	var roots []*wfNode
	missing := map[string]*wfNode{}
	for _, n := range nodes {
		pid := n.span.ParentSpanID
		switch parent, ok := byID[pid]; {
		case pid == "":
			roots = append(roots, n)
		case ok && parent != n:
			parent.children = append(parent.children, n)
		default:
			m, ok := missing[pid]
			if !ok {
				m = &wfNode{id: pid, start: n.start, end: n.end}
				missing[pid] = m
				roots = append(roots, m)
			}
			m.start, m.end = minTime(m.start, n.start), maxTime(m.end, n.end)
			m.children = append(m.children, n)
		}
	}
	var out []*wfNode
	var walk func(ns []*wfNode, depth int)
	walk = func(ns []*wfNode, depth int) {
		slices.SortStableFunc(ns, func(a, b *wfNode) int { return a.start.Compare(b.start) })
		for _, n := range ns {
			n.depth = depth
			out = append(out, n)
			if len(out) > 4*len(spans)+8 { // a cycle of parent ids cannot loop forever
				return
			}
			walk(n.children, depth+1)
		}
	}
	walk(roots, 0)
	return out
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// niceStep is a tick interval of 1, 2 or 5 times a power of ten milliseconds giving at most
// n ticks over total.
func niceStep(total time.Duration, n int) time.Duration {
	ms := float64(total) / float64(time.Millisecond) / float64(max(n, 1))
	p := math.Pow(10, math.Floor(math.Log10(max(ms, 0.001))))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= ms {
			return time.Duration(m * p * float64(time.Millisecond))
		}
	}
	return time.Duration(10 * p * float64(time.Millisecond))
}

// waterfall draws spans in w cells, at most maxRows rows after the header; failing is the
// span id of the error on display.
func (c *Common) waterfall(spans []engine.TraceSpan, failing string, w, maxRows int) []string {
	st := c.Styles
	rows := waterfallRows(spans)
	if len(rows) == 0 {
		return nil
	}
	lo, hi := rows[0].start, rows[0].end
	for _, n := range rows {
		lo, hi = minTime(lo, n.start), maxTime(hi, n.end)
	}
	total := max(hi.Sub(lo), time.Millisecond)
	const durW = 6
	// the result column has room for a short reason ("error timeout") beside the bars
	resW := min(max(w/6, 7), 28)
	nameW := min(max(w/3, 16), 44)
	axisW := w - 2 - nameW - 1 - 1 - durW - 1 - resW
	if axisW < 10 {
		// too narrow for bars: the tree with durations
		axisW = 0
		nameW = max(w-2-1-durW-1-resW, 8)
	}
	col := func(t time.Time) int {
		return min(int(float64(t.Sub(lo))/float64(total)*float64(axisW)), axisW-1)
	}
	full, errBar, point := "█", "▓", "│"
	if c.ASCII {
		full, errBar, point = "#", "X", "|"
	}
	head := fit("  span (service, event)", 2+nameW) + " "
	if axisW > 0 {
		// the axis: offsets from the first span's start, a label every few columns
		line := []rune(spaces(axisW))
		step := niceStep(total, max(axisW/12, 1))
		for t := time.Duration(0); t <= total; t += step {
			x := col(lo.Add(t))
			label := "+" + fmtMS(float64(t)/float64(time.Millisecond))
			if t == 0 {
				label = "0"
			}
			if x+len(label) > axisW || x > 0 && line[x-1] != ' ' {
				continue
			}
			copy(line[x:], []rune(label))
		}
		head += string(line) + " "
	}
	out := []string{st.Header.S(cut(head+fitRight("dur", durW)+" result", w))}
	for i, n := range rows {
		if i >= maxRows {
			out = append(out, st.Dim.S(cut("  … "+strconv.Itoa(len(rows)-i)+" more spans below", w)))
			break
		}
		indent := strings.Repeat("  ", min(n.depth, 6))
		if n.span == nil {
			text := indent + "? span " + short(n.id) + " (parent, never seen)"
			row := "  " + fit(text, nameW)
			if axisW > 0 {
				row += " " + spaces(axisW)
			}
			out = append(out, st.Warn.S(cut(row+" "+fitRight("", durW)+" missing", w)))
			continue
		}
		s := n.span
		mark := "  "
		isErr := s.Result == "error"
		switch {
		case s.SpanID != "" && s.SpanID == failing:
			mark = "◀ "
			if c.ASCII {
				mark = "< "
			}
		case isErr:
			mark = "! "
		}
		name := indent + clean(s.Service) + " " + clean(shortEvent(s.Event))
		var b strings.Builder
		b.WriteString(mark)
		nameCell := fit(name, nameW)
		if isErr {
			nameCell = st.Bad.S(nameCell)
		}
		b.WriteString(nameCell + " ")
		if axisW > 0 {
			a := col(n.start)
			e := max(col(n.end), a)
			bar := strings.Repeat(full, e-a+1)
			paint := st.Bar50
			switch {
			case isErr:
				bar, paint = strings.Repeat(errBar, e-a+1), st.BarBad
			case s.DurationMS == 0:
				bar = point
			}
			b.WriteString(spaces(a) + paint.S(bar) + spaces(axisW-a-width(bar)) + " ")
		}
		dur := "—"
		if s.DurationMS > 0 {
			dur = fmtMS(s.DurationMS)
		}
		b.WriteString(fitRight(dur, durW) + " ")
		res := clean(s.Result)
		if isErr && s.Reason != "" {
			res += " " + clean(s.Reason)
		}
		res = cut(res, w-width(b.String()))
		if isErr {
			res = st.Bad.S(res)
		}
		out = append(out, b.String()+res)
	}
	return out
}

// shortEvent drops the service segment the row already shows ("ingot.label.submit" is
// "label.submit" after "ingot").
func shortEvent(ev string) string {
	if i := strings.IndexByte(ev, '.'); i > 0 {
		return ev[i+1:]
	}
	return ev
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8] + "…"
	}
	return id
}

// traceExtent is when the spans seen began and ended, to the millisecond.
func traceExtent(spans []engine.TraceSpan) string {
	rows := waterfallRows(spans)
	if len(rows) == 0 {
		return ""
	}
	lo, hi := rows[0].start, rows[0].end
	for _, n := range rows {
		lo, hi = minTime(lo, n.start), maxTime(hi, n.end)
	}
	const ms = "15:04:05.000"
	return lo.Format(ms) + " – " + hi.Format(ms) + " (" + fmtMS(float64(hi.Sub(lo))/float64(time.Millisecond)) + ")"
}

// spansText is "1 span", "4 spans".
func spansText(n int) string {
	return strconv.Itoa(n) + " " + plural(uint64(n), "span", "spans")
}
