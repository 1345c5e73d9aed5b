package metrics

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/nsai/ingot-top/internal/ingest"
	"github.com/nsai/ingot-top/internal/testkit"
	"github.com/nsai/ingot-top/internal/wire"
)

var received = time.Date(2026, 12, 1, 10, 30, 45, 0, time.UTC)

// event builds a wire.Event as the decoder would: name split into segments, receive time
// set, measurements and metadata as "k=v" pairs.
func event(name string, measurements map[string]float64, metadata ...string) wire.Event {
	ev := wire.Event{Name: name, Segments: strings.Split(name, "."), Time: received, Received: received}
	for k, v := range measurements {
		ev.Measurements = append(ev.Measurements, wire.Measurement{Key: k, Value: v})
	}
	for _, kv := range metadata {
		k, v, _ := strings.Cut(kv, "=")
		ev.Metadata = append(ev.Metadata, wire.KV{Key: k, Value: v})
	}
	return ev
}

func withTrace(ev wire.Event, traceID string) wire.Event {
	ev.Trace = wire.Trace{TraceID: traceID, SpanID: "00f067aa0ba902b7"}
	return ev
}

func ms(v float64) map[string]float64 { return map[string]float64{"duration_ms": v} }

func newExporter(t testing.TB, cfg Config) (*Exporter, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	e, err := New(reg, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e, reg
}

func feedAll(t testing.TB, e *Exporter, events ...wire.Event) {
	t.Helper()
	if err := e.HandleBatch(events); err != nil {
		t.Fatalf("HandleBatch: %v", err)
	}
}

// adrEvents are the known events behind TestADRMetricsExactCounts. Durations are chosen so
// that ms/1000 and the sums are exact in binary floating point.
func adrEvents() []wire.Event {
	return []wire.Event{
		event("ingot.live_view.mount", ms(31.25), "view=LabelingLive", "queue_id=q1", "user_id=u1"),
		event("ingot.live_view.mount", ms(250), "view=LabelingLive", "queue_id=q1", "user_id=u1"),
		event("ingot.live_view.mount", ms(3000), "view=AdminDashboardLive"),
		event("ingot.label.submit", map[string]float64{"duration_ms": 250, "client_latency_ms": 12}, "queue_id=q1", "assignment_id=a1", "user_id=u1", "method=keyboard"),
		event("ingot.label.submit", ms(1500), "queue_id=q1", "assignment_id=a2", "user_id=u1", "method=mouse"),
		event("ingot.label.submit", ms(62.5), "queue_id=q2", "assignment_id=a3", "user_id=u2", "method=keyboard"),
		event("ingot.forge_client.get_sample", map[string]float64{"duration_ms": 15.625, "payload_bytes": 2048}, "sample_id=s1", "result=ok"),
		event("ingot.forge_client.get_sample", ms(3000), "sample_id=s2", "result=error", "reason=timeout"),
		event("ingot.anvil_client.submit_label", ms(125), "assignment_id=a1", "result=error", "reason=\x1b[31mboom"),
		event("ingot.anvil_client.submit_label", ms(125), "assignment_id=a2", "result=error", "reason=conflict"),
		event("ingot.anvil_client.submit_label", ms(7.8125), "assignment_id=a3", "result=ok"),
		event("ingot.component.render_sample", ms(3.90625), "component=CNS.IngotComponents", "sample_id=s1"),
	}
}

func TestADRMetricsExactCounts(t *testing.T) {
	e, reg := newExporter(t, Config{})
	feedAll(t, e, adrEvents()...)

	const want = `
# HELP ingot_live_view_mount_duration_seconds Time to mount LiveView
# TYPE ingot_live_view_mount_duration_seconds histogram
ingot_live_view_mount_duration_seconds_bucket{view="AdminDashboardLive",le="0.01"} 0
ingot_live_view_mount_duration_seconds_bucket{view="AdminDashboardLive",le="0.05"} 0
ingot_live_view_mount_duration_seconds_bucket{view="AdminDashboardLive",le="0.1"} 0
ingot_live_view_mount_duration_seconds_bucket{view="AdminDashboardLive",le="0.25"} 0
ingot_live_view_mount_duration_seconds_bucket{view="AdminDashboardLive",le="0.5"} 0
ingot_live_view_mount_duration_seconds_bucket{view="AdminDashboardLive",le="1"} 0
ingot_live_view_mount_duration_seconds_bucket{view="AdminDashboardLive",le="2"} 0
ingot_live_view_mount_duration_seconds_bucket{view="AdminDashboardLive",le="+Inf"} 1
ingot_live_view_mount_duration_seconds_sum{view="AdminDashboardLive"} 3
ingot_live_view_mount_duration_seconds_count{view="AdminDashboardLive"} 1
ingot_live_view_mount_duration_seconds_bucket{view="LabelingLive",le="0.01"} 0
ingot_live_view_mount_duration_seconds_bucket{view="LabelingLive",le="0.05"} 1
ingot_live_view_mount_duration_seconds_bucket{view="LabelingLive",le="0.1"} 1
ingot_live_view_mount_duration_seconds_bucket{view="LabelingLive",le="0.25"} 2
ingot_live_view_mount_duration_seconds_bucket{view="LabelingLive",le="0.5"} 2
ingot_live_view_mount_duration_seconds_bucket{view="LabelingLive",le="1"} 2
ingot_live_view_mount_duration_seconds_bucket{view="LabelingLive",le="2"} 2
ingot_live_view_mount_duration_seconds_bucket{view="LabelingLive",le="+Inf"} 2
ingot_live_view_mount_duration_seconds_sum{view="LabelingLive"} 0.28125
ingot_live_view_mount_duration_seconds_count{view="LabelingLive"} 2
# HELP ingot_labels_submitted_total Total labels submitted
# TYPE ingot_labels_submitted_total counter
ingot_labels_submitted_total{method="keyboard",queue_id="q1"} 1
ingot_labels_submitted_total{method="keyboard",queue_id="q2"} 1
ingot_labels_submitted_total{method="mouse",queue_id="q1"} 1
# HELP ingot_label_submit_duration_seconds Time from submit button to next assignment
# TYPE ingot_label_submit_duration_seconds histogram
ingot_label_submit_duration_seconds_bucket{queue_id="q1",le="0.1"} 0
ingot_label_submit_duration_seconds_bucket{queue_id="q1",le="0.25"} 1
ingot_label_submit_duration_seconds_bucket{queue_id="q1",le="0.5"} 1
ingot_label_submit_duration_seconds_bucket{queue_id="q1",le="1"} 1
ingot_label_submit_duration_seconds_bucket{queue_id="q1",le="2"} 2
ingot_label_submit_duration_seconds_bucket{queue_id="q1",le="5"} 2
ingot_label_submit_duration_seconds_bucket{queue_id="q1",le="10"} 2
ingot_label_submit_duration_seconds_bucket{queue_id="q1",le="+Inf"} 2
ingot_label_submit_duration_seconds_sum{queue_id="q1"} 1.75
ingot_label_submit_duration_seconds_count{queue_id="q1"} 2
ingot_label_submit_duration_seconds_bucket{queue_id="q2",le="0.1"} 1
ingot_label_submit_duration_seconds_bucket{queue_id="q2",le="0.25"} 1
ingot_label_submit_duration_seconds_bucket{queue_id="q2",le="0.5"} 1
ingot_label_submit_duration_seconds_bucket{queue_id="q2",le="1"} 1
ingot_label_submit_duration_seconds_bucket{queue_id="q2",le="2"} 1
ingot_label_submit_duration_seconds_bucket{queue_id="q2",le="5"} 1
ingot_label_submit_duration_seconds_bucket{queue_id="q2",le="10"} 1
ingot_label_submit_duration_seconds_bucket{queue_id="q2",le="+Inf"} 1
ingot_label_submit_duration_seconds_sum{queue_id="q2"} 0.0625
ingot_label_submit_duration_seconds_count{queue_id="q2"} 1
# HELP ingot_forge_client_duration_seconds ForgeClient call duration
# TYPE ingot_forge_client_duration_seconds histogram
ingot_forge_client_duration_seconds_bucket{operation="get_sample",result="error",le="0.01"} 0
ingot_forge_client_duration_seconds_bucket{operation="get_sample",result="error",le="0.05"} 0
ingot_forge_client_duration_seconds_bucket{operation="get_sample",result="error",le="0.1"} 0
ingot_forge_client_duration_seconds_bucket{operation="get_sample",result="error",le="0.25"} 0
ingot_forge_client_duration_seconds_bucket{operation="get_sample",result="error",le="0.5"} 0
ingot_forge_client_duration_seconds_bucket{operation="get_sample",result="error",le="1"} 0
ingot_forge_client_duration_seconds_bucket{operation="get_sample",result="error",le="2"} 0
ingot_forge_client_duration_seconds_bucket{operation="get_sample",result="error",le="+Inf"} 1
ingot_forge_client_duration_seconds_sum{operation="get_sample",result="error"} 3
ingot_forge_client_duration_seconds_count{operation="get_sample",result="error"} 1
ingot_forge_client_duration_seconds_bucket{operation="get_sample",result="ok",le="0.01"} 0
ingot_forge_client_duration_seconds_bucket{operation="get_sample",result="ok",le="0.05"} 1
ingot_forge_client_duration_seconds_bucket{operation="get_sample",result="ok",le="0.1"} 1
ingot_forge_client_duration_seconds_bucket{operation="get_sample",result="ok",le="0.25"} 1
ingot_forge_client_duration_seconds_bucket{operation="get_sample",result="ok",le="0.5"} 1
ingot_forge_client_duration_seconds_bucket{operation="get_sample",result="ok",le="1"} 1
ingot_forge_client_duration_seconds_bucket{operation="get_sample",result="ok",le="2"} 1
ingot_forge_client_duration_seconds_bucket{operation="get_sample",result="ok",le="+Inf"} 1
ingot_forge_client_duration_seconds_sum{operation="get_sample",result="ok"} 0.015625
ingot_forge_client_duration_seconds_count{operation="get_sample",result="ok"} 1
# HELP ingot_anvil_client_duration_seconds AnvilClient call duration
# TYPE ingot_anvil_client_duration_seconds histogram
ingot_anvil_client_duration_seconds_bucket{operation="submit_label",result="error",le="0.01"} 0
ingot_anvil_client_duration_seconds_bucket{operation="submit_label",result="error",le="0.05"} 0
ingot_anvil_client_duration_seconds_bucket{operation="submit_label",result="error",le="0.1"} 0
ingot_anvil_client_duration_seconds_bucket{operation="submit_label",result="error",le="0.25"} 2
ingot_anvil_client_duration_seconds_bucket{operation="submit_label",result="error",le="0.5"} 2
ingot_anvil_client_duration_seconds_bucket{operation="submit_label",result="error",le="1"} 2
ingot_anvil_client_duration_seconds_bucket{operation="submit_label",result="error",le="2"} 2
ingot_anvil_client_duration_seconds_bucket{operation="submit_label",result="error",le="+Inf"} 2
ingot_anvil_client_duration_seconds_sum{operation="submit_label",result="error"} 0.25
ingot_anvil_client_duration_seconds_count{operation="submit_label",result="error"} 2
ingot_anvil_client_duration_seconds_bucket{operation="submit_label",result="ok",le="0.01"} 1
ingot_anvil_client_duration_seconds_bucket{operation="submit_label",result="ok",le="0.05"} 1
ingot_anvil_client_duration_seconds_bucket{operation="submit_label",result="ok",le="0.1"} 1
ingot_anvil_client_duration_seconds_bucket{operation="submit_label",result="ok",le="0.25"} 1
ingot_anvil_client_duration_seconds_bucket{operation="submit_label",result="ok",le="0.5"} 1
ingot_anvil_client_duration_seconds_bucket{operation="submit_label",result="ok",le="1"} 1
ingot_anvil_client_duration_seconds_bucket{operation="submit_label",result="ok",le="2"} 1
ingot_anvil_client_duration_seconds_bucket{operation="submit_label",result="ok",le="+Inf"} 1
ingot_anvil_client_duration_seconds_sum{operation="submit_label",result="ok"} 0.0078125
ingot_anvil_client_duration_seconds_count{operation="submit_label",result="ok"} 1
# HELP ingot_forge_client_errors_total ForgeClient errors
# TYPE ingot_forge_client_errors_total counter
ingot_forge_client_errors_total{operation="get_sample"} 1
# HELP ingot_anvil_client_errors_total AnvilClient errors
# TYPE ingot_anvil_client_errors_total counter
ingot_anvil_client_errors_total{operation="submit_label"} 2
# HELP ingot_component_render_duration_seconds Component render time
# TYPE ingot_component_render_duration_seconds histogram
ingot_component_render_duration_seconds_bucket{component="CNS.IngotComponents",le="0.001"} 0
ingot_component_render_duration_seconds_bucket{component="CNS.IngotComponents",le="0.005"} 1
ingot_component_render_duration_seconds_bucket{component="CNS.IngotComponents",le="0.01"} 1
ingot_component_render_duration_seconds_bucket{component="CNS.IngotComponents",le="0.05"} 1
ingot_component_render_duration_seconds_bucket{component="CNS.IngotComponents",le="0.1"} 1
ingot_component_render_duration_seconds_bucket{component="CNS.IngotComponents",le="0.25"} 1
ingot_component_render_duration_seconds_bucket{component="CNS.IngotComponents",le="0.5"} 1
ingot_component_render_duration_seconds_bucket{component="CNS.IngotComponents",le="+Inf"} 1
ingot_component_render_duration_seconds_sum{component="CNS.IngotComponents"} 0.00390625
ingot_component_render_duration_seconds_count{component="CNS.IngotComponents"} 1
`
	names := []string{
		"ingot_live_view_mount_duration_seconds", "ingot_labels_submitted_total",
		"ingot_label_submit_duration_seconds", "ingot_forge_client_duration_seconds",
		"ingot_anvil_client_duration_seconds", "ingot_forge_client_errors_total",
		"ingot_anvil_client_errors_total", "ingot_component_render_duration_seconds",
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}
}

func TestForgeAnvilMetricsExactCounts(t *testing.T) {
	e, reg := newExporter(t, Config{})
	feedAll(t, e,
		event("forge.sample.created", nil, "sample_id=s1", "pipeline_id=p1"),
		event("forge.sample.created", nil, "sample_id=s2", "pipeline_id=p1"),
		event("forge.sample.created", nil, "sample_id=s3"),
		event("forge.artifact.uploaded", map[string]float64{"bytes": 1024, "duration_ms": 500}, "artifact_id=x1", "sample_id=s1"),
		event("forge.artifact.uploaded", map[string]float64{"bytes": 3072, "duration_ms": 40000}, "artifact_id=x2", "sample_id=s2"),
		event("forge.pipeline.executed", ms(2500), "pipeline_id=p1", "result=ok"),
		event("forge.pipeline.executed", ms(500), "pipeline_id=p1", "result=error", "reason=oom"),
		event("forge.pipeline.executed", ms(500), "pipeline_id=p1", "result=maybe"),
		event("anvil.label.submitted", ms(125), "queue_id=q1", "assignment_id=a1", "labeler_id=u1"),
		event("anvil.label.submitted", ms(125), "queue_id=q1", "assignment_id=a2", "labeler_id=u1"),
		event("anvil.assignment.completed", ms(45000), "queue_id=q1", "assignment_id=a1", "labeler_id=u1"),
		event("anvil.queue.stats_updated", map[string]float64{"pending": 10, "in_progress": 3, "completed": 40, "active_labelers": 2}, "queue_id=q1"),
		event("anvil.queue.stats_updated", map[string]float64{"pending": 9, "in_progress": 4, "completed": 41, "active_labelers": 3}, "queue_id=q1"),
		event("anvil.agreement.calculated", map[string]float64{"score": 0.75}, "queue_id=q1", "metric=krippendorff_alpha"),
		event("anvil.queue.modified", nil, "queue_id=q1", "actor_id=admin", "change=priority"),
		event("anvil.export.completed", map[string]float64{"rows": 100, "bytes": 4096, "duration_ms": 2000}, "queue_id=q1", "actor_id=admin", "format=jsonl"),
		event("ingot.assignment.abandoned", map[string]float64{"held_ms": 60000}, "queue_id=q1", "assignment_id=a9", "user_id=u2"),
	)
	const want = `
# HELP forge_samples_created_total Samples created by Forge
# TYPE forge_samples_created_total counter
forge_samples_created_total{pipeline_id="p1"} 2
forge_samples_created_total{pipeline_id="unknown"} 1
# HELP forge_artifacts_uploaded_total Artifacts uploaded to Forge
# TYPE forge_artifacts_uploaded_total counter
forge_artifacts_uploaded_total 2
# HELP forge_artifact_uploaded_bytes_total Bytes of artifacts uploaded to Forge
# TYPE forge_artifact_uploaded_bytes_total counter
forge_artifact_uploaded_bytes_total 4096
# HELP forge_pipeline_executions_total Forge pipeline executions, by result
# TYPE forge_pipeline_executions_total counter
forge_pipeline_executions_total{result="error"} 1
forge_pipeline_executions_total{result="ok"} 1
forge_pipeline_executions_total{result="other"} 1
# HELP anvil_labels_submitted_total Labels stored by Anvil
# TYPE anvil_labels_submitted_total counter
anvil_labels_submitted_total{queue_id="q1"} 2
# HELP anvil_assignments_completed_total Assignments completed in Anvil
# TYPE anvil_assignments_completed_total counter
anvil_assignments_completed_total{queue_id="q1"} 1
# HELP anvil_queue_pending_assignments Assignments pending in an Anvil queue, as last reported
# TYPE anvil_queue_pending_assignments gauge
anvil_queue_pending_assignments{queue_id="q1"} 9
# HELP anvil_queue_in_progress_assignments Assignments in progress in an Anvil queue, as last reported
# TYPE anvil_queue_in_progress_assignments gauge
anvil_queue_in_progress_assignments{queue_id="q1"} 4
# HELP anvil_queue_completed_assignments Assignments completed in an Anvil queue, as last reported
# TYPE anvil_queue_completed_assignments gauge
anvil_queue_completed_assignments{queue_id="q1"} 41
# HELP anvil_queue_active_labelers Labelers active on an Anvil queue, as last reported
# TYPE anvil_queue_active_labelers gauge
anvil_queue_active_labelers{queue_id="q1"} 3
# HELP anvil_agreement_score Inter-annotator agreement score of a queue, as last calculated
# TYPE anvil_agreement_score gauge
anvil_agreement_score{metric="krippendorff_alpha",queue_id="q1"} 0.75
# HELP anvil_queue_modifications_total Queue modifications (audit events)
# TYPE anvil_queue_modifications_total counter
anvil_queue_modifications_total{change="priority",queue_id="q1"} 1
# HELP anvil_exports_total Completed exports (audit events)
# TYPE anvil_exports_total counter
anvil_exports_total{format="jsonl",queue_id="q1"} 1
# HELP anvil_export_rows_total Rows written by completed exports
# TYPE anvil_export_rows_total counter
anvil_export_rows_total{queue_id="q1"} 100
# HELP anvil_export_bytes_total Bytes written by completed exports
# TYPE anvil_export_bytes_total counter
anvil_export_bytes_total{queue_id="q1"} 4096
# HELP ingot_assignments_abandoned_total Assignments abandoned by the labeler before submitting
# TYPE ingot_assignments_abandoned_total counter
ingot_assignments_abandoned_total{queue_id="q1"} 1
`
	names := []string{
		"forge_samples_created_total", "forge_artifacts_uploaded_total", "forge_artifact_uploaded_bytes_total",
		"forge_pipeline_executions_total", "anvil_labels_submitted_total", "anvil_assignments_completed_total",
		"anvil_queue_pending_assignments", "anvil_queue_in_progress_assignments", "anvil_queue_completed_assignments",
		"anvil_queue_active_labelers", "anvil_agreement_score", "anvil_queue_modifications_total",
		"anvil_exports_total", "anvil_export_rows_total", "anvil_export_bytes_total", "ingot_assignments_abandoned_total",
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}
	for name, wantCount := range map[string]uint64{
		"forge_artifact_upload_duration_seconds": 2, "forge_pipeline_duration_seconds": 3,
		"anvil_label_submit_duration_seconds": 2, "anvil_assignment_duration_seconds": 1,
		"anvil_export_duration_seconds": 1,
	} {
		if got := histogramCount(t, reg, name); got != wantCount {
			t.Errorf("%s: count %d, want %d", name, got, wantCount)
		}
	}
}

// TestHistogramMillisecondsToSecondsAndBuckets checks ms → s and the upper-inclusive
// bucket boundaries on the ADR buckets, sample by sample.
func TestHistogramMillisecondsToSecondsAndBuckets(t *testing.T) {
	e, reg := newExporter(t, Config{})
	// 1 ms is exactly the 0.001 s boundary, 5 ms the 0.005 s one, 500 ms the last bound.
	for _, d := range []float64{0.5, 1, 5, 5.001, 250, 500, 501} {
		feedAll(t, e, event("ingot.component.render_sample", ms(d), "component=C"))
	}
	h := histogram(t, reg, "ingot_component_render_duration_seconds")
	wantBounds := []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5}
	wantCumulative := []uint64{2, 3, 4, 4, 4, 5, 6}
	if len(h.GetBucket()) != len(wantBounds) {
		t.Fatalf("got %d classic buckets, want %d", len(h.GetBucket()), len(wantBounds))
	}
	for i, b := range h.GetBucket() {
		if b.GetUpperBound() != wantBounds[i] || b.GetCumulativeCount() != wantCumulative[i] {
			t.Errorf("bucket %d: le=%v count=%d, want le=%v count=%d", i, b.GetUpperBound(), b.GetCumulativeCount(), wantBounds[i], wantCumulative[i])
		}
	}
	if h.GetSampleCount() != 7 {
		t.Errorf("count %d, want 7", h.GetSampleCount())
	}
	if got, want := h.GetSampleSum(), (0.5+1+5+5.001+250+500+501)/1000; abs(got-want) > 1e-12 {
		t.Errorf("sum %v s, want %v s (the ms sum / 1000)", got, want)
	}
	// Native buckets are there alongside the classic ones, at factor 1.1 → schema 3.
	if h.Schema == nil || h.GetSchema() != 3 {
		t.Errorf("native histogram schema = %v, want 3 (bucket factor 1.1)", h.Schema)
	}
	if len(h.GetPositiveSpan()) == 0 {
		t.Errorf("no native positive spans")
	}

	// Missing or negative durations are skipped, not observed as 0.
	feedAll(t, e, event("ingot.component.render_sample", nil, "component=C"),
		event("ingot.component.render_sample", ms(-3), "component=C"))
	if got := histogram(t, reg, "ingot_component_render_duration_seconds").GetSampleCount(); got != 7 {
		t.Errorf("count after bad durations %d, want 7", got)
	}
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

func gather(t testing.TB, reg prometheus.Gatherer, name string) *dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf
		}
	}
	return nil
}

