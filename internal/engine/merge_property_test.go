package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"
)

// propertySeedEnv replays one iteration of TestMergedSplitsEqualOneEngine.
const propertySeedEnv = "INGOT_MERGE_SEED"

// TestMergedSplitsEqualOneEngine is the merge's contract as a property: whatever way one
// event stream is split between 1 to 5 daemons (every event of an assignment or request on
// the same daemon, as a NATS queue group delivers them, some daemons possibly idle), the
// merge of their aggregates equals the engine that saw the whole stream. Counts are exact
// (events, labels per queue per window, errors per signature per window, invalid per
// reason, calls);
// percentiles are within the sketch's relative accuracy. Each iteration draws the traffic
// (queues, length, time span) and the split from its own seed, printed on failure;
// INGOT_MERGE_SEED=<seed> replays that iteration alone.
func TestMergedSplitsEqualOneEngine(t *testing.T) {
	// Without -race an iteration costs 0.1-0.5 s; the race detector makes it ten times
	// slower, and the iterations without it explore the splits.
	iterations := 24
	if raceDetector {
		iterations = 6
	}
	if testing.Short() {
		iterations = 3
	}
	base := rand.Uint64()
	if env := os.Getenv(propertySeedEnv); env != "" {
		seed, err := strconv.ParseUint(env, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", propertySeedEnv, env, err)
		}
		base, iterations = seed, 1
	}
	for i := range iterations {
		seed := base + uint64(i)
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			checkSplit(t, seed)
			if t.Failed() {
				t.Logf("replay: %s=%d go test -run TestMergedSplitsEqualOneEngine ./internal/engine", propertySeedEnv, seed)
			}
		})
	}
}

func checkSplit(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, seed^0xfeed))
	daemons := 1 + rng.IntN(5)
	queues := 1 + rng.IntN(20)
	events := 500 + rng.IntN(3500)
	span := time.Duration(30+rng.IntN(15*60)) * time.Second
	// The stream ends a little before the aggregates are taken, anywhere in a 10 s slice.
	tail := time.Duration(rng.IntN(20_000)) * time.Millisecond
	t.Logf("%d daemons, %d queues, %d events over %s, aggregated %s later", daemons, queues, events, span, tail)

	clock := NewManualClock(t0.Add(-20 * time.Minute))
	engines := startEngines(t, clock, 1+daemons)
	whole, parts := engines[0], engines[1:]
	// Uneven shares: a daemon's weight is drawn, and some may take nothing at all.
	weights := make([]float64, daemons)
	var sum float64
	for i := range weights {
		weights[i] = rng.Float64() * rng.Float64()
		sum += weights[i]
	}
	pickPart := func() int {
		x := rng.Float64() * sum
		for i, w := range weights {
			if x < w {
				return i
			}
			x -= w
		}
		return daemons - 1
	}
	routeTo := map[int]int{}
	traffic := fleetTraffic(seed, queues, events, t0.Add(-span), span)
	feedTraffic(t, clock, traffic, func(route int) []*Engine {
		p, ok := routeTo[route]
		if !ok {
			p = pickPart()
			routeTo[route] = p
		}
		return []*Engine{whole, parts[p]}
	})
	clock.Set(t0.Add(tail))

	want, err := whole.Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	aggs := make([]*Aggregate, 0, daemons+1)
	for i, e := range parts {
		aggs = append(aggs, roundTrip(t, aggregateOf(t, e, fmt.Sprintf("d%d", i), DefaultAggregateLimits())))
	}
	// Any order, and a producer's aggregate delivered twice, give the same merge.
	rng.Shuffle(len(aggs), func(i, j int) { aggs[i], aggs[j] = aggs[j], aggs[i] })
	aggs = append(aggs, aggs[rng.IntN(len(aggs))])
	got, err := Merge(aggs...)
	if err != nil {
		t.Fatal(err)
	}
	compareSnapshots(t, got, want, true)
	compareCounts(t, got, want)
}

// compareCounts checks the exact counts compareSnapshots leaves out: labels per queue per
// window, error signatures, and the sums over the stream.
func compareCounts(t *testing.T, got, want *Snapshot) {
	t.Helper()
	if len(want.Queues) == 0 || want.Totals.Events == 0 {
		t.Fatal("the whole engine saw nothing: the property would hold trivially")
	}
	for i := range want.Queues {
		if i >= len(got.Queues) {
			break
		}
		g, w := got.Queues[i], want.Queues[i]
		if g.Labels != w.Labels {
			t.Errorf("queue %s labels per window = %v, want %v", w.ID, g.Labels, w.Labels)
		}
		// A column the engine fills and the merge leaves empty is a column written twice
		// and forgotten once.
		sameColumnsFilled(t, "queue "+w.ID, g, w)
		gl := map[string]LabelerStats{}
		for _, l := range g.Labelers {
			gl[l.ID] = l
		}
		for _, l := range w.Labelers {
			sameColumnsFilled(t, "queue "+w.ID+" labeler "+l.ID, gl[l.ID], l)
		}
	}
	type sig struct{ service, event, signature string }
	groups := func(s *Snapshot) map[sig]ErrorGroup {
		m := map[sig]ErrorGroup{}
		for _, g := range s.ErrorGroups {
			m[sig{g.Service, g.Event, g.Signature}] = g
		}
		return m
	}
	gg, wg := groups(got), groups(want)
	if len(gg) != len(wg) {
		t.Errorf("%d error signatures, want %d", len(gg), len(wg))
	}
	// Total (since the group appeared) is not compared: a daemon forgets a group with no
	// occurrence left in 15m, so an old occurrence leaves the merged total while the whole
	// engine, which still sees the signature, keeps it.
	for i := range want.Ops {
		if i < len(got.Ops) {
			sameColumnsFilled(t, "op "+want.Ops[i].Name, got.Ops[i], want.Ops[i])
		}
	}
	for k, w := range wg {
		if g := gg[k]; g.Count != w.Count {
			t.Errorf("error signature %v: counts per window %v, want %v", k, g.Count, w.Count)
		}
	}
	if got.Totals.Events != want.Totals.Events || got.Totals.Errors != want.Totals.Errors || got.Totals.Invalid != want.Totals.Invalid {
		t.Errorf("totals = %+v, want %+v", got.Totals, want.Totals)
	}
}
