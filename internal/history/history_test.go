package history

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/alerts"
	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/health"
	"github.com/nsai/ingot-top/internal/ingest"
	"github.com/nsai/ingot-top/internal/promsrc"
	"github.com/nsai/ingot-top/internal/wire"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// snapAt is a stream snapshot whose figures encode the second k, so a rebuilt moment can be
// checked figure by figure.
func snapAt(k int) *engine.Snapshot {
	at := t0.Add(time.Duration(k) * time.Second)
	s := &engine.Snapshot{At: at, Started: t0}
	s.Totals = engine.Totals{Events: uint64(1000 * k), Errors: uint64(k), RatePerSec: float64(k)}
	op := engine.OpStats{Name: "ingot.label.submit", Service: "ingot"}
	for w := range engine.NumWindows {
		op.Latency[w] = engine.Quantiles{Count: 100, P50: float64(k), P95: float64(2 * k), P99: float64(3 * k)}
		op.Errors[w] = uint64(k % 100)
		op.ErrorRate[w] = float64(k%100) / 100
	}
	s.Ops = []engine.OpStats{op}
	q := engine.QueueStats{ID: "sentiment-en", Folded: 1, Spark: []float64{float64(k), 0}, HasStats: true, Pending: float64(k), StatsAt: at}
	s.Impact = engine.Impact{Known: true}
	agree := engine.ActivityStats{Name: "anvil.agreement.calculated", ScoreKey: "score", LastScore: 0.5, LastAt: at}
	for w := range engine.NumWindows {
		agree.Count[w], agree.Scored[w], agree.PerMin[w], agree.MeanScore[w] = uint64(k), uint64(k), float64(k), 0.75
	}
	s.Activity = []engine.ActivityStats{agree}
	for w := range engine.NumWindows {
		q.Calls[w], q.Errors[w] = 200, uint64(k%100)
		s.Impact.Calls[w], s.Impact.Errors[w], s.Impact.AffectedUsers[w], s.Impact.AffectedQueues[w] = 400, uint64(k%100), uint64(k%7), 1
	}
	q.LabelsPerMin = [engine.NumWindows]float64{float64(k), float64(k) / 2, float64(k) / 3}
	s.Queues = []engine.QueueStats{q}
	s.EventsPerSec = []float64{float64(k), 0}
	for i := 0; i <= k && i < 50; i++ {
		t := t0.Add(time.Duration(k-i) * time.Second)
		s.Errors = append(s.Errors, engine.ErrorEntry{Time: t, Received: t, Event: "ingot.anvil_client.submit_label",
			Service: "anvil", Operation: "submit_label", Reason: fmt.Sprintf("timeout after %dms", 5000+i)})
	}
	g := engine.ErrorGroup{Service: "anvil", Event: "ingot.anvil_client.submit_label", Operation: "submit_label",
		Signature: "timeout after #ms", Count: [engine.NumWindows]uint64{uint64(k), uint64(k), uint64(k)}, Total: uint64(k),
		First: t0, Last: at, Latest: s.Errors[0]}
	s.ErrorGroups = []engine.ErrorGroup{g}
	return s
}

func inputAt(k int) Input {
	at := t0.Add(time.Duration(k)*time.Second + 300*time.Millisecond)
	in := Input{At: at, Stream: snapAt(k), Conn: ingest.ConnState{Phase: ingest.PhaseConnected, Received: uint64(1000 * k)}}
	state := health.StateHealthy
	if k >= 100 {
		state = health.StateUnhealthy
	}
	in.Health = []health.Status{{Name: "anvil", State: state, Latency: time.Duration(k) * time.Millisecond,
		Recent: []health.Check{{At: at, State: state}}}}
	if k >= 100 {
		in.Alerts = alerts.State{At: at, Active: []alerts.Alert{{Name: "AnvilDown", State: alerts.StateFiring, ActiveAt: t0.Add(100 * time.Second)}}}
	}
	return in
}