func histogram(t testing.TB, reg prometheus.Gatherer, name string) *dto.Histogram {
	t.Helper()
	mf := gather(t, reg, name)
	if mf == nil || len(mf.Metric) != 1 {
		t.Fatalf("%s: want exactly one series, got %v", name, mf)
	}
	return mf.Metric[0].GetHistogram()
}

func histogramCount(t testing.TB, reg prometheus.Gatherer, name string) uint64 {
	t.Helper()
	var n uint64
	if mf := gather(t, reg, name); mf != nil {
		for _, m := range mf.Metric {
			n += m.GetHistogram().GetSampleCount()
		}
	}
	return n
}

func TestExemplarInOpenMetrics(t *testing.T) {
	e, reg := newExporter(t, Config{})
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	feedAll(t, e, withTrace(event("ingot.label.submit", ms(250), "queue_id=q1", "method=keyboard"), traceID))

	server := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	defer server.Close()
	req, err := http.NewRequest(http.MethodGet, server.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/openmetrics-text; version=1.0.0; charset=utf-8")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/openmetrics-text") {
		t.Fatalf("Content-Type %q, want OpenMetrics", ct)
	}
	wantLine := `ingot_label_submit_duration_seconds_bucket{queue_id="q1",le="0.25"} 1 # {trace_id="` + traceID + `"} 0.25 `
	if !strings.Contains(string(body), wantLine) {
		t.Fatalf("exemplar line %q not in exposition:\n%s", wantLine, grepLines(string(body), "ingot_label_submit_duration_seconds"))
	}
	if !strings.HasSuffix(strings.TrimSpace(string(body)), "# EOF") {
		t.Errorf("OpenMetrics exposition does not end with # EOF")
	}
}

