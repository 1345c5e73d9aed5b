package ui

import (
	"strconv"
	"strings"

	"github.com/nsai/ingot-top/internal/engine"
)

// The Latency pane's rows: machine-time operations on the common scale; then, under their
// own header and on their own scale, operations timed in human time (a labeler's minutes on
// a sample would squash every bar above to nothing); then the counted events without a
// duration (Forge's sample creation, Anvil's agreement calculation). A submit's client
// round-trip sits right under the submit.

// humanTimeOps are operations whose duration is mostly a person's: anvil.assignment.completed
// runs from assignment to completion, the labeler's time on the sample included.
var humanTimeOps = map[string]bool{"anvil.assignment.completed": true}

const (
	rowOp = iota
	rowGroup
	rowActivity
)

// latRow is one visual row.
type latRow struct {
	kind  int
	idx   int    // into the frame's Ops (rowOp) or the stream's Activity (rowActivity)
	human bool   // rowOp: on the human-time scale
	title string // rowGroup
}

// reorder lays out the visual rows from the merged snapshot, and which of them the cursor
// can be on, keeping the cursor on the same operation.
func (p *latencyPane) reorder() {
	prev := ""
	if p.cursor < len(p.sel) {
		prev = p.rowKey(p.rows[p.sel[p.cursor]])
	}
	p.rows, p.sel = p.rows[:0], p.sel[:0]
	if p.noData() {
		return
	}
	var human []int
	for i := range p.ops {
		if humanTimeOps[p.ops[i].Name] {
			human = append(human, i)
			continue
		}
		p.sel = append(p.sel, len(p.rows))
		p.rows = append(p.rows, latRow{kind: rowOp, idx: i})
	}
	if len(human) > 0 {
		p.rows = append(p.rows, latRow{kind: rowGroup, title: "human time (a labeler's time on the sample), own scale"})
		for _, i := range human {
			p.sel = append(p.sel, len(p.rows))
			p.rows = append(p.rows, latRow{kind: rowOp, idx: i, human: true})
		}
	}
	if act := p.activity(); len(act) > 0 {
		p.rows = append(p.rows, latRow{kind: rowGroup, title: "counted, no duration"})
		for i := range act {
			p.sel = append(p.sel, len(p.rows))
			p.rows = append(p.rows, latRow{kind: rowActivity, idx: i})
		}
	}
	if prev != "" {
		for k, v := range p.sel {
			if p.rowKey(p.rows[v]) == prev {
				p.cursor = k
				break
			}
		}
	}
}

func (p *latencyPane) rowKey(r latRow) string {
	switch {
	case r.kind == rowOp && r.idx < len(p.ops):
		return p.ops[r.idx].Name
	case r.kind == rowActivity && r.idx < len(p.activity()):
		return "activity:" + p.activity()[r.idx].Name
	}
	return ""
}

// displayName is an operation's name as its row shows it: the client round-trip of a submit
// reads as a sub-row of the submit.
func displayName(name string) string {
	if name == engine.ClientLatencyOp {
		return "└ client round-trip"
	}
	return name
}

// fullName is what the line under the pane says about the selected row.
func fullName(name string) string {
	if name == engine.ClientLatencyOp {
		return name + ": client_latency_ms of " + submitOp + ", the labeler's browser round-trip, beside the server's duration_ms"
	}
	return name
}

// activityCells is an activity row's text after its name: the rate, and the mean score for
// an agreement calculation.
func activityCells(a *engine.ActivityStats, w engine.Window) string {
	var b strings.Builder
	b.WriteString(fmtRate(a.PerMin[w]) + "/min")
	if a.ScoreKey != "" {
		b.WriteString("  mean " + a.ScoreKey + " ")
		if a.Scored[w] > 0 {
			b.WriteString(fmtScore(a.MeanScore[w]))
		} else {
			b.WriteString("—")
		}
		if !a.LastAt.IsZero() {
			b.WriteString("  last " + fmtScore(a.LastScore) + " at " + a.LastAt.Format(clockLayout))
		}
	}
	return b.String()
}

func fmtScore(v float64) string {
	return strconv.FormatFloat(v, 'f', 3, 64)
}
