package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/DataDog/sketches-go/ddsketch/store"

	"github.com/nsai/ingot-top/internal/ingest"
	"github.com/nsai/ingot-top/internal/wire"
)

// fleetTraffic is deterministic traffic over many queues, labelers and operations, with
// errors, traces, lag, unknown names and invalid messages. Every event carries a route key:
// events of one assignment or request share it, so that splitting by key keeps the pairs
// the engine deduplicates on one side.
type fleetEvent struct {
	route   int
	ev      wire.Event
	invalid *ingest.Invalid
}

func fleetTraffic(seed uint64, queues, n int, start time.Time, span time.Duration) []fleetEvent {
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	out := make([]fleetEvent, 0, n*3)
	methods := []string{"keyboard", "mouse", "api", "pen"}
	ops := []string{wire.ExampleForgeClientGet, wire.ExampleAnvilClientSubmit, wire.ExampleAnvilClientAssign, wire.EventLiveViewMount, wire.EventPipelineExecuted}
	for i := 0; i < n; i++ {
		at := start.Add(time.Duration(float64(span) * float64(i) / float64(n)))
		q := fmt.Sprintf("queue-%03d", int(rng.ExpFloat64()*float64(queues)/3)%queues)
		user := fmt.Sprintf("user-%02d", rng.IntN(25))
		asg := fmt.Sprintf("asg-%d", i)
		lag := time.Duration(rng.IntN(400)) * time.Millisecond
		switch k := rng.IntN(10); {
		case k < 5:
			dur := 800 + rng.ExpFloat64()*4000
			sub := submit(q, asg, user, methods[rng.IntN(len(methods))], dur, at)
			sub.Time = at.Add(-lag)
			out = append(out, fleetEvent{route: i, ev: sub})
			if rng.IntN(3) > 0 {
				out = append(out, fleetEvent{route: i, ev: submitted(q, asg, user, at.Add(20*time.Millisecond))})
			}
		case k < 6:
			out = append(out, fleetEvent{route: i, ev: newEv(wire.EventAssignmentAbandoned, at).meta("queue_id", q, "user_id", user).ev()})
		case k < 9:
			op := ops[rng.IntN(len(ops))]
			b := newEv(op, at.Add(-lag)).received(at).m("duration_ms", 5+rng.ExpFloat64()*120).trace(fmt.Sprintf("tr-%d", i), "s1", "")
			if rng.IntN(8) == 0 {
				b.meta("result", "error", "reason", "timeout", "queue_id", q)
			} else {
				b.meta("result", "ok")
			}
			out = append(out, fleetEvent{route: i, ev: b.ev()})
		default:
			switch rng.IntN(3) {
			case 0:
				out = append(out, fleetEvent{route: i, ev: newEv(wire.EventQueueStatsUpdated, at).m("pending", float64(rng.IntN(500))).
					m("in_progress", 3).m("completed", float64(i)).meta("queue_id", q).ev()})
			case 1:
				out = append(out, fleetEvent{route: i, ev: newEv(fmt.Sprintf("ingot.mystery.e%d", rng.IntN(4)), at).ev()})
			default:
				out = append(out, fleetEvent{route: i, invalid: &ingest.Invalid{Received: at, Subject: "telemetry.x", Reason: wire.Reason("bad_json"), Detail: "unexpected end", Excerpt: "{"}})
			}
		}
	}
	return out
}