func grepLines(s, substr string) string {
	var out []string
	for line := range strings.Lines(s) {
		if strings.Contains(line, substr) {
			out = append(out, strings.TrimRight(line, "\n"))
		}
	}
	return strings.Join(out, "\n")
}

// TestExemplarRateLimit: within the interval, a second observation in the same bucket keeps
// the first exemplar; after it, the exemplar is replaced.
func TestExemplarRateLimit(t *testing.T) {
	e, reg := newExporter(t, Config{ExemplarInterval: time.Second})
	first := withTrace(event("ingot.live_view.mount", ms(20), "view=V"), "11111111111111111111111111111111")
	soon := withTrace(event("ingot.live_view.mount", ms(20), "view=V"), "22222222222222222222222222222222")
	soon.Received = received.Add(500 * time.Millisecond)
	later := withTrace(event("ingot.live_view.mount", ms(20), "view=V"), "33333333333333333333333333333333")
	later.Received = received.Add(2 * time.Second)

	exemplarOf := func() string {
		for _, b := range histogram(t, reg, "ingot_live_view_mount_duration_seconds").GetBucket() {
			if b.GetUpperBound() == 0.05 {
				for _, l := range b.GetExemplar().GetLabel() {
					return l.GetValue()
				}
			}
		}
		return ""
	}
	feedAll(t, e, first, soon)
	if got := exemplarOf(); got != first.Trace.TraceID {
		t.Fatalf("exemplar %q, want the first trace", got)
	}
	feedAll(t, e, later)
	if got := exemplarOf(); got != later.Trace.TraceID {
		t.Fatalf("exemplar %q, want the later trace", got)
	}
}

