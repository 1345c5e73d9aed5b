package ui

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/NimbleMarkets/ntcharts/canvas/runes"
	"github.com/NimbleMarkets/ntcharts/linechart/timeserieslinechart"
	"github.com/charmbracelet/lipgloss"

	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/history"
	"github.com/nsai/ingot-top/internal/promsrc"
)

// The focused chart of an operation (Enter in the Latency pane): p50, p95 and p99 over time
// on one latency chart, the error rate on a second one below, second by second from the
// session's history, ending at the moment on screen (a past one while looking back). The
// lines are ntcharts braille lines; each carries its name at its right end, so they read
// apart without colour too.

// chartSpan is how far back the focused chart reaches.
const chartSpan = 15 * time.Minute

// opChart is what the chart draws, read from history in Update.
type opChart struct {
	name   string
	window engine.Window
	end    time.Time
	series history.OpSeries
	// overall is the chart of the overall client error rate (errchart.go), not of name.
	overall bool
	impact  history.ImpactSeries

	// exemplars (exemplars.go) of the operation, asked for once per operation (exFor)
	exemplars []promsrc.Exemplar
	exErr     string
	exFor     string
	exLoading bool
	// showTrace shows exemplar traceIdx's trace instead of the chart
	showTrace  bool
	traceIdx   int
	traceID    string
	traceSpans []engine.TraceSpan
	traceSeen  bool
}

// chartLine is one data set of a chart with its label.
type chartLine struct {
	label string
	vals  []float64
	style lipgloss.Style
}

