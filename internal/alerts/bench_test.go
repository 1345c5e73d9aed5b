package alerts

import (
	"fmt"
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/health"
)

// BenchmarkEvaluate is one dashboard refresh over a busy snapshot: 40 client operations
// (10 of them failing), 2 services, 7 probe rows, 2 Prometheus alerts.
func BenchmarkEvaluate(b *testing.B) {
	s := &engine.Snapshot{At: start}
	for i := range 40 {
		errs := uint64(0)
		if i%4 == 0 {
			errs = 30
		}
		s.Ops = append(s.Ops, clientOp(fmt.Sprintf("ingot.anvil_client.op_%02d", i), engine.Window5m, 100, errs))
	}
	s.Ops = append(s.Ops, labelSubmit(500, 2500))
	s.Services = []engine.ServiceStats{
		{Service: "anvil", Calls: [3]uint64{0, 4000, 4000}, Errors: [3]uint64{0, 300, 300}},
		{Service: "forge", Calls: [3]uint64{0, 4000, 4000}},
	}
	rows := make([]health.Status, 7)
	for i := range rows {
		rows[i] = health.Status{Name: fmt.Sprintf("svc%d", i), State: health.StateHealthy}
	}
	rows[3].State = health.StateUnhealthy
	prom := []Alert{{Name: "IngotHighErrorRate", State: StateFiring}, {Name: "IngotStreamLag", State: StatePending}}
	ev := NewEvaluator(DefaultRules(), 0)
	at := start
	for b.Loop() {
		at = at.Add(time.Second)
		ev.Evaluate(Input{At: at, Stream: s, Health: rows, PromAlerts: prom})
	}
}
