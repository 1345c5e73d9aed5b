package engine

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestAggregateProbesRoundTripAndMerge: probes survive encoding, hostile ones are refused, text
// is made safe, and the merger keeps the newest check of each service.
func TestAggregateProbesRoundTripAndMerge(t *testing.T) {
	at := time.Now().UTC()
	withProbes := func(producer string, probes ...AggregateProbe) []byte {
		var m map[string]any
		if err := json.Unmarshal(validAggregateJSON(t), &m); err != nil {
			t.Fatal(err)
		}
		m["producer"] = producer
		m["health"] = probes
		data, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	anvil := AggregateProbe{Name: "anvil", State: "unhealthy", CheckedAt: at.Add(-2 * time.Second), Code: 503,
		LastError: "503 Service Unavailable\x1b[31m", LastErrorAt: at, Uptime: [NumWindows]float64{0.5, 0.8, 0.9}}
	x, err := DecodeAggregate(withProbes("d1", anvil))
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if len(x.Health) != 1 || x.Health[0].State != "unhealthy" || x.Health[0].Code != 503 || strings.Contains(x.Health[0].LastError, "\x1b") {
		t.Fatalf("probes after decoding: %+v", x.Health)
	}
	for name, p := range map[string]AggregateProbe{
		"unknown state": {Name: "anvil", State: "on fire"},
		"no name":       {State: "healthy"},
		"uptime":        {Name: "anvil", State: "healthy", Uptime: [NumWindows]float64{2, 0, 0}},
		"code":          {Name: "anvil", State: "healthy", Code: 70000},
	} {
		if _, err := DecodeAggregate(withProbes("d1", p)); err == nil {
			t.Errorf("%s: hostile probe accepted", name)
		}
	}
	m := NewMerger(MergerConfig{MaxClockSkew: -1})
	newer := anvil
	newer.State, newer.CheckedAt = "healthy", at
	for producer, p := range map[string]AggregateProbe{"d1": anvil, "d2": newer} {
		if err := m.AddEncoded(withProbes(producer, p)); err != nil {
			t.Fatal(err)
		}
	}
	if h := m.Health(); len(h) != 1 || h[0].State != "healthy" {
		t.Errorf("merged probes %+v, want the newer check (healthy)", h)
	}
}

// TestTraceLookup: any trace the engine indexed opens by id, error or not.
func TestTraceLookup(t *testing.T) {
	h := newHarness(t, Config{})
	at := h.clock.Now()
	const id = "4bf92f3577b34da6a3ce929d0e0e4736"
	h.send(newEv("ingot.anvil_client.submit_label", at).m("duration_ms", 2400).meta("result", "ok").trace(id, "00f067aa0ba90002", "00f067aa0ba90001").ev(),
		newEv("ingot.label.submit", at.Add(10*time.Millisecond)).m("duration_ms", 2500).meta("queue_id", "q").trace(id, "00f067aa0ba90001", "").ev())
	h.sync()
	spans, ok, err := h.eng.Trace(context.Background(), id)
	if err != nil || !ok || len(spans) != 2 || spans[1].Event != "ingot.label.submit" {
		t.Fatalf("trace: %v %v %+v", err, ok, spans)
	}
	if _, ok, _ := h.eng.Trace(context.Background(), "00000000000000000000000000000001"); ok {
		t.Error("an unseen trace found")
	}
}
