package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/nsai/ingot-top/internal/ingest"
	"github.com/nsai/ingot-top/internal/wire"
)

func TestVelocityExactWithDedupe(t *testing.T) {
	h := newHarness(t, Config{})
	var evs []wire.Event
	for i := 0; i < 37; i++ {
		evs = append(evs, submit("q1", fmt.Sprintf("a%d", i), "u1", "keyboard", 1000, t0))
	}
	// Anvil confirms 10 of those (same assignment: counted once) and 5 that Ingot never sent.
	for i := 0; i < 10; i++ {
		evs = append(evs, submitted("q1", fmt.Sprintf("a%d", i), "u1", t0))
	}
	for i := 100; i < 105; i++ {
		evs = append(evs, submitted("q1", fmt.Sprintf("a%d", i), "u2", t0))
	}
	// Same assignment id in another queue is another label.
	evs = append(evs, submitted("q2", "a0", "u3", t0))
	// Without assignment_id every event counts.
	evs = append(evs, submit("q3", "", "u4", "mouse", 500, t0), submit("q3", "", "u4", "mouse", 500, t0))
	h.send(evs...)
	s := h.sync()

	q1 := findQueue(s, "q1")
	if q1 == nil {
		t.Fatalf("q1 missing: %+v", s.Queues)
	}
	// Counts are exact; TestRatesDivideByObservedTime covers the labels/min divisor.
	want := [NumWindows]uint64{42, 42, 42}
	if q1.Labels != want {
		t.Errorf("q1 Labels = %v, want %v", q1.Labels, want)
	}
	if got := findQueue(s, "q2").Labels[Window1m]; got != 1 {
		t.Errorf("q2 1m labels = %v, want 1", got)
	}
	if got := findQueue(s, "q3").Labels[Window1m]; got != 2 {
		t.Errorf("q3 1m labels = %v, want 2", got)
	}
	if s.Queues[0].ID != "q1" {
		t.Errorf("queues not sorted by 1m velocity: first %q", s.Queues[0].ID)
	}
	if q1.TimePerSample[Window1m].Count != 37 {
		t.Errorf("time per sample count = %d, want 37", q1.TimePerSample[Window1m].Count)
	}
	if q1.Spark[len(q1.Spark)-1] != 42 || len(q1.Spark) != 60 {
		t.Errorf("spark last = %v (len %d), want 42 (60)", q1.Spark[len(q1.Spark)-1], len(q1.Spark))
	}
	if len(q1.History) != 90 || q1.History[89] != 42*6 {
		t.Errorf("history last = %v, want %v per minute", q1.History[89], 42*6)
	}
	labels := map[string]uint64{}
	for _, l := range q1.Labelers {
		labels[l.ID] = l.Labels[Window15m]
	}
	if labels["u1"] != 37 || labels["u2"] != 5 {
		t.Errorf("labeler labels = %v, want u1 37, u2 5", labels)
	}
	if s.Totals.Events != uint64(len(evs)) {
		t.Errorf("Totals.Events = %d, want %d", s.Totals.Events, len(evs))
	}
}

func TestWindowExpiry(t *testing.T) {
	h := newHarness(t, Config{})
	h.send(submit("q", "a1", "u", "keyboard", 800, t0), submit("q", "a2", "u", "keyboard", 800, t0))
	check := func(at time.Duration, want [NumWindows]uint64, wantCount [NumWindows]uint64) {
		t.Helper()
		h.clock.Set(t0.Add(at))
		q := findQueue(h.sync(), "q")
		if q.Labels != want {
			t.Errorf("at +%v: Labels = %v, want %v", at, q.Labels, want)
		}
		for w := Window(0); w < NumWindows; w++ {
			if q.TimePerSample[w].Count != wantCount[w] {
				t.Errorf("at +%v: time per sample %v count = %d, want %d", at, w, q.TimePerSample[w].Count, wantCount[w])
			}
		}
	}
	all := [NumWindows]uint64{2, 2, 2}
	check(0, all, [NumWindows]uint64{2, 2, 2})
	check(30*time.Second, all, [NumWindows]uint64{2, 2, 2})
	check(61*time.Second, [NumWindows]uint64{0, 2, 2}, [NumWindows]uint64{0, 2, 2})
	check(5*time.Minute+time.Second, [NumWindows]uint64{0, 0, 2}, [NumWindows]uint64{0, 0, 2})
	check(15*time.Minute+time.Second, [NumWindows]uint64{}, [NumWindows]uint64{})

	// Operations forget too.
	h.send(newEv("ingot.forge_client.get_sample", h.clock.Now()).m("duration_ms", 5).meta("result", "error").ev())
	h.clock.Advance(61 * time.Second)
	op := findOp(h.sync(), "ingot.forge_client.get_sample")
	if op.Latency[Window1m].Count != 0 || op.Errors[Window1m] != 0 || op.Latency[Window5m].Count != 1 || op.Errors[Window5m] != 1 {
		t.Errorf("op after 61s: 1m count %d errors %d, 5m count %d errors %d", op.Latency[Window1m].Count, op.Errors[Window1m], op.Latency[Window5m].Count, op.Errors[Window5m])
	}
}

func exactQuantile(sorted []float64, q float64) float64 {
	// Same rank convention as DDSketch: the value at rank q*(n-1).
	return sorted[int(q*float64(len(sorted)-1))]
}