// seriesChart draws lines over time on one y scale, braille, with each line's label at its
// right end; logY plots log10 of the values with the labels in ms. It returns h lines of w
// cells. ASCII terminals get columns of '#' for the first line only (braille cannot
// degrade), with a note.
func (c *Common) seriesChart(lines []chartLine, start time.Time, step time.Duration, w, h int, logY bool, yFmt func(float64) string) []string {
	if h < 3 || w < 20 {
		return nil
	}
	n := 0
	hi, lo := 0.0, math.Inf(1)
	for _, l := range lines {
		n = max(n, len(l.vals))
		for _, v := range l.vals {
			if !math.IsNaN(v) && v > 0 {
				hi, lo = max(hi, v), min(lo, v)
			}
		}
	}
	if n < 2 || hi <= 0 {
		return []string{"no data in the history for this span yet"}
	}
	end := start.Add(time.Duration(n-1) * step)
	if c.ASCII {
		vals := make([]float64, len(lines[0].vals))
		for i, v := range lines[0].vals {
			if !math.IsNaN(v) {
				vals[i] = v
			}
		}
		out := asciiChart(vals, w, h-1)
		return append(out, cut(lines[0].label+" only (ASCII: one line per chart)", w))
	}
	labelW := 0
	for _, l := range lines {
		labelW = max(labelW, width(l.label)+1)
	}
	tr := func(v float64) float64 { return v }
	yLo, yHi := 0.0, hi*1.1
	if logY {
		tr = math.Log10
		yLo, yHi = math.Floor(math.Log10(max(lo, 0.1))), math.Log10(hi)+0.05
		if yHi-yLo < 1 {
			yLo = yHi - 1
		}
	}
	loc := end.Location()
	ch := timeserieslinechart.New(w-labelW, h,
		timeserieslinechart.WithTimeRange(start, end),
		timeserieslinechart.WithYRange(yLo, yHi),
		timeserieslinechart.WithXYSteps(4, 2),
		timeserieslinechart.WithLineStyle(runes.ThinLineStyle),
		timeserieslinechart.WithXLabelFormatter(func(_ int, v float64) string {
			return time.Unix(int64(v), 0).In(loc).Format("15:04")
		}),
		timeserieslinechart.WithYLabelFormatter(func(_ int, v float64) string {
			if logY {
				return yFmt(math.Pow(10, v))
			}
			return yFmt(v)
		}),
	)
	names := make([]string, 0, len(lines))
	lastY := make([]float64, len(lines))
	for i, l := range lines {
		name := strconv.Itoa(i)
		ch.SetDataSetStyle(name, l.style)
		lastY[i] = math.NaN()
		pushed := 0
		for k, v := range l.vals {
			if math.IsNaN(v) || v <= 0 && logY {
				continue // a gap: no data that second
			}
			ch.PushDataSet(name, timeserieslinechart.TimePoint{Time: start.Add(time.Duration(k) * step), Value: tr(v)})
			lastY[i] = tr(v)
			pushed++
		}
		if pushed > 0 {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return []string{"no data in the history for this span yet"}
	}
	ch.DrawBrailleDataSets(names)
	out := strings.Split(ch.View(), "\n")
	// each line's label on the row of its last value, beside the chart; a taken row pushes
	// the label to the next free one
	labels := make([]string, len(out))
	graphH := ch.GraphHeight()
	for i, l := range lines {
		if math.IsNaN(lastY[i]) || graphH <= 0 {
			continue
		}
		row := int(math.Floor((yHi - lastY[i]) / (yHi - yLo) * float64(graphH)))
		row = min(max(row, 0), graphH-1)
		for row < graphH-1 && labels[row] != "" {
			row++
		}
		if labels[row] == "" {
			labels[row] = " " + l.label
		}
	}
	for i := range out {
		out[i] = fit(out[i], w-labelW) + labels[i]
	}
	return out
}

// chartView draws the focused chart of the operation in p.chart.
func (p *latencyPane) chartView() []string {
	if p.chart.overall {
		return p.overallChartView()
	}
	st := p.c.Styles
	ch := &p.chart
	w := p.w
	lines := []string{st.Header.S(cut(clean(ch.name)+" · "+ch.window.String()+" window, second by second · "+
		ch.series.Start.Format(clockLayout)+"–"+ch.end.Format(clockLayout), w))}
	var now string
	if op := p.findOp(ch.name); op != nil {
		q := op.Latency[ch.window]
		now = "p50 " + fmtMS(q.P50) + "  p95 " + fmtMS(q.P95) + "  p99 " + fmtMS(q.P99) + "  err " + fmtPct(op.ErrorRate[ch.window]) +
			"  calls " + fmtCount(float64(q.Count))
	} else {
		now = "no live data for this operation at " + ch.end.Format(clockLayout)
	}
	if op := p.findOp(ch.name); op != nil && op.FleetP95 > 0 {
		now += "  fleet p95·" + p.f.Fleet.Tag() + " " + fmtMS(op.FleetP95)
	}
	lines = append(lines, cut(now, w))
	if ex := p.exemplarLine(); ex != "" {
		lines = append(lines, st.Dim.S(cut(ex, w)))
	}
	s := ch.series
	if len(s.P95) < 2 {
		lines = append(lines, wrap("no history for this operation yet: the chart fills second by second from the moment the dashboard starts", w)...)
		return lines
	}
	accent, warn, dimS, bad := st.ChartP50, st.ChartP95, st.ChartMuted, st.ChartBad
	rest := p.h - len(lines) - 2
	latH := max(rest*2/3, 3)
	errH := rest - latH
	scale := "linear"
	if p.log {
		scale = "log"
	}
	lines = append(lines, st.Dim.S(cut("latency, ms ("+scale+" scale, l to switch)", w)))
	lat := []chartLine{{"p99", s.P99, dimS}, {"p95", s.P95, warn}, {"p50", s.P50, accent}}
	if hasValue(s.FleetP95) {
		lat = append(lat, chartLine{"p95·" + p.f.Fleet.Tag(), s.FleetP95, bad})
	}
	lines = append(lines, p.c.seriesChart(lat, s.Start, time.Second, w, latH, p.log, fmtMS)...)
	if errH >= 3 {
		lines = append(lines, st.Dim.S(cut("error rate, % of calls", w)))
		pct := make([]float64, len(s.ErrorRate))
		for i, v := range s.ErrorRate {
			pct[i] = v * 100
		}
		errLines := []chartLine{{"err", pct, bad}}
		if hasValue(s.FleetErr) {
			fe := make([]float64, len(s.FleetErr))
			for i, v := range s.FleetErr {
				fe[i] = v * 100
			}
			errLines = append(errLines, chartLine{"err·" + p.f.Fleet.Tag(), fe, dimS})
		}
		lines = append(lines, p.c.seriesChart(errLines, s.Start, time.Second, w, errH, false, func(v float64) string {
			return strconv.FormatFloat(v, 'f', 1, 64) + "%"
		})...)
	}
	return lines
}

func hasValue(v []float64) bool {
	for _, x := range v {
		if !math.IsNaN(x) {
			return true
		}
	}
	return false
}

// trendSpark draws a trend, a blank where a bucket has no data, from the row's lowest to
// its highest bucket so that a rise shows whatever the level; a trend that moves less than
// a tenth of its level is drawn flat at mid height, not as noise blown up to full scale.
func trendSpark(vals []float64, ascii bool) string {
	hi, lo := 0.0, math.Inf(1)
	for _, v := range vals {
		if !math.IsNaN(v) {
			hi, lo = max(hi, v), min(lo, v)
		}
	}
	flat := hi-lo <= 0.1*hi
	var b strings.Builder
	for _, v := range vals {
		if math.IsNaN(v) {
			b.WriteByte(' ')
			continue
		}
		idx := 3
		if !flat {
			idx = min(max(int((v-lo)/(hi-lo)*6.999)+1, 1), 7)
		}
		if ascii {
			b.WriteByte(sparkASCII[idx])
		} else {
			b.WriteRune(sparkRunes[idx])
		}
	}
	return b.String()
}