func TestMomentRebuildsTheSecond(t *testing.T) {
	r := New(Config{})
	for k := 1; k <= 200; k++ {
		r.Record(inputAt(k))
	}
	m, ok := r.Moment(t0.Add(50 * time.Second))
	if !ok {
		t.Fatal("no moment for a recorded second")
	}
	if !m.At.Equal(t0.Add(50 * time.Second)) {
		t.Errorf("At = %v", m.At)
	}
	s := m.Stream
	if s.Totals.Events != 50_000 || s.Totals.RatePerSec != 50 {
		t.Errorf("totals = %+v", s.Totals)
	}
	if len(s.Ops) != 1 || s.Ops[0].Latency[engine.Window1m].P95 != 100 || s.Ops[0].ErrorRate[engine.Window5m] != 0.5 {
		t.Errorf("ops = %+v", s.Ops)
	}
	if len(s.Queues) != 1 || s.Queues[0].LabelsPerMin[engine.Window1m] != 50 || s.Queues[0].Pending != 50 ||
		s.Queues[0].Errors[engine.Window5m] != 50 || s.Queues[0].ErrorRate[engine.Window5m] != 0.25 {
		t.Errorf("queues = %+v", s.Queues)
	}
	if a := s.Activity; len(a) != 1 || a[0].Name != "anvil.agreement.calculated" || a[0].PerMin[0] != 50 || a[0].MeanScore[1] != 0.75 || a[0].ScoreKey != "score" {
		t.Errorf("activity = %+v", a)
	}
	if im := s.Impact; !im.Known || im.Errors[engine.Window1m] != 50 || im.AffectedUsers[engine.Window1m] != 1 || im.ErrorRate[engine.Window1m] != 0.125 {
		t.Errorf("impact = %+v", im)
	}
	// the spark ends with the last whole second of that moment, then the one still filling
	if sp := s.Queues[0].Spark; len(sp) != 60 || sp[58] != 50 || sp[57] != 49 || sp[59] != 0 {
		t.Errorf("spark tail = %v", sp[55:])
	}
	// the newest log (second 200) reaches back to second 151 only
	if len(s.Errors) != 0 || !m.LogFrom.Equal(t0.Add(151*time.Second)) {
		t.Errorf("at 50 s: %d errors, log from %v", len(s.Errors), m.LogFrom)
	}
	m180, _ := r.Moment(t0.Add(180 * time.Second))
	for _, e := range m180.Stream.Errors {
		if !e.Received.Before(m180.At.Add(time.Second)) {
			t.Fatalf("error from %v in the moment at %v", e.Received, m180.At)
		}
	}
	if n := len(m180.Stream.Errors); n != 30 {
		t.Errorf("at 180 s: %d errors, want the 30 received by then", n)
	}
	if len(s.ErrorGroups) != 1 || s.ErrorGroups[0].Count[0] != 50 || s.ErrorGroups[0].Latest.Received.After(m.At.Add(time.Second)) {
		t.Errorf("groups = %+v", s.ErrorGroups)
	}
	if len(m.Health) != 1 || m.Health[0].State != health.StateHealthy || m.Health[0].Latency != 50*time.Millisecond ||
		len(m.Health[0].Recent) != 1 || !m.Health[0].Recent[0].At.Equal(t0.Add(50300*time.Millisecond)) {
		t.Errorf("health = %+v", m.Health)
	}
	if len(m.Alerts.Active) != 0 {
		t.Errorf("alerts before they fired: %+v", m.Alerts.Active)
	}
	m, _ = r.Moment(t0.Add(150 * time.Second))
	if len(m.Alerts.Active) != 1 || m.Health[0].State != health.StateUnhealthy {
		t.Errorf("at 150 s: alerts %+v health %+v", m.Alerts.Active, m.Health)
	}
}

func TestStepSkipsUnrecordedSeconds(t *testing.T) {
	r := New(Config{})
	for _, k := range []int{10, 11, 12, 20, 21} {
		r.Record(inputAt(k))
	}
	at := t0.Add(20 * time.Second)
	got, ok := r.Step(at, -1)
	if !ok || !got.Equal(t0.Add(12*time.Second)) {
		t.Errorf("one back from 20 s = %v, want 12 s", got.Sub(t0))
	}
	got, _ = r.Step(t0.Add(12*time.Second), 1)
	if !got.Equal(t0.Add(20 * time.Second)) {
		t.Errorf("one on from 12 s = %v, want 20 s", got.Sub(t0))
	}
	got, _ = r.Step(at, -100)
	if !got.Equal(t0.Add(10 * time.Second)) {
		t.Errorf("far back = %v, want the oldest (10 s)", got.Sub(t0))
	}
	got, _ = r.Step(at, 100)
	if !got.Equal(t0.Add(21 * time.Second)) {
		t.Errorf("far on = %v, want the newest (21 s)", got.Sub(t0))
	}
}

func TestRingKeepsFifteenMinutesAndWraps(t *testing.T) {
	r := New(Config{})
	for k := 1; k <= 3000; k++ {
		r.Record(inputAt(k))
	}
	first, last, ok := r.Bounds()
	if !ok || last.Sub(first) < 15*time.Minute {
		t.Fatalf("bounds %v … %v: less than 15 minutes", first, last)
	}
	if _, ok := r.Moment(first.Add(-time.Second)); ok {
		t.Error("a moment before the oldest second")
	}
	m, ok := r.Moment(last.Add(-15 * time.Minute))
	if !ok || m.Stream.Totals.RatePerSec != float64(3000-900) {
		t.Errorf("15 minutes back: ok=%v rate=%v", ok, m.Stream.Totals.RatePerSec)
	}
}

