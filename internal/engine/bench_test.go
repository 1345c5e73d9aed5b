package engine

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/sim"
	"github.com/nsai/ingot-top/internal/wire"
)

// realisticMix returns n events as the platform emits them over n/rate seconds: label
// submits across queues (Ingot, then Anvil's confirmation of the same assignment), client
// calls to Forge and Anvil with ~1% errors, mounts, renders, pipelines, queue stats, and
// trace context on request events.
func realisticMix(n, queues int, start time.Time, rate int) []wire.Event {
	rng := rand.New(rand.NewPCG(7, 11))
	evs := make([]wire.Event, 0, n)
	qids := make([]string, queues)
	for i := range qids {
		qids[i] = fmt.Sprintf("queue_%04d", i)
	}
	users := make([]string, 400)
	for i := range users {
		users[i] = fmt.Sprintf("user_%03d", i)
	}
	methods := []string{"keyboard", "keyboard", "keyboard", "mouse", "api"}
	ops := []string{"ingot.forge_client.get_sample", "ingot.anvil_client.submit_label", "ingot.anvil_client.fetch_assignment"}
	for i := 0; len(evs) < n; i++ {
		at := start.Add(time.Duration(len(evs)) * time.Second / time.Duration(rate))
		qi := rng.IntN(queues)
		q := qids[qi]
		u := users[(qi*7+rng.IntN(12))%len(users)] // about a dozen labelers per queue
		trace := fmt.Sprintf("%032x", i)
		asg := fmt.Sprintf("asg_%d", i)
		result, reason := "ok", ""
		if rng.IntN(100) == 0 {
			result, reason = "error", "timeout after 5000ms"
		}
		switch r := rng.IntN(10); {
		case r < 4:
			evs = append(evs,
				newEv(wire.EventLabelSubmit, at).m("duration_ms", math.Exp(8+0.6*rng.NormFloat64())).m("client_latency_ms", 20).
					meta("queue_id", q, "assignment_id", asg, "user_id", u, "method", methods[rng.IntN(len(methods))]).
					trace(trace, "a000000000000001", "").ev(),
				newEv(wire.EventLabelSubmitted, at).m("duration_ms", 5+rng.ExpFloat64()*20).
					meta("queue_id", q, "assignment_id", asg, "labeler_id", u).trace(trace, "a000000000000002", "a000000000000001").ev())
		case r < 8:
			op := ops[rng.IntN(len(ops))]
			evs = append(evs, newEv(op, at).m("duration_ms", 2+rng.ExpFloat64()*40).
				meta("sample_id", "s_1", "queue_id", q, "result", result, "reason", reason).
				trace(trace, "b000000000000001", "").ev())
		case r < 9:
			evs = append(evs, newEv(wire.EventLiveViewMount, at).m("duration_ms", 30+rng.ExpFloat64()*30).
				meta("view", "LabelingLive", "queue_id", q, "user_id", u).ev(),
				newEv(wire.EventComponentRender, at).m("duration_ms", 1+rng.ExpFloat64()*3).
					meta("component", "CNS.IngotComponents", "sample_id", "s_1").ev())
		default:
			evs = append(evs,
				newEv(wire.EventQueueStatsUpdated, at).m("pending", float64(rng.IntN(5000))).m("in_progress", 12).m("completed", 3000).m("active_labelers", 9).meta("queue_id", q).ev(),
				newEv(wire.EventPipelineExecuted, at).m("duration_ms", 200+rng.ExpFloat64()*800).meta("pipeline_id", "p_1", "result", result, "reason", reason).ev(),
				newEv(wire.EventAssignmentAbandoned, at).m("held_ms", 60000).meta("queue_id", q, "assignment_id", asg+"x", "user_id", u).ev())
		}
	}
	return evs[:n]
}

// BenchmarkAggregate measures aggregation per event (decode excluded), in batches as Run
// processes them.
func BenchmarkAggregate(b *testing.B) {
	const n = 200_000
	evs := realisticMix(n, 200, t0, 2000)
	st := newState(DefaultConfig(), t0)
	// Warm up: allocate the rings, sketches and tables a long-running engine already has.
	for i := range evs {
		if i%100 == 0 {
			st.advance(evs[i].Received)
		}
		st.event(&evs[i])
	}
	shift := evs[n-1].Received.Sub(t0) + time.Second
	b.ReportAllocs()
	b.ResetTimer()
	// CPU time per event (process CPU, GC included) is steadier than wall time on a shared
	// machine; it also counts the rare time shifts below.
	cpuStart, events := processCPU(), 0
	i, round := 0, 0
	for b.Loop() {
		if i == n {
			i, round = 0, round+1
			b.StopTimer()
			for k := range evs { // keep time moving forward
				evs[k].Received = evs[k].Received.Add(shift)
				evs[k].Time = evs[k].Received
			}
			b.StartTimer()
		}
		if i%100 == 0 {
			st.advance(evs[i].Received)
		}
		st.event(&evs[i])
		i++
		events++
	}
	b.ReportMetric(float64(processCPU()-cpuStart)/float64(events), "cpu-ns/op")
}

