package sim

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/nsai/ingot-top/internal/testkit"
	"github.com/nsai/ingot-top/internal/wire"
)

// fakeClock is driven by the test: Now is whatever the test last ticked to.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	created chan *fakeTicker
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), created: make(chan *fakeTicker, 1)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

func (c *fakeClock) NewTicker(d time.Duration) Ticker {
	t := &fakeTicker{c: make(chan time.Time), d: d}
	c.created <- t
	return t
}

type fakeTicker struct {
	c chan time.Time
	d time.Duration
}

func (t *fakeTicker) C() <-chan time.Time { return t.c }
func (t *fakeTicker) Stop()               {}

// recorder is a Publisher that keeps every message.
type recorder struct {
	mu   sync.Mutex
	msgs []Message
	n    atomic.Int64
	keep bool
}

func (r *recorder) Publish(subject string, data []byte) error {
	return r.PublishMsg(&nats.Msg{Subject: subject, Data: data})
}

func (r *recorder) PublishMsg(m *nats.Msg) error {
	if r.keep {
		var h nats.Header
		if m.Header != nil {
			h = nats.Header{}
			for k, v := range m.Header {
				h[k] = append([]string(nil), v...)
			}
		}
		r.mu.Lock()
		r.msgs = append(r.msgs, Message{Subject: m.Subject, Header: h, Data: append([]byte(nil), m.Data...)})
		r.mu.Unlock()
	}
	r.n.Add(1)
	return nil
}

func (r *recorder) snapshot() []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Message(nil), r.msgs...)
}

// runner runs a simulator on a fake clock in the background.
type runner struct {
	t      *testing.T
	clock  *fakeClock
	ticker *fakeTicker
	start  time.Time
	at     time.Duration
	done   chan struct{}
	stats  Stats
	err    error
}

func startRun(t *testing.T, s *Simulator, clock *fakeClock, limit Limit) *runner {
	t.Helper()
	r := &runner{t: t, clock: clock, start: clock.Now(), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.stats, r.err = s.Run(context.Background(), limit)
	}()
	select {
	case r.ticker = <-clock.created:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not create a ticker")
	}
	return r
}

// tick delivers one tick at start+at; false once Run has returned.
func (r *runner) tick(at time.Duration) bool {
	r.at = at
	now := r.start.Add(at)
	r.clock.set(now)
	select {
	case r.ticker.c <- now:
		return true
	case <-r.done:
		return false
	}
}

// advance ticks every step until `until` (relative to start) or until Run returns.
func (r *runner) advance(until, step time.Duration) bool {
	for at := r.at + step; at <= until; at += step {
		if !r.tick(at) {
			return false
		}
	}
	return true
}

func (r *runner) wait() (Stats, error) {
	select {
	case <-r.done:
	case <-time.After(20 * time.Second):
		r.t.Fatal("Run did not return")
	}
	return r.stats, r.err
}

func TestRateAccuracyWithInjectedClock(t *testing.T) {
	for _, rate := range []float64{1, 7.5, 500, 20000} {
		t.Run("", func(t *testing.T) {
			clock := newFakeClock()
			pub := &recorder{}
			s, err := New(Config{Rate: rate, Seed: 1}, pub, clock)
			if err != nil {
				t.Fatal(err)
			}
			r := startRun(t, s, clock, Limit{Duration: 10 * time.Second})
			// Irregular ticks: pacing is cumulative, so jitter must not change the count.
			jitter := rand.New(rand.NewPCG(3, 4))
			at := time.Duration(0)
			for {
				at += r.ticker.d/2 + time.Duration(jitter.Int64N(int64(r.ticker.d)))
				if !r.tick(at) {
					break
				}
			}
			st, err := r.wait()
			if err != nil {
				t.Fatal(err)
			}
			want := int64(rate * 10)
			if st.Published != want || pub.n.Load() != want {
				t.Fatalf("rate %v for 10s: published %d (publisher saw %d), want %d", rate, st.Published, pub.n.Load(), want)
			}
			if st.Elapsed != 10*time.Second {
				t.Fatalf("elapsed %v, want 10s", st.Elapsed)
			}
			if d := st.Rate/float64(want)*10 - 1; d > 1e-9 || d < -1e-9 {
				t.Fatalf("achieved rate %v, want %v", st.Rate, rate)
			}
		})
	}
}

