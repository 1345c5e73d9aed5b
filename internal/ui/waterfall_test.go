package ui

import (
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/golden"

	"github.com/nsai/ingot-top/internal/engine"
)

// timeoutTrace is a submit that timed out in Anvil: the spans seen end in arrival order,
// and the Anvil-side span the call never reached is simply not there.
func timeoutTrace(at time.Time) []engine.TraceSpan {
	return []engine.TraceSpan{
		{Time: at.Add(-5600 * time.Millisecond), Event: "ingot.anvil_client.fetch_assignment", Service: "anvil", SpanID: "a1", DurationMS: 21, Result: "ok"},
		{Time: at.Add(-5540 * time.Millisecond), Event: "ingot.forge_client.get_sample", Service: "forge", SpanID: "b2", ParentSpanID: "a1", DurationMS: 38, Result: "ok"},
		{Time: at.Add(-5520 * time.Millisecond), Event: "ingot.component.render_sample", Service: "ingot", SpanID: "c3", ParentSpanID: "b2", DurationMS: 4},
		{Time: at, Event: "ingot.anvil_client.submit_label", Service: "anvil", SpanID: "d4", ParentSpanID: "e5", DurationMS: 5040, Result: "error", Reason: "timeout"},
		{Time: at.Add(30 * time.Millisecond), Event: "ingot.label.submit", Service: "ingot", SpanID: "e5", ParentSpanID: "a1", DurationMS: 5200},
	}
}

func TestWaterfallNestsSpansUnderTheirParents(t *testing.T) {
	rows := waterfallRows(timeoutTrace(fixedAt))
	var got []string
	for _, r := range rows {
		got = append(got, strings.Repeat(" ", r.depth)+r.span.SpanID)
	}
	want := []string{"a1", " b2", "  c3", " e5", "  d4"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("rows %q, want %q", got, want)
	}
	for _, r := range rows {
		if r.span == nil {
			t.Fatalf("a span shown as missing though every parent was seen: %+v", r)
		}
	}
}

func TestWaterfallShowsOnlyTrulyMissingParents(t *testing.T) {
	spans := timeoutTrace(fixedAt)
	spans = append(spans[:4], spans[4+1:]...) // label.submit never arrived: submit_label's parent
	rows := waterfallRows(spans)
	missing := 0
	for _, r := range rows {
		if r.span == nil {
			missing++
			if r.id != "e5" || len(r.children) != 1 || r.children[0].span.SpanID != "d4" {
				t.Fatalf("missing row %+v, want e5 above d4", r)
			}
		}
	}
	if missing != 1 {
		t.Fatalf("%d missing rows, want 1", missing)
	}
	// a parent cycle (bad data) draws each span once and ends
	cyc := []engine.TraceSpan{{Time: fixedAt, SpanID: "x", ParentSpanID: "y"}, {Time: fixedAt, SpanID: "y", ParentSpanID: "x"}}
	if n := len(waterfallRows(cyc)); n > 10 {
		t.Fatalf("cycle drew %d rows", n)
	}
}

func TestWaterfallBarsShareOneAxis(t *testing.T) {
	c := &Common{Styles: DefaultStyles(true, true)}
	out := c.waterfall(timeoutTrace(fixedAt), "d4", 120, 20)
	if len(out) != 6 {
		t.Fatalf("%d lines, want a header and 5 spans:\n%s", len(out), strings.Join(out, "\n"))
	}
	col := func(line, bar string) int { return strings.Index(line, bar) }
	fetch, submit, call := out[1], out[4], out[5]
	// fetch starts the trace at column 0 of the axis; the submit starts 5.2 s before its end,
	// after the fetch; the failing call is marked and drawn as an error bar
	if col(fetch, "█") >= col(submit, "█") {
		t.Errorf("fetch does not start before submit:\n%s\n%s", fetch, submit)
	}
	if !strings.HasPrefix(call, "◀") || !strings.Contains(call, "▓") || !strings.Contains(call, "error timeout") {
		t.Errorf("failing span not marked: %q", call)
	}
	if col(call, "▓") < col(submit, "█") {
		t.Errorf("the call starts before its parent:\n%s\n%s", submit, call)
	}
	for _, l := range out {
		if width(l) > 120 {
			t.Errorf("line wider than 120: %q", l)
		}
	}
	// narrow: no bars, still the tree
	narrow := c.waterfall(timeoutTrace(fixedAt), "d4", 40, 20)
	if len(narrow) != 6 || strings.Contains(strings.Join(narrow, ""), "█") {
		t.Errorf("narrow waterfall:\n%s", strings.Join(narrow, "\n"))
	}
}

// waterfallFrame is SampleFrame whose newest error is a timeout with the trace above.
func waterfallFrame() Frame {
	f := SampleFrame(fixedAt)
	s := *f.Stream
	s.Errors = append([]engine.ErrorEntry(nil), s.Errors...)
	e := &s.Errors[0]
	e.Event, e.Operation, e.Service, e.Reason, e.SpanID, e.DurationMS = "ingot.anvil_client.submit_label", "submit_label", "anvil", "timeout", "d4", 5040
	e.Time, e.Received = fixedAt.Add(-3*time.Second), fixedAt.Add(-3*time.Second)
	s.Lineage = map[string][]engine.TraceSpan{e.TraceID: timeoutTrace(e.Time)}
	for k, v := range f.Stream.Lineage {
		if k != e.TraceID {
			s.Lineage[k] = v
		}
	}
	f.Stream = &s
	return f
}

func TestGoldenWaterfall160x48(t *testing.T) {
	m := withFrame(t, sized(t, New(Options{NoColor: true}), 160, 48), waterfallFrame())
	m = press(t, m, "4", "enter")
	view := m.View()
	checkScreen(t, view, 160, 48)
	golden.RequireEqual(t, []byte(view))
}

// TestWaterfallStaysWhenTheErrorLeavesTheLog: an open detail keeps its trace when later
// snapshots no longer carry its lineage (its error scrolled out of the log).
func TestWaterfallStaysWhenTheErrorLeavesTheLog(t *testing.T) {
	m := withFrame(t, sized(t, New(Options{NoColor: true}), 160, 48), waterfallFrame())
	m = press(t, m, "4", "enter")
	later := SampleFrame(fixedAt.Add(time.Minute))
	s := *later.Stream
	s.Lineage = map[string][]engine.TraceSpan{}
	later.Stream = &s
	m = withFrame(t, m, later)
	v := m.View()
	if !strings.Contains(v, "trace waterfall") || !strings.Contains(v, "anvil anvil_client.submit_label") {
		t.Fatalf("the waterfall went with the error's lineage:\n%s", v)
	}
}
