// Package metrics owns the Prometheus exporter of ingot-top: the ADR-008 metrics, the
// forge_*/anvil_* metrics of the events in the wire contract, and ingot-top's own
// ingot_top_* self-metrics, all registered on a Registerer the caller gives (no globals).
// The Exporter is an ingest.Sink; it bounds every metric's label sets, folds the excess into
// "other", and samples metric events as ADR-008's mitigation asks.
package metrics

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nsai/ingot-top/internal/ingest"
	"github.com/nsai/ingot-top/internal/wire"
)

// Buckets, in seconds. The ADR-008 ones are verbatim from its "Prometheus Metrics" section.
var (
	mountBuckets       = []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0}
	labelSubmitBuckets = []float64{0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0}
	clientBuckets      = []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0}
	renderBuckets      = []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5}
	uploadBuckets      = []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30}
	pipelineBuckets    = []float64{0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}
	assignmentBuckets  = []float64{1, 5, 10, 30, 60, 120, 300, 600}
	exportBuckets      = []float64{0.1, 0.5, 1, 5, 10, 30, 60, 300}
	streamLagBuckets   = []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}
	anvilSubmitBuckets = clientBuckets
	nativeBucketFactor = 1.1
)

// The event names the exporter turns into metrics; the client events
// ingot.forge_client.<operation> and ingot.anvil_client.<operation> come on top.
const (
	evMount            = "ingot.live_view.mount"
	evLabelSubmit      = "ingot.label.submit"
	evRenderSample     = "ingot.component.render_sample"
	evAbandoned        = "ingot.assignment.abandoned"
	evSampleCreated    = "forge.sample.created"
	evArtifactUploaded = "forge.artifact.uploaded"
	evPipelineExecuted = "forge.pipeline.executed"
	evAnvilLabel       = "anvil.label.submitted"
	evAssignmentDone   = "anvil.assignment.completed"
	evQueueStats       = "anvil.queue.stats_updated"
	evAgreement        = "anvil.agreement.calculated"
	evQueueModified    = "anvil.queue.modified"
	evExportCompleted  = "anvil.export.completed"
)

var catalogue = []string{
	evMount, evLabelSubmit, evRenderSample, evAbandoned, evSampleCreated, evArtifactUploaded,
	evPipelineExecuted, evAnvilLabel, evAssignmentDone, evQueueStats, evAgreement,
	evQueueModified, evExportCompleted,
}

// The exporter is one of the feed's sinks.
var _ ingest.Sink = (*Exporter)(nil)

type kind uint8

const (
	kindUnknown kind = iota
	kindMount
	kindLabelSubmit
	kindForgeClient
	kindAnvilClient
	kindRender
	kindAbandoned
	kindSampleCreated
	kindArtifact
	kindPipeline
	kindAnvilLabel
	kindAssignment
	kindQueueStats
	kindAgreement
	kindQueueModified
	kindExport
)

func classify(ev *wire.Event) kind {
	switch ev.Name {
	case evMount:
		return kindMount
	case evLabelSubmit:
		return kindLabelSubmit
	case evAbandoned:
		return kindAbandoned
	case evSampleCreated:
		return kindSampleCreated
	case evArtifactUploaded:
		return kindArtifact
	case evPipelineExecuted:
		return kindPipeline
	case evAnvilLabel:
		return kindAnvilLabel
	case evAssignmentDone:
		return kindAssignment
	case evQueueStats:
		return kindQueueStats
	case evAgreement:
		return kindAgreement
	case evQueueModified:
		return kindQueueModified
	case evExportCompleted:
		return kindExport
	}
	if len(ev.Segments) == 3 && ev.Segments[0] == "ingot" {
		switch {
		case ev.Segments[1] == "forge_client":
			return kindForgeClient
		case ev.Segments[1] == "anvil_client":
			return kindAnvilClient
		case ev.Segments[1] == "component" && strings.HasPrefix(ev.Segments[2], "render"):
			return kindRender
		}
	}
	return kindUnknown
}

// sampled reports whether a kind is subject to sampling. Gauges carry state, not rates (a
// skipped update would leave a stale value), and the audit events are rare and must be
// exact, so neither is ever sampled out.
func (k kind) sampled() bool {
	switch k {
	case kindUnknown, kindQueueStats, kindAgreement, kindQueueModified, kindExport:
		return false
	}
	return true
}

