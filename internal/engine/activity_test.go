package engine

import (
	"math"
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/wire"
)

// TestClientLatencyBesideServerTime: a submit's client_latency_ms gets its own operation row
// next to the server's duration_ms.
func TestClientLatencyBesideServerTime(t *testing.T) {
	h := newHarness(t, Config{})
	at := h.clock.Now()
	for i := 0; i < 10; i++ {
		h.send(newEv(wire.EventLabelSubmit, at).m("duration_ms", 300).m("client_latency_ms", 450).meta("queue_id", "q1", "method", "keyboard").ev())
	}
	h.clock.Advance(time.Second)
	s := h.sync()
	var server, client *OpStats
	for i := range s.Ops {
		switch s.Ops[i].Name {
		case wire.EventLabelSubmit:
			server = &s.Ops[i]
		case ClientLatencyOp:
			client = &s.Ops[i]
		}
	}
	if server == nil || client == nil {
		t.Fatalf("ops %+v: want the submit and its client latency", s.Ops)
	}
	if q := client.Latency[Window1m]; q.Count != 10 || math.Abs(q.P50-450)/450 > 0.02 {
		t.Errorf("client latency %+v, want 10 at 450 ms", q)
	}
	if q := server.Latency[Window1m]; math.Abs(q.P50-300)/300 > 0.02 {
		t.Errorf("server time %+v, want 300 ms", q)
	}
}

// TestActivityRows: Forge's sample creation and Anvil's agreement calculation are counted,
// the agreement with its mean score.
func TestActivityRows(t *testing.T) {
	h := newHarness(t, Config{})
	at := h.clock.Now()
	for i := 0; i < 6; i++ {
		h.send(newEv(wire.EventSampleCreated, at).meta("sample_id", "smp_1", "pipeline_id", "pl").ev())
	}
	h.send(newEv(wire.EventAgreementCalculated, at).m("score", 0.6).meta("queue_id", "q1", "metric", "cohen_kappa").ev(),
		newEv(wire.EventAgreementCalculated, at).m("score", 0.8).meta("queue_id", "q1", "metric", "cohen_kappa").ev())
	h.clock.Advance(30 * time.Second)
	s := h.sync()
	if len(s.Activity) != 2 {
		t.Fatalf("activity %+v, want sample creation and agreement", s.Activity)
	}
	created, agreed := s.Activity[0], s.Activity[1]
	if created.Name != wire.EventSampleCreated || created.Count[Window1m] != 6 || created.ScoreKey != "" {
		t.Errorf("sample creation %+v", created)
	}
	if agreed.Name != wire.EventAgreementCalculated || agreed.Count[Window5m] != 2 || agreed.Scored[Window5m] != 2 ||
		math.Abs(agreed.MeanScore[Window5m]-0.7) > 1e-4 || agreed.LastScore != 0.8 {
		t.Errorf("agreement %+v, want 2 with mean 0.7, last 0.8", agreed)
	}
	if created.PerMin[Window1m] <= 0 {
		t.Errorf("sample creation rate %v", created.PerMin)
	}
}
