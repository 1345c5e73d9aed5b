package sim

import (
	"math"
	"math/rand/v2"
	"strconv"
	"time"
)

// eventKind indexes the catalogue of events the simulator emits.
type eventKind uint8

const (
	kindLiveViewMount eventKind = iota
	kindLabelSubmit
	kindForgeGetSample
	kindAnvilFetchAssignment
	kindAnvilSubmitLabel
	kindRenderSample
	kindAssignmentAbandoned
	kindSampleCreated
	kindArtifactUploaded
	kindPipelineExecuted
	kindLabelSubmitted
	kindAssignmentCompleted
	kindQueueStatsUpdated
	kindAgreementCalculated
	kindQueueModified
	kindExportCompleted
	numKinds
)

type kindInfo struct {
	name     string   // dotted name without prefix
	segments []string // for the "event" array
	app      int      // index into nodes
}

const (
	appIngot = iota
	appForge
	appAnvil
)

var catalogue = func() [numKinds]kindInfo {
	names := [numKinds]string{
		kindLiveViewMount:        "ingot.live_view.mount",
		kindLabelSubmit:          "ingot.label.submit",
		kindForgeGetSample:       "ingot.forge_client.get_sample",
		kindAnvilFetchAssignment: "ingot.anvil_client.fetch_assignment",
		kindAnvilSubmitLabel:     "ingot.anvil_client.submit_label",
		kindRenderSample:         "ingot.component.render_sample",
		kindAssignmentAbandoned:  "ingot.assignment.abandoned",
		kindSampleCreated:        "forge.sample.created",
		kindArtifactUploaded:     "forge.artifact.uploaded",
		kindPipelineExecuted:     "forge.pipeline.executed",
		kindLabelSubmitted:       "anvil.label.submitted",
		kindAssignmentCompleted:  "anvil.assignment.completed",
		kindQueueStatsUpdated:    "anvil.queue.stats_updated",
		kindAgreementCalculated:  "anvil.agreement.calculated",
		kindQueueModified:        "anvil.queue.modified",
		kindExportCompleted:      "anvil.export.completed",
	}
	var c [numKinds]kindInfo
	for k, n := range names {
		var segs []string
		start := 0
		for i := 0; i <= len(n); i++ {
			if i == len(n) || n[i] == '.' {
				segs = append(segs, n[start:i])
				start = i + 1
			}
		}
		app := appIngot
		switch segs[0] {
		case "forge":
			app = appForge
		case "anvil":
			app = appAnvil
		}
		c[k] = kindInfo{name: n, segments: segs, app: app}
	}
	return c
}()

// EventNames lists every event name the simulator emits, without prefix.
func EventNames() []string {
	out := make([]string, numKinds)
	for k := range catalogue {
		out[k] = catalogue[k].name
	}
	return out
}

type measurement struct {
	key   string
	value float64
}

type metaKV struct {
	key   string
	value string
}

// span is the trace context of one event.
type span struct {
	traceID  [16]byte
	spanID   [8]byte
	parentID [8]byte
	parent   bool
}

// simEvent is one event waiting to be encoded. Fixed arrays keep generation allocation-light.
type simEvent struct {
	kind          eventKind
	node          int
	meas          [4]measurement
	nMeas         int
	meta          [6]metaKV
	nMeta         int
	hasTrace      bool
	traceInHeader bool
	isError       bool
	trace         span
	// effect changes Anvil's queue state when the event is published, not when its request
	// is generated, so that stats_updated sees assignments in progress.
	effect      queueEffect
	effectQueue int
	effectN     int
}

type queueEffect uint8

const (
	effectNone     queueEffect = iota
	effectTake                 // pending → in progress
	effectRelease              // in progress → pending (failed or abandoned)
	effectComplete             // in progress → completed
	effectRefill               // pending += effectN
)

func (e *simEvent) measure(k string, v float64) {
	e.meas[e.nMeas] = measurement{k, v}
	e.nMeas++
}

func (e *simEvent) metadata(k, v string) {
	e.meta[e.nMeta] = metaKV{k, v}
	e.nMeta++
}

const hexDigits = "0123456789abcdef"