func TestPercentilesWithinOnePercent(t *testing.T) {
	h := newHarness(t, Config{})
	rng := rand.New(rand.NewPCG(1, 2))
	dists := map[string]func() float64{
		"ingot.anvil_client.submit_label": func() float64 { return 1 + rng.Float64()*999 },               // uniform 1..1000
		"forge.pipeline.executed":         func() float64 { return math.Exp(5 + 1.5*rng.NormFloat64()) }, // lognormal, wide
		"ingot.live_view.mount":           func() float64 { return 40 + 10*rng.ExpFloat64() },            // shifted exponential
	}
	values := map[string][]float64{}
	var tps []float64
	var evs []wire.Event
	for name, gen := range dists {
		for i := 0; i < 20000; i++ {
			v := gen()
			values[name] = append(values[name], v)
			evs = append(evs, newEv(name, t0).m("duration_ms", v).meta("result", "ok").ev())
		}
	}
	for i := 0; i < 5000; i++ {
		v := math.Exp(7.5 + 0.8*rng.NormFloat64())
		tps = append(tps, v)
		evs = append(evs, submit("q", fmt.Sprint(i), "u", "api", v, t0))
	}
	for i := 0; i < len(evs); i += 500 {
		h.send(evs[i:min(i+500, len(evs))]...)
	}
	s := h.sync()
	checkQ := func(what string, got Quantiles, vals []float64) {
		t.Helper()
		sorted := slices.Clone(vals)
		slices.Sort(sorted)
		if got.Count != uint64(len(vals)) {
			t.Errorf("%s count = %d, want %d", what, got.Count, len(vals))
		}
		approx(t, what+" p50", got.P50, exactQuantile(sorted, 0.50), 0.01)
		approx(t, what+" p90", got.P90, exactQuantile(sorted, 0.90), 0.01)
		approx(t, what+" p95", got.P95, exactQuantile(sorted, 0.95), 0.01)
		approx(t, what+" p99", got.P99, exactQuantile(sorted, 0.99), 0.01)
		if got.Max != sorted[len(sorted)-1] {
			t.Errorf("%s max = %v, want exact %v", what, got.Max, sorted[len(sorted)-1])
		}
	}
	for name, vals := range values {
		op := findOp(s, name)
		if op == nil {
			t.Fatalf("op %s missing", name)
		}
		for w := Window(0); w < NumWindows; w++ {
			checkQ(name+" "+w.String(), op.Latency[w], vals)
		}
	}
	q := findQueue(s, "q")
	for w := Window(0); w < NumWindows; w++ {
		checkQ("time per sample "+w.String(), q.TimePerSample[w], tps)
	}
	checkQ("labeler time per sample", q.Labelers[0].TimePerSample, tps)
	if svc := findOp(s, "ingot.anvil_client.submit_label").Service; svc != "anvil" {
		t.Errorf("anvil_client service = %q", svc)
	}
	if svc := findOp(s, "ingot.live_view.mount").Service; svc != "ingot" {
		t.Errorf("mount service = %q", svc)
	}
}

func TestAbandonmentAndMethods(t *testing.T) {
	h := newHarness(t, Config{})
	var evs []wire.Event
	methods := []string{"keyboard", "keyboard", "keyboard", "mouse", "api", "voice"}
	for i, m := range methods {
		evs = append(evs, submit("q", fmt.Sprint(i), "u", m, 100, t0))
	}
	evs = append(evs, submitted("q", "99", "u", t0)) // not in method share: Anvil has no method
	for i := 0; i < 3; i++ {
		evs = append(evs, newEv(wire.EventAssignmentAbandoned, t0).m("held_ms", 5000).meta("queue_id", "q", "assignment_id", fmt.Sprint("x", i), "user_id", "u").ev())
	}
	h.send(evs...)
	q := findQueue(h.sync(), "q")
	for w := Window(0); w < NumWindows; w++ {
		approx(t, "abandonment "+w.String(), q.Abandonment[w], 3.0/10, 1e-9)
		if want := (MethodShare{Keyboard: 3, Mouse: 1, API: 1, Other: 1}); q.Methods[w] != want {
			t.Errorf("methods %v = %+v, want %+v", w, q.Methods[w], want)
		}
	}
	if q.ActiveLabelers != 1 {
		t.Errorf("active labelers = %d, want 1", q.ActiveLabelers)
	}
}

func TestQueueStatsAndActiveLabelers(t *testing.T) {
	h := newHarness(t, Config{})
	var evs []wire.Event
	for i := 0; i < 50; i++ { // 50 labels in the last 5 min → 10/min
		evs = append(evs, submit("q", fmt.Sprint(i), fmt.Sprint("u", i%4), "keyboard", 100, t0))
	}
	h.send(evs...)
	q := findQueue(h.sync(), "q")
	if q.ActiveLabelers != 4 || q.HasStats || q.EtaKnown {
		t.Errorf("before stats: active %d hasStats %v etaKnown %v", q.ActiveLabelers, q.HasStats, q.EtaKnown)
	}
	h.send(newEv(wire.EventQueueStatsUpdated, t0).m("pending", 300).m("in_progress", 7).m("completed", 900).m("active_labelers", 12).meta("queue_id", "q").ev())
	q = findQueue(h.sync(), "q")
	if !q.HasStats || q.Pending != 300 || q.InProgress != 7 || q.Completed != 900 || q.ActiveLabelers != 12 {
		t.Errorf("stats = %+v", q)
	}
	// At t0, the start of a 10 s slice, the 5m window's slices cover 290 s: 50 labels in
	// 290 s is 10.34/min, and 300 pending take 29 min.
	if !q.EtaKnown || q.BacklogETA != 29*time.Minute {
		t.Errorf("ETA = %v known %v, want 29m", q.BacklogETA, q.EtaKnown)
	}
	// Six minutes later the stats figure is stale and nobody labels: 0 active, no ETA.
	h.clock.Advance(6 * time.Minute)
	q = findQueue(h.sync(), "q")
	if q.ActiveLabelers != 0 || q.EtaKnown {
		t.Errorf("after 6m: active %d etaKnown %v", q.ActiveLabelers, q.EtaKnown)
	}
}