// Exporter turns telemetry events into Prometheus metrics. Create it with New; it is safe
// for concurrent use (a mutex serialises batches; the feed calls from one goroutine anyway).
type Exporter struct {
	mu        sync.Mutex
	cfg       Config
	weight    float64 // what one recorded, sampled event adds to a counter: 1/SampleRate
	sampler   sampler
	queueIDs  valueCap
	exemplars exemplarSink

	// ADR-008.
	liveViewMount     *family[string, *latency]
	labelsSubmitted   *family[[2]string, prometheus.Counter]
	labelSubmit       *family[string, *latency]
	forgeClient       *family[[2]string, *latency]
	anvilClient       *family[[2]string, *latency]
	forgeClientErrors *family[string, prometheus.Counter]
	anvilClientErrors *family[string, prometheus.Counter]
	componentRender   *family[string, *latency]

	// Ingot beyond ADR-008.
	assignmentsAbandoned *family[string, prometheus.Counter]

	// Forge.
	samplesCreated     *family[string, prometheus.Counter]
	artifactsUploaded  prometheus.Counter
	artifactBytes      prometheus.Counter
	artifactUpload     *latency
	pipelineExecutions *family[string, prometheus.Counter]
	pipelineDuration   *family[string, *latency]

	// Anvil.
	anvilLabelsSubmitted *family[string, prometheus.Counter]
	anvilLabelSubmit     *family[string, *latency]
	assignmentsCompleted *family[string, prometheus.Counter]
	assignmentDuration   *family[string, *latency]
	queuePending         *family[string, prometheus.Gauge]
	queueInProgress      *family[string, prometheus.Gauge]
	queueCompleted       *family[string, prometheus.Gauge]
	queueActiveLabelers  *family[string, prometheus.Gauge]
	agreementScore       *family[[2]string, prometheus.Gauge]
	queueModifications   *family[[2]string, prometheus.Counter]
	exports              *family[[2]string, prometheus.Counter]
	exportRows           *family[string, prometheus.Counter]
	exportBytes          *family[string, prometheus.Counter]
	exportDuration       *family[string, *latency]

	// Self-metrics.
	eventsReceived   *family[string, prometheus.Counter]
	eventsSampledOut *family[string, prometheus.Counter]
	invalidEvents    map[wire.Reason]prometheus.Counter
	invalidOther     prometheus.Counter
	streamLag        prometheus.Histogram
	feedState        atomic.Pointer[func() ingest.ConnState]
}

