package ui

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/nsai/ingot-top/internal/alerts"
	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/health"
	"github.com/nsai/ingot-top/internal/ingest"
	"github.com/nsai/ingot-top/internal/promsrc"
)

// SampleFrame returns a deterministic, realistic frame at `at`: 15 queues, the catalogue's
// operations with Anvil degraded (submit_label slow and failing), an error log whose entries
// carry lineage, health rows for Forge, Anvil and Ingot's parts, and a firing alert. It backs
// golden tests, the incident-report tests and the CLI's --preview.
func SampleFrame(at time.Time) Frame {
	rng := rand.New(rand.NewPCG(8, 2026))
	started := at.Add(-47 * time.Minute)
	snap := &engine.Snapshot{At: at, Started: started}

	queueNames := []string{
		"sentiment-en", "ner-medical", "toxicity-fr", "image-bbox-cars", "intent-support",
		"spam-triage", "summaries-qa", "pii-redaction", "lang-id", "product-categories",
		"audio-transcripts", "receipt-ocr", "code-review", "translation-de", "faq-dedupe",
	}
	for i, name := range queueNames {
		base := 90.0 / float64(i+1) * (0.8 + 0.4*rng.Float64())
		q := engine.QueueStats{ID: name, Folded: 1}
		q.LabelsPerMin = [engine.NumWindows]float64{base * 1.1, base, base * 0.95}
		q.Spark = series(rng, 60, base/60, 0.5, float64(i))
		q.History = series(rng, 90, base, 0.25, float64(i))
		q.LatencyHistory = series(rng, 90, 2500+float64(i)*400, 0.2, float64(i)+1)
		for w := range engine.NumWindows {
			p50 := 1800 + float64(i)*350 + rng.Float64()*200
			q.TimePerSample[w] = engine.Quantiles{Count: uint64(base * 5 * float64(w+1)), P50: p50, P90: p50 * 1.8, P95: p50 * 2.2, P99: p50 * 3.5, Max: p50 * 6}
			q.Abandonment[w] = 0.01 + 0.02*float64(i%5) + 0.005*float64(w)
			n := uint64(base * float64(engine.WindowDurations[w]/time.Minute))
			q.Methods[w] = engine.MethodShare{Keyboard: n * 6 / 10, Mouse: n * 3 / 10, API: n / 10}
		}
		q.ActiveLabelers = max(12-i, 1)
		if i%4 != 3 { // some queues have not reported stats yet
			q.HasStats = true
			q.Pending = float64(200 + (i*379)%4000)
			q.InProgress = float64(q.ActiveLabelers)
			q.Completed = float64(10_000 - i*500)
			q.StatsAt = at.Add(-time.Duration(5+i) * time.Second)
			q.BacklogETA = time.Duration(q.Pending / q.LabelsPerMin[engine.Window5m] * float64(time.Minute))
			q.EtaKnown = true
		}
		for w := range engine.NumWindows {
			// Anvil is failing: every queue's calls fail at about 12 %, a few queues more
			q.Calls[w] = uint64(base * 3 * float64(engine.WindowDurations[w]/time.Minute))
			q.Errors[w] = q.Calls[w] * uint64(8+(i*5)%11) / 100
			if q.Calls[w] > 0 {
				q.ErrorRate[w] = float64(q.Errors[w]) / float64(q.Calls[w])
			}
		}
		for l := 0; l < min(q.ActiveLabelers, 6); l++ {
			n := uint64(base / float64(q.ActiveLabelers) * 15 * (1.5 - 0.15*float64(l)))
			ls := engine.LabelerStats{
				ID:            fmt.Sprintf("labeler-%03d", 7+i*13+l*5),
				Labels:        [engine.NumWindows]uint64{n / 15, n / 3, n},
				TimePerSample: engine.Quantiles{Count: n, P50: 2000 + float64(l)*300, P95: 5200 + float64(l)*500, P99: 9000},
				LastSeen:      at.Add(-time.Duration(3+l*17) * time.Second),
			}
			for w := range engine.NumWindows {
				ls.Calls[w] = ls.Labels[w] * 3
				ls.Errors[w] = ls.Calls[w] * uint64(l%3*6) / 100
			}
			q.Labelers = append(q.Labelers, ls)
		}
		snap.Queues = append(snap.Queues, q)
	}

	type opSpec struct {
		name, svc string
		p50       float64
		errRate   float64
	}
	ops := []opSpec{
		{"anvil.label.submitted", "anvil", 35, 0},
		{"forge.pipeline.executed", "forge", 420, 0.01},
		{"ingot.anvil_client.fetch_queue_stats", "anvil", 48, 0.02},
		{"ingot.anvil_client.submit_label", "anvil", 980, 0.125},
		{"ingot.component.render_sample", "ingot", 4.2, 0},
		{"ingot.forge_client.get_sample", "forge", 140, 0.004},
		{"ingot.label.submit", "ingot", 1150, 0.11},
		{"ingot.live_view.mount", "ingot", 85, 0.001},
	}
	for _, o := range ops {
		op := engine.OpStats{Name: o.name, Service: o.svc}
		for w := range engine.NumWindows {
			c := uint64(600 * (w + 1) * 3)
			k := 1 + 0.08*float64(w)
			op.Latency[w] = engine.Quantiles{Count: c, P50: o.p50 * k, P90: o.p50 * 2.1 * k, P95: o.p50 * 2.6 * k, P99: o.p50 * 4.8 * k, Max: o.p50 * 9 * k}
			op.Errors[w] = uint64(float64(c) * o.errRate)
			op.ErrorRate[w] = float64(op.Errors[w]) / float64(c)
		}
		snap.Ops = append(snap.Ops, op)
	}
	for _, svc := range []string{"anvil", "forge"} {
		s := engine.ServiceStats{Service: svc}
		for w := range engine.NumWindows {
			s.Calls[w] = uint64(1200 * (w + 1) * 3)
			rate := 0.004
			if svc == "anvil" {
				rate = 0.118
			}
			s.Errors[w] = uint64(float64(s.Calls[w]) * rate)
			s.ErrorRate[w] = float64(s.Errors[w]) / float64(s.Calls[w])
		}
		snap.Services = append(snap.Services, s)
	}

	snap.Impact.Known = true
	for w := range engine.NumWindows {
		for _, sv := range snap.Services {
			snap.Impact.Calls[w] += sv.Calls[w]
			snap.Impact.Errors[w] += sv.Errors[w]
		}
		snap.Impact.ErrorRate[w] = float64(snap.Impact.Errors[w]) / float64(snap.Impact.Calls[w])
		snap.Impact.AffectedUsers[w] = uint64(23 + 8*w)
		snap.Impact.AffectedQueues[w] = 12 + int(w)
		snap.Impact.ErrorsNoQueue[w] = uint64(3 * w) // Forge errors whose trace was not seen
	}

	snap.Lineage = map[string][]engine.TraceSpan{}
	reasons := []struct{ svc, event, op, reason string }{
		{"anvil", "ingot.anvil_client.submit_label", "submit_label", "timeout after 5000ms"},
		{"ingot", "ingot.label.submit", "submit", "anvil unavailable: 503 Service Unavailable"},
		{"anvil", "ingot.anvil_client.submit_label", "submit_label", "db connection pool exhausted"},
		{"forge", "ingot.forge_client.get_sample", "get_sample", "sample not found: smp_4411"},
		{"forge", "forge.pipeline.executed", "executed", "pipeline step normalize failed"},
	}
	for i := 0; i < 40; i++ {
		r := reasons[i%len(reasons)]
		t := at.Add(-time.Duration(i*17+3) * time.Second)
		trace := fmt.Sprintf("4bf92f3577b34da6a3ce929d0e0e%04x", 0x4736+i)
		e := engine.ErrorEntry{
			Time: t, Received: t.Add(40 * time.Millisecond), Event: r.event, Operation: r.op, Service: r.svc,
			Reason: r.reason, TraceID: trace, SpanID: fmt.Sprintf("00f067aa0ba9%04x", i*3+2),
			Node: "ingot@web-" + fmt.Sprint(1+i%3), DurationMS: 5000 - float64(i%7)*310, StreamSeq: uint64(98_000 - i),
			IDs: []engine.KVPair{{Key: "queue_id", Value: queueNames[i%len(queueNames)]}, {Key: "user_id", Value: fmt.Sprintf("labeler-%03d", 7+i)}},
			Metadata: []engine.KVPair{{Key: "assignment_id", Value: fmt.Sprintf("asg_%06d", 881_000+i)},
				{Key: "attempt", Value: fmt.Sprint(1 + i%3)}, {Key: "input_method", Value: []string{"keyboard", "mouse", "api"}[i%3]}},
		}
		snap.Errors = append(snap.Errors, e)
		root := fmt.Sprintf("00f067aa0ba9%04x", i*3)
		mid := fmt.Sprintf("00f067aa0ba9%04x", i*3+1)
		// An event's time is when its span ended (telemetry is executed at the end), oldest first.
		snap.Lineage[trace] = []engine.TraceSpan{
			{Time: t.Add(-5020 * time.Millisecond), Event: "ingot.forge_client.get_sample", Service: "forge", SpanID: fmt.Sprintf("00f067aa0bb0%04x", i), ParentSpanID: root, DurationMS: 130, Result: "ok"},
			{Time: t.Add(-10 * time.Millisecond), Event: "anvil.label.submitted", Service: "anvil", SpanID: e.SpanID, ParentSpanID: mid, DurationMS: 4980, Result: "error", Reason: "db connection pool exhausted"},
			{Time: t, Event: "ingot.anvil_client.submit_label", Service: "anvil", SpanID: mid, ParentSpanID: root, DurationMS: 5000, Result: "error", Reason: r.reason},
			{Time: t.Add(30 * time.Millisecond), Event: "ingot.label.submit", Service: "ingot", SpanID: root, DurationMS: 5230, Result: "error", Reason: "upstream failed"},
		}
	}

	// One group per reason, as the engine counts them (numbers masked), newest occurrence kept.
	signatures := []string{"timeout after #ms", "anvil unavailable: # Service Unavailable", "db connection pool exhausted",
		"sample not found: smp_#", "pipeline step normalize failed"}
	for k, r := range reasons {
		g := engine.ErrorGroup{Service: r.svc, Event: r.event, Operation: r.op, Signature: signatures[k]}
		for i := len(snap.Errors) - 1; i >= 0; i-- { // oldest first
			if e := snap.Errors[i]; e.Reason == r.reason {
				if g.First.IsZero() {
					g.First = e.Received
				}
				g.Last, g.Latest = e.Received, e
			}
		}
		n := uint64(12 - 2*k)
		g.Count = [engine.NumWindows]uint64{n, 5 * n, 14 * n}
		g.Total = 40 * n
		snap.ErrorGroups = append(snap.ErrorGroups, g)
	}
	engine.SortErrorGroups(snap.ErrorGroups, engine.Window5m)

	snap.Totals = engine.Totals{Events: 1_284_311, Invalid: 37, Unknown: 112, Errors: 5_120, FoldedIDs: 0, RatePerSec: 452.3}
	snap.Invalid = []engine.ReasonCount{{Reason: "bad_json", Count: 12}, {Reason: "missing_field", Count: 21}, {Reason: "unsupported_version", Count: 4}}
	snap.InvalidSamples = []engine.BadSample{{Received: at.Add(-12 * time.Second), Subject: "telemetry.ingot.label", Reason: "missing_field", Detail: "measurements.duration_ms", Excerpt: `{"v":1,"event":"ingot.label.submit",\x1b...`}}
	snap.Unknown = []engine.NameCount{{Name: "ingot.experiment.assigned", Count: 100}, {Name: "forge.cache.evicted", Count: 12}}
	for w := range engine.NumWindows {
		snap.Lag[w] = engine.Quantiles{Count: 20_000, P50: 18, P90: 45, P95: 61, P99: 140, Max: 900}
	}
	snap.EventsPerSec = series(rng, 60, 450, 0.15, 3)

	check := func(ok bool, i int) health.Check {
		c := health.Check{At: at.Add(-time.Duration(30-i) * 5 * time.Second), State: health.StateHealthy, Latency: 12 * time.Millisecond, Code: 200}
		if !ok {
			c.State, c.Code, c.Error, c.Latency = health.StateUnhealthy, 503, "503 Service Unavailable", 2*time.Second
		}
		return c
	}
	strip := func(bad func(i int) bool) []health.Check {
		var out []health.Check
		for i := 0; i < 30; i++ {
			out = append(out, check(!bad(i), i))
		}
		return out
	}
	hs := []health.Status{
		{Name: "forge", URL: "http://forge:4000/health", State: health.StateHealthy, Since: started, Latency: 14 * time.Millisecond,
			Recent: strip(func(int) bool { return false }), Uptime: [3]float64{1, 1, 1}},
		{Name: "anvil", URL: "http://anvil:4001/health", State: health.StateUnhealthy, Since: at.Add(-2*time.Minute - 10*time.Second), Latency: 2 * time.Second,
			LastError: "503 Service Unavailable: status=degraded db=slow", LastErrorAt: at.Add(-5 * time.Second), Detail: "status=degraded db=slow",
			Recent: strip(func(i int) bool { return i >= 24 || i == 17 }), Uptime: [3]float64{0.5, 0.77, 0.92}},
		{Name: "ingot", URL: "http://ingot:4002/health", State: health.StateHealthy, Since: started, Latency: 9 * time.Millisecond,
			Recent: strip(func(int) bool { return false }), Uptime: [3]float64{1, 1, 1}, Detail: "status=ok"},
		{Name: "ingot/anvil", State: health.StateUnhealthy, Since: at.Add(-2 * time.Minute), LastError: "anvil: timeout", LastErrorAt: at.Add(-5 * time.Second),
			Recent: strip(func(i int) bool { return i >= 24 }), Uptime: [3]float64{0.5, 0.8, 0.93}},
		{Name: "ingot/forge", State: health.StateHealthy, Since: started, Recent: strip(func(int) bool { return false }), Uptime: [3]float64{1, 1, 1}},
		{Name: "ingot/pubsub", State: health.StateHealthy, Since: started, Recent: strip(func(int) bool { return false }), Uptime: [3]float64{1, 1, 1}},
	}
	for i := range hs {
		for _, c := range hs[i].Recent {
			hs[i].LatencyHistory = append(hs[i].LatencyHistory, float64(c.Latency)/float64(time.Millisecond))
		}
	}

	onset := at.Add(-3*time.Minute - 32*time.Second)
	al := alerts.State{At: at,
		Active: []alerts.Alert{
			{Name: "IngotHighErrorRate", Source: alerts.SourceLive, State: alerts.StateFiring, Severity: "page",
				Summary: "anvil_client.submit_label error rate 12.5% > 5%", Labels: map[string]string{"operation": "submit_label", "service": "anvil"},
				Value: 0.125, Threshold: 0.05, ActiveAt: at.Add(-3 * time.Minute), FiredAt: at.Add(-time.Minute),
				Onset: onset.Add(2 * time.Second), Runbook: alerts.Runbook(alerts.NameHighErrorRate)},
			{Name: "IngotServiceUnhealthy", Source: alerts.SourceLive, State: alerts.StateFiring, Severity: "page",
				Summary: "anvil unhealthy: 503 Service Unavailable", Labels: map[string]string{"service": "anvil"}, Value: 1,
				ActiveAt: at.Add(-2*time.Minute - 10*time.Second), FiredAt: at.Add(-time.Minute - 40*time.Second),
				Onset: onset, Runbook: alerts.Runbook(alerts.NameServiceUnhealthy)},
			{Name: "IngotSlowLabelSubmit", Source: alerts.SourceLive, State: alerts.StatePending, Severity: "page",
				Summary: "label submit p95 2.99s > 2s (5m)", Labels: map[string]string{},
				Value: 2.99, Threshold: 2, ActiveAt: at.Add(-40 * time.Second), Onset: onset.Add(5 * time.Second),
				Runbook: alerts.Runbook(alerts.NameSlowLabelSubmit)},
		},
		History: []alerts.Alert{
			{Name: "IngotServiceUnhealthy", Source: alerts.SourceLive, State: alerts.StateResolved, Severity: "page", Summary: "forge unhealthy: connection refused",
				Labels: map[string]string{"service": "forge"}, Onset: at.Add(-35*time.Minute - 20*time.Second),
				ActiveAt: at.Add(-35 * time.Minute), FiredAt: at.Add(-34*time.Minute - 30*time.Second), ResolvingAt: at.Add(-32 * time.Minute),
				ResolvedAt: at.Add(-31 * time.Minute), Runbook: alerts.Runbook(alerts.NameServiceUnhealthy)},
		},
	}

	return Frame{
		At:     at,
		Stream: snap,
		Conn: ingest.ConnState{Phase: ingest.PhaseConnected, Server: "nats://nats.internal:4222", Since: started,
			Received: 1_284_460, Subject: "telemetry.>"},
		Health: hs,
		Alerts: al,
		Sources: []SourceInfo{
			{Name: "stream", Age: 300 * time.Millisecond},
			{Name: "prometheus", Age: 14 * time.Second, Detail: "http://prometheus:9090"},
		},
	}
}

