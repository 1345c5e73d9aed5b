package promsrc

import (
	"context"
	"fmt"
	"math"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/nsai/ingot-top/internal/metrics"
	"github.com/nsai/ingot-top/internal/testkit"
	"github.com/nsai/ingot-top/internal/wire"
)

// TestExemplarsLinkABucketToATrace: the real exporter attaches trace ids to the ADR
// histograms, a real Prometheus with exemplar storage keeps them, and Exemplars returns an
// operation's slowest first, with its trace id and bucket.
func TestExemplarsLinkABucketToATrace(t *testing.T) {
	testkit.RequirePrometheus(t)
	reg := prometheus.NewRegistry()
	exp, err := metrics.New(reg, metrics.Config{ExemplarInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	defer srv.Close()
	base := testkit.StartPrometheus(t, testkit.PrometheusConfig{Target: srv.URL, Features: []string{"exemplar-storage"}}).URL
	src, err := New(Flags{Prometheus: base, PrometheusTimeout: 10 * time.Second}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	const slowest = "4bf92f3577b34da6a3ce929d0e0e4736"
	var evs []wire.Event
	for i := 0; i < 20; i++ {
		ev := event("ingot.anvil_client.submit_label", float64(20+i), "result=ok")
		ev.Trace = wire.Trace{TraceID: fmt.Sprintf("%032x", i+1), SpanID: fmt.Sprintf("%016x", i+1)}
		evs = append(evs, ev)
	}
	slow := event("ingot.anvil_client.submit_label", 5070, "result=error", "reason=timeout")
	slow.Trace = wire.Trace{TraceID: slowest, SpanID: "00f067aa0ba90002"}
	evs = append(evs, slow)
	if err := exp.HandleBatch(evs); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var got []Exemplar
	testkit.EventuallyTrue(t, 60*time.Second, "exemplars in Prometheus", func() bool {
		got, err = src.Exemplars(ctx, "ingot.anvil_client.submit_label", time.Now().Add(-10*time.Minute), time.Now().Add(time.Minute), 5)
		return err == nil && len(got) > 0 && got[0].TraceID == slowest
	})
	if e := got[0]; math.Abs(e.ValueMS-5070) > 1 || !math.IsInf(e.BucketMS, 1) || e.At.IsZero() {
		t.Errorf("slowest exemplar %+v, want 5070 ms in the +Inf bucket", e)
	}
	if len(got) > 5 {
		t.Errorf("%d exemplars, asked for 5", len(got))
	}
	if _, err := src.Exemplars(ctx, "ingot.nothing.here", time.Now().Add(-time.Minute), time.Now(), 5); err == nil {
		t.Error("an operation without a histogram has exemplars")
	}
	var none *Source
	if _, err := none.Exemplars(ctx, "ingot.label.submit", time.Now(), time.Now(), 5); err != ErrNoPrometheus {
		t.Errorf("without Prometheus: %v", err)
	}
}

func TestDecodeExemplarsKeepsOnlyTraced(t *testing.T) {
	data := []byte(`[{"seriesLabels":{"le":"2"},"exemplars":[
		{"labels":{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"},"value":"1.5","timestamp":1700000000.25},
		{"labels":{"trace_id":"not-a-trace"},"value":"1.9","timestamp":1700000000},
		{"labels":{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4737"},"value":"NaN","timestamp":1700000000},
		{"labels":{},"value":"1","timestamp":1700000000}]}]`)
	got, err := decodeExemplars(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ValueMS != 1500 || got[0].BucketMS != 2000 || got[0].At.UnixMilli() != 1700000000250 {
		t.Errorf("decoded %+v, want the one well-formed exemplar", got)
	}
}