func TestErrorLogOrderAndBound(t *testing.T) {
	h := newHarness(t, Config{ErrorLogSize: 5})
	for i := 0; i < 8; i++ {
		at := t0.Add(time.Duration(i) * time.Second)
		e := newEv("ingot.anvil_client.submit_label", at).m("duration_ms", float64(100+i)).
			meta("assignment_id", fmt.Sprint("a", i), "queue_id", "q", "result", "error", "reason", fmt.Sprint("timeout ", i), "extra", "x").
			trace(fmt.Sprintf("%032x", i), fmt.Sprintf("%016x", i), "").ev()
		e.Node = "ingot@host"
		e.StreamSeq = uint64(1000 + i)
		h.send(e)
		// Successes are not errors.
		h.send(newEv("ingot.anvil_client.submit_label", at).m("duration_ms", 1).meta("result", "ok").ev())
	}
	s := h.sync()
	if len(s.Errors) != 5 {
		t.Fatalf("len(Errors) = %d, want 5", len(s.Errors))
	}
	for i, e := range s.Errors {
		n := 7 - i
		if e.Reason != fmt.Sprint("timeout ", n) || e.StreamSeq != uint64(1000+n) || e.DurationMS != float64(100+n) {
			t.Errorf("Errors[%d] = %+v, want entry %d (newest first)", i, e, n)
		}
		if e.Service != "anvil" || e.Operation != "submit_label" || e.Node != "ingot@host" || e.TraceID != fmt.Sprintf("%032x", n) {
			t.Errorf("Errors[%d] attribution = %+v", i, e)
		}
		wantIDs := []KVPair{{"queue_id", "q"}, {"assignment_id", fmt.Sprint("a", n)}}
		if !slices.Equal(e.IDs, wantIDs) {
			t.Errorf("Errors[%d].IDs = %v, want %v", i, e.IDs, wantIDs)
		}
		if len(e.Metadata) != 5 {
			t.Errorf("Errors[%d].Metadata = %v, want all 5 keys", i, e.Metadata)
		}
	}
	if s.Totals.Errors != 8 {
		t.Errorf("Totals.Errors = %d, want 8", s.Totals.Errors)
	}
	var anvil ServiceStats
	for _, sv := range s.Services {
		if sv.Service == "anvil" {
			anvil = sv
		}
	}
	if anvil.Calls[Window15m] != 16 || anvil.Errors[Window15m] != 8 || anvil.ErrorRate[Window15m] != 0.5 {
		t.Errorf("anvil service = %+v", anvil)
	}
	// Only traces referenced by the retained errors are in Lineage.
	if len(s.Lineage) != 5 {
		t.Errorf("len(Lineage) = %d, want 5", len(s.Lineage))
	}
}

func TestLineage(t *testing.T) {
	h := newHarness(t, Config{TraceHorizon: 10 * time.Minute})
	tid := "4bf92f3577b34da6a3ce929d0e0e4736"
	ingot := newEv("ingot.anvil_client.submit_label", t0.Add(300*time.Millisecond)).m("duration_ms", 290).
		meta("result", "error", "reason", "forge timeout").trace(tid, "a000000000000001", "").ev()
	anvil := newEv(wire.EventLabelSubmitted, t0.Add(200*time.Millisecond)).m("duration_ms", 180).
		meta("queue_id", "q", "assignment_id", "x", "labeler_id", "u").trace(tid, "a000000000000002", "a000000000000001").ev()
	forge := newEv("forge.pipeline.executed", t0.Add(100*time.Millisecond)).m("duration_ms", 90).
		meta("result", "error", "reason", "boom").trace(tid, "a000000000000003", "a000000000000002").ev()
	other := newEv("ingot.live_view.mount", t0).m("duration_ms", 5).trace("11111111111111111111111111111111", "b000000000000001", "").ev()
	// Arrival order differs from event order; the error arrives before the rest of its trace.
	h.send(ingot, other)
	h.send(forge, anvil)
	s := h.sync()
	spans := s.Lineage[tid]
	if len(spans) != 3 {
		t.Fatalf("lineage = %+v, want 3 spans", spans)
	}
	wantEvents := []string{"forge.pipeline.executed", wire.EventLabelSubmitted, "ingot.anvil_client.submit_label"}
	wantSvc := []string{"forge", "anvil", "anvil"}
	for i, sp := range spans {
		if sp.Event != wantEvents[i] || sp.Service != wantSvc[i] {
			t.Errorf("span %d = %s/%s, want %s/%s", i, sp.Event, sp.Service, wantEvents[i], wantSvc[i])
		}
	}
	if spans[0].Result != "error" || spans[0].Reason != "boom" || spans[0].DurationMS != 90 || spans[1].ParentSpanID != "a000000000000001" {
		t.Errorf("span details = %+v", spans)
	}
	if _, ok := s.Lineage["11111111111111111111111111111111"]; ok {
		t.Error("trace without errors is in Lineage")
	}
	if len(s.Errors) != 2 {
		t.Errorf("errors = %d, want 2", len(s.Errors))
	}
	// Past the horizon the trace is forgotten; the errors stay.
	h.clock.Advance(11 * time.Minute)
	s = h.sync()
	if len(s.Lineage) != 0 || len(s.Errors) != 2 {
		t.Errorf("after horizon: lineage %d errors %d, want 0 and 2", len(s.Lineage), len(s.Errors))
	}
}