// series is a deterministic wavy series around base.
func series(rng *rand.Rand, n int, base, amp, phase float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		v := base * (1 + amp*math.Sin(float64(i)/7+phase) + amp/2*(rng.Float64()-0.5))
		out[i] = max(v, 0)
	}
	return out
}

// SampleFleet returns a deterministic fleet snapshot to go with SampleFrame: Prometheus
// fresh with an hour of history for most of SampleFrame's queues plus two queues only other
// nodes see, fleet latency for the catalogue's operations plus one the stream has not seen,
// a stale scrape endpoint, and a firing Prometheus alert.
func SampleFleet(at time.Time) *promsrc.Snapshot {
	rng := rand.New(rand.NewPCG(9, 2026))
	step := 10 * time.Second
	hist := func(base, amp, phase float64) promsrc.Series {
		v := series(rng, 360, base, amp, phase)
		return promsrc.Series{Start: at.Add(-359 * step), Step: step, Values: v}
	}
	snap := &promsrc.Snapshot{
		At: at, Kind: promsrc.KindPrometheus, FiguresAt: at.Add(-4 * time.Second),
		Sources: []promsrc.SourceStatus{
			{Name: "prometheus", Kind: promsrc.KindPrometheus, URL: "http://prometheus:9090", OK: true,
				LastSuccess: at.Add(-4 * time.Second), Age: 4 * time.Second, Duration: 38 * time.Millisecond},
			{Name: "scrape", Kind: promsrc.KindScrape, URL: "http://ingot-web-2:9101/metrics", LastSuccess: at.Add(-95 * time.Second),
				LastError: "dial tcp 10.0.4.12:9101: connect: connection refused", LastErrorAt: at.Add(-2 * time.Second),
				Age: 95 * time.Second, Stale: true},
		},
	}
	names := []string{"sentiment-en", "ner-medical", "toxicity-fr", "image-bbox-cars", "intent-support", "spam-triage",
		"summaries-qa", "pii-redaction", "zz-fleet-only-a", "zz-fleet-only-b"}
	for i, n := range names {
		base := 3 * 90.0 / float64(i+1)
		q := promsrc.QueueFleet{ID: n, LabelsPerMin: base, Total: base * 600, Pending: float64(300 + i*211), P50MS: 1900 + float64(i)*300,
			History: hist(base, 0.3, float64(i)), P50History: hist(1900+float64(i)*300, 0.2, float64(i)+2)}
		snap.Queues = append(snap.Queues, q)
	}
	sort.Slice(snap.Queues, func(i, j int) bool { return snap.Queues[i].ID < snap.Queues[j].ID })
	ops := []struct {
		name string
		p50  float64
		err  float64
	}{
		{"anvil.label.submitted", 33, -1},
		{"forge.pipeline.executed", 400, 0.012},
		{"ingot.anvil_client.fetch_queue_stats", 45, 0.01},
		{"ingot.anvil_client.submit_label", 870, 0.09},
		{"ingot.component.render_sample", 4.4, -1},
		{"ingot.forge_client.get_sample", 150, 0.003},
		{"ingot.forge_client.list_samples", 210, 0.001},
		{"ingot.label.submit", 1200, -1},
		{"ingot.live_view.mount", 80, -1},
	}
	for _, o := range ops {
		snap.Ops = append(snap.Ops, promsrc.OpFleet{Name: o.name, P50: o.p50, P95: o.p50 * 2.7, P99: o.p50 * 5, PerSec: 40, ErrorRatio: o.err})
	}
	snap.Alerts = []alerts.Alert{{Name: "IngotAnvilLatencyHigh", Source: alerts.SourcePrometheus, State: alerts.StateFiring, Severity: "page",
		Summary: "anvil submit_label p95 above 2s on 3 nodes", Labels: map[string]string{"alertname": "IngotAnvilLatencyHigh", "severity": "page"},
		Value: 2.35, ActiveAt: at.Add(-6 * time.Minute)}}
	return snap
}
