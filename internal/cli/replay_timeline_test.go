package cli

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/record/recordtest"
	"github.com/nsai/ingot-top/internal/report"
	"github.com/nsai/ingot-top/internal/sim"
)

// A replayed degraded-Anvil incident reports its timeline as it happened on the recorded
// clock: Anvil's first timeout after the degradation starts, the alerts' onsets after it and
// their firings a rule's minute later, all in time order.
func TestReplayMarkdownHasTheIncidentTimeline(t *testing.T) {
	file := filepath.Join(t.TempDir(), "incident.itr")
	start := time.Date(2026, 3, 14, 3, 0, 0, 0, time.UTC)
	degraded := start.Add(time.Minute)
	if _, err := recordtest.Write(file, start, 100, 3,
		recordtest.Segment{Scenario: sim.ScenarioNormal, Span: time.Minute, ErrorRate: -1},
		recordtest.Segment{Scenario: sim.ScenarioDegradedAnvil, Span: 3 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	res := runCmd(context.Background(), "replay", file, "--format", "json", "-q")
	doc := decodeDoc(t, "replay json", res)
	if len(doc.Timeline) == 0 {
		t.Fatalf("no timeline in the replay's report: %s", res.stdout)
	}
	var fired, firstTimeout time.Time
	for i, e := range doc.Timeline {
		if i > 0 && e.Time.Before(doc.Timeline[i-1].Time) {
			t.Fatalf("timeline out of order at %d: %+v", i, doc.Timeline)
		}
		if e.Kind == report.TimelineFired && strings.Contains(e.What, "anvil") && fired.IsZero() {
			fired = e.Time
		}
		if e.Kind == report.TimelineFirstError && strings.Contains(e.What, "anvil") && strings.Contains(e.Detail, "timeout") && firstTimeout.IsZero() {
			firstTimeout = e.Time
		}
	}
	if firstTimeout.Before(degraded) || firstTimeout.After(degraded.Add(10*time.Second)) {
		t.Errorf("first Anvil timeout at %s; Anvil degraded at %s", firstTimeout, degraded)
	}
	if fired.Before(degraded.Add(time.Minute)) || fired.After(degraded.Add(2*time.Minute)) {
		t.Errorf("an Anvil alert fired at %s; Anvil degraded at %s and the rules hold for 1m", fired, degraded)
	}
	res = runCmd(context.Background(), "replay", file, "--format", "markdown", "-q")
	if !strings.Contains(res.stdout, "## Timeline") || !strings.Contains(res.stdout, "| alert fired |") {
		t.Fatalf("markdown replay lacks the timeline:\n%s", res.stdout)
	}
}