// BenchmarkSnapshotBuild1000Queues measures a snapshot build with 1000 tracked queues that
// all changed since the last build (the worst case), and a steady build where time moved
// 250 ms and a fifth of the queues saw events.
func BenchmarkSnapshotBuild1000Queues(b *testing.B) {
	for _, dirtyShare := range []int{1, 5} {
		b.Run(fmt.Sprintf("dirty=1/%d", dirtyShare), func(b *testing.B) {
			st, now := loadedState(1000, 15*time.Minute)
			b.ReportAllocs()
			b.ResetTimer()
			k := 0
			var cpu time.Duration
			for b.Loop() {
				b.StopTimer()
				now = now.Add(250 * time.Millisecond)
				st.advance(now)
				for q := 0; q < 1000; q += dirtyShare {
					e := submit(fmt.Sprintf("queue_%04d", (q+k)%1000), "", "user_1", "keyboard", 3000, now)
					st.event(&e)
				}
				k++
				before := processCPU()
				b.StartTimer()
				st.build(now, false)
				b.StopTimer()
				cpu += processCPU() - before
				b.StartTimer()
			}
			// CPU time is what a build costs; ns/op also counts waiting for a shared core.
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}

// loadedState returns a state holding `queues` queues with traffic over the last `span`.
func loadedState(queues int, span time.Duration) (*state, time.Time) {
	st := newState(DefaultConfig(), t0)
	rate := 2 * queues / 10 // events per second: one label per queue every ~5 s
	n := int(span.Seconds()) * rate
	evs := realisticMix(n, queues, t0, rate)
	for i := range evs {
		if i%100 == 0 {
			st.advance(evs[i].Received)
		}
		st.event(&evs[i])
	}
	now := evs[len(evs)-1].Received
	st.build(now, false)
	return st, now
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// TestHeapAfterFlood reports the heap held by an engine after 15 minutes of traffic on 1000
// queues followed by 1,000,000 distinct queue ids, and checks it stays within a budget.
// Run: go test -run TestHeapAfterFlood -v ./internal/engine/
func TestHeapAfterFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("heap test skipped in -short")
	}
	base := heapInUse()
	st, now := loadedState(1000, 15*time.Minute)
	loaded := heapInUse()
	flood := floodEvents(1_000_000, now)
	for i := range flood {
		if i%10000 == 0 {
			now = now.Add(100 * time.Millisecond)
			st.advance(now)
		}
		st.event(&flood[i])
	}
	flood = nil
	st.build(now, false)
	after := heapInUse()
	checkCaps(t, st, DefaultConfig())
	if path := os.Getenv("ENGINE_HEAP_PROFILE"); path != "" { // where the bytes go
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.WriteHeapProfile(f); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	mb := func(v uint64) float64 { return float64(v) / (1 << 20) }
	engineAfterLoad := mb(loaded - base)
	engineAfterFlood := mb(after - base) // the flood's own events are garbage by now
	t.Logf("engine heap: %.1f MiB after 15 min × 1000 queues; %.1f MiB after a further 1,000,000 distinct queue ids", engineAfterLoad, engineAfterFlood)
	if engineAfterFlood > 256 {
		t.Errorf("engine heap %.1f MiB exceeds the 256 MiB budget", engineAfterFlood)
	}
	runtime.KeepAlive(st)
}

// TestHoursOfChurnStayFlat simulates three hours in which queues, labelers, assignments and
// traces keep changing (a new queue every 20 s, each active for 10 minutes), and checks that
// tracked state stays at the caps and the heap does not grow between hour one and hour three.
func TestHoursOfChurnStayFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("long simulation skipped in -short")
	}
	cfg := Config{MaxQueues: 100, MaxLabelersPerQueue: 10, MaxTraces: 2000, DedupeAssignments: 4096, ErrorLogSize: 100}.withDefaults()
	st := newState(cfg, t0)
	now := t0
	var heapAt1h uint64
	for sec := 0; sec < 3*3600; sec++ {
		now = now.Add(time.Second)
		st.advance(now)
		for k := 0; k < 20; k++ {
			q := fmt.Sprintf("queue_%d", (sec/20)-k*2) // ~30 live queues, drifting
			e := submit(q, fmt.Sprint("a", sec, "_", k), fmt.Sprint("u", (sec+k)%37, q), "keyboard", float64(500+k*100), now)
			e.Trace.TraceID = fmt.Sprintf("%032x", sec*20+k)
			if k == 0 {
				e.Metadata = append(e.Metadata, wire.KV{Key: "result", Value: "error"})
			}
			st.event(&e)
		}
		if sec%250 == 0 {
			st.build(now, false)
		}
		if sec == 3600 {
			heapAt1h = heapInUse()
		}
	}
	st.build(now, true)
	heapAt3h := heapInUse()
	checkCaps(t, st, cfg)
	t.Logf("heap after 1h: %.1f MiB, after 3h: %.1f MiB", float64(heapAt1h)/(1<<20), float64(heapAt3h)/(1<<20))
	if heapAt3h > heapAt1h+heapAt1h/4+4<<20 {
		t.Errorf("heap grew from %d to %d bytes between hour 1 and hour 3", heapAt1h, heapAt3h)
	}
	runtime.KeepAlive(st)
}

// BenchmarkHandleBatch measures the whole path per event: the deep copy in HandleBatch, the
// hand-off to Run, and aggregation, in batches of 100 as the feed sends them.
func BenchmarkHandleBatch(b *testing.B) {
	evs := realisticMix(100_000, 200, t0, 2000)
	for i := range evs {
		evs[i].Received = time.Time{} // aggregate at the engine's (wall) clock
		evs[i].HasTime = false
	}
	eng := New(Config{}, SystemClock{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	b.ReportAllocs()
	b.ResetTimer()
	sent := 0
	for b.Loop() {
		at := sent % len(evs)
		if err := eng.HandleBatch(evs[at : at+100]); err != nil {
			b.Fatal(err)
		}
		sent += 100
	}
	if _, err := eng.Sync(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(sent), "ns/event")
	cancel()
	<-done
}

// TestHeapAt2000PerSecond reports the heap an engine holds after 15 minutes of the
// dashboard's measured setting (the simulator's traffic at 2,000 events/s, decoded as the
// feed decodes it, so strings the engine keeps from events count too), and writes the heap
// profile to $ENGINE_HEAP_PROFILE when set:
//
//	ENGINE_HEAP_PROFILE=/tmp/heap.prof go test -run TestHeapAt2000PerSecond -v ./internal/engine/
//	go tool pprof -sample_index=inuse_space -top /tmp/heap.prof
func TestHeapAt2000PerSecond(t *testing.T) {
	if testing.Short() {
		t.Skip("15 simulated minutes skipped in -short")
	}
	const rate = 2000
	base := heapInUse()
	st := newState(DefaultConfig(), t0)
	dec := wire.NewDecoder("telemetry")
	now := t0
	for minute := range 15 {
		msgs, err := sim.Pregenerate(sim.Config{Rate: rate, Seed: int64(minute + 1)}, 60*rate)
		if err != nil {
			t.Fatal(err)
		}
		for i := range msgs {
			now = now.Add(time.Second / rate)
			if i%100 == 0 {
				st.advance(now)
				if i%(rate/4) == 0 { // the dashboard builds four times a second
					st.build(now, false)
				}
			}
			tp := ""
			if msgs[i].Header != nil {
				tp = msgs[i].Header.Get("traceparent")
			}
			ev, decErr := dec.Decode(msgs[i].Subject, msgs[i].Data, tp, now)
			if decErr != nil {
				t.Fatal(decErr)
			}
			st.event(&ev)
		}
	}
	st.build(now, false)
	held := heapInUse() - base
	if path := os.Getenv("ENGINE_HEAP_PROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.WriteHeapProfile(f); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	t.Logf("engine heap after 15 min at %d events/s of simulated traffic: %.1f MiB", rate, float64(held)/(1<<20))
	if held > 64<<20 {
		t.Errorf("engine heap %.1f MiB exceeds the 64 MiB budget", float64(held)/(1<<20))
	}
	runtime.KeepAlive(st)
}