// New creates the exporter and registers every metric on reg. It fails, with an error
// wrapping the registry's (e.g. prometheus.AlreadyRegisteredError), when a metric is
// already registered, and on an invalid Config.
func New(reg prometheus.Registerer, cfg Config) (*Exporter, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	e := &Exporter{
		cfg:       cfg,
		weight:    1 / cfg.SampleRate,
		sampler:   newSampler(cfg.SampleRate),
		queueIDs:  valueCap{limit: cfg.MaxQueueIDs, values: make(map[string]string)},
		exemplars: exemplarSink{labels: prometheus.Labels{"trace_id": ""}, interval: cfg.ExemplarInterval},
	}
	b := &builder{reg: reg, cfg: cfg}
	b.overflow = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ingot_top_series_overflow_total",
		Help: "Events whose label values were folded into \"other\" because a series cap was reached, by metric.",
	}, []string{"metric"})
	b.register(b.overflow, "ingot_top_series_overflow_total")

	// ADR-008: names, labels, help and buckets verbatim.
	e.liveViewMount = b.latency1("ingot_live_view_mount_duration_seconds", "Time to mount LiveView", mountBuckets, "view")
	e.labelsSubmitted = b.counter2("ingot_labels_submitted_total", "Total labels submitted", "queue_id", "method")
	e.labelSubmit = b.latency1("ingot_label_submit_duration_seconds", "Time from submit button to next assignment", labelSubmitBuckets, "queue_id")
	e.forgeClient = b.latency2("ingot_forge_client_duration_seconds", "ForgeClient call duration", clientBuckets, "operation", "result")
	e.anvilClient = b.latency2("ingot_anvil_client_duration_seconds", "AnvilClient call duration", clientBuckets, "operation", "result")
	e.forgeClientErrors = b.counter1("ingot_forge_client_errors_total", "ForgeClient errors", "operation")
	e.anvilClientErrors = b.counter1("ingot_anvil_client_errors_total", "AnvilClient errors", "operation")
	e.componentRender = b.latency1("ingot_component_render_duration_seconds", "Component render time", renderBuckets, "component")

	e.assignmentsAbandoned = b.counter1("ingot_assignments_abandoned_total", "Assignments abandoned by the labeler before submitting", "queue_id")

	e.samplesCreated = b.counter1("forge_samples_created_total", "Samples created by Forge", "pipeline_id")
	e.artifactsUploaded = b.counter0("forge_artifacts_uploaded_total", "Artifacts uploaded to Forge")
	e.artifactBytes = b.counter0("forge_artifact_uploaded_bytes_total", "Bytes of artifacts uploaded to Forge")
	e.artifactUpload = b.latency0("forge_artifact_upload_duration_seconds", "Forge artifact upload duration", uploadBuckets)
	e.pipelineExecutions = b.counter1("forge_pipeline_executions_total", "Forge pipeline executions, by result", "result")
	e.pipelineDuration = b.latency1("forge_pipeline_duration_seconds", "Forge pipeline execution duration", pipelineBuckets, "result")

	e.anvilLabelsSubmitted = b.counter1("anvil_labels_submitted_total", "Labels stored by Anvil", "queue_id")
	e.anvilLabelSubmit = b.latency1("anvil_label_submit_duration_seconds", "Anvil label submission duration", anvilSubmitBuckets, "queue_id")
	e.assignmentsCompleted = b.counter1("anvil_assignments_completed_total", "Assignments completed in Anvil", "queue_id")
	e.assignmentDuration = b.latency1("anvil_assignment_duration_seconds", "Time an assignment took from distribution to completion", assignmentBuckets, "queue_id")
	e.queuePending = b.gauge1("anvil_queue_pending_assignments", "Assignments pending in an Anvil queue, as last reported", "queue_id")
	e.queueInProgress = b.gauge1("anvil_queue_in_progress_assignments", "Assignments in progress in an Anvil queue, as last reported", "queue_id")
	e.queueCompleted = b.gauge1("anvil_queue_completed_assignments", "Assignments completed in an Anvil queue, as last reported", "queue_id")
	e.queueActiveLabelers = b.gauge1("anvil_queue_active_labelers", "Labelers active on an Anvil queue, as last reported", "queue_id")
	e.agreementScore = b.gauge2("anvil_agreement_score", "Inter-annotator agreement score of a queue, as last calculated", "queue_id", "metric")
	e.queueModifications = b.counter2("anvil_queue_modifications_total", "Queue modifications (audit events)", "queue_id", "change")
	e.exports = b.counter2("anvil_exports_total", "Completed exports (audit events)", "queue_id", "format")
	e.exportRows = b.counter1("anvil_export_rows_total", "Rows written by completed exports", "queue_id")
	e.exportBytes = b.counter1("anvil_export_bytes_total", "Bytes written by completed exports", "queue_id")
	e.exportDuration = b.latency1("anvil_export_duration_seconds", "Export duration", exportBuckets, "format")

	// Self-metrics. The event label is capped by MaxEventNames.
	b.eventLimit = cfg.MaxEventNames
	e.eventsReceived = b.counter1("ingot_top_events_received_total", "Valid telemetry events received, by event name", "event")
	e.eventsSampledOut = b.counter1("ingot_top_events_sampled_out_total", "Metric events not recorded because of INGOT_METRICS_SAMPLE_RATE, by event name", "event")
	b.eventLimit = 0
	invalid := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ingot_top_invalid_events_total",
		Help: "Messages that broke the telemetry wire contract, by reason",
	}, []string{"reason"})
	b.register(invalid, "ingot_top_invalid_events_total")
	e.invalidEvents = make(map[wire.Reason]prometheus.Counter, len(wire.AllReasons))
	for _, r := range wire.AllReasons {
		e.invalidEvents[r] = invalid.WithLabelValues(string(r))
	}
	e.invalidOther = invalid.WithLabelValues(OverflowValue)
	e.streamLag = prometheus.NewHistogram(b.histogramOpts("ingot_top_stream_lag_seconds",
		"Receive time minus emit time of events that carry a time (clock skew below zero counts as 0)", streamLagBuckets))
	b.register(e.streamLag, "ingot_top_stream_lag_seconds")
	b.register(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "ingot_top_dropped_events_total",
		Help: "Messages the NATS client dropped because ingot-top consumed too slowly (slow consumer)",
	}, func() float64 { return float64(e.feed().SlowConsumerDrops) }), "ingot_top_dropped_events_total")
	b.register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "ingot_top_nats_up",
		Help: "1 when the NATS connection is up, 0 otherwise",
	}, func() float64 {
		if e.feed().Phase == ingest.PhaseConnected {
			return 1
		}
		return 0
	}), "ingot_top_nats_up")
	b.register(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "ingot_top_nats_reconnects_total",
		Help: "NATS reconnections since start",
	}, func() float64 { return float64(e.feed().Reconnects) }), "ingot_top_nats_reconnects_total")
	sampleRate := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "ingot_top_metrics_sample_ratio",
		Help: "Share of metric events recorded (INGOT_METRICS_SAMPLE_RATE); errors and state events are always recorded",
	})
	sampleRate.Set(cfg.SampleRate)
	b.register(sampleRate, "ingot_top_metrics_sample_ratio")
	if b.err != nil {
		return nil, b.err
	}
	for _, name := range catalogue {
		e.eventsReceived.child(name, false)
	}
	return e, nil
}

