package promsrc

import (
	"context"
	"testing"
	"time"
)

func TestScratch(t *testing.T) {
	needPrometheus(t)
	target := newExporterEndpoint(t)
	events := simulated(t, 7, 4000)
	base := startPrometheus(t, target.URL, "", "native-histograms")
	target.feed(t, events[:2000])
	src, _ := New(Flags{Prometheus: base, PrometheusTimeout: 10 * time.Second, PrometheusHistory: 10 * time.Minute}, nil, nil)
	eventually(t, 30*time.Second, "x", func() bool { src.pollAll(context.Background()); return len(src.Snapshot().Queues) > 0 })
	target.feed(t, events[2000:])
	deadline := time.Now().Add(6 * time.Second)
	eventually(t, 30*time.Second, "y", func() bool { return time.Now().After(deadline) })
	at := time.Now()
	for _, q := range []string{
		`histogram_quantile(0.95, sum by (op) (label_replace(sum by (operation) (rate(ingot_anvil_client_duration_seconds[5m])), "op", "x.$1", "operation", "(.+)")))`,
		`label_replace(sum by (operation) (rate(ingot_anvil_client_duration_seconds[5m])), "op", "x.$1", "operation", "(.+)")`,
		`histogram_quantile(0.95, sum by (operation) (rate(ingot_anvil_client_duration_seconds[5m])))`,
		`sum by (queue_id) (rate(ingot_labels_submitted_total[5m])) * 60`,
	} {
		t.Logf("%s => %v", q, queryByHand(t, base, q, at))
	}
	m, err := src.prom.rangeQuery(context.Background(), DefaultQueries()[QueueRate], at)
	t.Logf("range %v %v", m, err)
}