// traceparent renders the W3C header: version 00, sampled flag.
func (e *simEvent) traceparent() string {
	var b [55]byte
	copy(b[:], "00-")
	hexInto(b[3:35], e.trace.traceID[:])
	b[35] = '-'
	hexInto(b[36:52], e.trace.spanID[:])
	copy(b[52:], "-01")
	return string(b[:])
}

func hexInto(dst, src []byte) {
	for i, c := range src {
		dst[2*i] = hexDigits[c>>4]
		dst[2*i+1] = hexDigits[c&0xf]
	}
}

// queueState is Anvil's view of one queue, so stats_updated tells a coherent story.
type queueState struct {
	id         string
	weight     float64 // Zipf popularity
	difficulty float64 // multiplies labelers' time per sample
	pending    int
	inProgress int
	completed  int
	active     int  // labelers currently working on this queue
	refilling  bool // a refill is generated but not yet published
	nextStats  time.Time
}

type labeler struct {
	id       string
	node     int
	queue    int        // current queue; labelers mostly stay on one queue
	methodCP [3]float64 // cumulative probabilities of keyboard, mouse, api
	speed    float64    // multiplies time per sample
	mounted  bool
	job      job // the request in flight
}

// job is a sequence of events being published one at a time; its backing array is reused.
type job struct {
	events []simEvent
	pos    int
}

func (j *job) empty() bool { return j.pos >= len(j.events) }

var methods = [3]string{"keyboard", "mouse", "api"}

// methodSpeed: keyboard shortcuts are faster than the mouse; API labelers are scripts.
var methodSpeed = [3]float64{0.8, 1.2, 0.08}

var queueNames = []string{
	"queue_sentiment_en", "queue_toxicity", "queue_ner_legal", "queue_img_bbox",
	"queue_intent_support", "queue_summ_rating", "queue_lang_id", "queue_pii_redact",
	"queue_code_review", "queue_med_triage", "queue_audio_transcr", "queue_safety_rlhf",
}

var (
	anvilReasons = []string{
		"timeout", "validation failed: label schema v3", "econnrefused anvil:4000",
		"conflict: assignment already completed", `upstream said "bad gateway" (502)`,
	}
	forgeReasons = []string{
		"timeout", "not_found: sample purged", "econnrefused forge:4001",
		"payload too large: 12.4 MiB > 10 MiB",
	}
	pipelineReasons = []string{
		"oom: worker killed", "validation failed: artifact checksum mismatch", "timeout",
		"s3: AccessDenied on bucket forge-artifacts",
	}
	pipelineIDs   = []string{"pl_ingest_web", "pl_ingest_s3", "pl_dedupe", "pl_augment", "pl_reingest"}
	exportFormats = []string{"jsonl", "parquet", "csv"}
	agreementKind = []string{"krippendorff_alpha", "cohen_kappa", "fleiss_kappa"}
	queueChanges  = []string{"priority raised", "labelers added", "guidelines v4 published", "paused", "resumed", "deadline extended"}
	admins        = []string{"admin_ana", "admin_raj", "admin_li"}
)

var nodes = [...]string{"ingot@10.0.0.2", "ingot@10.0.0.3", "forge@10.0.0.4", "anvil@10.0.0.5"}

const (
	nodeIngotA = 0
	nodeForge  = 2
	nodeAnvil  = 3
)

// timeoutMs is the client-side timeout: timed-out calls last about this long.
const timeoutMs = 5000

// statsInterval is how often Anvil publishes each queue's stats.
const statsInterval = time.Second

// periodicShare caps the share of periodic (stats) events, so that very low rates still carry
// requests: at 1 ev/s a dozen queues cannot each report once a second.
const periodicShare = 0.2

// scenarioParams are the scenario's effect on new requests.
type scenarioParams struct {
	anvilFail      float64
	anvilTimeout   bool // failures are all "timeout"
	anvilSlow      float64
	forgeFail      float64
	forgeRefused   bool // failures are all "econnrefused", and Forge publishes nothing
	pipelineFail   float64
	anvilTailProb  float64
	anvilTailAlpha float64
}