// WatchFeed wires the NATS self-metrics (ingot_top_nats_up, ingot_top_nats_reconnects_total,
// ingot_top_dropped_events_total) to the feed's state, typically feed.State. It may be
// called after New, since the exporter must exist before the feed it is a sink of; until
// then those metrics read 0.
func (e *Exporter) WatchFeed(state func() ingest.ConnState) {
	if state == nil {
		e.feedState.Store(nil)
		return
	}
	e.feedState.Store(&state)
}

func (e *Exporter) feed() ingest.ConnState {
	if state := e.feedState.Load(); state != nil {
		return (*state)()
	}
	return ingest.ConnState{}
}

// HandleBatch records a batch of events. It never fails: a metric that cannot take an
// event's values (a cap reached, a missing or negative measurement) skips them instead.
func (e *Exporter) HandleBatch(events []wire.Event) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range events {
		e.record(&events[i])
	}
	return nil
}

// HandleInvalid counts a message that broke the contract, by reason.
func (e *Exporter) HandleInvalid(bad ingest.Invalid) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c, ok := e.invalidEvents[bad.Reason]; ok {
		c.Inc()
	} else {
		e.invalidOther.Inc()
	}
	return nil
}

func (e *Exporter) record(ev *wire.Event) {
	e.eventsReceived.child(ev.Name, false).Inc()
	if ev.HasTime {
		e.streamLag.Observe(max(ev.Received.Sub(ev.Time).Seconds(), 0))
	}
	k := classify(ev)
	if k == kindUnknown {
		return
	}
	isError := ev.IsError()
	weight := 1.0
	if k.sampled() && !isError {
		key := ev.Trace.TraceID
		if key == "" {
			key, _ = ev.Meta("assignment_id")
		}
		if !e.sampler.keepKey(key) {
			e.eventsSampledOut.child(ev.Name, false).Inc()
			return
		}
		weight = e.weight
	}

	switch k {
	case kindMount:
		if d, ok := durationSeconds(ev, "duration_ms"); ok {
			e.observe(e.liveViewMount.child(meta(ev, "view"), false), d, ev)
		}
	case kindLabelSubmit:
		q, folded := e.queueIDs.fold(meta(ev, "queue_id"))
		e.labelsSubmitted.child([2]string{q, meta(ev, "method")}, folded).Add(weight)
		if d, ok := durationSeconds(ev, "duration_ms"); ok {
			e.observe(e.labelSubmit.child(q, folded), d, ev)
		}
	case kindForgeClient:
		e.client(ev, e.forgeClient, e.forgeClientErrors, isError)
	case kindAnvilClient:
		e.client(ev, e.anvilClient, e.anvilClientErrors, isError)
	case kindRender:
		if d, ok := durationSeconds(ev, "duration_ms"); ok {
			e.observe(e.componentRender.child(meta(ev, "component"), false), d, ev)
		}
	case kindAbandoned:
		q, folded := e.queueIDs.fold(meta(ev, "queue_id"))
		e.assignmentsAbandoned.child(q, folded).Add(weight)
	case kindSampleCreated:
		e.samplesCreated.child(meta(ev, "pipeline_id"), false).Add(weight)
	case kindArtifact:
		e.artifactsUploaded.Add(weight)
		if n, ok := amount(ev, "bytes"); ok {
			e.artifactBytes.Add(n * weight)
		}
		if d, ok := durationSeconds(ev, "duration_ms"); ok {
			e.observe(e.artifactUpload, d, ev)
		}
	case kindPipeline:
		result := resultOf(ev)
		e.pipelineExecutions.child(result, false).Add(weight)
		if d, ok := durationSeconds(ev, "duration_ms"); ok {
			e.observe(e.pipelineDuration.child(result, false), d, ev)
		}
	case kindAnvilLabel:
		q, folded := e.queueIDs.fold(meta(ev, "queue_id"))
		e.anvilLabelsSubmitted.child(q, folded).Add(weight)
		if d, ok := durationSeconds(ev, "duration_ms"); ok {
			e.observe(e.anvilLabelSubmit.child(q, folded), d, ev)
		}
	case kindAssignment:
		q, folded := e.queueIDs.fold(meta(ev, "queue_id"))
		e.assignmentsCompleted.child(q, folded).Add(weight)
		if d, ok := durationSeconds(ev, "duration_ms"); ok {
			e.observe(e.assignmentDuration.child(q, folded), d, ev)
		}
	case kindQueueStats:
		q, folded := e.queueIDs.fold(meta(ev, "queue_id"))
		setGauge(ev, "pending", e.queuePending, q, folded)
		setGauge(ev, "in_progress", e.queueInProgress, q, folded)
		setGauge(ev, "completed", e.queueCompleted, q, folded)
		setGauge(ev, "active_labelers", e.queueActiveLabelers, q, folded)
	case kindAgreement:
		score, ok := ev.Measure("score")
		if !ok || math.IsNaN(score) || math.IsInf(score, 0) {
			return
		}
		q, folded := e.queueIDs.fold(meta(ev, "queue_id"))
		if g, ok := e.agreementScore.admit([2]string{q, meta(ev, "metric")}, folded); ok {
			g.Set(score)
		}
	case kindQueueModified:
		q, folded := e.queueIDs.fold(meta(ev, "queue_id"))
		e.queueModifications.child([2]string{q, meta(ev, "change")}, folded).Inc()
	case kindExport:
		q, folded := e.queueIDs.fold(meta(ev, "queue_id"))
		e.exports.child([2]string{q, meta(ev, "format")}, folded).Inc()
		if n, ok := amount(ev, "rows"); ok {
			e.exportRows.child(q, folded).Add(n)
		}
		if n, ok := amount(ev, "bytes"); ok {
			e.exportBytes.child(q, folded).Add(n)
		}
		if d, ok := durationSeconds(ev, "duration_ms"); ok {
			e.observe(e.exportDuration.child(meta(ev, "format"), false), d, ev)
		}
	}
}