func TestTrendAndSeries(t *testing.T) {
	r := New(Config{})
	for k := 1; k <= 600; k++ {
		r.Record(inputAt(k))
	}
	end := t0.Add(600 * time.Second)
	tr := r.Trend("ingot.label.submit", engine.Window1m, end, 10, time.Minute)
	if len(tr) != 10 {
		t.Fatalf("trend len %d", len(tr))
	}
	// the last bucket is the one still filling, 600 s alone (t0 is on a minute); the one
	// before ends at 599 s
	if tr[9] != 2*600 || tr[8] != 2*599 {
		t.Errorf("last buckets = %v %v, want %d (filling) and %d", tr[8], tr[9], 2*600, 2*599)
	}
	s := r.Op("ingot.label.submit", engine.Window1m, end.Add(-time.Minute), end)
	if len(s.P95) != 61 || s.P95[60] != 1200 || !math.IsNaN(s.FleetP95[0]) {
		t.Errorf("series: len %d last %v fleet %v", len(s.P95), s.P95[len(s.P95)-1], s.FleetP95[0])
	}
	if got := r.Trend("no.such.op", engine.Window1m, end, 5, time.Minute); !math.IsNaN(got[0]) {
		t.Errorf("unknown op trend = %v", got)
	}
}

func TestFleetFiguresInMoment(t *testing.T) {
	r := New(Config{})
	for k := 1; k <= 20; k++ {
		in := inputAt(k)
		in.Prom = &promsrc.Snapshot{At: in.At, Kind: promsrc.KindPrometheus, FiguresAt: in.At,
			Ops:    []promsrc.OpFleet{{Name: "ingot.forge_client.list_samples", P95: float64(10 * k), ErrorRatio: -1, PerSec: 3, TopBound: 2000, AtTop: [3]bool{false, k > 3, true}}},
			Queues: []promsrc.QueueFleet{{ID: "fleet-only", LabelsPerMin: 50, Covered: time.Duration(k) * time.Second, Partial: true}}}
		r.Record(in)
	}
	m, _ := r.Moment(t0.Add(5 * time.Second))
	if m.Prom == nil || len(m.Prom.Ops) != 1 || m.Prom.Ops[0].P95 != 50 || m.Prom.Ops[0].AtTop != [3]bool{false, true, true} || m.Prom.Ops[0].TopBound != 2000 {
		t.Fatalf("fleet at 5 s = %+v", m.Prom)
	}
	if q, ok := m.Prom.Queue("fleet-only"); !ok || !q.Partial || q.Covered != 5*time.Second {
		t.Errorf("fleet queue at 5 s = %+v", q)
	}
	// the fleet-only op is not a live row
	for _, op := range m.Stream.Ops {
		if op.Name == "ingot.forge_client.list_samples" {
			t.Error("fleet-only op rebuilt as a live row")
		}
	}
}

func TestCapsLeaveRowsOutAndSayHowMany(t *testing.T) {
	r := New(Config{MaxQueues: 4})
	in := inputAt(1)
	s := *in.Stream
	s.Queues = nil
	for i := 0; i < 10; i++ {
		s.Queues = append(s.Queues, engine.QueueStats{ID: fmt.Sprintf("q%02d", i)})
	}
	in.Stream = &s
	r.Record(in)
	m, _ := r.Moment(in.At)
	if len(m.Stream.Queues) != 4 || m.Left.Queues != 6 {
		t.Errorf("queues %d, left %d; want 4 and 6", len(m.Stream.Queues), m.Left.Queues)
	}
}

