package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/alerts"
	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/health"
)

func incidentInput(at time.Time) Input {
	snap := &engine.Snapshot{At: at,
		Services: []engine.ServiceStats{{Service: "anvil", Calls: [3]uint64{0, 1000, 1000}, Errors: [3]uint64{0, 182, 182}}},
		Queues: []engine.QueueStats{{ID: "queue_toxicity", Labels: [3]uint64{0, 40, 40}, LabelsPerMin: [3]float64{0, 8, 8},
			Calls: [3]uint64{0, 200, 200}, Errors: [3]uint64{0, 50, 50}}},
		Impact: engine.Impact{Known: true, Calls: [3]uint64{0, 1000, 1000}, Errors: [3]uint64{0, 182, 182},
			AffectedUsers: [3]uint64{0, 40, 40}, AffectedQueues: [3]int{0, 12, 12}, ErrorsNoUser: [3]uint64{0, 3, 3}},
	}
	onset := at.Add(-3*time.Minute - 32*time.Second)
	st := alerts.State{At: at,
		Active: []alerts.Alert{
			{Name: alerts.NameHighErrorRate, State: alerts.StateFiring, Severity: "page", Source: alerts.SourceLive,
				Summary: "anvil_client.submit_label error rate 31% > 5% (5m)", Labels: map[string]string{"service": "anvil", "operation": "submit_label"},
				Value: 0.31, Onset: onset.Add(time.Second), ActiveAt: at.Add(-3 * time.Minute), FiredAt: at.Add(-2 * time.Minute), Runbook: alerts.Runbook(alerts.NameHighErrorRate)},
			{Name: alerts.NameServiceUnhealthy, State: alerts.StateFiring, Severity: "page", Source: alerts.SourceLive,
				Summary: "anvil unhealthy: 503", Labels: map[string]string{"service": "anvil"},
				Onset: onset, ActiveAt: onset, FiredAt: onset.Add(30 * time.Second), Runbook: alerts.Runbook(alerts.NameServiceUnhealthy)},
		},
		History: []alerts.Alert{{Name: alerts.NameServiceUnhealthy, State: alerts.StateResolved, Severity: "page", Source: alerts.SourceLive,
			Summary: "forge unhealthy", Labels: map[string]string{"service": "forge"}, Onset: at.Add(-40 * time.Minute), ActiveAt: at.Add(-40 * time.Minute),
			FiredAt: at.Add(-39 * time.Minute), ResolvingAt: at.Add(-35 * time.Minute), ResolvedAt: at.Add(-34 * time.Minute), Runbook: alerts.Runbook(alerts.NameServiceUnhealthy)}},
	}
	return Input{Title: "ingot-top incident report", At: at, Window: engine.Window5m, Stream: snap, Alerts: st,
		Health: []health.Status{{Name: "anvil", State: health.StateUnhealthy, Since: onset, LastError: "503 Service Unavailable"}}}
}

// Pasted into the incident channel, the report's first line must say what is broken, since
// when (the onset, not the firing time) and how bad; then the alerts with their onsets and
// runbook sections, the health table and who is hit.
func TestMarkdownStartsWithTheVerdict(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 20, 0, 0, time.UTC)
	var out bytes.Buffer
	if err := Write(&out, FormatMarkdown, incidentInput(at)); err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(out.String(), "\n")
	want := `# FIRING: anvil down, submit\_label 31.0% errors since 10:16:28Z; 18.2% of 1000 client calls failed (5m), hitting 40+ users and 12 queues`
	if first != want {
		t.Errorf("first line:\n%s\nwant\n%s", first, want)
	}
	if n := strings.Count(out.String(), "\n# "); n != 0 {
		t.Errorf("%d more top-level headings", n)
	}
	for _, want := range []string{
		"| firing | page | IngotServiceUnhealthy{anvil} | anvil | anvil unhealthy: 503 | 2026-12-01T10:16:28Z | 2026-12-01T10:16:58Z | — | RUNBOOK.md#ingotserviceunhealthy | live |",
		"IngotHighErrorRate{anvil/submit\\_label} | anvil |",
		"## Resolved alerts",
		"| resolved | page | IngotServiceUnhealthy{forge} | — | forge unhealthy | 2026-12-01T09:40:00Z | 2026-12-01T09:41:00Z | 2026-12-01T09:45:00Z |",
		"## Health", "| anvil | unhealthy |",
		"- **Hit:** 40+ users, 12 queues (3 failed calls named no user, 0 no queue)",
		"| queue\\_toxicity | 40 | 8.0 | 25.0% |",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, out.String())
		}
	}
}

func TestVerdicts(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 20, 0, 0, time.UTC)
	in := incidentInput(at)
	in.Alerts = alerts.State{}
	doc := jsonDoc(t, in)
	if !strings.HasPrefix(doc.Verdict, "DEGRADED: no alert yet; 18.2% of 1000 client calls failed (5m)") {
		t.Errorf("verdict without alerts over the error threshold: %q", doc.Verdict)
	}
	in.Stream.Impact, in.Stream.Services = engine.Impact{Known: true}, nil
	if doc := jsonDoc(t, in); doc.Verdict != "OK: no alert; no client calls in 5m" {
		t.Errorf("quiet verdict: %q", doc.Verdict)
	}
	in = incidentInput(at)
	for i := range in.Alerts.Active {
		in.Alerts.Active[i].State, in.Alerts.Active[i].ResolvingAt = alerts.StateResolving, at.Add(-20*time.Second)
	}
	doc = jsonDoc(t, in)
	if !strings.Contains(doc.Verdict, "RESOLVING: anvil down") || !strings.Contains(doc.Verdict, "(stopped 10:19:40Z)") {
		t.Errorf("resolving verdict: %q", doc.Verdict)
	}
	if doc.Impact == nil || doc.Impact.AffectedUsers != 40 || !doc.Impact.UsersLowerBound {
		t.Errorf("impact = %+v", doc.Impact)
	}
	if len(doc.Alerts) != 2 || doc.Alerts[0].Runbook != "RUNBOOK.md#ingotserviceunhealthy" || doc.Alerts[0].Group != "anvil" || !doc.Alerts[0].Onset.Equal(at.Add(-3*time.Minute-32*time.Second)) {
		t.Errorf("alerts = %+v", doc.Alerts)
	}
}

func jsonDoc(t *testing.T, in Input) Document {
	t.Helper()
	var out bytes.Buffer
	if err := Write(&out, FormatJSON, in); err != nil {
		t.Fatal(err)
	}
	var doc Document
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}