// client records ingot.<forge|anvil>_client.<operation>. Errors reach here even when
// sampling is on, so the error counter is exact.
func (e *Exporter) client(ev *wire.Event, durations *family[[2]string, *latency], errors *family[string, prometheus.Counter], isError bool) {
	operation := ev.Segments[2]
	if d, ok := durationSeconds(ev, "duration_ms"); ok {
		e.observe(durations.child([2]string{operation, resultOf(ev)}, false), d, ev)
	}
	if isError {
		errors.child(operation, false).Inc()
	}
}

func (e *Exporter) observe(h *latency, seconds float64, ev *wire.Event) {
	h.observe(seconds, ev.Trace.TraceID, ev.Received, &e.exemplars)
}

func setGauge(ev *wire.Event, measurement string, gauges *family[string, prometheus.Gauge], q string, folded bool) {
	v, ok := ev.Measure(measurement)
	if !ok || math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	if g, ok := gauges.admit(q, folded); ok {
		g.Set(v)
	}
}

// meta returns a metadata value, "unknown" when it is absent or empty, so that a missing
// label reads as such instead of vanishing into the empty label.
func meta(ev *wire.Event, key string) string {
	if v, ok := ev.Meta(key); ok && v != "" {
		return v
	}
	return "unknown"
}

// resultOf maps result to the contract's "ok" and "error"; anything else is "other" so that
// a misbehaving emitter cannot add result values.
func resultOf(ev *wire.Event) string {
	switch r, _ := ev.Meta("result"); r {
	case "ok", "error":
		return r
	case "":
		return "unknown"
	default:
		return OverflowValue
	}
}

// durationSeconds converts a millisecond measurement to seconds (the contract sends ms,
// Prometheus wants base units). Missing, negative and non-finite values are skipped.
func durationSeconds(ev *wire.Event, key string) (float64, bool) {
	ms, ok := amount(ev, key)
	return ms / 1000, ok
}