func TestTraceCaps(t *testing.T) {
	h := newHarness(t, Config{MaxTraces: 10, MaxSpansPerTrace: 3})
	for i := 0; i < 25; i++ {
		for k := 0; k < 5; k++ {
			h.send(newEv("ingot.forge_client.get_sample", t0).m("duration_ms", 1).meta("result", "error").
				trace(fmt.Sprintf("%032x", i), fmt.Sprintf("%016x", k), "").ev())
		}
	}
	s := h.sync()
	// Every trace failed: the 10 the index holds and the 15 it evicted (kept as failed
	// traces, up to failedTracesKept) all have their lineage.
	if len(s.Lineage) != 25 {
		t.Errorf("lineage traces = %d, want 25 (10 indexed + 15 failed kept)", len(s.Lineage))
	}
	for id, spans := range s.Lineage {
		if len(spans) != 3 {
			t.Errorf("trace %s has %d spans, want 3", id, len(spans))
		}
	}
	if n := h.eng.st.traces.byID.len(); n > 10 {
		t.Errorf("trace index holds %d", n)
	}
}

func TestStreamLag(t *testing.T) {
	h := newHarness(t, Config{})
	var evs []wire.Event
	for i := 1; i <= 100; i++ {
		evs = append(evs, newEv("forge.sample.created", t0).received(t0.Add(time.Duration(i)*time.Millisecond)).meta("sample_id", "s").ev())
	}
	// Emitter clock ahead of ours: negative lag counts as 0.
	evs = append(evs, newEv("forge.sample.created", t0.Add(time.Second)).received(t0).ev())
	// No event time: no lag sample.
	evs = append(evs, newEv("forge.sample.created", t0).noTime().ev())
	h.send(evs...)
	s := h.sync()
	lag := s.Lag[Window1m]
	if lag.Count != 101 {
		t.Errorf("lag count = %d, want 101", lag.Count)
	}
	approx(t, "lag p50", lag.P50, 50, 0.01)
	approx(t, "lag p99", lag.P99, 99, 0.01)
	if lag.Max != 100 {
		t.Errorf("lag max = %v, want 100", lag.Max)
	}
	if findOp(s, "forge.sample.created") != nil {
		t.Error("event without duration_ms became an operation")
	}
}

