package feed

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/nsai/ingot-top/internal/ingest"
	"github.com/nsai/ingot-top/internal/testkit"
	"github.com/nsai/ingot-top/internal/wire"
)

// countingSink only counts, so the benchmark measures the feed (transport, decode, batching).
type countingSink struct{ events, invalid atomic.Uint64 }

func (c *countingSink) HandleBatch(events []wire.Event) error {
	c.events.Add(uint64(len(events)))
	return nil
}

func (c *countingSink) HandleInvalid(ingest.Invalid) error {
	c.invalid.Add(1)
	return nil
}

// BenchmarkFeedEndToEnd publishes b.N pre-built ~300-byte events into an embedded server and
// measures until the feed has handed every one to a counting sink (or counted it dropped).
func BenchmarkFeedEndToEnd(b *testing.B) {
	s := testkit.StartNATS(b, &server.Options{})
	sink := &countingSink{}
	f, err := New(Options{Server: s.ClientURL(), Subject: "telemetry.>"}, Config{}, sink)
	if err != nil {
		b.Fatal(err)
	}
	before := s.NumSubscriptions()
	runFeed(b, f)
	testkit.WaitForSubscriber(b, s, before)
	pub := connectPublisher(b, s.ClientURL())

	const variants = 64
	payloads := make([][]byte, variants)
	for i := range payloads {
		payloads[i] = []byte(fmt.Sprintf(`{"v":1,"event":["ingot","label","submit"],"time":"2026-12-01T10:30:45.%03dZ",`+
			`"measurements":{"duration_ms":%d.5,"client_latency_ms":31},`+
			`"metadata":{"queue_id":"queue_%d","assignment_id":"asg_%d","user_id":"user_%d","method":"keyboard"},`+
			`"node":"ingot@10.0.0.7","trace":{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7"}}`,
			i, 200+i, i%8, i, i%16))
	}
	startEvents, startDrops := sink.events.Load(), f.State().SlowConsumerDrops
	b.SetBytes(int64(len(payloads[0])))
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		if err := pub.Publish("telemetry.ingot.label.submit", payloads[i%variants]); err != nil {
			b.Fatal(err)
		}
	}
	if err := pub.Flush(); err != nil {
		b.Fatal(err)
	}
	want := startEvents + uint64(b.N)
	testkit.EventuallyTrue(b, time.Minute, "all events consumed", func() bool {
		return sink.events.Load()+f.State().SlowConsumerDrops-startDrops >= want
	})
	elapsed := time.Since(start)
	b.StopTimer()
	drops := f.State().SlowConsumerDrops - startDrops
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(drops), "drops")
	if bad := sink.invalid.Load(); bad != 0 {
		b.Fatalf("%d invalid", bad)
	}
}