// amount returns a measurement that can be added to a counter: counters panic on negative
// values and would be poisoned for good by NaN or Inf.
func amount(ev *wire.Event, key string) (float64, bool) {
	v, ok := ev.Measure(key)
	if !ok || v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false
	}
	return v, true
}

// builder creates and registers the vectors, keeping the first registration error.
type builder struct {
	reg        prometheus.Registerer
	cfg        Config
	overflow   *prometheus.CounterVec
	eventLimit int // when set, the series cap of the families being built (event label)
	err        error
}

func (b *builder) register(c prometheus.Collector, name string) {
	if b.err != nil {
		return
	}
	if err := b.reg.Register(c); err != nil {
		b.err = fmt.Errorf("metrics: register %s: %w", name, err)
	}
}

func (b *builder) limit() int {
	if b.eventLimit > 0 {
		return b.eventLimit
	}
	return b.cfg.MaxSeriesPerMetric
}

func (b *builder) histogramOpts(name, help string, buckets []float64) prometheus.HistogramOpts {
	return prometheus.HistogramOpts{
		Name:                           name,
		Help:                           help,
		Buckets:                        buckets,
		NativeHistogramBucketFactor:    nativeBucketFactor,
		NativeHistogramMaxBucketNumber: b.cfg.NativeHistogramMaxBuckets,
		// Without a reset duration, a series past its bucket budget halves its resolution
		// for good; an hour lets it start afresh, as client_golang recommends.
		NativeHistogramMinResetDuration: time.Hour,
	}
}

func (b *builder) counter0(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	b.register(c, name)
	return c
}

func (b *builder) counter1(name, help, label string) *family[string, prometheus.Counter] {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{label})
	b.register(vec, name)
	return newFamily(b.limit(), OverflowValue, cloneOne,
		func(k string) prometheus.Counter { return vec.WithLabelValues(k) }, b.overflow.WithLabelValues(name))
}

func (b *builder) counter2(name, help, label1, label2 string) *family[[2]string, prometheus.Counter] {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{label1, label2})
	b.register(vec, name)
	return newFamily(b.limit(), [2]string{OverflowValue, OverflowValue}, cloneTwo,
		func(k [2]string) prometheus.Counter { return vec.WithLabelValues(k[0], k[1]) }, b.overflow.WithLabelValues(name))
}

func (b *builder) gauge1(name, help, label string) *family[string, prometheus.Gauge] {
	vec := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, []string{label})
	b.register(vec, name)
	return newFamily(b.limit(), OverflowValue, cloneOne,
		func(k string) prometheus.Gauge { return vec.WithLabelValues(k) }, b.overflow.WithLabelValues(name))
}

func (b *builder) gauge2(name, help, label1, label2 string) *family[[2]string, prometheus.Gauge] {
	vec := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, []string{label1, label2})
	b.register(vec, name)
	return newFamily(b.limit(), [2]string{OverflowValue, OverflowValue}, cloneTwo,
		func(k [2]string) prometheus.Gauge { return vec.WithLabelValues(k[0], k[1]) }, b.overflow.WithLabelValues(name))
}

func (b *builder) latency0(name, help string, buckets []float64) *latency {
	h := prometheus.NewHistogram(b.histogramOpts(name, help, buckets))
	b.register(h, name)
	return newLatency(h, buckets)
}

func (b *builder) latency1(name, help string, buckets []float64, label string) *family[string, *latency] {
	vec := prometheus.NewHistogramVec(b.histogramOpts(name, help, buckets), []string{label})
	b.register(vec, name)
	return newFamily(b.limit(), OverflowValue, cloneOne,
		func(k string) *latency { return newLatency(vec.WithLabelValues(k), buckets) }, b.overflow.WithLabelValues(name))
}

func (b *builder) latency2(name, help string, buckets []float64, label1, label2 string) *family[[2]string, *latency] {
	vec := prometheus.NewHistogramVec(b.histogramOpts(name, help, buckets), []string{label1, label2})
	b.register(vec, name)
	return newFamily(b.limit(), [2]string{OverflowValue, OverflowValue}, cloneTwo,
		func(k [2]string) *latency { return newLatency(vec.WithLabelValues(k[0], k[1]), buckets) }, b.overflow.WithLabelValues(name))
}