func TestInvalidAndUnknown(t *testing.T) {
	h := newHarness(t, Config{BadSamples: 3, MaxUnknownNames: 2})
	for i := 0; i < 5; i++ {
		reason := wire.ReasonNotJSON
		if i%2 == 1 {
			reason = wire.ReasonBadTrace
		}
		if err := h.eng.HandleInvalid(ingest.Invalid{Received: t0, Subject: "telemetry.x", Reason: reason, Detail: fmt.Sprint("d", i), Excerpt: "{"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"acme.thing.a", "acme.thing.a", "acme.thing.b", "acme.thing.c", "acme.thing.d", "acme.thing.a"} {
		h.send(newEv(n, t0).m("duration_ms", 3).ev())
	}
	s := h.sync()
	wantInv := []ReasonCount{{string(wire.ReasonBadTrace), 2}, {string(wire.ReasonNotJSON), 3}}
	if !slices.Equal(s.Invalid, wantInv) || s.Totals.Invalid != 5 {
		t.Errorf("Invalid = %v (total %d), want %v", s.Invalid, s.Totals.Invalid, wantInv)
	}
	if len(s.InvalidSamples) != 3 || s.InvalidSamples[0].Detail != "d4" || s.InvalidSamples[2].Detail != "d2" {
		t.Errorf("InvalidSamples = %+v, want d4,d3,d2", s.InvalidSamples)
	}
	wantUnk := []NameCount{{"acme.thing.a", 3}, {"acme.thing.b", 1}, {OtherID, 2}}
	if !slices.Equal(s.Unknown, wantUnk) || s.Totals.Unknown != 6 {
		t.Errorf("Unknown = %v (total %d), want %v", s.Unknown, s.Totals.Unknown, wantUnk)
	}
	if len(s.Ops) != 0 {
		t.Errorf("unknown events became ops: %+v", s.Ops)
	}
	if s.Totals.FoldedIDs != 2 {
		t.Errorf("FoldedIDs = %d, want 2", s.Totals.FoldedIDs)
	}
}

func TestEventsPerSecond(t *testing.T) {
	h := newHarness(t, Config{})
	for sec := 0; sec < 15; sec++ {
		h.clock.Set(t0.Add(time.Duration(sec) * time.Second))
		var evs []wire.Event
		for i := 0; i < sec; i++ {
			evs = append(evs, newEv("forge.sample.created", h.clock.Now()).ev())
		}
		if len(evs) > 0 {
			h.send(evs...)
		}
	}
	s := h.sync()
	if len(s.EventsPerSec) != 60 || s.EventsPerSec[59] != 14 || s.EventsPerSec[58] != 13 || s.EventsPerSec[45] != 0 {
		t.Errorf("EventsPerSec tail = %v", s.EventsPerSec[44:])
	}
	// The clock stands at the start of second 14: the last ten slices (seconds 5..14) cover 9 s.
	if want := float64(5+6+7+8+9+10+11+12+13+14) / 9; s.Totals.RatePerSec != want {
		t.Errorf("RatePerSec = %v, want %v", s.Totals.RatePerSec, want)
	}
}

func TestQueueCapFoldAndDisplacement(t *testing.T) {
	h := newHarness(t, Config{MaxQueues: 10, MaxLabelersPerQueue: 3})
	var evs []wire.Event
	for q := 0; q < 25; q++ {
		for i := 0; i < 3; i++ {
			evs = append(evs, submit(fmt.Sprint("q", q), fmt.Sprint(q, "-", i), fmt.Sprint("u", i), "keyboard", 100, t0))
		}
	}
	h.send(evs...)
	s := h.sync()
	if len(s.Queues) != 11 || s.Queues[10].ID != OtherID {
		t.Fatalf("queues = %d, last %q; want 10 tracked + other", len(s.Queues), s.Queues[len(s.Queues)-1].ID)
	}
	other := s.Queues[10]
	if other.Folded < 14 || other.Folded > 16 {
		t.Errorf("other.Folded = %d, want ≈15", other.Folded)
	}
	var total uint64
	for _, q := range s.Queues {
		total += q.Labels[Window1m]
	}
	if total != 75 {
		t.Errorf("labels across rows = %v, want all 75 kept", total)
	}

	// 20 minutes later a new queue becomes active; it displaces a stale one, whose stats
	// (none left in the windows by now) fold into other.
	h.clock.Advance(20 * time.Minute)
	evs = evs[:0]
	for i := 0; i < 5; i++ {
		evs = append(evs, submit("fresh", fmt.Sprint("f", i), "u9", "mouse", 100, h.clock.Now()))
	}
	h.send(evs...)
	s = h.sync()
	fresh := findQueue(s, "fresh")
	if fresh == nil {
		t.Fatal("newly active queue did not displace a stale one")
	}
	if fresh.LabelsPerMin[Window1m] < 4 {
		t.Errorf("fresh velocity = %v, want ≥ 4 (first event may land in other)", fresh.LabelsPerMin[Window1m])
	}
	if len(s.Queues) != 11 {
		t.Errorf("queues = %d, want 11", len(s.Queues))
	}

	// Labeler cap: 5 labelers in one queue with cap 3 → 3 + other.
	evs = evs[:0]
	for i := 0; i < 5; i++ {
		evs = append(evs, submit("fresh", fmt.Sprint("g", i), fmt.Sprint("w", i), "mouse", 100, h.clock.Now()))
	}
	h.send(evs...)
	fresh = findQueue(h.sync(), "fresh")
	if n := len(fresh.Labelers); n != 4 || fresh.Labelers[n-1].ID != OtherID {
		t.Errorf("labelers = %+v, want 3 + other", fresh.Labelers)
	}
}

// TestFloodOfDistinctQueues feeds 1,000,000 distinct queue ids after a set of steadily
// active queues and checks that tracked state stays at the caps and the active queues stay.
func TestFloodOfDistinctQueues(t *testing.T) {
	if testing.Short() {
		t.Skip("flood test skipped in -short")
	}
	cfg := DefaultConfig()
	st := newState(cfg.withDefaults(), t0)
	now := t0
	real := 200
	feedReal := func() {
		for q := 0; q < real; q++ {
			e := submit(fmt.Sprint("real-", q), "", "u", "keyboard", 1200, now)
			st.event(&e)
		}
	}
	for i := 0; i < 20; i++ {
		now = now.Add(time.Second)
		st.advance(now)
		feedReal()
	}
	flood := floodEvents(1_000_000, now)
	for i := range flood {
		if i%10000 == 0 {
			now = now.Add(100 * time.Millisecond)
			st.advance(now)
			feedReal()
		}
		st.event(&flood[i])
	}
	snap := st.build(now, false)
	checkCaps(t, st, cfg)
	if len(snap.Queues) != cfg.MaxQueues+1 {
		t.Errorf("snapshot queues = %d, want %d", len(snap.Queues), cfg.MaxQueues+1)
	}
	for q := 0; q < real; q++ {
		if _, ok := st.queues.byID[fmt.Sprint("real-", q)]; !ok {
			t.Errorf("active queue real-%d was displaced by the flood", q)
			break
		}
	}
	other := snap.Queues[len(snap.Queues)-1]
	if other.ID != OtherID || other.Folded < 950_000 || other.Folded > 1_050_000 {
		t.Errorf("other row = %s folded %d, want ≈1,000,000", other.ID, other.Folded)
	}
}

func floodEvents(n int, at time.Time) []wire.Event {
	evs := make([]wire.Event, n)
	for i := range evs {
		evs[i] = submit(fmt.Sprint("flood-", i), fmt.Sprint("a", i), fmt.Sprint("user-", i), "api", float64(1+i%5000), at)
	}
	return evs
}

func checkCaps(t *testing.T, st *state, cfg Config) {
	t.Helper()
	qt := st.queues
	if len(qt.list) > cfg.MaxQueues || len(qt.byID) > cfg.MaxQueues {
		t.Errorf("tracked queues = %d/%d, cap %d", len(qt.list), len(qt.byID), cfg.MaxQueues)
	}
	if len(qt.cands.ids) > cap(qt.cands.ids) || len(qt.cands.index) > cap(qt.cands.ids) {
		t.Errorf("candidates = %d, cap %d", len(qt.cands.index), cap(qt.cands.ids))
	}
	for _, q := range append(slices.Clone(qt.list), qt.other) {
		if len(q.labelers) > cfg.MaxLabelersPerQueue {
			t.Errorf("queue %s tracks %d labelers, cap %d", q.id, len(q.labelers), cfg.MaxLabelersPerQueue)
		}
	}
	if st.dedupe.len() > cfg.DedupeAssignments {
		t.Errorf("dedupe holds %d, cap %d", st.dedupe.len(), cfg.DedupeAssignments)
	}
	if len(st.traces.pool) > cfg.MaxTraces*spansPerTrace {
		t.Errorf("span pool = %d, cap %d", len(st.traces.pool), cfg.MaxTraces*spansPerTrace)
	}
	if st.traces.byID.len() > cfg.MaxTraces {
		t.Errorf("traces = %d, cap %d", st.traces.byID.len(), cfg.MaxTraces)
	}
	if len(st.ops) > cfg.MaxOps || len(st.unknown) > cfg.MaxUnknownNames {
		t.Errorf("ops %d unknown %d", len(st.ops), len(st.unknown))
	}
}

func TestSnapshotImmutable(t *testing.T) {
	h := newHarness(t, Config{ErrorLogSize: 50})
	send := func(i int) {
		at := h.clock.Now()
		h.send(
			submit(fmt.Sprint("q", i%7), fmt.Sprint("a", i), fmt.Sprint("u", i%3), "keyboard", float64(100+i), at),
			newEv("ingot.forge_client.get_sample", at).m("duration_ms", float64(i)).meta("result", "error", "reason", "x").
				trace(fmt.Sprintf("%032x", i%5), fmt.Sprintf("%016x", i), "").ev(),
		)
	}
	for i := 0; i < 40; i++ {
		send(i)
	}
	s1 := h.sync()
	before, err := json.Marshal(s1)
	if err != nil {
		t.Fatal(err)
	}
	// Readers walk the published snapshot while the engine keeps ingesting (run with -race).
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				s := h.eng.Snapshot()
				n := 0
				for _, q := range s.Queues {
					n += len(q.Spark) + len(q.Labelers)
				}
				for _, spans := range s.Lineage {
					n += len(spans)
				}
				_ = n
			}
		}()
	}
	for i := 40; i < 400; i++ {
		if i%50 == 0 {
			h.clock.Advance(7 * time.Second)
		}
		send(i)
		if i%20 == 0 {
			h.sync()
		}
	}
	close(stop)
	wg.Wait()
	s2 := h.sync()
	after, _ := json.Marshal(s1)
	if string(before) != string(after) {
		t.Error("a published snapshot changed after later ingestion")
	}
	if s2.Totals.Events == s1.Totals.Events {
		t.Error("later snapshot did not see later events")
	}
}