// TestBytesIndependentOfEventRate runs the real engine for 17 simulated minutes at two
// event rates ten times apart, with the same queues, operations and error signatures, and
// records one input a second: the ring's own size accounting must come out the same.
func TestBytesIndependentOfEventRate(t *testing.T) {
	if testing.Short() {
		t.Skip("drives the engine for 17 simulated minutes twice")
	}
	run := func(perSec int) (int, int) {
		clock := engine.NewManualClock(t0)
		eng := engine.New(engine.Config{}, clock)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- eng.Run(ctx) }()
		defer func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}()
		r := New(Config{})
		ops := []string{"ingot.label.submit", "ingot.anvil_client.submit_label", "ingot.forge_client.get_sample", "ingot.live_view.mount"}
		queues := []string{"sentiment-en", "ner-medical", "toxicity-fr"}
		batch := make([]wire.Event, 0, perSec)
		for sec := 0; sec < 17*60; sec++ {
			now := t0.Add(time.Duration(sec) * time.Second)
			batch = batch[:0]
			for i := 0; i < perSec; i++ {
				at := now.Add(time.Duration(i) * time.Second / time.Duration(perSec))
				name := ops[i%len(ops)]
				ev := wire.Event{Name: name, Segments: strings.Split(name, "."), Time: at, HasTime: true, Received: at,
					Measurements: []wire.Measurement{{Key: "duration_ms", Value: float64(20 + i%50)}},
					Metadata:     []wire.KV{{Key: "queue_id", Value: queues[i%len(queues)]}, {Key: "result", Value: "ok"}}}
				if i%10 == 3 {
					ev.Metadata = append(ev.Metadata[:1], wire.KV{Key: "result", Value: "error"}, wire.KV{Key: "reason", Value: "timeout"})
				}
				batch = append(batch, ev)
			}
			if err := eng.HandleBatch(batch); err != nil {
				t.Fatal(err)
			}
			clock.Set(now.Add(999 * time.Millisecond))
			snap, err := eng.Sync(ctx)
			if err != nil {
				t.Fatal(err)
			}
			r.Record(Input{At: clock.Now(), Stream: snap, Conn: ingest.ConnState{Phase: ingest.PhaseConnected}})
		}
		first, last, _ := r.Bounds()
		return r.Bytes(), int(last.Sub(first) / time.Second)
	}
	slow, span := run(20)
	fast, _ := run(200)
	t.Logf("history bytes after 17 min: %d at 20 ev/s, %d at 200 ev/s (span %d s)", slow, fast, span)
	if slow != fast {
		t.Errorf("bytes differ with the event rate: %d at 20 ev/s, %d at 200 ev/s", slow, fast)
	}
	if span < 15*60 {
		t.Errorf("span %d s, want at least 15 minutes", span)
	}
}

// TestBytesBoundedByCaps fills every table past its cap: the size stays below what the caps
// allow, however many distinct names arrive.
func TestBytesBoundedByCaps(t *testing.T) {
	cfg := Config{Seconds: 120, MaxOps: 8, MaxQueues: 8, MaxHealth: 4, MaxGroups: 4}
	r := New(cfg)
	var atCap int
	for k := 1; k <= 400; k++ {
		in := inputAt(k)
		s := *in.Stream
		s.Queues, s.Ops = nil, nil
		for i := 0; i < 50; i++ {
			s.Queues = append(s.Queues, engine.QueueStats{ID: fmt.Sprintf("q-%d-%d", k, i)})
			s.Ops = append(s.Ops, engine.OpStats{Name: fmt.Sprintf("op.%d.%d", k, i)})
		}
		in.Stream = &s
		r.Record(in)
		if k == 130 {
			atCap = r.Bytes()
		}
	}
	// names are rotated out as they leave the ring; the arrays never grow past the caps
	if got := r.Bytes(); got > atCap+atCap/10 {
		t.Errorf("bytes grew from %d to %d with new names", atCap, got)
	}
}

// Past FullResolution, a moment's rows are those of the first recorded second of its
// CoarseStep (never a later second), while the status line stays exact; within it every
// second is its own.
func TestOlderRowsAreKeptPerStep(t *testing.T) {
	r := New(Config{})
	const last = 900
	for k := 1; k <= last; k++ {
		r.Record(inputAt(k))
	}
	cfg := DefaultConfig()
	for _, k := range []int{100, 101, 102, 103, 104, 599} {
		m, ok := r.Moment(t0.Add(time.Duration(k) * time.Second))
		if !ok {
			t.Fatalf("no moment at second %d", k)
		}
		if got := m.Stream.Totals.Events; got != uint64(1000*k) {
			t.Errorf("second %d: status events %d, want %d (the status line keeps every second)", k, got, 1000*k)
		}
		sec := t0.Unix() + int64(k)
		want := k - int(sec%int64(cfg.CoarseStep)) // the step's first second
		if k > last-cfg.FullResolution {
			want = k
		}
		if len(m.Stream.Ops) != 1 || m.Stream.Ops[0].Latency[engine.Window1m].P50 != float64(want) {
			t.Errorf("second %d: ops %+v, want the row of second %d", k, m.Stream.Ops, want)
		}
		if len(m.Stream.Queues) != 1 || m.Stream.Queues[0].Pending != float64(want) {
			t.Errorf("second %d: queues %+v, want the row of second %d", k, m.Stream.Queues, want)
		}
	}
}

// The coarse ring is what keeps the rows small: about 300 + 660/5 rows a name instead of
// 960.
func TestCoarseRowsHalveTheRows(t *testing.T) {
	fill := func(cfg Config) int {
		r := New(cfg)
		for k := 1; k <= 960; k++ {
			r.Record(inputAt(k))
		}
		return r.ops.bytes() + r.queues.bytes() + r.probes.bytes() + r.groups.bytes()
	}
	full := fill(Config{FullResolution: 960})
	stepped := fill(Config{})
	t.Logf("row bytes: %d every second, %d with 5 s steps past 5 minutes", full, stepped)
	if stepped > full*6/10 {
		t.Errorf("stepped rows %d bytes, want at most 60%% of the per-second rows' %d", stepped, full)
	}
}