// generator builds the event stream. It is owned by one goroutine.
type generator struct {
	cfg      Config
	rng      *rand.Rand
	subjects [numKinds]string
	buf      []byte

	queues    []queueState
	queueCDF  []float64
	labelers  []labeler
	forgeJob  job
	statsNext int // round-robin cursor over queues
	// adminScratch holds single events (stats, admin actions) that are not part of a job.
	adminScratch simEvent

	scenario  Scenario
	params    scenarioParams
	burstEnd  time.Time
	emitted   int64
	periodic  int64
	seq       uint64 // id counter for assignments, samples, artifacts
	startedAt time.Time
}

func newGenerator(cfg Config, now time.Time) *generator {
	g := &generator{
		cfg:       cfg,
		rng:       rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(cfg.Seed)^0x9e3779b97f4a7c15)),
		startedAt: now,
		buf:       make([]byte, 0, 1024),
	}
	for k := range catalogue {
		g.subjects[k] = cfg.Prefix + "." + catalogue[k].name
	}
	// Zipf-like popularity (s = 1.2) gives the dashboard a clear top-N.
	g.queues = make([]queueState, cfg.Queues)
	g.queueCDF = make([]float64, cfg.Queues)
	total := 0.0
	for i := range g.queues {
		id := "queue_" + strconv.Itoa(i+1)
		if i < len(queueNames) {
			id = queueNames[i]
		}
		w := 1 / math.Pow(float64(i+1), 1.2)
		total += w
		g.queues[i] = queueState{
			id:         id,
			weight:     w,
			difficulty: math.Exp(0.35 * g.rng.NormFloat64()),
			pending:    200 + g.rng.IntN(int(3000*w)+1),
			completed:  g.rng.IntN(5000),
			nextStats:  now.Add(time.Duration(g.rng.Int64N(int64(statsInterval)))),
		}
	}
	acc := 0.0
	for i := range g.queues {
		acc += g.queues[i].weight / total
		g.queueCDF[i] = acc
	}
	g.labelers = make([]labeler, cfg.Labelers)
	for i := range g.labelers {
		var p [3]float64
		switch r := g.rng.Float64(); {
		case r < 0.55:
			p = [3]float64{0.85, 0.13, 0.02}
		case r < 0.90:
			p = [3]float64{0.22, 0.76, 0.02}
		default:
			p = [3]float64{0.02, 0.03, 0.95}
		}
		g.labelers[i] = labeler{
			id:       "user_" + pad3(i+1),
			node:     nodeIngotA + i%2,
			queue:    g.pickQueue(),
			methodCP: [3]float64{p[0], p[0] + p[1], 1},
			speed:    math.Exp(0.3 * g.rng.NormFloat64()),
		}
	}
	for i := range g.labelers {
		g.queues[g.labelers[i].queue].active++
	}
	// Ids start at a random point so that two runs do not reuse assignment or sample ids.
	g.seq = g.rng.Uint64() >> 24
	g.setScenario(cfg.Scenario, now)
	return g
}

func pad3(n int) string {
	s := strconv.Itoa(n)
	for len(s) < 3 {
		s = "0" + s
	}
	return s
}