func TestHandleBatchCopiesInput(t *testing.T) {
	h := newHarness(t, Config{})
	batch := []wire.Event{submit("q", "a", "u", "keyboard", 100, t0)}
	if err := h.eng.HandleBatch(batch); err != nil {
		t.Fatal(err)
	}
	// The feed reuses its batch slice at once: the next event overwrites the slot.
	batch[0] = submit("mutated", "b", "v", "mouse", 9999, t0)
	s := h.sync()
	q := findQueue(s, "q")
	if q == nil || findQueue(s, "mutated") != nil || q.TimePerSample[Window1m].Max != 100 {
		t.Errorf("engine saw the caller's later writes: %+v", s.Queues)
	}
}

func TestBackPressureAndStop(t *testing.T) {
	_, eng := newWarmEngine(Config{InputBuffer: 1})
	if err := eng.HandleBatch([]wire.Event{submit("q", "a", "u", "keyboard", 1, t0)}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- eng.HandleBatch([]wire.Event{submit("q", "b", "u", "keyboard", 1, t0)}) }()
	select {
	case err := <-done:
		t.Fatalf("HandleBatch returned (%v) with a full queue and no consumer: it must block", err)
	default:
	}
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- eng.Run(ctx) }()
	if err := <-done; err != nil {
		t.Fatalf("blocked HandleBatch: %v", err)
	}
	s, err := eng.Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := findQueue(s, "q").Labels[Window1m]; got != 2 {
		t.Errorf("labels = %v, want 2: nothing dropped", got)
	}
	cancel()
	if err := <-runDone; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := eng.HandleBatch([]wire.Event{submit("q", "c", "u", "keyboard", 1, t0)}); err != ErrStopped {
		t.Errorf("HandleBatch after stop = %v, want ErrStopped", err)
	}
	if _, err := eng.Sync(context.Background()); err != ErrStopped {
		t.Errorf("Sync after stop = %v, want ErrStopped", err)
	}
	if eng.Run(context.Background()) == nil {
		t.Error("second Run did not fail")
	}
}