func allKindsOfEvents() []wire.Event {
	evs := adrEvents()
	evs = append(evs,
		event("forge.sample.created", nil, "sample_id=s1", "pipeline_id=p1"),
		event("forge.artifact.uploaded", map[string]float64{"bytes": 1024, "duration_ms": 500}, "artifact_id=x1"),
		event("forge.pipeline.executed", ms(2500), "pipeline_id=p1", "result=ok"),
		event("anvil.label.submitted", ms(125), "queue_id=q1"),
		event("anvil.assignment.completed", ms(45000), "queue_id=q1"),
		event("anvil.queue.stats_updated", map[string]float64{"pending": 10, "in_progress": 3, "completed": 40, "active_labelers": 2}, "queue_id=q1"),
		event("anvil.agreement.calculated", map[string]float64{"score": 0.75}, "queue_id=q1", "metric=kappa"),
		event("anvil.queue.modified", nil, "queue_id=q1", "change=pause"),
		event("anvil.export.completed", map[string]float64{"rows": 1, "bytes": 2, "duration_ms": 3}, "queue_id=q1", "format=csv"),
		event("ingot.assignment.abandoned", nil, "queue_id=q1"),
		event("mystery.thing.happened", nil),
	)
	return evs
}

func TestGatherAndLintClean(t *testing.T) {
	e, reg := newExporter(t, Config{})
	feedAll(t, e, allKindsOfEvents()...)
	if err := e.HandleInvalid(ingest.Invalid{Reason: wire.ReasonNotJSON}); err != nil {
		t.Fatal(err)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestPromtoolCheckMetrics(t *testing.T) {
	e, reg := newExporter(t, Config{})
	feedAll(t, e, allKindsOfEvents()...)
	server := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	defer server.Close()
	resp, err := http.Get(server.URL) // no Accept: the text format promtool reads
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	exposition, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out, err := testkit.PromtoolCheckMetrics(t, bytes.NewReader(exposition))
	if err != nil || len(strings.TrimSpace(out)) > 0 {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

func TestNewFailsOnDuplicateRegistration(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := New(reg, Config{}); err != nil {
		t.Fatal(err)
	}
	_, err := New(reg, Config{})
	var already prometheus.AlreadyRegisteredError
	if !errors.As(err, &already) {
		t.Fatalf("second New: %v, want a wrapped AlreadyRegisteredError", err)
	}
	if !strings.Contains(err.Error(), "metrics: register ingot_top_series_overflow_total") {
		t.Errorf("error %q does not say what failed", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{{SampleRate: 1.5}, {SampleRate: -0.1}, {MaxSeriesPerMetric: 1}, {MaxQueueIDs: -1}, {MaxEventNames: 3}} {
		if _, err := New(prometheus.NewRegistry(), cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

func TestCheckSampleRate(t *testing.T) {
	for _, ok := range []float64{1, 0.1, 0.5} {
		if err := CheckSampleRate(ok); err != nil {
			t.Errorf("CheckSampleRate(%v) = %v", ok, err)
		}
	}
	for _, bad := range []float64{0, 2, -1, math.NaN()} {
		if err := CheckSampleRate(bad); err == nil {
			t.Errorf("CheckSampleRate(%v) succeeded", bad)
		}
	}
}

func TestFeedHooks(t *testing.T) {
	e, reg := newExporter(t, Config{})
	names := []string{"ingot_top_nats_up", "ingot_top_nats_reconnects_total", "ingot_top_dropped_events_total"}
	expect := func(up, reconnects, drops int) string {
		return fmt.Sprintf(`
# HELP ingot_top_dropped_events_total Messages the NATS client dropped because ingot-top consumed too slowly (slow consumer)
# TYPE ingot_top_dropped_events_total counter
ingot_top_dropped_events_total %d
# HELP ingot_top_nats_reconnects_total NATS reconnections since start
# TYPE ingot_top_nats_reconnects_total counter
ingot_top_nats_reconnects_total %d
# HELP ingot_top_nats_up 1 when the NATS connection is up, 0 otherwise
# TYPE ingot_top_nats_up gauge
ingot_top_nats_up %d
`, drops, reconnects, up)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(expect(0, 0, 0)), names...); err != nil {
		t.Fatalf("before WatchFeed: %v", err)
	}
	state := ingest.ConnState{Phase: ingest.PhaseConnected, Reconnects: 3, SlowConsumerDrops: 7}
	e.WatchFeed(func() ingest.ConnState { return state })
	if err := testutil.GatherAndCompare(reg, strings.NewReader(expect(1, 3, 7)), names...); err != nil {
		t.Fatalf("connected: %v", err)
	}
	state = ingest.ConnState{Phase: ingest.PhaseReconnecting, Reconnects: 4, SlowConsumerDrops: 9}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(expect(0, 4, 9)), names...); err != nil {
		t.Fatalf("reconnecting: %v", err)
	}
}

func TestSelfMetrics(t *testing.T) {
	e, reg := newExporter(t, Config{})
	late := event("anvil.label.submitted", ms(1), "queue_id=q1")
	late.Time = received.Add(-1500 * time.Millisecond)
	skewed := event("anvil.label.submitted", ms(1), "queue_id=q1")
	skewed.Time = received.Add(time.Second) // emitter clock ahead: counts as 0 lag
	noTime := event("anvil.label.submitted", ms(1), "queue_id=q1")
	noTime.HasTime = false
	late.HasTime, skewed.HasTime = true, true
	feedAll(t, e, late, skewed, noTime, event("mystery.thing.happened", nil))
	for _, r := range []wire.Reason{wire.ReasonNotJSON, wire.ReasonNotJSON, wire.ReasonBadTrace, "from_the_future"} {
		if err := e.HandleInvalid(ingest.Invalid{Reason: r}); err != nil {
			t.Fatal(err)
		}
	}
	lag := histogram(t, reg, "ingot_top_stream_lag_seconds")
	if lag.GetSampleCount() != 2 || lag.GetSampleSum() != 1.5 {
		t.Errorf("stream lag count=%d sum=%v, want 2 and 1.5", lag.GetSampleCount(), lag.GetSampleSum())
	}
	received := gather(t, reg, "ingot_top_events_received_total")
	counts := map[string]float64{}
	for _, m := range received.Metric {
		counts[m.Label[0].GetValue()] = m.GetCounter().GetValue()
	}
	if counts["anvil.label.submitted"] != 3 || counts["mystery.thing.happened"] != 1 || counts["forge.sample.created"] != 0 {
		t.Errorf("events received %v", counts)
	}
	if _, ok := counts["forge.sample.created"]; !ok {
		t.Errorf("catalogue events are not pre-created: %v", counts)
	}
	invalid := map[string]float64{}
	for _, m := range gather(t, reg, "ingot_top_invalid_events_total").Metric {
		invalid[m.Label[0].GetValue()] = m.GetCounter().GetValue()
	}
	if invalid["not_json"] != 2 || invalid["bad_trace"] != 1 || invalid["other"] != 1 || len(invalid) != len(wire.AllReasons)+1 {
		t.Errorf("invalid events %v", invalid)
	}
}

// TestScrapeWhileFeeding runs batches and scrapes at the same time (the daemon's HTTP
// goroutines against the feed's), for the race detector, and checks nothing was lost.
func TestScrapeWhileFeeding(t *testing.T) {
	e, reg := newExporter(t, Config{MaxQueueIDs: 20})
	e.WatchFeed(func() ingest.ConnState { return ingest.ConnState{Phase: ingest.PhaseConnected} })
	events := realisticMix(2000)
	done := make(chan error)
	go func() {
		for i := 0; i < len(events); i += 100 {
			if err := e.HandleBatch(events[i : i+100]); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	scrapes := 0
	for running := true; running; scrapes++ {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			running = false
		default:
		}
		if _, err := reg.Gather(); err != nil {
			t.Fatalf("gather during feeding: %v", err)
		}
	}
	var total float64
	for _, m := range gather(t, reg, "ingot_top_events_received_total").Metric {
		total += m.GetCounter().GetValue()
	}
	if total != float64(len(events)) {
		t.Errorf("events received %v, want %d (after %d concurrent scrapes)", total, len(events), scrapes)
	}
}
