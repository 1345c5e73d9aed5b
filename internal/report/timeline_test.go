package report

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/engine"
)

// The timeline puts the whole incident in time order: the forge outage long before, then
// the first timeout, the onsets, the firings; folded signatures have no first of their own.
func TestTimelineInTimeOrder(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 20, 0, 0, time.UTC)
	in := incidentInput(at)
	in.Stream.ErrorGroups = []engine.ErrorGroup{
		{Service: "anvil", Event: "ingot.anvil_client.submit_label", Signature: "timeout after #ms", First: at.Add(-3*time.Minute - 40*time.Second), Last: at},
		{Service: "forge", Event: engine.OtherID, Signature: "…", First: at.Add(-time.Hour)},
	}
	var out bytes.Buffer
	if err := Write(&out, FormatMarkdown, in); err != nil {
		t.Fatal(err)
	}
	md := out.String()
	_, tl, ok := strings.Cut(md, "## Timeline\n")
	if !ok {
		t.Fatalf("no timeline:\n%s", md)
	}
	tl, _, _ = strings.Cut(tl, "\n\n##")
	var rows []string
	for _, l := range strings.Split(tl, "\n") {
		if strings.HasPrefix(l, "| 2026") || strings.HasPrefix(l, "| ≤") {
			rows = append(rows, l)
		}
	}
	want := []string{
		"| 2026-12-01T09:40:00Z | alert onset | IngotServiceUnhealthy{forge} | forge unhealthy |",
		"| 2026-12-01T09:41:00Z | alert fired | IngotServiceUnhealthy{forge} | page |",
		"| 2026-12-01T09:45:00Z | alert condition stopped | IngotServiceUnhealthy{forge} |  |",
		"| 2026-12-01T09:46:00Z | alert resolved | IngotServiceUnhealthy{forge} |  |",
		"| 2026-12-01T10:16:20Z | first error of signature | anvil ingot.anvil\\_client.submit\\_label | timeout after #ms |",
		"| 2026-12-01T10:16:28Z | alert onset | IngotServiceUnhealthy{anvil} | anvil unhealthy: 503 |",
		"| 2026-12-01T10:16:29Z | alert onset | IngotHighErrorRate{anvil/submit\\_label} | anvil\\_client.submit\\_label error rate 31% \\> 5% (5m) |",
		"| 2026-12-01T10:16:58Z | alert fired | IngotServiceUnhealthy{anvil} | page |",
		"| 2026-12-01T10:18:00Z | alert fired | IngotHighErrorRate{anvil/submit\\_label} | page |",
	}
	if strings.Join(rows, "\n") != strings.Join(want, "\n") {
		t.Fatalf("timeline rows:\n%s\nwant\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}
	if doc := jsonDoc(t, in); len(doc.Timeline) != len(want) || doc.Timeline[0].Kind != TimelineOnset {
		t.Fatalf("json timeline: %+v", doc.Timeline)
	}
}

func TestTimelineIsBounded(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 20, 0, 0, time.UTC)
	in := incidentInput(at)
	for i := range 3 * maxTimeline {
		in.Stream.ErrorGroups = append(in.Stream.ErrorGroups, engine.ErrorGroup{Service: "anvil", Event: "e", Signature: "s", First: at.Add(time.Duration(i) * time.Second)})
	}
	if doc := jsonDoc(t, in); len(doc.Timeline) != maxTimeline || !doc.Timeline[0].Time.Equal(at.Add(-40*time.Minute)) {
		t.Fatalf("timeline of %d entries starting %v, want %d from the oldest", len(doc.Timeline), doc.Timeline[0].Time, maxTimeline)
	}
}