func TestTickPublishes(t *testing.T) {
	h := newHarness(t, Config{SnapshotEvery: time.Second})
	if s := h.eng.Snapshot(); s == nil || !s.At.Equal(s.Started) {
		t.Fatalf("initial snapshot = %+v, want one at the engine's start", s)
	}
	first := h.sync() // Run is up and its ticker registered

	h.send(submit("q", "a", "u", "keyboard", 1, t0))
	h.clock.Advance(time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for h.eng.Snapshot() == first {
		if time.Now().After(deadline) {
			t.Fatal("no snapshot published after a tick")
		}
		runtime.Gosched() // polling with a deadline
	}
	s := h.eng.Snapshot()
	if !s.At.After(t0) {
		t.Errorf("published At = %v", s.At)
	}
}

func TestFreshIncludesEverythingHandedInBefore(t *testing.T) {
	h := newHarness(t, Config{SnapshotEvery: time.Hour}) // no periodic build in this test
	h.send(submit("q", "a", "u", "keyboard", 1, t0))
	h.send(submit("q", "b", "u", "keyboard", 1, t0))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := h.eng.Fresh(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if q := findQueue(s, "q"); q == nil || q.Labels[Window1m] != 2 {
		t.Fatalf("fresh snapshot queues = %+v, want q with 2 labels", s.Queues)
	}
	if h.eng.Snapshot() != s {
		t.Error("Fresh did not publish its snapshot")
	}
}

func TestClockSteppingBackIsIgnored(t *testing.T) {
	h := newHarness(t, Config{})
	h.clock.Set(t0.Add(2 * time.Minute))
	h.send(submit("q", "a", "u", "keyboard", 1, t0.Add(2*time.Minute)))
	h.sync()
	h.clock.Set(t0) // NTP step backwards
	h.send(submit("q", "b", "u", "keyboard", 1, t0))
	s := h.sync()
	// Engine time stays at +2m; the second label arrived stamped 2 minutes earlier.
	if got := findQueue(s, "q").Labels; got[Window1m] != 1 || got[Window5m] != 2 {
		t.Errorf("labels = %v, want 1 in 1m and 2 in 5m", got)
	}
	if !s.At.Equal(t0.Add(2 * time.Minute)) {
		t.Errorf("At = %v moved backwards", s.At)
	}
}

func TestOpCapFoldsIntoOther(t *testing.T) {
	h := newHarness(t, Config{MaxOps: 3})
	for i := 0; i < 6; i++ {
		h.send(newEv(fmt.Sprint("ingot.forge_client.op", i), t0).m("duration_ms", float64(10*(i+1))).meta("result", "ok").ev())
	}
	s := h.sync()
	if len(s.Ops) != 4 {
		t.Fatalf("ops = %d rows, want 3 + other", len(s.Ops))
	}
	other := findOp(s, OtherID)
	if other == nil || other.Latency[Window1m].Count != 3 || other.Latency[Window1m].Max != 60 {
		t.Errorf("other op = %+v, want the 3 folded calls", other)
	}
	// After 16 idle minutes a new operation reuses an idle row instead of folding.
	h.clock.Advance(16 * time.Minute)
	h.send(newEv("ingot.anvil_client.late", h.clock.Now()).m("duration_ms", 1).meta("result", "ok").ev())
	if findOp(h.sync(), "ingot.anvil_client.late") == nil {
		t.Error("new operation folded although an idle row could be reused")
	}
	// The reused row's old operation (whichever of op0..op2 it was) is gone: its next call
	// makes a row of its own or folds, and is not counted into the row it no longer has
	// (through a stale cached pointer).
	for i := 0; i < 3; i++ {
		h.send(newEv(fmt.Sprint("ingot.forge_client.op", i), h.clock.Now()).m("duration_ms", 7).meta("result", "ok").ev())
	}
	s = h.sync()
	got := uint64(0)
	for _, id := range []string{"ingot.forge_client.op0", "ingot.forge_client.op1", "ingot.forge_client.op2", OtherID} {
		if op := findOp(s, id); op != nil {
			got += op.Latency[Window1m].Count
		}
	}
	if got != 3 {
		t.Errorf("calls of op0..op2 after one's row was reused: %d in the 1m rows, want 3", got)
	}
}

func TestDedupeIsBounded(t *testing.T) {
	h := newHarness(t, Config{DedupeAssignments: 8})
	var evs []wire.Event
	for i := 0; i < 20; i++ {
		evs = append(evs, submit("q", fmt.Sprint("a", i), "u", "keyboard", 1, t0))
	}
	evs = append(evs, submitted("q", "a19", "u", t0)) // recent: still remembered
	evs = append(evs, submitted("q", "a0", "u", t0))  // long evicted: counts again
	h.send(evs...)
	if got := findQueue(h.sync(), "q").Labels[Window1m]; got != 21 {
		t.Errorf("labels = %v, want 21", got)
	}
	if n := h.eng.st.dedupe.len(); n > 8 {
		t.Errorf("dedupe holds %d, cap 8", n)
	}
}

// A dashboard opened seconds ago must not read low: rates divide by the time observed.
func TestYoungEngineRates(t *testing.T) {
	clock := NewManualClock(t0)
	eng := New(Config{}, clock)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	defer func() { cancel(); <-done }()

	// 10 labels per second for 5 s (seconds 0..4), then a snapshot at the end of second 4.
	var evs []wire.Event
	for sec := 0; sec < 5; sec++ {
		for i := 0; i < 10; i++ {
			evs = append(evs, submit("q", fmt.Sprintf("a%d-%d", sec, i), "u", "keyboard", 100, t0.Add(time.Duration(sec)*time.Second)))
		}
	}
	clock.Set(t0.Add(5 * time.Second))
	if err := eng.HandleBatch(evs); err != nil {
		t.Fatal(err)
	}
	snap, err := eng.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	q := findQueue(snap, "q")
	if q == nil {
		t.Fatal("queue q missing")
	}
	for w := Window(0); w < NumWindows; w++ {
		if got := q.LabelsPerMin[w]; got != 600 {
			t.Errorf("%s velocity after 5 s = %v labels/min, want 600", w, got)
		}
	}
	if got := snap.Totals.RatePerSec; got != 10 {
		t.Errorf("events/s after 5 s = %v, want 10", got)
	}
}

// In steady state a rate divides by the time its slices really cover: the full older slices
// plus the part of the current one that has elapsed. Dividing by the nominal window read
// 5-10% low for most of every second.
func TestRatesDivideByObservedTime(t *testing.T) {
	h := newHarness(t, Config{})
	// 5 events in each of the last 30 whole seconds, then 3 events 400 ms into the current one.
	var evs []wire.Event
	for sec := 1; sec <= 30; sec++ {
		for i := 0; i < 5; i++ {
			evs = append(evs, newEv("forge.sample.created", t0.Add(-time.Duration(sec)*time.Second)).ev())
		}
	}
	for i := 0; i < 3; i++ {
		evs = append(evs, newEv("forge.sample.created", t0.Add(400*time.Millisecond)).ev())
	}
	h.clock.Set(t0.Add(400 * time.Millisecond))
	h.send(evs...)
	s := h.sync()
	// The last 10 slices are seconds -9..0: 9 × 5 + 3 events over 9.4 s.
	if want := 48 / 9.4; math.Abs(s.Totals.RatePerSec-want) > 1e-9 {
		t.Errorf("RatePerSec = %v, want %v", s.Totals.RatePerSec, want)
	}
}

// An error entry stays for minutes; the decoder's strings sit in blocks shared with the
// events around it, so the entry must hold copies, not the event's strings, and its fields
// and ids must read as the event's.
func TestErrorEntryCopiesTheEventsStrings(t *testing.T) {
	st := newState(DefaultConfig(), t0)
	ev := newEv("ingot.anvil_client.submit_label", t0).m("duration_ms", 5).
		meta("queue_id", "q1", "result", "error", "reason", "timeout after 5000ms", "assignment_id", "a9").
		trace("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", "").ev()
	ev.Node = "ingot@10.0.0.7"
	st.event(&ev)
	got := st.errors.newestFirst()
	if len(got) != 1 {
		t.Fatalf("%d entries, want 1", len(got))
	}
	e := got[0]
	if e.TraceID != ev.Trace.TraceID || e.SpanID != ev.Trace.SpanID || e.Node != ev.Node || e.Reason != "timeout after 5000ms" {
		t.Errorf("entry %+v", e)
	}
	wantIDs := []KVPair{{"queue_id", "q1"}, {"assignment_id", "a9"}}
	if fmt.Sprint(e.IDs) != fmt.Sprint(wantIDs) || len(e.Metadata) != len(ev.Metadata) {
		t.Errorf("ids %v (want %v), metadata %v", e.IDs, wantIDs, e.Metadata)
	}
	shared := func(a, b string) bool { return len(a) > 0 && unsafe.StringData(a) == unsafe.StringData(b) }
	if shared(e.TraceID, ev.Trace.TraceID) || shared(e.Node, ev.Node) || shared(e.Metadata[0].Value, ev.Metadata[0].Value) {
		t.Error("the entry holds the event's own strings, which keep the decoder's block alive")
	}
}

// TestLagMSMatchesSub compares lagMS with time.Time.Sub around its bounds and over random
// instants, with and without monotonic readings on the receiving side.
func TestLagMSMatchesSub(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	base := time.Now() // has a monotonic reading
	edges := []int64{0, 1, -1, 1<<32 - 1, 1 << 32, -(1<<32 - 1), -(1 << 32), 1 << 40, -(1 << 40), math.MaxInt64 / int64(time.Second), math.MinInt64 / int64(time.Second)}
	var times []time.Time
	for _, sec := range edges {
		for _, ns := range []int64{0, 1, 999_999_999} {
			times = append(times, time.Unix(sec, ns), time.Unix(sec, ns).UTC())
		}
	}
	for i := 0; i < 2000; i++ {
		times = append(times, time.Unix(rng.Int64N(1<<34)-1<<33, rng.Int64N(1e9)), base.Add(time.Duration(rng.Int64N(1<<40)-1<<39)))
	}
	times = append(times, time.Time{}, base)
	for _, r := range times {
		for k := 0; k < 20; k++ {
			e := times[rng.IntN(len(times))].Round(0) // off the wire: no monotonic reading
			if got, want := lagMS(r, e), float64(r.Sub(e))/float64(time.Millisecond); got != want {
				t.Fatalf("lagMS(%v, %v) = %v, Sub says %v", r, e, got, want)
			}
		}
	}
}
