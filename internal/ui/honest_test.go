package ui

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/engine"
)

// TestClampedFleetQuantileIsAFloor: a Prometheus p95 clamped at the top bucket bound reads
// "≥2.00s" in the fleet column, and in the row's own figures when they come from the fleet;
// never "2.00s" as if it were a reading.
func TestClampedFleetQuantileIsAFloor(t *testing.T) {
	f := fleetFrame(fixedAt)
	for i := range f.Prom.Ops {
		op := &f.Prom.Ops[i]
		switch op.Name {
		case "ingot.anvil_client.submit_label", "ingot.forge_client.list_samples":
			op.P95, op.P99, op.TopBound, op.AtTop = 2000, 2000, 2000, [3]bool{false, true, true}
		}
	}
	m := withFrame(t, sized(t, New(Options{NoColor: true}), 200, 60), f)
	v := m.View()
	live := lineWith(t, v, "ingot.anvil_client.submit_l")
	if !strings.HasSuffix(strings.TrimRight(strings.TrimSuffix(strings.TrimRight(live, " "), "│"), " "), "≥2.00s") {
		t.Errorf("fleet p95 column of a live row should read ≥2.00s: %q", live)
	}
	fleetOnly := lineWith(t, v, "list_sam")
	if strings.Count(fleetOnly, "≥2.00s") != 3 {
		t.Errorf("a fleet row's clamped p95 and p99 (and fleet column) should read ≥2.00s: %q", fleetOnly)
	}
}

// TestPartialFleetRateIsMarked: a rate over a window Prometheus covers only partly carries
// a mark, and the Queues title says how much is covered.
func TestPartialFleetRateIsMarked(t *testing.T) {
	f := fleetFrame(fixedAt)
	for i := range f.Prom.Queues {
		f.Prom.Queues[i].Partial, f.Prom.Queues[i].Covered = true, 70*time.Second
	}
	m := withFrame(t, sized(t, New(Options{NoColor: true}), 200, 60), f)
	v := m.View()
	if !strings.Contains(v, "*P covers 1m10s of 5m") {
		t.Errorf("Queues title lacks the coverage note:\n%s", v)
	}
	row := lineWith(t, v, "sentiment-en")
	if !strings.Contains(row, partialMark) {
		t.Errorf("partial fleet rate not marked: %q", row)
	}
	fleetOnly := lineWith(t, v, "zz-fleet-only-a")
	if strings.Count(fleetOnly, partialMark) < 2 {
		t.Errorf("a fleet-only row's rate and fleet column should both be marked: %q", fleetOnly)
	}
}

// TestErrorDetailShowsLongReasonInFull: the detail, one key from the list, wraps a reason
// the list cuts, so none of it is lost.
func TestErrorDetailShowsLongReasonInFull(t *testing.T) {
	f := SampleFrame(fixedAt)
	s := *f.Stream
	s.Errors = append([]engine.ErrorEntry(nil), s.Errors...)
	long := `upstream said "bad gateway" (502) while calling anvil:4000/api/assignments/asg_881000/labels after 3 retries; last body: <html>proxy error</html> end-of-reason`
	s.Errors[0].Reason = long
	f.Stream = &s
	m := withFrame(t, sized(t, New(Options{NoColor: true}), 80, 24), f)
	m = press(t, m, "4")
	if v := m.View(); strings.Contains(v, "end-of-reason") {
		t.Fatalf("the list should cut the reason at 80 columns:\n%s", v)
	}
	m = press(t, m, "enter")
	v := m.View()
	var joined strings.Builder
	for _, l := range strings.Split(v, "\n") {
		l = strings.Trim(l, "┃ ")
		joined.WriteString(strings.TrimPrefix(l, "reason") + " ")
	}
	if !strings.Contains(strings.Join(strings.Fields(joined.String()), " "), strings.Join(strings.Fields(long), " ")) {
		t.Fatalf("the detail does not show the whole reason:\n%s", v)
	}
}