func TestCountLimitIsExact(t *testing.T) {
	clock := newFakeClock()
	pub := &recorder{}
	s, err := New(Config{Rate: 500, Seed: 2}, pub, clock)
	if err != nil {
		t.Fatal(err)
	}
	r := startRun(t, s, clock, Limit{Count: 1234})
	r.advance(time.Minute, r.ticker.d)
	st, err := r.wait()
	if err != nil {
		t.Fatal(err)
	}
	if st.Published != 1234 || pub.n.Load() != 1234 {
		t.Fatalf("published %d / %d, want 1234", st.Published, pub.n.Load())
	}
	// 1234 events at 500/s are due at 2.468 s; the run ends at the first tick after.
	if st.Elapsed < 2468*time.Millisecond || st.Elapsed > 2468*time.Millisecond+r.ticker.d {
		t.Fatalf("elapsed %v, want about 2.468s", st.Elapsed)
	}
	var sum int64
	for _, n := range st.ByEvent {
		sum += n
	}
	if sum != 1234 {
		t.Fatalf("ByEvent sums to %d", sum)
	}
}

func TestBacklogIsBounded(t *testing.T) {
	clock := newFakeClock()
	pub := &recorder{}
	s, err := New(Config{Rate: 1000, Seed: 2}, pub, clock)
	if err != nil {
		t.Fatal(err)
	}
	r := startRun(t, s, clock, Limit{Duration: 20 * time.Second})
	r.tick(500 * time.Millisecond)
	r.tick(10500 * time.Millisecond) // a 10 s stall: catch up half a second, skip the rest
	r.advance(20*time.Second, r.ticker.d)
	st, _ := r.wait()
	if st.Skipped != 9499 || st.Published != 10501 {
		t.Fatalf("published %d skipped %d, want 10501 + 9499", st.Published, st.Skipped)
	}
}

