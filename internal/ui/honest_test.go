package ui

import (
	"strings"
	"testing"
	"time"
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