// latencyFrame is SampleFrame with a human-time operation (p99 45 s), the client round-trip
// of a submit, and the counted events without a duration.
func latencyFrame() Frame {
	f := SampleFrame(fixedAt)
	s := *f.Stream
	s.Ops = append([]engine.OpStats(nil), s.Ops...)
	human := engine.OpStats{Name: "anvil.assignment.completed", Service: "anvil"}
	client := engine.OpStats{Name: engine.ClientLatencyOp, Service: "ingot"}
	for w := range engine.NumWindows {
		human.Latency[w] = engine.Quantiles{Count: 900, P50: 7000, P95: 22000, P99: 45000}
		client.Latency[w] = engine.Quantiles{Count: 900, P50: 1300, P95: 3400, P99: 6100}
	}
	s.Ops = append(s.Ops, human, client)
	slices.SortFunc(s.Ops, func(a, b engine.OpStats) int { return strings.Compare(a.Name, b.Name) })
	a := engine.ActivityStats{Name: "forge.sample.created"}
	b := engine.ActivityStats{Name: "anvil.agreement.calculated", ScoreKey: "score", LastScore: 0.81, LastAt: fixedAt.Add(-4 * time.Second)}
	for w := range engine.NumWindows {
		a.PerMin[w], a.Count[w] = 42, 42
		b.PerMin[w], b.Count[w], b.Scored[w], b.MeanScore[w] = 3, 3, 3, 0.775
	}
	s.Activity = []engine.ActivityStats{a, b}
	f.Stream = &s
	return f
}

// TestLatencyGroupsHumanTime: an operation timed in human time sits in its own group on its
// own scale; the others keep a scale that shows them, in linear mode too. The client
// round-trip sits under the submit, and sample creation and agreement have rows.
func TestLatencyGroupsHumanTime(t *testing.T) {
	m := withFrame(t, sized(t, New(Options{NoColor: true}), 160, 48), latencyFrame())
	m = press(t, m, "2")
	v := m.View()
	lines := strings.Split(v, "\n")
	idx := func(needle string) int {
		for i, l := range lines {
			if strings.Contains(l, needle) {
				return i
			}
		}
		t.Fatalf("no line with %q:\n%s", needle, v)
		return -1
	}
	if !(idx("ingot.live_view.mount") < idx("human time") && idx("human time") < idx("anvil.assignment.comp") &&
		idx("anvil.assignment.comp") < idx("counted, no duration")) {
		t.Errorf("human-time op not in its own group below the others:\n%s", v)
	}
	if idx("└ client round-trip") != idx("ingot.label.submit ")+1 {
		t.Errorf("client round-trip not right under the submit:\n%s", v)
	}
	if !strings.Contains(v, "scale log 1ms … 6.10s") {
		t.Errorf("the common scale should end at the machine ops' highest p99 (6.10s), not 45s:\n%s", v)
	}
	if l := lines[idx("forge.sample.created")]; !strings.Contains(l, "42.0/min") {
		t.Errorf("sample creation row: %q", l)
	}
	if l := lines[idx("anvil.agreement.calcu")]; !strings.Contains(l, "mean score 0.775") || !strings.Contains(l, "last 0.810") {
		t.Errorf("agreement row: %q", l)
	}
	// linear: every machine op still has a bar
	m = press(t, m, "l")
	v = m.View()
	lines = strings.Split(v, "\n")
	for _, op := range []string{"ingot.anvil_client.su", "ingot.forge_client.ge", "forge.pipeline.execut"} {
		if l := lines[idx(op)]; !strings.Contains(l, "█") && !strings.Contains(l, "▓") {
			t.Errorf("linear mode left %s without a bar: %q", op, l)
		}
	}
	// the client row's line under the table says what it is
	m = press(t, m, "g", "j", "j", "j", "j", "j", "j", "j")
	if v := m.View(); !strings.Contains(v, "▶ ingot.label.submit.client_latency: client_latency_ms") {
		t.Errorf("no full-name line for the client round-trip:\n%s", v)
	}
}

// TestTruncatedNameInFullUnderTheTable: a name the column cuts is shown whole on the line
// under the table when its row is selected.
func TestTruncatedNameInFullUnderTheTable(t *testing.T) {
	m := withFrame(t, sized(t, New(Options{NoColor: true}), 80, 24), SampleFrame(fixedAt))
	m = press(t, m, "2", "j", "j")
	v := m.View()
	if !strings.Contains(v, "ingot.anvil_client.fetch…") || !strings.Contains(v, "▶ ingot.anvil_client.fetch_queue_stats") {
		t.Fatalf("the cut name is not shown in full under the table:\n%s", v)
	}
}
