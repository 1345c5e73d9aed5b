package alerts

import (
	"testing"
	"time"
)

// TestAggregateRoundTripAndPreferReported: a daemon's state survives the aggregate form
// (Prometheus alerts stay behind), and a viewer shows the daemons' stream alerts instead of its
// own, keeping Prometheus' and its own probes' alerts.
func TestAggregateRoundTripAndPreferReported(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	anvil := map[string]string{"service": "anvil"}
	daemonSide := State{At: at, Active: []Alert{
		{Name: NameHighErrorRate, Source: SourceLive, State: StateFiring, Severity: "page", Labels: anvil, Onset: at.Add(-10 * time.Minute),
			ActiveAt: at.Add(-9 * time.Minute), FiredAt: at.Add(-8 * time.Minute), Summary: "anvil error rate 50% > 5% (5m)"},
		{Name: "IngotAnvilLatencyHigh", Source: SourcePrometheus, State: StateFiring},
	}, History: []Alert{{Name: NameStreamLag, Source: SourceLive, State: StateResolved, ResolvedAt: at.Add(-time.Hour)}}}
	agg := ToAggregate(daemonSide)
	if len(agg.Active) != 1 || len(agg.Resolved) != 1 {
		t.Fatalf("aggregate %+v: want the live alert and the resolved one, not Prometheus's", agg)
	}
	reported := FromAggregate(*agg)
	r := reported.Active[0]
	if r.Source != SourceDaemon || !r.Onset.Equal(at.Add(-10*time.Minute)) || !r.FiredAt.Equal(at.Add(-8*time.Minute)) || r.Runbook == "" {
		t.Errorf("reported alert %+v", r)
	}

	own := State{At: at, Active: []Alert{
		{Name: NameHighErrorRate, Source: SourceLive, State: StateFiring, Labels: anvil, Onset: at, ActiveAt: at, FiredAt: at},
		{Name: NameHighErrorRate, Source: SourceLive, State: StateFiring, Labels: map[string]string{"service": "anvil", "operation": "submit_label"}, ActiveAt: at},
		{Name: NameServiceUnhealthy, Source: SourceLive, State: StatePending, Labels: map[string]string{"service": "forge"}, ActiveAt: at},
		{Name: "IngotAnvilLatencyHigh", Source: SourcePrometheus, State: StateFiring, ActiveAt: at},
	}}
	st := PreferReported(own, reported, 10)
	if len(st.Active) != 3 || st.Active[0].Source != SourceDaemon || st.Active[1].Source != SourcePrometheus || st.Active[2].Labels["service"] != "forge" {
		t.Fatalf("active %+v: want the daemons' anvil alert, Prometheus', then the viewer's own forge probe's, and none of its own stream alerts", st.Active)
	}
	if len(st.History) != 1 || st.History[0].Source != SourceDaemon {
		t.Errorf("history %+v", st.History)
	}
}