func (g *generator) pickQueue() int {
	u := g.rng.Float64()
	lo, hi := 0, len(g.queueCDF)-1
	for lo < hi {
		mid := (lo + hi) / 2
		if g.queueCDF[mid] < u {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

func (g *generator) setScenario(sc Scenario, now time.Time) {
	base := g.cfg.ErrorRate
	p := scenarioParams{
		anvilFail:      base,
		anvilSlow:      1,
		forgeFail:      base,
		pipelineFail:   min(1, 3*base),
		anvilTailProb:  g.cfg.AnvilLatency.TailProb,
		anvilTailAlpha: g.cfg.AnvilLatency.TailAlpha,
	}
	switch sc {
	case ScenarioDegradedAnvil:
		p.anvilFail = 0.2 + 0.2*g.rng.Float64()
		p.anvilTimeout = true
		p.anvilSlow = 10
		p.anvilTailProb = min(1, 5*max(p.anvilTailProb, 0.02))
		p.anvilTailAlpha = 1.1
	case ScenarioErrorBurst:
		p.forgeFail = 0.35
		p.pipelineFail = 0.5
		g.burstEnd = now.Add(g.cfg.BurstDuration)
	case ScenarioForgeDown:
		p.forgeFail = 1
		p.forgeRefused = true
	}
	g.scenario = sc
	g.params = p
}

func (g *generator) burstOver(now time.Time) bool {
	return g.scenario == ScenarioErrorBurst && !now.Before(g.burstEnd)
}

// sample draws from a latency distribution.
func (g *generator) sample(l Latency, tailProb, tailAlpha float64) float64 {
	var v float64
	if g.rng.Float64() < tailProb {
		u := 1 - g.rng.Float64() // (0, 1]
		v = l.Median * l.TailStart / math.Pow(u, 1/tailAlpha)
	} else {
		v = l.Median * math.Exp(l.Sigma*g.rng.NormFloat64())
	}
	return min(v, l.Max)
}

func (g *generator) latency(l Latency) float64 { return g.sample(l, l.TailProb, l.TailAlpha) }

func (g *generator) anvilLatency() float64 {
	return g.params.anvilSlow * g.sample(g.cfg.AnvilLatency, g.params.anvilTailProb, g.params.anvilTailAlpha)
}

func (g *generator) pick(list []string) string { return list[g.rng.IntN(len(list))] }

func (g *generator) newID(prefix string) string {
	g.seq++
	return prefix + strconv.FormatUint(g.seq, 36)
}

func (g *generator) newTrace() span {
	var s span
	hi, lo := g.rng.Uint64(), g.rng.Uint64()|1 // never all-zero (invalid in W3C)
	for i := 0; i < 8; i++ {
		s.traceID[i] = byte(hi >> (8 * i))
		s.traceID[8+i] = byte(lo >> (8 * i))
	}
	g.newSpanID(&s.spanID)
	return s
}

func (g *generator) newSpanID(dst *[8]byte) {
	v := g.rng.Uint64() | 1
	for i := 0; i < 8; i++ {
		dst[i] = byte(v >> (8 * i))
	}
}

// child returns a new span in parent's trace.
func (g *generator) child(parent span) span {
	s := span{traceID: parent.traceID, parentID: parent.spanID, parent: true}
	g.newSpanID(&s.spanID)
	return s
}

// failure decides whether a call fails and with which reason and duration.
func (g *generator) clientFailure(p float64, reasons []string, forceReason string, ok float64) (bool, string, float64) {
	if p <= 0 || g.rng.Float64() >= p {
		return false, "", ok
	}
	reason := forceReason
	if reason == "" {
		reason = g.pick(reasons)
	}
	switch reason {
	case "timeout":
		return true, reason, timeoutMs + 50*g.rng.Float64()
	case "econnrefused anvil:4000", "econnrefused forge:4001":
		return true, reason, 0.3 + 2*g.rng.Float64()
	}
	return true, reason, ok
}

// next returns the next event to publish.
func (g *generator) next(now time.Time) *simEvent {
	g.emitted++
	if ev := g.periodicDue(now); ev != nil {
		return ev
	}
	r := g.rng.Float64()
	forgeShare := 0.08
	if g.params.forgeRefused {
		forgeShare = 0
	}
	switch {
	case r < forgeShare:
		if g.forgeJob.empty() {
			g.forgeJob = job{events: g.pipelineRun(g.forgeJob.events[:0])}
		}
		return g.forgeJob.pop()
	case r < forgeShare+0.015:
		return g.adminEvent()
	}
	li := g.rng.IntN(len(g.labelers))
	l := &g.labelers[li]
	if l.job.empty() {
		l.job = job{events: g.request(li, l.job.events[:0])}
	}
	return g.apply(l.job.pop())
}

// apply carries out the event's effect on queue state as it is published.
func (g *generator) apply(ev *simEvent) *simEvent {
	if ev.effect == effectNone {
		return ev
	}
	q := &g.queues[ev.effectQueue]
	switch ev.effect {
	case effectTake:
		q.pending--
		q.inProgress++
	case effectRelease:
		q.inProgress--
		q.pending++
	case effectComplete:
		q.inProgress--
		q.completed++
	case effectRefill:
		q.pending += ev.effectN
		q.refilling = false
	}
	return ev
}

// pop returns the next event of the job; the pointer is valid until the job is refilled.
func (j *job) pop() *simEvent {
	ev := &j.events[j.pos]
	j.pos++
	return ev
}

func (g *generator) periodicDue(now time.Time) *simEvent {
	if float64(g.periodic) >= periodicShare*float64(g.emitted) {
		return nil
	}
	q := &g.queues[g.statsNext]
	if now.Before(q.nextStats) {
		return nil
	}
	g.statsNext = (g.statsNext + 1) % len(g.queues)
	q.nextStats = now.Add(statsInterval)
	g.periodic++
	ev := &g.adminScratch
	*ev = simEvent{kind: kindQueueStatsUpdated, node: nodeAnvil}
	ev.measure("pending", float64(q.pending))
	ev.measure("in_progress", float64(q.inProgress))
	ev.measure("completed", float64(q.completed))
	ev.measure("active_labelers", float64(q.active))
	ev.metadata("queue_id", q.id)
	return ev
}

// request builds one labeling request of labeler l as a span tree:
//
//	[live_view.mount]                      root when the labeler (re)mounts
//	  anvil_client.fetch_assignment        root otherwise
//	    forge_client.get_sample
//	      component.render_sample
//	    label.submit | assignment.abandoned   after the labeler's time on the sample
//	      anvil_client.submit_label
//	        anvil.label.submitted
//	          anvil.assignment.completed
func (g *generator) request(li int, out []simEvent) []simEvent {
	l := &g.labelers[li]
	if g.rng.Float64() < 0.1 {
		g.queues[l.queue].active--
		l.queue = g.pickQueue()
		g.queues[l.queue].active++
	}
	qi := l.queue
	q := &g.queues[qi]
	trace := g.newTrace()
	// Roots travel in the traceparent header half of the time, as the contract allows; a
	// header cannot carry parent_span_id, so only spans without a parent use it.
	rootInHeader := g.rng.IntN(2) == 0

	var mountSpan span
	mounted := false
	if !l.mounted || g.rng.Float64() < 0.03 {
		l.mounted = true
		ev := simEvent{kind: kindLiveViewMount, node: l.node, hasTrace: true, trace: trace, traceInHeader: rootInHeader}
		ev.measure("duration_ms", g.latency(g.cfg.MountLatency))
		ev.metadata("view", "IngotWeb.LabelingLive")
		ev.metadata("queue_id", q.id)
		ev.metadata("user_id", l.id)
		out = append(out, ev)
		mountSpan, mounted = trace, true
	}

	fetch := simEvent{kind: kindAnvilFetchAssignment, node: l.node, hasTrace: true}
	if mounted {
		fetch.trace = g.child(mountSpan)
	} else {
		fetch.trace, fetch.traceInHeader = trace, rootInHeader
	}
	assignment := g.newID("asg_")
	failed, reason, d := g.anvilCall()
	fetch.measure("duration_ms", d)
	fetch.metadata("assignment_id", assignment)
	fetch.metadata("queue_id", q.id)
	fetch.metadata("user_id", l.id)
	if failed {
		fetch.markError(reason)
		return append(out, fetch)
	}
	fetch.metadata("result", "ok")
	out = append(out, fetch)
	fetchSpan := fetch.trace

	out[len(out)-1].effect, out[len(out)-1].effectQueue = effectTake, qi
	// Every labeler may hold one assignment, so a queue with fewer pending than labelers is
	// refilled before it can run dry.
	if q.pending <= len(g.labelers) && !q.refilling {
		out = g.refill(qi, out)
	}
	release := func(ev *simEvent) {
		ev.effect, ev.effectQueue = effectRelease, qi
	}

	sample := g.newID("smp_")
	get := simEvent{kind: kindForgeGetSample, node: l.node, hasTrace: true, trace: g.child(fetchSpan)}
	p := g.params
	forced := ""
	if p.forgeRefused {
		forced = "econnrefused forge:4001"
	}
	failed, reason, d = g.clientFailure(p.forgeFail, forgeReasons, forced, g.latency(g.cfg.ForgeLatency))
	get.measure("duration_ms", d)
	get.metadata("sample_id", sample)
	if failed {
		get.markError(reason)
		release(&get) // the assignment goes back to the queue
		return append(out, get)
	}
	get.measure("payload_bytes", float64(2048+g.rng.IntN(200_000)))
	get.metadata("result", "ok")
	out = append(out, get)

	render := simEvent{kind: kindRenderSample, node: l.node, hasTrace: true, trace: g.child(get.trace)}
	render.measure("duration_ms", g.latency(g.cfg.RenderLatency))
	render.metadata("component", "CNS.IngotComponents")
	render.metadata("sample_id", sample)
	out = append(out, render)

	u := g.rng.Float64()
	method := 0
	for method < 2 && u >= l.methodCP[method] {
		method++
	}
	userMs := g.latency(g.cfg.UserTime) * l.speed * q.difficulty * methodSpeed[method]

	if g.rng.Float64() < g.cfg.AbandonRate {
		ab := simEvent{kind: kindAssignmentAbandoned, node: l.node, hasTrace: true, trace: g.child(fetchSpan)}
		ab.measure("held_ms", userMs)
		ab.metadata("queue_id", q.id)
		ab.metadata("assignment_id", assignment)
		ab.metadata("user_id", l.id)
		release(&ab)
		return append(out, ab)
	}

	submitCall := g.anvilLatencyOrFailure()
	submit := simEvent{kind: kindLabelSubmit, node: l.node, hasTrace: true, trace: g.child(fetchSpan)}
	clientLatency := submitCall.duration + 20 + 30*math.Exp(0.6*g.rng.NormFloat64())
	// ADR-008: ingot_label_submit_duration_seconds is "time from submit button to next
	// assignment": the submit call, the next fetch and the UI's own work, not the labeler's
	// think time. A degraded Anvil therefore shows up here, and in IngotSlowLabelSubmit.
	submitMs := submitCall.duration + g.anvilLatency() + 120*math.Exp(0.5*g.rng.NormFloat64())
	submit.measure("duration_ms", submitMs)
	submit.measure("client_latency_ms", clientLatency)
	submit.metadata("queue_id", q.id)
	submit.metadata("assignment_id", assignment)
	submit.metadata("user_id", l.id)
	submit.metadata("method", methods[method])
	out = append(out, submit)

	call := simEvent{kind: kindAnvilSubmitLabel, node: l.node, hasTrace: true, trace: g.child(submit.trace)}
	call.measure("duration_ms", submitCall.duration)
	call.metadata("assignment_id", assignment)
	call.metadata("queue_id", q.id)
	call.metadata("user_id", l.id)
	if submitCall.failed {
		call.markError(submitCall.reason)
		release(&call)
		return append(out, call)
	}
	call.metadata("result", "ok")
	out = append(out, call)

	anvilMs := submitCall.duration * (0.5 + 0.3*g.rng.Float64())
	submitted := simEvent{kind: kindLabelSubmitted, node: nodeAnvil, hasTrace: true, trace: g.child(call.trace)}
	submitted.measure("duration_ms", anvilMs)
	submitted.metadata("queue_id", q.id)
	submitted.metadata("assignment_id", assignment)
	submitted.metadata("labeler_id", l.id)
	out = append(out, submitted)

	done := simEvent{kind: kindAssignmentCompleted, node: nodeAnvil, hasTrace: true, trace: g.child(submitted.trace)}
	done.measure("duration_ms", userMs+anvilMs)
	done.metadata("queue_id", q.id)
	done.metadata("assignment_id", assignment)
	done.metadata("labeler_id", l.id)
	done.effect, done.effectQueue = effectComplete, qi
	out = append(out, done)
	return out
}

type callOutcome struct {
	failed   bool
	reason   string
	duration float64
}

func (g *generator) anvilCall() (bool, string, float64) {
	o := g.anvilLatencyOrFailure()
	return o.failed, o.reason, o.duration
}

func (g *generator) anvilLatencyOrFailure() callOutcome {
	forced := ""
	if g.params.anvilTimeout {
		forced = "timeout"
	}
	failed, reason, d := g.clientFailure(g.params.anvilFail, anvilReasons, forced, g.anvilLatency())
	return callOutcome{failed, reason, d}
}

func (e *simEvent) markError(reason string) {
	e.isError = true
	e.metadata("result", "error")
	e.metadata("reason", reason)
}

// refill tops a drained queue up, as the Forge ingest would, and records the change.
func (g *generator) refill(qi int, out []simEvent) []simEvent {
	q := &g.queues[qi]
	n := 200 + g.rng.IntN(800)
	q.refilling = true
	ev := simEvent{kind: kindQueueModified, node: nodeAnvil, effect: effectRefill, effectQueue: qi, effectN: n}
	ev.metadata("queue_id", q.id)
	ev.metadata("actor_id", "system")
	ev.metadata("change", "refilled +"+strconv.Itoa(n))
	return append(out, ev)
}

// pipelineRun is one Forge pipeline execution: samples created and artifacts uploaded as
// children of the pipeline span, which ends (and is published) last.
func (g *generator) pipelineRun(out []simEvent) []simEvent {
	root := g.newTrace()
	pipeline := g.pick(pipelineIDs)
	failed, reason, d := g.clientFailure(g.params.pipelineFail, pipelineReasons, "", 0)
	n := 1 + g.rng.IntN(3)
	if failed {
		n = g.rng.IntN(2)
	}
	total := 0.0
	for i := 0; i < n; i++ {
		sample := g.newID("smp_")
		created := simEvent{kind: kindSampleCreated, node: nodeForge, hasTrace: true, trace: g.child(root)}
		created.metadata("sample_id", sample)
		created.metadata("pipeline_id", pipeline)
		out = append(out, created)

		up := simEvent{kind: kindArtifactUploaded, node: nodeForge, hasTrace: true, trace: g.child(root)}
		ud := g.latency(g.cfg.ForgeLatency) * 3
		total += ud
		up.measure("bytes", float64(10_000+g.rng.IntN(5_000_000)))
		up.measure("duration_ms", ud)
		up.metadata("artifact_id", g.newID("art_"))
		up.metadata("sample_id", sample)
		out = append(out, up)
	}
	ev := simEvent{kind: kindPipelineExecuted, node: nodeForge, hasTrace: true, trace: root, traceInHeader: g.rng.IntN(2) == 0}
	if d == 0 {
		d = total + g.latency(g.cfg.ForgeLatency)*8
	}
	ev.measure("duration_ms", d)
	ev.metadata("pipeline_id", pipeline)
	if failed {
		ev.markError(reason)
	} else {
		ev.metadata("result", "ok")
	}
	return append(out, ev)
}

// adminEvent is an Anvil admin action: agreement runs, queue edits, exports.
func (g *generator) adminEvent() *simEvent {
	q := &g.queues[g.pickQueue()]
	ev := &g.adminScratch
	*ev = simEvent{kind: kindAgreementCalculated, node: nodeAnvil}
	switch r := g.rng.Float64(); {
	case r < 0.6:
		ev.measure("score", math.Round((0.55+0.4*g.rng.Float64())*1000)/1000)
		ev.metadata("queue_id", q.id)
		ev.metadata("metric", g.pick(agreementKind))
	case r < 0.85:
		ev.kind = kindQueueModified
		ev.metadata("queue_id", q.id)
		ev.metadata("actor_id", g.pick(admins))
		ev.metadata("change", g.pick(queueChanges))
	default:
		ev.kind = kindExportCompleted
		rows := float64(q.completed + g.rng.IntN(1000))
		ev.measure("rows", rows)
		ev.measure("bytes", rows*float64(180+g.rng.IntN(400)))
		ev.measure("duration_ms", 200+rows*0.05*math.Exp(0.4*g.rng.NormFloat64()))
		ev.metadata("queue_id", q.id)
		ev.metadata("actor_id", g.pick(admins))
		ev.metadata("format", g.pick(exportFormats))
	}
	return ev
}
