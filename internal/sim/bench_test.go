package sim

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/nsai/ingot-top/internal/testkit"
)

// BenchmarkGenerate measures building and encoding one event.
func BenchmarkGenerate(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Seed = 1
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	g := newGenerator(cfg.withDefaults(), now)
	var bytes int
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		at := now.Add(time.Duration(i) * time.Millisecond)
		ev := g.next(at)
		bytes += len(g.encode(ev, at))
		if ev.traceInHeader {
			_ = ev.traceparent()
		}
	}
	b.ReportMetric(float64(bytes)/float64(i), "B/event")
}

// BenchmarkPublishPregenerated measures the publish rate of pre-built messages into an
// embedded nats-server with no subscribers: the ceiling of `simulate --pregenerated`.
func BenchmarkPublishPregenerated(b *testing.B) {
	srv := testkit.StartNATS(b, nil)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	msgs, err := Pregenerate(Config{Seed: 1}, 100_000)
	if err != nil {
		b.Fatal(err)
	}
	var msg nats.Msg
	i := 0
	start := time.Now()
	for b.Loop() {
		m := &msgs[i%len(msgs)]
		i++
		if err := m.PublishTo(nc, &msg); err != nil {
			b.Fatal(err)
		}
	}
	if err := nc.FlushTimeout(30 * time.Second); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(i)/time.Since(start).Seconds(), "msg/s")
}
