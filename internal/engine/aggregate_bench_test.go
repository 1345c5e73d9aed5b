package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/wire"
)

// busyEngine returns a running engine that has seen perQueue submits (25 labelers, all
// methods, with durations) on each of queues queues over the last 15 minutes, plus
// operation, error and lag traffic.
func busyEngine(b *testing.B, queues, perQueue int, seed uint64) *Engine {
	b.Helper()
	clock := NewManualClock(t0.Add(-20 * time.Minute))
	e := New(Config{}, clock)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	b.Cleanup(func() { cancel(); <-done })
	rng := rand.New(rand.NewPCG(seed, 7))
	methods := []string{"keyboard", "mouse", "api"}
	total := queues * perQueue
	start := t0.Add(-15 * time.Minute)
	batch := make([]wire.Event, 0, 512)
	flush := func() {
		if err := e.HandleBatch(batch); err != nil {
			b.Fatal(err)
		}
		batch = batch[:0]
	}
	for i := 0; i < total; i++ {
		at := start.Add(time.Duration(float64(15*time.Minute) * float64(i) / float64(total)))
		if at.After(clock.Now()) && len(batch) == cap(batch) {
			flush()
			clock.Set(at)
		}
		q := fmt.Sprintf("queue-%04d", i%queues)
		batch = append(batch, submit(q, fmt.Sprintf("asg-%d-%d", seed, i), fmt.Sprintf("user-%02d", rng.IntN(25)), methods[rng.IntN(3)], 500+rng.ExpFloat64()*5000, at))
		if i%4 == 0 {
			b := newEv(wire.ExampleAnvilClientSubmit, at).m("duration_ms", 3+rng.ExpFloat64()*80).trace(fmt.Sprintf("t%d", i), "s", "")
			if i%40 == 0 {
				b.meta("result", "error", "reason", "timeout: anvil did not answer within 5000 ms", "queue_id", q, "assignment_id", fmt.Sprint(i), "user_id", "user-01")
				// A request's lineage: the client call and a few spans around it.
				for k := 0; k < 5; k++ {
					batch = append(batch, newEv(wire.EventLiveViewMount, at).m("duration_ms", 20).meta("result", "ok").trace(fmt.Sprintf("t%d", i), fmt.Sprintf("c%d", k), "s").ev())
				}
			} else {
				b.meta("result", "ok")
			}
			batch = append(batch, b.ev())
		}
	}
	flush()
	clock.Set(t0)
	if _, err := e.Sync(context.Background()); err != nil {
		b.Fatal(err)
	}
	return e
}

func BenchmarkBuildAggregate(b *testing.B) {
	for _, queues := range []int{12, 1000} {
		b.Run(fmt.Sprintf("queues=%d", queues), func(b *testing.B) {
			e := busyEngine(b, queues, max(60, 24000/queues), 1)
			// build is the part on the engine goroutine, where it holds up aggregation.
			b.Run("build", func(b *testing.B) {
				for b.Loop() {
					if _, err := e.Aggregate(context.Background()); err != nil {
						b.Fatal(err)
					}
				}
			})
			var size int
			b.Run("build+encode", func(b *testing.B) {
				for b.Loop() {
					x, err := e.Aggregate(context.Background())
					if err != nil {
						b.Fatal(err)
					}
					x.Producer = "bench"
					data, err := x.Encode()
					if err != nil {
						b.Fatal(err)
					}
					size = len(data)
				}
				b.ReportMetric(float64(size), "bytes/aggregate")
			})
		})
	}
}

func BenchmarkMerge3x1000(b *testing.B) {
	var encoded [][]byte
	for p := 0; p < 3; p++ {
		e := busyEngine(b, 1000, 60, uint64(p+1))
		x, err := e.Aggregate(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		x.Producer = fmt.Sprintf("p%d", p)
		data, err := x.Encode()
		if err != nil {
			b.Fatal(err)
		}
		encoded = append(encoded, data)
	}
	b.Run("decode+merge", func(b *testing.B) {
		for b.Loop() {
			m := NewMerger(MergerConfig{MaxClockSkew: -1, ExpireAfter: time.Hour})
			for _, data := range encoded {
				if err := m.AddEncoded(data); err != nil {
					b.Fatal(err)
				}
			}
			if s := m.Snapshot(); len(s.Queues) == 0 {
				b.Fatal("no queues")
			}
		}
	})
	b.Run("merge", func(b *testing.B) {
		m := NewMerger(MergerConfig{MaxClockSkew: -1, ExpireAfter: time.Hour})
		for _, data := range encoded {
			if err := m.AddEncoded(data); err != nil {
				b.Fatal(err)
			}
		}
		for b.Loop() {
			if s := m.Snapshot(); len(s.Queues) == 0 {
				b.Fatal("no queues")
			}
		}
	})
}
