package ui

import (
	"strings"
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/alerts"
	"github.com/nsai/ingot-top/internal/engine"
)

// The Latency pane marks what the alert rules in force alert on: with
// --alert.label-submit-p95=5s a 3 s p95 is not marked, as the banner stays quiet; with the
// default 2 s it is. Likewise the error-rate mark follows --alert.error-rate.
func TestLatencyMarksFollowAlertRules(t *testing.T) {
	f := SampleFrame(fixedAt)
	snap := *f.Stream
	snap.Ops = append([]engine.OpStats(nil), snap.Ops...)
	var submit, other *engine.OpStats
	for i := range snap.Ops {
		switch {
		case snap.Ops[i].Name == submitOp:
			submit = &snap.Ops[i]
		case other == nil:
			other = &snap.Ops[i]
		}
	}
	if submit == nil || other == nil {
		t.Fatal("sample frame lacks ingot.label.submit or another op")
	}
	for w := range submit.Latency {
		submit.Latency[w].P50, submit.Latency[w].P95, submit.Latency[w].P99 = 900, 3000, 3500
		submit.ErrorRate[w] = 0
		other.ErrorRate[w] = 0.08
	}
	f.Stream = &snap

	marked := func(rules *alerts.Rules, op string) bool {
		t.Helper()
		m := withFrame(t, sized(t, New(Options{Rules: rules}), 200, 60), f)
		return strings.Contains(lineWith(t, m.View(), op), "!"+op)
	}
	if !marked(nil, submitOp) {
		t.Error("default rules (2 s): a 3 s p95 is not marked")
	}
	if !marked(nil, other.Name) {
		t.Error("default rules (5 %): an 8 % error rate is not marked")
	}
	lenient := alerts.DefaultRules()
	lenient.LabelSubmitP95.Threshold = 5 * time.Second
	lenient.ErrorRate.Threshold = 0.10
	if marked(&lenient, submitOp) {
		t.Error("--alert.label-submit-p95=5s: a 3 s p95 is still marked")
	}
	if marked(&lenient, other.Name) {
		t.Error("--alert.error-rate=0.10: an 8 % error rate is still marked")
	}
}

// The legend under the Latency pane says what "!" means with the thresholds in force.
func TestLatencyLegendNamesTheRulesInForce(t *testing.T) {
	lenient := alerts.DefaultRules()
	lenient.LabelSubmitP95.Threshold = 5 * time.Second
	lenient.ErrorRate.Threshold = 0.10
	m := withFrame(t, sized(t, New(Options{Rules: &lenient}), 200, 60), SampleFrame(fixedAt))
	if line := lineWith(t, m.View(), "! alert:"); !strings.Contains(line, "submit p95>5.00s, errors>10.0%") {
		t.Errorf("legend %q does not name the rules in force", line)
	}
}
