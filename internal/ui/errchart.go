package ui

import (
	"math"
	"strconv"
	"time"
)

// The focused chart of the overall client error rate (`e`, from any pane): the status
// line's "errors 12.3% … hit 31 users" over time, second by second from the session's
// history, ending at the moment on screen (a past one while looking back). It is drawn in
// the Latency pane's detail, like an operation's chart, with the alert rule's threshold
// as a line, so that when the rate crossed it reads off the chart.

// errorChartMsg opens the overall error-rate chart in the Latency pane.
type errorChartMsg struct{}

// overallChartView draws the overall error-rate chart in p.chart (overall set).
func (p *latencyPane) overallChartView() []string {
	st := p.c.Styles
	ch := &p.chart
	w := p.w
	s := ch.impact
	lines := []string{st.Header.S(cut("client error rate, all calls · "+ch.window.String()+" window, second by second · "+
		s.Start.Format(clockLayout)+"–"+ch.end.Format(clockLayout), w))}
	im := p.f.Impact
	now := "errors — (no calls)"
	if calls := im.Calls[ch.window]; calls > 0 {
		now = "errors " + fmtPct(float64(im.Errors[ch.window])/float64(calls)) + " of " + fmtCount(float64(calls)) + " calls"
	}
	if im.Known {
		w := ch.window // marked as the status line marks them: "31+" a lower bound, "~31" an estimate
		now += "  hit " + countText(im.AffectedUsers[w], im.ErrorsNoUser[w] > 0, im.UsersEstimated && im.AffectedUsers[w] > 0) +
			" users, " + countText(uint64(im.AffectedQueues[w]), im.ErrorsNoQueue[w] > 0 || im.QueuesLowerBound[w], false) + " queues"
	} else {
		now += "  hit ? users, ? queues (the aggregate does not say)"
	}
	now += "  [" + string(im.Src) + "]"
	lines = append(lines, cut(now, w))
	if len(s.ErrorRate) < 2 {
		lines = append(lines, wrap("no history yet: the chart fills second by second from the moment the dashboard starts", w)...)
		return lines
	}
	rest := p.h - len(lines) - 2
	rateH := max(rest*2/3, 3)
	usersH := rest - rateH
	rule := p.c.Rules.ErrorRate
	title := "error rate, % of client calls"
	rate := chartLine{"err", percent(s.ErrorRate), st.ChartBad}
	rateLines := []chartLine{rate}
	if !rule.Disabled {
		title += " (alert above " + fmtPct(rule.Threshold) + ")"
		limit := make([]float64, len(s.ErrorRate))
		for i := range limit {
			limit[i] = rule.Threshold * 100
		}
		rateLines = append(rateLines, chartLine{"alert", limit, st.ChartMuted})
	}
	lines = append(lines, st.Dim.S(cut(title, w)))
	lines = append(lines, p.c.seriesChart(rateLines, s.Start, time.Second, w, rateH, false, func(v float64) string {
		return strconv.FormatFloat(v, 'f', 1, 64) + "%"
	})...)
	if usersH >= 3 && hasValue(s.Users) {
		lines = append(lines, st.Dim.S(cut("users with a failed call in the window", w)))
		lines = append(lines, p.c.seriesChart([]chartLine{{"users", s.Users, st.ChartP95}}, s.Start, time.Second, w, usersH, false, func(v float64) string {
			return strconv.Itoa(int(math.Round(v)))
		})...)
	}
	return lines
}

func percent(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = x * 100
	}
	return out
}
