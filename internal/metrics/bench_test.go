package metrics

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/wire"
)

// realisticMix is a stream shaped like the simulator's: mostly label traffic on 200 queues,
// client calls with 5% errors, renders and mounts, a few stats and audit events, each with
// a trace id and a receive time moving forward 7 µs per event (~150k events/s).
func realisticMix(n int) []wire.Event {
	rng := rand.New(rand.NewPCG(1, 2))
	evs := make([]wire.Event, 0, n)
	methods := []string{"keyboard", "keyboard", "keyboard", "mouse", "api"}
	for i := range n {
		q := fmt.Sprintf("queue_%d", rng.IntN(200))
		d := rng.ExpFloat64() * 120
		result := "result=ok"
		if rng.IntN(20) == 0 {
			result = "result=error"
		}
		var ev wire.Event
		switch p := rng.IntN(100); {
		case p < 30:
			ev = event("ingot.label.submit", map[string]float64{"duration_ms": d * 4, "client_latency_ms": d}, "queue_id="+q, "assignment_id=a"+fmt.Sprint(i), "user_id=u1", "method="+methods[rng.IntN(len(methods))])
		case p < 55:
			ev = event("anvil.label.submitted", ms(d), "queue_id="+q, "assignment_id=a"+fmt.Sprint(i), "labeler_id=u1")
		case p < 65:
			ev = event("ingot.forge_client.get_sample", ms(d), "sample_id=s1", result, "reason=timeout")
		case p < 75:
			ev = event("ingot.anvil_client.submit_label", ms(d), "assignment_id=a1", result, "reason=timeout")
		case p < 85:
			ev = event("ingot.component.render_sample", ms(d/20), "component=CNS.IngotComponents", "sample_id=s1")
		case p < 90:
			ev = event("ingot.live_view.mount", ms(d), "view=LabelingLive", "queue_id="+q, "user_id=u1")
		case p < 95:
			ev = event("anvil.assignment.completed", ms(d*300), "queue_id="+q, "assignment_id=a1", "labeler_id=u1")
		case p < 97:
			ev = event("anvil.queue.stats_updated", map[string]float64{"pending": 10, "in_progress": 3, "completed": 40, "active_labelers": 2}, "queue_id="+q)
		case p < 98:
			ev = event("forge.sample.created", nil, "sample_id=s1", "pipeline_id=p1")
		case p < 99:
			ev = event("forge.pipeline.executed", ms(d*10), "pipeline_id=p1", result)
		default:
			ev = event("anvil.agreement.calculated", map[string]float64{"score": 0.8}, "queue_id="+q, "metric=krippendorff_alpha")
		}
		ev.Trace = wire.Trace{TraceID: fmt.Sprintf("%016x%016x", rng.Uint64(), rng.Uint64()), SpanID: "00f067aa0ba902b7"}
		ev.Received = received.Add(time.Duration(i) * 7 * time.Microsecond)
		ev.Time = ev.Received.Add(-2 * time.Millisecond)
		ev.HasTime = true
		evs = append(evs, ev)
	}
	return evs
}

func benchmarkHandleBatch(b *testing.B, cfg Config) {
	const batch = 256
	events := realisticMix(64 * batch)
	e, _ := newExporter(b, cfg)
	b.ReportAllocs()
	b.ResetTimer()
	span := events[len(events)-1].Received.Sub(events[0].Received) + 7*time.Microsecond
	i := 0
	for b.Loop() {
		start := (i * batch) % len(events)
		if start == 0 && i > 0 {
			// Keep the receive clock moving forward across passes, as a live stream's does,
			// so that the exemplar rate limit sees steady state rather than a clock jump.
			for j := range events {
				events[j].Received = events[j].Received.Add(span)
				events[j].Time = events[j].Time.Add(span)
			}
		}
		if err := e.HandleBatch(events[start : start+batch]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/event")
}

func BenchmarkExporterHandleBatch(b *testing.B) {
	b.Run("rate=1", func(b *testing.B) { benchmarkHandleBatch(b, Config{}) })
	b.Run("rate=0.1", func(b *testing.B) { benchmarkHandleBatch(b, Config{SampleRate: 0.1}) })
	b.Run("exemplar-every-event", func(b *testing.B) { benchmarkHandleBatch(b, Config{ExemplarInterval: -1}) })
}
