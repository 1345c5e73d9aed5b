package daemon

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/alerts"
	"github.com/nsai/ingot-top/internal/wire"
)

// BenchmarkAggregateWithAlerts is the per-second cost of a republished aggregate with and
// without the alert evaluation (one more engine snapshot), at 15 and 1000 queues:
//
//	go test -run '^$' -bench AggregateWithAlerts -benchtime 20x ./internal/daemon/
func BenchmarkAggregateWithAlerts(b *testing.B) {
	for _, queues := range []int{15, 1000} {
		b.Run(fmt.Sprintf("queues=%d", queues), func(b *testing.B) {
			src := NewAggregateSource(nil, nil)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- src.Run(ctx) }()
			b.Cleanup(func() { cancel(); <-done })
			dec := wire.NewDecoder("telemetry")
			batch := make([]wire.Event, 0, 512)
			perQueue := max(20, 24000/queues)
			for i := range queues * perQueue {
				subject, payload := "telemetry.ingot.label.submit", submitPayload(i, fmt.Sprintf("queue-%04d", i%queues), "keyboard")
				if i%10 == 0 {
					subject, payload = "telemetry.ingot.anvil_client.submit_label", clientErrorPayload(i)
				}
				ev, err := dec.Decode(subject, payload, "", time.Now())
				if err != nil {
					b.Fatal(err)
				}
				if batch = append(batch, ev); len(batch) == cap(batch) {
					if err := src.HandleBatch(batch); err != nil {
						b.Fatal(err)
					}
					batch = batch[:0]
				}
			}
			if err := src.HandleBatch(batch); err != nil {
				b.Fatal(err)
			}
			if _, err := src.Engine().Sync(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.Run("aggregate", func(b *testing.B) {
				for b.Loop() {
					if src.MergeableSnapshot() == nil {
						b.Fatal("no aggregate")
					}
				}
			})
			src.SetAlertRules(alerts.DefaultRules())
			b.Run("aggregate+alerts", func(b *testing.B) {
				for b.Loop() {
					if src.MergeableSnapshot() == nil {
						b.Fatal("no aggregate")
					}
				}
			})
			b.Run("alerts-only", func(b *testing.B) {
				for b.Loop() {
					if src.evaluateAlerts(context.Background()) == nil {
						b.Fatal("no alerts")
					}
				}
			})
		})
	}
}
