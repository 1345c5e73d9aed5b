package ui

import (
	"strconv"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/promsrc"
)

// Exemplars in the focused chart: with --prometheus (and its exemplar storage) the chart
// lists the slowest traced observations of the operation over the chart's span, each a
// bucket linked to a trace id; t opens their traces in turn as waterfalls, from the
// session's own stream.

type (
	// exemplarsMsg carries an operation's exemplars, or why there are none.
	exemplarsMsg struct {
		op   string
		list []promsrc.Exemplar
		err  string
	}
	// exemplarTraceMsg carries the spans of an exemplar's trace.
	exemplarTraceMsg struct {
		id    string
		spans []engine.TraceSpan
		ok    bool
	}
)

// fetchExemplars asks for the open chart's exemplars once per operation.
func (p *latencyPane) fetchExemplars() tea.Cmd {
	ch := &p.chart
	if !p.detail || p.act.Exemplars == nil || ch.exFor == ch.name {
		return nil
	}
	ch.exFor, ch.exLoading = ch.name, true
	get, op, to := p.act.Exemplars, ch.name, p.c.Now
	return func() tea.Msg {
		list, err := get(op, to.Add(-chartSpan), to)
		msg := exemplarsMsg{op: op, list: list}
		if err != nil {
			msg.err = err.Error()
		}
		return msg
	}
}

// nextExemplarTrace opens the next exemplar's trace (the slowest first).
func (p *latencyPane) nextExemplarTrace() tea.Cmd {
	ch := &p.chart
	if len(ch.exemplars) == 0 {
		return nil
	}
	if ch.showTrace {
		ch.traceIdx = (ch.traceIdx + 1) % len(ch.exemplars)
	} else {
		ch.showTrace, ch.traceIdx = true, 0
	}
	ch.traceID, ch.traceSpans, ch.traceSeen = ch.exemplars[ch.traceIdx].TraceID, nil, false
	if p.act.Trace == nil {
		return nil
	}
	look, id := p.act.Trace, ch.traceID
	return func() tea.Msg {
		spans, ok := look(id)
		return exemplarTraceMsg{id: id, spans: spans, ok: ok}
	}
}

// exemplarLine is the chart's line about exemplars.
func (p *latencyPane) exemplarLine() string {
	ch := &p.chart
	const tag = "P" // exemplars come from Prometheus only
	switch {
	case p.act.Exemplars == nil:
		return ""
	case ch.exLoading:
		return "exemplars·" + tag + ": asking Prometheus…"
	case ch.exErr != "":
		return "exemplars·" + tag + ": " + clean(ch.exErr)
	case len(ch.exemplars) == 0:
		return "exemplars·" + tag + ": none in this span (Prometheus keeps them with --enable-feature=exemplar-storage)"
	}
	s := "exemplars·" + tag + ", slowest first:"
	for i, e := range ch.exemplars {
		if i == 4 {
			break
		}
		s += "  " + fmtMS(e.ValueMS) + " " + e.TraceID[:8] + "…"
	}
	return s + "  · t opens their traces"
}

// exemplarTraceView is an exemplar's trace as a waterfall.
func (p *latencyPane) exemplarTraceView() []string {
	st := p.c.Styles
	ch := &p.chart
	e := ch.exemplars[ch.traceIdx]
	bucket := "+Inf"
	if e.BucketMS < 1e300 {
		bucket = "≤" + fmtMS(e.BucketMS)
	}
	lines := []string{
		st.Header.S(cut(clean(ch.name)+" · exemplar "+strconv.Itoa(ch.traceIdx+1)+" of "+strconv.Itoa(len(ch.exemplars))+
			": "+fmtMS(e.ValueMS)+" in bucket "+bucket+" at "+e.At.In(p.c.Now.Location()).Format(clockLayout), p.w)),
		cut("trace_id "+e.TraceID, p.w),
	}
	switch {
	case len(ch.traceSpans) > 0:
		lines = append(lines, st.Header.S(cut("trace waterfall: "+spansText(len(ch.traceSpans))+" seen, "+traceExtent(ch.traceSpans), p.w)))
		lines = append(lines, p.c.waterfall(ch.traceSpans, "", p.w, max(p.h-len(lines)-3, 3))...)
	case p.act.Trace == nil || !ch.traceSeen:
		lines = append(lines, wrap("this dashboard's stream has no spans of this trace: it keeps traces "+
			fmtDur(15*time.Minute)+", and a --from-daemon viewer has only its errors' lineage. y copies the id for your tracing tool.", p.w)...)
	}
	return lines
}