// feedTraffic hands the events to the engines selected by pick, advancing their shared
// clock with event time.
func feedTraffic(t *testing.T, clock *ManualClock, traffic []fleetEvent, pick func(route int) []*Engine) {
	t.Helper()
	for _, fe := range traffic {
		at := fe.ev.Received
		if fe.invalid != nil {
			at = fe.invalid.Received
		}
		if at.After(clock.Now()) {
			clock.Set(at)
		}
		for _, e := range pick(fe.route) {
			var err error
			if fe.invalid != nil {
				err = e.HandleInvalid(*fe.invalid)
			} else {
				err = e.HandleBatch([]wire.Event{fe.ev})
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
}

func startEngines(t *testing.T, clock *ManualClock, n int) []*Engine {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	engines := make([]*Engine, n)
	done := make(chan error, n)
	for i := range engines {
		engines[i] = New(Config{}, clock)
		go func(e *Engine) { done <- e.Run(ctx) }(engines[i])
	}
	t.Cleanup(func() {
		cancel()
		for range engines {
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	})
	return engines
}

func aggregateOf(t *testing.T, e *Engine, producer string, limits AggregateLimits) *Aggregate {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	x, err := e.AggregateLimited(ctx, limits)
	if err != nil {
		t.Fatalf("Aggregate: %v", err)
	}
	x.Producer, x.Host = producer, "host-"+producer
	return x
}

// roundTrip encodes and decodes x, as a subscriber would receive it.
func roundTrip(t *testing.T, x *Aggregate) *Aggregate {
	t.Helper()
	data, err := x.Encode()
	if err != nil {
		t.Fatal(err)
	}
	y, err := DecodeAggregate(data)
	if err != nil {
		t.Fatalf("DecodeAggregate: %v", err)
	}
	return y
}

func quantilesClose(t *testing.T, what string, got, want Quantiles) {
	t.Helper()
	if got.Count != want.Count {
		t.Errorf("%s count = %d, want %d", what, got.Count, want.Count)
		return
	}
	if got.Max != want.Max {
		t.Errorf("%s max = %v, want %v", what, got.Max, want.Max)
	}
	approx(t, what+" p50", got.P50, want.P50, sketchAccuracy)
	approx(t, what+" p90", got.P90, want.P90, sketchAccuracy)
	approx(t, what+" p95", got.P95, want.P95, sketchAccuracy)
	approx(t, what+" p99", got.P99, want.P99, sketchAccuracy)
}

func TestMergedHalvesEqualOneEngine(t *testing.T) {
	clock := NewManualClock(t0.Add(-20 * time.Minute))
	engines := startEngines(t, clock, 3)
	whole, half := engines[0], engines[1:]
	traffic := fleetTraffic(1, 12, 12000, t0.Add(-14*time.Minute), 14*time.Minute)
	feedTraffic(t, clock, traffic, func(route int) []*Engine { return []*Engine{whole, half[route%2]} })
	clock.Set(t0.Add(3 * time.Second))

	ctx := context.Background()
	want, err := whole.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a := roundTrip(t, aggregateOf(t, half[0], "a", DefaultAggregateLimits()))
	b := roundTrip(t, aggregateOf(t, half[1], "b", DefaultAggregateLimits()))
	got, err := Merge(a, b)
	if err != nil {
		t.Fatal(err)
	}
	compareSnapshots(t, got, want, true)

	// Merging is order independent and the same aggregate twice is not double counted.
	again, err := Merge(b, a, b)
	if err != nil {
		t.Fatal(err)
	}
	compareSnapshots(t, again, want, true)
}

func compareSnapshots(t *testing.T, got, want *Snapshot, labelers bool) {
	t.Helper()
	if !got.At.Equal(want.At) || !got.Started.Equal(want.Started) {
		t.Errorf("at/started = %s/%s, want %s/%s", got.At, got.Started, want.At, want.Started)
	}
	gt, wt := got.Totals, want.Totals
	if gt.Events != wt.Events || gt.Invalid != wt.Invalid || gt.Unknown != wt.Unknown || gt.Errors != wt.Errors {
		t.Errorf("totals = %+v, want %+v", gt, wt)
	}
	if gt.RatePerSec != wt.RatePerSec {
		t.Errorf("rate = %v, want %v", gt.RatePerSec, wt.RatePerSec)
	}
	if fmt.Sprint(got.EventsPerSec) != fmt.Sprint(want.EventsPerSec) {
		t.Errorf("events per second differ:\n got %v\nwant %v", got.EventsPerSec, want.EventsPerSec)
	}
	if len(got.Queues) != len(want.Queues) {
		t.Fatalf("%d queues, want %d", len(got.Queues), len(want.Queues))
	}
	for i := range want.Queues {
		w, g := &want.Queues[i], &got.Queues[i]
		if g.ID != w.ID {
			t.Errorf("queue %d = %q, want %q (order by 1m velocity)", i, g.ID, w.ID)
			continue
		}
		if g.LabelsPerMin != w.LabelsPerMin || g.Abandonment != w.Abandonment || g.Methods != w.Methods || g.Folded != w.Folded {
			t.Errorf("queue %s: labels/min %v abandonment %v methods %v folded %d, want %v %v %v %d", w.ID,
				g.LabelsPerMin, g.Abandonment, g.Methods, g.Folded, w.LabelsPerMin, w.Abandonment, w.Methods, w.Folded)
		}
		if fmt.Sprint(g.Spark, g.History) != fmt.Sprint(w.Spark, w.History) {
			t.Errorf("queue %s spark/history differ", w.ID)
		}
		for win := Window(0); win < NumWindows; win++ {
			quantilesClose(t, fmt.Sprintf("queue %s tps %s", w.ID, win), g.TimePerSample[win], w.TimePerSample[win])
		}
		if g.HasStats != w.HasStats || g.Pending != w.Pending || !g.StatsAt.Equal(w.StatsAt) || g.EtaKnown != w.EtaKnown || g.BacklogETA != w.BacklogETA {
			t.Errorf("queue %s stats = %v %v %s %v, want %v %v %s %v", w.ID, g.HasStats, g.Pending, g.StatsAt, g.BacklogETA, w.HasStats, w.Pending, w.StatsAt, w.BacklogETA)
		}
		if g.Calls != w.Calls || g.Errors != w.Errors || g.ErrorRate != w.ErrorRate {
			t.Errorf("queue %s calls/errors/rate = %v %v %v, want %v %v %v", w.ID, g.Calls, g.Errors, g.ErrorRate, w.Calls, w.Errors, w.ErrorRate)
		}
		if g.ActiveLabelers != w.ActiveLabelers {
			t.Errorf("queue %s active labelers = %d, want %d", w.ID, g.ActiveLabelers, w.ActiveLabelers)
		}
		if labelers {
			gl := map[string]LabelerStats{}
			for _, l := range g.Labelers {
				gl[l.ID] = l
			}
			// With few queues every producer sends all labelers: counts add up exactly.
			if len(g.Labelers) != len(w.Labelers) {
				t.Errorf("queue %s: %d labelers, want %d", w.ID, len(g.Labelers), len(w.Labelers))
			}
			for _, l := range w.Labelers {
				if c := gl[l.ID]; c.Labels != l.Labels || c.Calls != l.Calls || c.Errors != l.Errors {
					t.Errorf("queue %s labeler %s labels/calls/errors = %v %v %v, want %v %v %v", w.ID, l.ID, c.Labels, c.Calls, c.Errors, l.Labels, l.Calls, l.Errors)
				}
			}
		}
	}
	if len(got.Ops) != len(want.Ops) {
		t.Fatalf("%d ops, want %d", len(got.Ops), len(want.Ops))
	}
	for i := range want.Ops {
		w, g := &want.Ops[i], &got.Ops[i]
		if g.Name != w.Name || g.Service != w.Service || g.Errors != w.Errors || g.ErrorRate != w.ErrorRate {
			t.Errorf("op %d = %s %s %v %v, want %s %s %v %v", i, g.Name, g.Service, g.Errors, g.ErrorRate, w.Name, w.Service, w.Errors, w.ErrorRate)
		}
		for win := Window(0); win < NumWindows; win++ {
			quantilesClose(t, fmt.Sprintf("op %s %s", w.Name, win), g.Latency[win], w.Latency[win])
		}
	}
	if fmt.Sprint(got.Services) != fmt.Sprint(want.Services) {
		t.Errorf("services = %+v, want %+v", got.Services, want.Services)
	}
	for win := Window(0); win < NumWindows; win++ {
		quantilesClose(t, "lag "+win.String(), got.Lag[win], want.Lag[win])
	}
	if fmt.Sprint(got.Invalid) != fmt.Sprint(want.Invalid) || fmt.Sprint(got.Unknown) != fmt.Sprint(want.Unknown) {
		t.Errorf("invalid/unknown = %v %v, want %v %v", got.Invalid, got.Unknown, want.Invalid, want.Unknown)
	}
	if len(got.InvalidSamples) != len(want.InvalidSamples) {
		t.Errorf("%d invalid samples, want %d", len(got.InvalidSamples), len(want.InvalidSamples))
	}
	// The aggregates carry the newest errors of each producer; the merged log's newest
	// entries are the whole engine's newest.
	n := min(len(got.Errors), DefaultAggregateLimits().MaxErrors)
	if n == 0 && len(want.Errors) > 0 {
		t.Fatalf("no merged errors, want %d", len(want.Errors))
	}
	for i := 0; i < n; i++ {
		if keyOf(&got.Errors[i]) != keyOf(&want.Errors[i]) {
			t.Fatalf("error %d = %+v, want %+v", i, got.Errors[i], want.Errors[i])
		}
		if id := want.Errors[i].TraceID; id != "" && len(got.Lineage[id]) != len(want.Lineage[id]) {
			t.Errorf("lineage of %s: %d spans, want %d", id, len(got.Lineage[id]), len(want.Lineage[id]))
		}
	}
}

func TestAggregateCapsQueuesIntoOther(t *testing.T) {
	clock := NewManualClock(t0.Add(-20 * time.Minute))
	engines := startEngines(t, clock, 3)
	whole, half := engines[0], engines[1:]
	traffic := fleetTraffic(2, 40, 8000, t0.Add(-5*time.Minute), 5*time.Minute)
	feedTraffic(t, clock, traffic, func(route int) []*Engine { return []*Engine{whole, half[route%2]} })
	want, err := whole.Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	limits := AggregateLimits{MaxQueues: 5, MaxLabelers: 3, MaxErrors: 10}
	a := roundTrip(t, aggregateOf(t, half[0], "a", limits))
	b := roundTrip(t, aggregateOf(t, half[1], "b", limits))
	if len(a.Queues) != 6 || a.QueuesOmitted == 0 || a.Queues[5].ID != OtherID {
		t.Fatalf("capped aggregate has %d queues (%d omitted), want 5 + %s", len(a.Queues), a.QueuesOmitted, OtherID)
	}
	got, err := Merge(a, b)
	if err != nil {
		t.Fatal(err)
	}
	// Nothing is lost by the cap: every label is in some row.
	sum := func(s *Snapshot) (n float64) {
		for _, q := range s.Queues {
			for _, v := range q.Spark {
				n += v
			}
		}
		return n
	}
	if g, w := sum(got), sum(want); g != w {
		t.Errorf("labels in the last minute over all rows = %v, want %v", g, w)
	}
	timed := func(s *Snapshot) (n [NumWindows]uint64) {
		for _, q := range s.Queues {
			for w := Window(0); w < NumWindows; w++ {
				n[w] += q.TimePerSample[w].Count
			}
		}
		return n
	}
	if g, w := timed(got), timed(want); g != w || w[Window15m] == 0 {
		t.Errorf("timed submissions over all rows = %v, want %v", g, w)
	}
	if got.Queues[len(got.Queues)-1].ID != OtherID {
		t.Errorf("last merged row = %q, want %s", got.Queues[len(got.Queues)-1].ID, OtherID)
	}
	if len(got.Errors) != 20 {
		t.Errorf("%d merged errors, want 2 × 10", len(got.Errors))
	}
}

func TestMergerExpiresSilentProducers(t *testing.T) {
	clock := NewManualClock(t0.Add(-20 * time.Minute))
	engines := startEngines(t, clock, 2)
	traffic := fleetTraffic(3, 4, 2000, t0.Add(-time.Minute), time.Minute)
	feedTraffic(t, clock, traffic, func(route int) []*Engine { return engines[route%2 : route%2+1] })
	m := NewMerger(MergerConfig{Now: clock.Now})
	a, b := aggregateOf(t, engines[0], "a", DefaultAggregateLimits()), aggregateOf(t, engines[1], "b", DefaultAggregateLimits())
	for _, x := range []*Aggregate{a, b} {
		if err := m.Add(x); err != nil {
			t.Fatal(err)
		}
	}
	both := m.Snapshot()
	if both.Totals.Events != a.Totals.Events+b.Totals.Events {
		t.Fatalf("merged events = %d, want %d", both.Totals.Events, a.Totals.Events+b.Totals.Events)
	}
	// b keeps publishing, a falls silent.
	clock.Advance(3 * time.Second)
	b2 := aggregateOf(t, engines[1], "b", DefaultAggregateLimits())
	if err := m.Add(b2); err != nil {
		t.Fatal(err)
	}
	if ps := m.Producers(); len(ps) != 2 || ps[0].Stale || ps[1].Stale {
		t.Fatalf("producers 3 s after a's last aggregate = %+v, want both live", ps)
	}
	clock.Advance(2*time.Second + time.Millisecond)
	ps := m.Producers()
	if len(ps) != 2 || ps[0].Producer != "a" || !ps[0].Stale || ps[0].Silent != 5*time.Second+time.Millisecond || ps[1].Stale {
		t.Fatalf("producers 5 s after a's last aggregate = %+v, want a stale (silent 5.001s), b live", ps)
	}
	// a's share leaves the totals: only b's aggregate is merged, with its impact or not.
	if got := m.Snapshot().Totals.Events; got != b2.Totals.Events {
		t.Errorf("events after a went stale = %d, want b's %d", got, b2.Totals.Events)
	}
	if s := m.SnapshotWithImpact(); s.Totals.Events != b2.Totals.Events || s.Impact.Calls != b2.Impact.Calls {
		t.Errorf("with impact, after a went stale: events %d calls %v, want b's %d %v", s.Totals.Events, s.Impact.Calls, b2.Totals.Events, b2.Impact.Calls)
	}
	// An older aggregate of a live producer (reordered delivery) does not replace the newer.
	if err := m.Add(b); err != nil {
		t.Fatal(err)
	}
	if got := m.Producers()[1].At; !got.Equal(b2.At) {
		t.Errorf("producer time after a stale aggregate = %s, want %s", got, b2.At)
	}
	// a comes back (a restarted daemon keeps its id): live again, counted once.
	a2 := aggregateOf(t, engines[0], "a", DefaultAggregateLimits())
	if err := m.Add(a2); err != nil {
		t.Fatal(err)
	}
	if ps := m.Producers(); len(ps) != 2 || ps[0].Stale || ps[0].Silent != 0 {
		t.Errorf("producers after a came back = %+v, want a live", ps)
	}
	if got, want := m.Snapshot().Totals.Events, a2.Totals.Events+b2.Totals.Events; got != want {
		t.Errorf("events after a came back = %d, want %d", got, want)
	}
	clock.Advance(6 * time.Second)
	if s := m.Snapshot(); s.Totals.Events != 0 || len(s.EventsPerSec) != secondSlots {
		t.Errorf("snapshot with only stale producers = %+v, want empty", s.Totals)
	}
	if ps := m.Producers(); len(ps) != 2 || !ps[0].Stale || !ps[1].Stale {
		t.Errorf("producers 6 s after the last aggregates = %+v, want both stale", ps)
	}
	clock.Advance(10 * time.Minute)
	if ps := m.Producers(); len(ps) != 0 {
		t.Errorf("producers 10 min after the last aggregates = %+v, want none (forgotten)", ps)
	}
}

// TestMergerBoundsStaleProducers: producers that come and go under new ids (restarts with
// a new hostname or pid) leave at most MaxProducers stale entries, the most recent.
func TestMergerBoundsStaleProducers(t *testing.T) {
	clock := NewManualClock(t0)
	engines := startEngines(t, clock, 1)
	x := aggregateOf(t, engines[0], "p", DefaultAggregateLimits())
	m := NewMerger(MergerConfig{Now: clock.Now, MaxProducers: 3})
	for i := range 10 {
		y := *x
		y.Producer = fmt.Sprintf("p%d", i)
		if err := m.Add(&y); err != nil {
			t.Fatalf("producer %d: %v", i, err)
		}
		clock.Advance(6 * time.Second) // each one is stale before the next comes
	}
	ps := m.Producers()
	if len(ps) != 3 || ps[0].Producer != "p7" || ps[2].Producer != "p9" {
		t.Fatalf("producers = %+v, want the 3 most recent stale ones", ps)
	}
	for _, p := range ps {
		if !p.Stale {
			t.Errorf("producer %s live, want stale", p.Producer)
		}
	}
}

func TestMergerRejectsSkewAndTooManyProducers(t *testing.T) {
	clock := NewManualClock(t0)
	engines := startEngines(t, clock, 1)
	x := aggregateOf(t, engines[0], "a", DefaultAggregateLimits())
	m := NewMerger(MergerConfig{Now: func() time.Time { return t0.Add(2 * time.Minute) }, MaxProducers: 1})
	if err := m.Add(x); err == nil || !strings.Contains(err.Error(), "NTP") {
		t.Errorf("aggregate 2 min behind: err = %v, want a clock skew error", err)
	}
	m = NewMerger(MergerConfig{Now: clock.Now, MaxProducers: 1})
	if err := m.Add(x); err != nil {
		t.Fatal(err)
	}
	y := *x
	y.Producer = "b"
	if err := m.Add(&y); !errors.Is(err, ErrTooManyProducers) {
		t.Errorf("second producer over the cap: err = %v, want ErrTooManyProducers", err)
	}
}

func TestAggregateVersionMismatchRejected(t *testing.T) {
	clock := NewManualClock(t0)
	engines := startEngines(t, clock, 1)
	x := aggregateOf(t, engines[0], "daemon-7", DefaultAggregateLimits())
	x.Version = AggregateVersion + 1
	data, err := x.Encode()
	if err != nil {
		t.Fatal(err)
	}
	_, err = DecodeAggregate(data)
	if !errors.Is(err, ErrAggregateVersion) || !strings.Contains(err.Error(), `"daemon-7"`) || !strings.Contains(err.Error(), fmt.Sprint("version ", AggregateVersion+1)) {
		t.Errorf("DecodeAggregate(v%d) err = %v, want a version error naming the producer", AggregateVersion+1, err)
	}
	if _, err := Merge(x); !errors.Is(err, ErrAggregateVersion) {
		t.Errorf("Merge(v%d) err = %v, want ErrAggregateVersion", AggregateVersion+1, err)
	}
	if err := NewMerger(MergerConfig{Now: clock.Now}).Add(x); !errors.Is(err, ErrAggregateVersion) {
		t.Errorf("Merger.Add(v%d) err = %v, want ErrAggregateVersion", AggregateVersion+1, err)
	}
}

// validAggregateJSON returns an encoded aggregate with some of everything, for mutation.
func validAggregateJSON(t testing.TB) []byte { return validAggregateJSONOf(t, 300) }

func validAggregateJSONOf(t testing.TB, events int) []byte {
	clock := NewManualClock(t0.Add(-20 * time.Minute))
	e := New(Config{}, clock)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for _, fe := range fleetTraffic(4, 3, events, t0.Add(-time.Minute), time.Minute) {
		if fe.invalid == nil {
			if fe.ev.Received.After(clock.Now()) {
				clock.Set(fe.ev.Received)
			}
			_ = e.HandleBatch([]wire.Event{fe.ev})
		}
	}
	x, err := e.AggregateLimited(context.Background(), AggregateLimits{MaxQueues: 2, MaxLabelers: 2, MaxErrors: 3})
	if err != nil {
		t.Fatal(err)
	}
	x.Producer = "p"
	data, err := x.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestDecodeAggregateRejectsHostilePayloads(t *testing.T) {
	good := validAggregateJSON(t)
	if _, err := DecodeAggregate(good); err != nil {
		t.Fatalf("valid aggregate rejected: %v", err)
	}
	mutate := func(f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(good, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		out, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	queue0 := func(m map[string]any) map[string]any { return m["queues"].([]any)[0].(map[string]any) }
	tps := func(m map[string]any) map[string]any {
		return queue0(m)["windows"].([]any)[2].(map[string]any)["tps"].(map[string]any)
	}
	cases := map[string][]byte{
		"not json":        []byte("{"),
		"empty":           nil,
		"array":           []byte("[1,2]"),
		"no producer":     mutate(func(m map[string]any) { m["producer"] = "" }),
		"short series":    mutate(func(m map[string]any) { m["events_per_sec"] = []int{1, 2} }),
		"queue series":    mutate(func(m map[string]any) { queue0(m)["labels_10s"] = []int{1} }),
		"accuracy":        mutate(func(m map[string]any) { m["sketch_accuracy"] = 0.02 }),
		"slice mismatch":  mutate(func(m map[string]any) { m["second"] = 12 }),
		"far future":      mutate(func(m map[string]any) { m["at"] = "9999-01-01T00:00:00Z" }),
		"bins garbage":    mutate(func(m map[string]any) { tps(m)["bins"] = []byte{0xff, 0xff, 0xff, 0x01} }),
		"count mismatch":  mutate(func(m map[string]any) { tps(m)["n"] = 1e9 }),
		"bins no count":   mutate(func(m map[string]any) { tps(m)["n"] = 0 }),
		"negative max":    mutate(func(m map[string]any) { tps(m)["max"] = -1 }),
		"negative p50":    mutate(func(m map[string]any) { queue0(m)["p50_10s"].([]any)[89] = -3 }),
		"huge bin index":  mutate(func(m map[string]any) { tps(m)["bins"] = hugeIndexSketch() }),
		"negative folded": mutate(func(m map[string]any) { queue0(m)["folded"] = -4 }),
		"version as text": mutate(func(m map[string]any) { m["v"] = "1" }),
		"oversized":       make([]byte, MaxAggregateBytes+1),
		"nested nonsense": mutate(func(m map[string]any) { m["queues"] = "x" }),
		"unnamed queue":   mutate(func(m map[string]any) { queue0(m)["id"] = "" }),
		"too many spans": mutate(func(m map[string]any) {
			m["lineage"] = map[string]any{"t": make([]map[string]any, maxAggregateSpans+1)}
		}),
		"start after time": mutate(func(m map[string]any) { m["started"] = "2200-01-01T00:00:00Z" }),
	}
	for name, data := range cases {
		if _, err := DecodeAggregate(data); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// Strings are made safe to print.
	hostile := mutate(func(m map[string]any) { queue0(m)["id"] = "q\x1b[2J\x07" })
	x, err := DecodeAggregate(hostile)
	if err != nil {
		t.Fatal(err)
	}
	if !wire.IsSafe(x.Queues[0].ID) {
		t.Errorf("queue id %q not sanitised", x.Queues[0].ID)
	}
}

// hugeIndexSketch encodes one bin at an index no engine could write; a dense store would
// allocate gigabytes for it.
func hugeIndexSketch() []byte {
	pos := store.NewSparseStore()
	pos.AddWithCount(1<<40, 1)
	sk := ddsketch.NewDDSketch(newSketchKit().mapping, pos, store.NewSparseStore())
	var b []byte
	sk.Encode(&b, true)
	return b
}

// hostileAggregates are aggregates of valid JSON whose arrays and maps decode into far more
// memory than their bytes: encoding/json allocates a whole element per array element before
// any cap is checked.
func hostileAggregates() map[string][]byte {
	fill := func(elem string, n int) string { return strings.TrimSuffix(strings.Repeat(elem, n), ",") }
	head := `{"v":1,"producer":"p",`
	n := (MaxAggregateBytes - 200) / 3
	return map[string][]byte{
		"empty error groups":   []byte(head + `"error_groups":[` + fill("{},", n) + `]}`),
		"null errors":          []byte(head + `"errors":[` + fill("null,", (MaxAggregateBytes-200)/5) + `]}`),
		"numbers as queues":    []byte(head + `"queues":[` + fill("0,", (MaxAggregateBytes-200)/2) + `]}`),
		"case-folded key":      []byte(head + `"ERROR_GROUPS":[` + fill("{},", n) + `]}`),
		"escaped key":          []byte(head + `"error\u005fgroups":[` + fill("{},", n) + `]}`),
		"labelers of a queue":  []byte(head + `"queues":[{"labelers":[` + fill("{},", n) + `]}]}`),
		"lineage spans":        []byte(head + `"lineage":{"t":[` + fill("{},", n) + `]}}`),
		"deep nesting":         []byte(head + `"x":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`),
		"metadata of an error": []byte(head + `"errors":[{"Metadata":[` + fill("{},", n) + `]}]}`),
	}
}

// TestDecodeAggregateRefusesAmplification: each hostile aggregate is refused before decoding,
// allocating a small fraction of what decoding it would (about 1.4 GB for 2 MiB of empty
// error groups), so a publisher on the snapshot subject cannot exhaust a viewer's memory.
func TestDecodeAggregateRefusesAmplification(t *testing.T) {
	for name, data := range hostileAggregates() {
		if len(data) > MaxAggregateBytes {
			t.Fatalf("%s: %d bytes, over the %d limit: the case tests nothing", name, len(data), MaxAggregateBytes)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := DecodeAggregate(data)
		runtime.ReadMemStats(&after)
		if err == nil || !strings.Contains(err.Error(), "refused before decoding") {
			t.Errorf("%s: err = %v, want a refusal before decoding", name, err)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
			t.Errorf("%s: %d bytes allocated for a %d-byte aggregate, want under 1 MiB", name, alloc, len(data))
		}
	}
}

// TestDecodeCostOfRealAggregates: a real, large aggregate costs a small multiple of its bytes in
// checkDecodeCost's estimate, so any aggregate a producer can send (within MaxAggregateBytes)
// stays far inside maxAggregateDecodeBytes.
func TestDecodeCostOfRealAggregates(t *testing.T) {
	h := newHarness(t, Config{})
	var evs []wire.Event
	for q := range 300 {
		for k := range 40 {
			at := t0.Add(-time.Duration(k) * time.Second)
			evs = append(evs, submit(fmt.Sprintf("queue-%03d", q), fmt.Sprintf("a%d-%d", q, k), fmt.Sprintf("user-%02d", k), "keyboard", 900, at))
		}
		evs = append(evs, newEv(anvilSubmit, t0).m("duration_ms", 5).trace(fmt.Sprintf("%032x", q), "a000000000000001", "").
			meta("result", "error", "reason", fmt.Sprintf("timeout on shard %c%c after 5000ms", 'a'+q%26, 'a'+q/26), "queue_id", fmt.Sprint(q), "assignment_id", "a", "user_id", "u").ev())
	}
	h.send(evs...)
	h.sync()
	x := aggregateOf(t, h.eng, "p", AggregateLimits{MaxQueues: 300, MaxLabelers: 40, MaxLabelerRows: 12000, MaxErrors: 1000, MaxErrorGroups: 1000})
	data, err := x.Encode()
	if err != nil {
		t.Fatal(err)
	}
	c := costScanner{data: data, limit: maxAggregateDecodeBytes}
	if err := c.value(reflect.TypeFor[Aggregate](), 0); err != nil {
		t.Fatal(err)
	}
	ratio := float64(c.cost) / float64(len(data))
	t.Logf("%d queues, %d errors, %d groups: %d bytes, decode cost %d (%.2f per byte)", len(x.Queues), len(x.Errors), len(x.ErrorGroups), len(data), c.cost, ratio)
	if ratio > 4 || 4*MaxAggregateBytes > maxAggregateDecodeBytes {
		t.Errorf("a real aggregate costs %.2f per byte: an aggregate of MaxAggregateBytes could be refused", ratio)
	}
	if _, err := DecodeAggregate(data); err != nil && len(data) <= MaxAggregateBytes {
		t.Errorf("real aggregate refused: %v", err)
	}
}

// TestUnknownElemCostCoversAggregateTypes: the charge for an element of unknown type is at
// least the size of every type an aggregate can hold, so a case-folded or escaped key that
// encoding/json maps to a field is never undercharged.
func TestUnknownElemCostCoversAggregateTypes(t *testing.T) {
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type)
	walk = func(ty reflect.Type) {
		if seen[ty] {
			return
		}
		seen[ty] = true
		if ty.Size() > unknownElemCost {
			t.Errorf("%s is %d bytes, over unknownElemCost %d", ty, ty.Size(), unknownElemCost)
		}
		switch ty.Kind() {
		case reflect.Struct:
			for i := 0; i < ty.NumField(); i++ {
				walk(ty.Field(i).Type)
			}
		case reflect.Slice, reflect.Array, reflect.Pointer:
			walk(ty.Elem())
		case reflect.Map:
			walk(ty.Key())
			walk(ty.Elem())
		}
	}
	walk(reflect.TypeFor[Aggregate]())
}

func FuzzDecodeAggregate(f *testing.F) {
	// Small valid aggregates (0.5, 1.5 and 4 KB): the fuzzer's minimization of a new input
	// takes a number of runs quadratic in its length, so multi-KB seeds spend a run in
	// minimizing what their mutations find (golang/go#48820).
	for _, events := range []int{0, 1, 4} {
		f.Add(validAggregateJSONOf(f, events))
	}
	f.Add([]byte(`{"v":1,"producer":"p"}`))
	f.Add([]byte(`{"v":2}`))
	var withAlerts map[string]any
	if err := json.Unmarshal(validAggregateJSONOf(f, 0), &withAlerts); err != nil {
		f.Fatal(err)
	}
	withAlerts["alerts"] = AggregateAlerts{Active: []AggregateAlert{{Name: "IngotHighErrorRate", State: "firing", Labels: map[string]string{"service": "anvil"}, Summary: "x"}}}
	if data, err := json.Marshal(withAlerts); err == nil {
		f.Add(data)
	}
	for _, data := range hostileAggregates() {
		f.Add(data[:min(len(data), 300)]) // the shapes, small
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// The cost scan runs on valid JSON only inside DecodeAggregate; anything must be safe.
		_ = checkDecodeCost(data, reflect.TypeFor[Aggregate](), maxAggregateDecodeBytes)
		x, err := DecodeAggregate(data)
		if err != nil {
			return
		}
		// Whatever decodes must merge without panicking and print safely.
		s, err := Merge(x)
		if err != nil {
			t.Fatalf("decoded aggregate does not merge: %v", err)
		}
		for _, q := range s.Queues {
			if !wire.IsSafe(q.ID) {
				t.Fatalf("unsafe queue id %q", q.ID)
			}
		}
		if x.Alerts != nil {
			merged := MergeAlerts([]*AggregateAlerts{x.Alerts, x.Alerts})
			for _, a := range append(merged.Active, merged.Resolved...) {
				if !wire.IsSafe(a.Name) || !wire.IsSafe(a.Summary) {
					t.Fatalf("unsafe alert %q %q", a.Name, a.Summary)
				}
				for k, v := range a.Labels {
					if !wire.IsSafe(k) || !wire.IsSafe(v) {
						t.Fatalf("unsafe alert label %q=%q", k, v)
					}
				}
			}
		}
	})
}