func TestFlatOutHonoursCountAndCancel(t *testing.T) {
	pub := &recorder{}
	s, err := New(Config{Rate: 0, Seed: 5}, pub, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Run(context.Background(), Limit{Count: 5000})
	if err != nil || st.Published != 5000 {
		t.Fatalf("published %d err %v", st.Published, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	st, err = s.Run(ctx, Limit{})
	if err != nil || st.Published != 0 {
		t.Fatalf("cancelled run published %d err %v", st.Published, err)
	}
}

func TestRunRejectsConcurrentRun(t *testing.T) {
	clock := newFakeClock()
	s, _ := New(Config{Rate: 10, Seed: 1}, &recorder{}, clock)
	r := startRun(t, s, clock, Limit{Count: 1})
	if _, err := s.Run(context.Background(), Limit{}); err != ErrAlreadyRunning {
		t.Fatalf("second Run: %v", err)
	}
	r.advance(time.Second, r.ticker.d)
	r.wait()
}

// decodedRun is a decoded recording.
type decoded struct {
	ev     wire.Event
	header bool // trace came from the traceparent header
}

func decodeAll(t *testing.T, msgs []Message, prefix string) []decoded {
	t.Helper()
	dec := wire.NewDecoder(prefix)
	out := make([]decoded, 0, len(msgs))
	for i, m := range msgs {
		tp := ""
		if m.Header != nil {
			tp = m.Header.Get("traceparent")
		}
		ev, derr := dec.Decode(m.Subject, m.Data, tp, time.Now())
		if derr != nil {
			t.Fatalf("message %d on %s does not decode: %v\n%s", i, m.Subject, derr, m.Data)
		}
		if want := prefix + "." + ev.Name; m.Subject != want {
			t.Fatalf("message %d: subject %q, event %q", i, m.Subject, ev.Name)
		}
		if !wire.Known(ev.Name) {
			t.Fatalf("message %d: %q is not in the contract catalogue", i, ev.Name)
		}
		if !ev.HasTime {
			t.Fatalf("message %d has no time", i)
		}
		out = append(out, decoded{ev: ev, header: tp != ""})
	}
	return out
}

func countErrors(evs []decoded, name string) (errs, total int, reasons map[string]int) {
	reasons = map[string]int{}
	for _, d := range evs {
		if !strings.HasPrefix(d.ev.Name, name) {
			continue
		}
		total++
		if d.ev.IsError() {
			errs++
			r, _ := d.ev.Meta("reason")
			reasons[r]++
		}
	}
	return errs, total, reasons
}

// recordRun runs at 1000 ev/s on a fake clock for the given duration, with prefix "telemetry".
func recordRun(t *testing.T, cfg Config, d time.Duration) ([]Message, Stats) {
	t.Helper()
	clock := newFakeClock()
	pub := &recorder{keep: true}
	cfg.Rate = 1000
	s, err := New(cfg, pub, clock)
	if err != nil {
		t.Fatal(err)
	}
	r := startRun(t, s, clock, Limit{Duration: d})
	r.advance(d, r.ticker.d)
	st, err := r.wait()
	if err != nil {
		t.Fatal(err)
	}
	return pub.snapshot(), st
}

func TestEveryEventDecodesWithWire(t *testing.T) {
	for _, sc := range Scenarios {
		t.Run(string(sc), func(t *testing.T) {
			msgs, st := recordRun(t, Config{Seed: 42, Scenario: sc}, 10*time.Second)
			if len(msgs) != 10000 || st.Published != 10000 {
				t.Fatalf("recorded %d, published %d, want 10000", len(msgs), st.Published)
			}
			evs := decodeAll(t, msgs, "telemetry")
			seen := map[string]int{}
			headers := 0
			for _, d := range evs {
				seen[d.ev.Name]++
				if d.header {
					headers++
					if d.ev.Trace.TraceID == "" {
						t.Fatalf("traceparent header ignored for %s", d.ev.Name)
					}
				}
			}
			if headers == 0 {
				t.Fatal("no event carried its trace in the traceparent header")
			}
			for name, n := range st.ByEvent {
				if seen[name] != int(n) {
					t.Fatalf("stats say %d %s, decoded %d", n, name, seen[name])
				}
			}
			if sc == ScenarioNormal {
				for _, name := range EventNames() {
					if seen[name] == 0 {
						t.Errorf("no %s in 10k normal events", name)
					}
				}
				// Stats about once a second per queue: 12 queues × 10 s.
				if n := seen["anvil.queue.stats_updated"]; n < 100 || n > 130 {
					t.Errorf("%d stats_updated in 10 s for 12 queues", n)
				}
			}
		})
	}
}

func TestPregenerateDecodes(t *testing.T) {
	msgs, err := Pregenerate(Config{Seed: 9, Prefix: "acme.tel"}, 3000)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 3000 {
		t.Fatalf("%d messages", len(msgs))
	}
	decodeAll(t, msgs, "acme.tel")
	if _, err := Pregenerate(Config{Prefix: "bad.>"}, 1); err == nil {
		t.Fatal("wildcard prefix accepted")
	}
}

// Pre-generated messages published one by one arrive unchanged, headers included.
func TestPregeneratedPublishToKeepsHeaders(t *testing.T) {
	msgs, err := Pregenerate(Config{Seed: 9}, 3000)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{keep: true}
	var scratch nats.Msg
	withHeader := 0
	for i := range msgs {
		if msgs[i].Header != nil {
			withHeader++
		}
		if err := msgs[i].PublishTo(rec, &scratch); err != nil {
			t.Fatal(err)
		}
	}
	if withHeader == 0 || withHeader == len(msgs) {
		t.Fatalf("%d of %d messages carry a header: the check needs both kinds", withHeader, len(msgs))
	}
	got := rec.snapshot()
	if len(got) != len(msgs) {
		t.Fatalf("%d messages published, want %d", len(got), len(msgs))
	}
	for i := range msgs {
		want, have := msgs[i], got[i]
		if have.Subject != want.Subject || !bytes.Equal(have.Data, want.Data) ||
			have.Header.Get("traceparent") != want.Header.Get("traceparent") || (have.Header == nil) != (want.Header == nil) {
			t.Fatalf("message %d: published %+v, want %+v", i, have, want)
		}
	}
}

func TestTracesFormOneTreePerRequest(t *testing.T) {
	msgs, _ := recordRun(t, Config{Seed: 7}, 10*time.Second)
	evs := decodeAll(t, msgs, "telemetry")
	type spanInfo struct {
		name, parent, assignment string
	}
	traces := map[string]map[string]spanInfo{}
	for _, d := range evs {
		tr := d.ev.Trace
		if tr.TraceID == "" {
			continue
		}
		if traces[tr.TraceID] == nil {
			traces[tr.TraceID] = map[string]spanInfo{}
		}
		if _, dup := traces[tr.TraceID][tr.SpanID]; dup {
			t.Fatalf("span %s appears twice", tr.SpanID)
		}
		asg, _ := d.ev.Meta("assignment_id")
		traces[tr.TraceID][tr.SpanID] = spanInfo{d.ev.Name, tr.ParentSpanID, asg}
	}
	complete := 0
	for id, spans := range traces {
		names := map[string]string{} // name -> span id
		roots := 0
		for sid, s := range spans {
			names[s.name] = sid
			if s.parent == "" {
				roots++
			}
		}
		if _, ok := names["anvil.assignment.completed"]; !ok {
			continue // still in flight at the end of the run, or a failed request
		}
		complete++
		if roots != 1 {
			t.Fatalf("trace %s has %d roots", id, roots)
		}
		// The request chain, child → parent.
		chain := [][2]string{
			{"anvil.assignment.completed", "anvil.label.submitted"},
			{"anvil.label.submitted", "ingot.anvil_client.submit_label"},
			{"ingot.anvil_client.submit_label", "ingot.label.submit"},
			{"ingot.label.submit", "ingot.anvil_client.fetch_assignment"},
			{"ingot.component.render_sample", "ingot.forge_client.get_sample"},
			{"ingot.forge_client.get_sample", "ingot.anvil_client.fetch_assignment"},
		}
		for _, link := range chain {
			child, ok1 := names[link[0]]
			parent, ok2 := names[link[1]]
			if !ok1 || !ok2 {
				t.Fatalf("trace %s lacks %s or %s: %v", id, link[0], link[1], names)
			}
			if spans[child].parent != parent {
				t.Fatalf("trace %s: parent of %s is %q, want %s's span %s", id, link[0], spans[child].parent, link[1], parent)
			}
		}
		asg := spans[names["ingot.anvil_client.fetch_assignment"]].assignment
		for _, s := range spans {
			if s.assignment != "" && s.assignment != asg {
				t.Fatalf("trace %s mixes assignments %s and %s", id, asg, s.assignment)
			}
		}
	}
	if complete < 500 {
		t.Fatalf("only %d complete request traces in 10k events", complete)
	}
}

func TestScenarioSwitchChangesErrorMix(t *testing.T) {
	clock := newFakeClock()
	pub := &recorder{keep: true}
	var mu sync.Mutex
	var notified []Scenario
	cfg := Config{Rate: 1000, Seed: 11, BurstDuration: 5 * time.Second, OnScenario: func(sc Scenario) {
		mu.Lock()
		notified = append(notified, sc)
		mu.Unlock()
	}}
	s, err := New(cfg, pub, clock)
	if err != nil {
		t.Fatal(err)
	}
	r := startRun(t, s, clock, Limit{Duration: time.Hour})
	// phase runs the scenario for 10 s and returns its messages, skipping the first 500 so
	// that requests begun under the previous scenario have finished.
	phase := func(sc Scenario, d time.Duration) []decoded {
		if err := s.SetScenario(sc); err != nil {
			t.Fatal(err)
		}
		from := pub.n.Load()
		end := r.at + d
		r.advance(end, r.ticker.d)
		want := int64(1000 * end.Seconds())
		// the last burst may still be publishing
		testkit.Eventually(t, 10*time.Second, fmt.Sprintf("%d published", want), func() (bool, string) {
			n := pub.n.Load()
			return n >= want, fmt.Sprintf("published %d", n)
		})
		msgs := pub.snapshot()
		return decodeAll(t, msgs[from+500:want], "telemetry")
	}

	normal := phase(ScenarioNormal, 10*time.Second)
	ne, nt, _ := countErrors(normal, "ingot.anvil_client.")
	if float64(ne)/float64(nt) > 0.05 {
		t.Fatalf("normal: anvil_client error share %d/%d", ne, nt)
	}

	degraded := phase(ScenarioDegradedAnvil, 10*time.Second)
	de, dt, reasons := countErrors(degraded, "ingot.anvil_client.")
	share := float64(de) / float64(dt)
	if share < 0.15 || share > 0.45 || reasons["timeout"] != de {
		t.Fatalf("degraded-anvil: anvil_client error share %.2f (%d/%d), reasons %v", share, de, dt, reasons)
	}
	if median(normal, "ingot.anvil_client.", false)*5 > median(degraded, "ingot.anvil_client.", false) {
		t.Fatalf("degraded-anvil: ok-call median %v not ~10x normal %v", median(degraded, "ingot.anvil_client.", false), median(normal, "ingot.anvil_client.", false))
	}

	down := phase(ScenarioForgeDown, 10*time.Second)
	fe, ft, reasons := countErrors(down, "ingot.forge_client.")
	if ft == 0 || fe != ft || reasons["econnrefused forge:4001"] != fe {
		t.Fatalf("forge-down: forge_client errors %d/%d reasons %v", fe, ft, reasons)
	}
	for _, d := range down {
		if d.ev.App() == "forge" {
			t.Fatalf("forge-down: Forge still publishes %s", d.ev.Name)
		}
	}

	burst := phase(ScenarioErrorBurst, 4*time.Second)
	be, bt, _ := countErrors(burst, "ingot.forge_client.")
	pe, pt, _ := countErrors(burst, "forge.pipeline.executed")
	if float64(be)/float64(bt) < 0.2 || float64(pe)/float64(pt) < 0.3 {
		t.Fatalf("error-burst: forge_client %d/%d, pipeline %d/%d", be, bt, pe, pt)
	}
	if got := s.Scenario(); got != ScenarioErrorBurst {
		t.Fatalf("scenario during burst: %s", got)
	}
	// The burst ends by itself after 5 s.
	r.advance(r.at+2*time.Second, r.ticker.d)
	after := phase(s.Scenario(), 10*time.Second)
	if got := s.Scenario(); got != ScenarioNormal {
		t.Fatalf("scenario after burst: %s", got)
	}
	ae, at, _ := countErrors(after, "ingot.forge_client.")
	if float64(ae)/float64(at) > 0.05 {
		t.Fatalf("after burst: forge_client error share %d/%d", ae, at)
	}
	mu.Lock()
	got := append([]Scenario(nil), notified...)
	mu.Unlock()
	wantSeq := []Scenario{ScenarioNormal, ScenarioDegradedAnvil, ScenarioForgeDown, ScenarioErrorBurst, ScenarioNormal, ScenarioNormal}
	if len(got) != len(wantSeq) {
		t.Fatalf("OnScenario calls %v, want %v", got, wantSeq)
	}
	for i := range got {
		if got[i] != wantSeq[i] {
			t.Fatalf("OnScenario calls %v, want %v", got, wantSeq)
		}
	}
	if err := s.SetScenario("nope"); err == nil {
		t.Fatal("unknown scenario accepted")
	}
}

func median(evs []decoded, prefix string, errs bool) float64 {
	var v []float64
	for _, d := range evs {
		if strings.HasPrefix(d.ev.Name, prefix) && d.ev.IsError() == errs {
			if x, ok := d.ev.Measure("duration_ms"); ok {
				v = append(v, x)
			}
		}
	}
	if len(v) == 0 {
		return 0
	}
	for i := 1; i < len(v); i++ { // insertion sort: small slices
		for j := i; j > 0 && v[j] < v[j-1]; j-- {
			v[j], v[j-1] = v[j-1], v[j]
		}
	}
	return v[len(v)/2]
}

func TestQueuePopularityIsSkewedAndMethodsBiased(t *testing.T) {
	msgs, _ := recordRun(t, Config{Seed: 3}, 10*time.Second)
	evs := decodeAll(t, msgs, "telemetry")
	perQueue := map[string]int{}
	methodsByUser := map[string]map[string]int{}
	for _, d := range evs {
		if d.ev.Name != "ingot.label.submit" {
			continue
		}
		q, _ := d.ev.Meta("queue_id")
		perQueue[q]++
		u, _ := d.ev.Meta("user_id")
		m, _ := d.ev.Meta("method")
		if methodsByUser[u] == nil {
			methodsByUser[u] = map[string]int{}
		}
		methodsByUser[u][m]++
	}
	top, bottom := perQueue["queue_sentiment_en"], perQueue["queue_safety_rlhf"]
	if top < 4*max(bottom, 1) {
		t.Fatalf("queue popularity not skewed: top %d, last %d (%v)", top, bottom, perQueue)
	}
	// Most labelers have a dominant input method.
	biased := 0
	for _, m := range methodsByUser {
		total, best := 0, 0
		for _, n := range m {
			total += n
			best = max(best, n)
		}
		if total >= 10 && float64(best) >= 0.6*float64(total) {
			biased++
		}
	}
	if biased < len(methodsByUser)/2 {
		t.Fatalf("only %d of %d labelers have a dominant method", biased, len(methodsByUser))
	}
}

func TestQueueStatsTellACoherentStory(t *testing.T) {
	msgs, _ := recordRun(t, Config{Seed: 21, Queues: 3, Labelers: 30}, 60*time.Second)
	evs := decodeAll(t, msgs, "telemetry")
	type last struct{ pending, completed float64 }
	prev := map[string]last{}
	sawInProgress, sawActive, completedGrew := false, false, false
	refills := 0
	for _, d := range evs {
		if change, _ := d.ev.Meta("change"); strings.HasPrefix(change, "refilled +") {
			refills++
		}
		if d.ev.Name != "anvil.queue.stats_updated" {
			continue
		}
		q, _ := d.ev.Meta("queue_id")
		pending, _ := d.ev.Measure("pending")
		inProgress, _ := d.ev.Measure("in_progress")
		completed, _ := d.ev.Measure("completed")
		active, _ := d.ev.Measure("active_labelers")
		if pending < 0 || inProgress < 0 || inProgress > 30 || active > 30 {
			t.Fatalf("%s: pending %v in_progress %v active %v", q, pending, inProgress, active)
		}
		sawInProgress = sawInProgress || inProgress > 0
		sawActive = sawActive || active > 0
		if p, ok := prev[q]; ok {
			if completed < p.completed {
				t.Fatalf("%s: completed went down %v -> %v", q, p.completed, completed)
			}
			completedGrew = completedGrew || completed > p.completed
		}
		prev[q] = last{pending, completed}
	}
	if refills == 0 {
		t.Fatal("no queue was refilled in 60 s of a 3-queue campaign")
	}
	if !sawInProgress || !sawActive || !completedGrew {
		t.Fatalf("stats never showed work: in_progress %v active %v completed grew %v", sawInProgress, sawActive, completedGrew)
	}
}
