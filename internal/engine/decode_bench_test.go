package engine

import (
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/sim"
	"github.com/nsai/ingot-top/internal/wire"
)

// BenchmarkDecodeAggregate is the per-event cost the engine's goroutine and the feed's
// together pay for one message: wire.Decode of the simulator's payloads (the platform's mix:
// label submits, client calls with traces, renders, queue stats) and aggregation, with time
// moving at 2,000 events/s as in the dashboard's measured setting.
// Run: go test -run '^$' -bench DecodeAggregate ./internal/engine/
func BenchmarkDecodeAggregate(b *testing.B) {
	const n = 100_000
	msgs, err := sim.Pregenerate(sim.Config{Rate: 2000, Queues: 200, Labelers: 400, Seed: 7}, n)
	if err != nil {
		b.Fatal(err)
	}
	dec := wire.NewDecoder("telemetry")
	st := newState(DefaultConfig(), t0)
	step := time.Second / 2000
	now := t0
	feed := func(m *sim.Message) {
		tp := ""
		if m.Header != nil {
			tp = m.Header.Get("traceparent")
		}
		// As the feed decodes (the client's payloads are the events' to keep); the loop
		// only reads them again.
		ev, decErr := dec.DecodeOwned(m.Subject, m.Data, tp, now)
		if decErr != nil {
			b.Fatalf("%s: %v", m.Subject, decErr)
		}
		st.event(&ev)
	}
	// Warm up: the rings, sketches and tables a long-running engine already has.
	for i := range msgs {
		now = now.Add(step)
		if i%100 == 0 {
			st.advance(now)
		}
		feed(&msgs[i])
	}
	b.ReportAllocs()
	b.ResetTimer()
	start, events := processCPU(), 0
	for b.Loop() {
		now = now.Add(step)
		if events%100 == 0 {
			st.advance(now)
		}
		feed(&msgs[events%n])
		events++
	}
	b.ReportMetric(float64(processCPU()-start)/float64(events), "cpu-ns/op")
}

// BenchmarkAggregateSim is BenchmarkDecodeAggregate's aggregation alone: the same simulated
// traffic, decoded before the timer starts, so state.event's share of the pair is measured
// apart from wire.Decode's (which its own package benchmarks). The decoder gives every event
// its own strings and slices, so the events stay valid after the next Decode. Events go in
// as Run takes them: batches of feed.DefaultBatchSize, each after the clock has moved past
// its last arrival. The payloads are cold in cache, as in BenchmarkDecodeAggregate, but
// there the decoder has just written each event and here it has not: the first read of an
// event's strings (its trace id's hash, its metadata) costs a cache miss that the engine's
// goroutine pays less often, on events the feed's goroutine has just decoded.
// Run: go test -run '^$' -bench AggregateSim ./internal/engine/
func BenchmarkAggregateSim(b *testing.B) {
	const n, batch = 100_000, 256
	msgs, err := sim.Pregenerate(sim.Config{Rate: 2000, Queues: 200, Labelers: 400, Seed: 7}, n)
	if err != nil {
		b.Fatal(err)
	}
	dec := wire.NewDecoder("telemetry")
	evs := make([]wire.Event, n)
	for i := range msgs {
		tp := ""
		if msgs[i].Header != nil {
			tp = msgs[i].Header.Get("traceparent")
		}
		ev, decErr := dec.Decode(msgs[i].Subject, msgs[i].Data, tp, t0)
		if decErr != nil {
			b.Fatalf("%s: %v", msgs[i].Subject, decErr)
		}
		evs[i] = ev
	}
	st := newState(DefaultConfig(), t0)
	step := time.Second / 2000
	now := t0
	// next stamps the events of the batch starting at i as the feed would (2,000 a second),
	// and moves the engine's clock past them.
	next := func(i int) {
		for k := i; k < i+batch && k < n; k++ {
			now = now.Add(step)
			evs[k].Received = now
		}
		st.advance(now.Add(time.Millisecond))
	}
	for i := range evs { // warm up, as in BenchmarkDecodeAggregate
		if i%batch == 0 {
			next(i)
		}
		st.event(&evs[i])
	}
	b.ReportAllocs()
	b.ResetTimer()
	start, events := processCPU(), 0
	for b.Loop() {
		i := events % n
		if i%batch == 0 {
			next(i)
		}
		st.event(&evs[i])
		events++
	}
	b.ReportMetric(float64(processCPU()-start)/float64(events), "cpu-ns/op")
}
