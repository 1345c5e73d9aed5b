package engine

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/wire"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// evb builds a wire.Event the way the decoder would.
type evb struct{ e wire.Event }

func newEv(name string, at time.Time) *evb {
	return &evb{e: wire.Event{Name: name, Segments: strings.Split(name, "."), Time: at, HasTime: true, Received: at}}
}

func (b *evb) meta(kv ...string) *evb {
	for i := 0; i+1 < len(kv); i += 2 {
		b.e.Metadata = append(b.e.Metadata, wire.KV{Key: kv[i], Value: kv[i+1]})
	}
	return b
}

func (b *evb) m(key string, v float64) *evb {
	b.e.Measurements = append(b.e.Measurements, wire.Measurement{Key: key, Value: v})
	return b
}

func (b *evb) trace(traceID, spanID, parent string) *evb {
	b.e.Trace = wire.Trace{TraceID: traceID, SpanID: spanID, ParentSpanID: parent}
	return b
}

func (b *evb) received(at time.Time) *evb {
	b.e.Received = at
	return b
}

func (b *evb) noTime() *evb {
	b.e.HasTime = false
	b.e.Time = b.e.Received
	return b
}

func (b *evb) ev() wire.Event { return b.e }

// harness runs an engine on a manual clock for one test.
type harness struct {
	t     *testing.T
	clock *ManualClock
	eng   *Engine
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	clock, eng := newWarmEngine(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return &harness{t: t, clock: clock, eng: eng}
}

func (h *harness) send(evs ...wire.Event) {
	h.t.Helper()
	if err := h.eng.HandleBatch(evs); err != nil {
		h.t.Fatalf("HandleBatch: %v", err)
	}
}

func (h *harness) sync() *Snapshot { return h.ask("Sync", h.eng.Sync) }

// fresh asks for a periodic build (Engine.Fresh), which holds the slow windows, where sync
// recomputes everything.
func (h *harness) fresh() *Snapshot { return h.ask("Fresh", h.eng.Fresh) }

func (h *harness) ask(what string, build func(context.Context) (*Snapshot, error)) *Snapshot {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := build(ctx)
	if err != nil {
		h.t.Fatalf("%s: %v", what, err)
	}
	return s
}

func findQueue(s *Snapshot, id string) *QueueStats {
	for i := range s.Queues {
		if s.Queues[i].ID == id {
			return &s.Queues[i]
		}
	}
	return nil
}

func findOp(s *Snapshot, name string) *OpStats {
	for i := range s.Ops {
		if s.Ops[i].Name == name {
			return &s.Ops[i]
		}
	}
	return nil
}

func submit(q, asg, user, method string, dur float64, at time.Time) wire.Event {
	b := newEv(wire.EventLabelSubmit, at).m("duration_ms", dur).m("client_latency_ms", 3)
	b.meta("queue_id", q, "user_id", user, "method", method)
	if asg != "" {
		b.meta("assignment_id", asg)
	}
	return b.ev()
}

func submitted(q, asg, labeler string, at time.Time) wire.Event {
	return newEv(wire.EventLabelSubmitted, at).m("duration_ms", 12).
		meta("queue_id", q, "assignment_id", asg, "labeler_id", labeler).ev()
}

func approx(t *testing.T, what string, got, want, rel float64) {
	t.Helper()
	if want == 0 {
		if got != 0 {
			t.Errorf("%s = %v, want 0", what, got)
		}
		return
	}
	if d := (got - want) / want; d > rel || d < -rel {
		t.Errorf("%s = %v, want %v (±%.1f%%)", what, got, want, rel*100)
	}
}

// newWarmEngine starts an engine that has been up for a whole 15 min window before t0, so
// rates divide by full windows; TestYoungEngineRates covers the first seconds of a run.
func newWarmEngine(cfg Config) (*ManualClock, *Engine) {
	clock := NewManualClock(t0.Add(-WindowDurations[Window15m]))
	eng := New(cfg, clock)
	clock.Set(t0)
	return clock, eng
}
