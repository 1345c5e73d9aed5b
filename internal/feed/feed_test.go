package feed

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/nsai/ingot-top/internal/ingest"
	"github.com/nsai/ingot-top/internal/testkit"
	"github.com/nsai/ingot-top/internal/wire"
)

func TestCoreFeedDecodesBatchesAndReportsInvalid(t *testing.T) {
	s := testkit.StartNATS(t, &server.Options{})
	first, second := newRecordingSink(), newRecordingSink()
	clock := time.Date(2026, 12, 1, 10, 31, 0, 0, time.UTC)
	f, err := New(Options{Server: s.ClientURL(), Subject: "telemetry.>"},
		Config{Clock: func() time.Time { return clock }}, first, second)
	if err != nil {
		t.Fatal(err)
	}
	if f.Conn() != nil {
		t.Error("Conn before Run")
	}
	before := s.NumSubscriptions()
	runFeed(t, f)
	testkit.WaitForSubscriber(t, s, before)
	if f.Conn() == nil {
		t.Error("Conn nil after Run connected")
	}
	pub := connectPublisher(t, s.ClientURL())
	for i := range 3 {
		if err := pub.Publish("telemetry.ingot.label.submit", eventBody("ingot.label.submit", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Publish("telemetry.ingot.label.submit", []byte("\x1b[2Jnot json")); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish("telemetry.forge.sample.created", eventBody("forge.sample.created", 3)); err != nil {
		t.Fatal(err)
	}
	testkit.EventuallyTrue(t, 10*time.Second, "4 events and 1 invalid at both sinks", func() bool {
		ev1, bad1, _ := first.snapshot()
		ev2, bad2, _ := second.snapshot()
		return len(ev1) == 4 && len(bad1) == 1 && len(ev2) == 4 && len(bad2) == 1
	})
	events, bad, _ := first.snapshot()
	for i, ev := range events {
		if got, _ := ev.Meta("i"); got != string(rune('0'+i)) {
			t.Errorf("event %d out of order: i=%s", i, got)
		}
		if !ev.Received.Equal(clock) || ev.StreamSeq != 0 {
			t.Errorf("event %d: received %v seq %d", i, ev.Received, ev.StreamSeq)
		}
	}
	if b := bad[0]; b.Reason != wire.ReasonNotJSON || !strings.HasPrefix(b.Excerpt, `\x1b[2J`) || !wire.IsSafe(b.Detail) || b.Subject != "telemetry.ingot.label.submit" {
		t.Errorf("invalid %+v", b)
	}
	st := f.State()
	if st.Phase != ingest.PhaseConnected || st.Received != 5 || st.Subject != "telemetry.>" || st.SinkErrors != 0 {
		t.Errorf("state %+v", st)
	}
}

func TestSinkErrorsAreCountedInCoreMode(t *testing.T) {
	s := testkit.StartNATS(t, &server.Options{})
	sink := newRecordingSink()
	sink.failNext = 1
	f, err := New(Options{Server: s.ClientURL(), Subject: "telemetry.>"}, Config{}, sink)
	if err != nil {
		t.Fatal(err)
	}
	before := s.NumSubscriptions()
	runFeed(t, f)
	testkit.WaitForSubscriber(t, s, before)
	pub := connectPublisher(t, s.ClientURL())
	if err := pub.Publish("telemetry.a.b", eventBody("a.b", 0)); err != nil {
		t.Fatal(err)
	}
	testkit.EventuallyTrue(t, 10*time.Second, "a sink error in the state", func() bool { return f.State().SinkErrors == 1 })
	if st := f.State(); !strings.Contains(st.LastError, "sink: disk full") {
		t.Errorf("LastError %q", st.LastError)
	}
}

func TestReconnectAfterServerRestart(t *testing.T) {
	s1 := testkit.StartNATS(t, &server.Options{})
	port := s1.Addr().(*net.TCPAddr).Port
	url := s1.ClientURL()
	sink := newRecordingSink()
	f, err := New(Options{Server: url, Subject: "telemetry.>", ConnectTimeout: time.Second}, Config{}, sink)
	if err != nil {
		t.Fatal(err)
	}
	before := s1.NumSubscriptions()
	runFeed(t, f)
	testkit.WaitForSubscriber(t, s1, before)
	testkit.EventuallyTrue(t, 5*time.Second, "connected", func() bool { return f.State().Phase == ingest.PhaseConnected })

	s1.Shutdown()
	s1.WaitForShutdown()
	testkit.EventuallyTrue(t, 10*time.Second, "reconnecting", func() bool { return f.State().Phase == ingest.PhaseReconnecting })

	s2 := testkit.StartNATS(t, &server.Options{Port: port})
	testkit.EventuallyTrue(t, 15*time.Second, "connected again", func() bool {
		st := f.State()
		return st.Phase == ingest.PhaseConnected && st.Reconnects >= 1
	})
	testkit.EventuallyTrue(t, 10*time.Second, "subscription replayed on the new server", func() bool { return s2.NumSubscriptions() > before })
	pub := connectPublisher(t, url)
	if err := pub.Publish("telemetry.anvil.label.submitted", eventBody("anvil.label.submitted", 7)); err != nil {
		t.Fatal(err)
	}
	testkit.EventuallyTrue(t, 10*time.Second, "event after the restart", func() bool { ev, _, _ := sink.snapshot(); return len(ev) == 1 })
	if st := f.State(); st.LastError == "" || st.LastErrorAt.IsZero() {
		t.Errorf("disconnect left no error in the state: %+v", st)
	}
}

func TestSlowConsumerDropsAreCounted(t *testing.T) {
	s := testkit.StartNATS(t, &server.Options{})
	sink := newRecordingSink()
	release := make(chan struct{})
	sink.block = release
	f, err := New(Options{Server: s.ClientURL(), Subject: "telemetry.>"},
		Config{PendingMsgs: 10, PendingBytes: 1 << 20, BatchSize: 4}, sink)
	if err != nil {
		t.Fatal(err)
	}
	before := s.NumSubscriptions()
	runFeed(t, f)
	testkit.WaitForSubscriber(t, s, before)
	pub := connectPublisher(t, s.ClientURL())
	const total = 500
	for i := range total {
		if err := pub.Publish("telemetry.a.b", eventBody("a.b", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Flush(); err != nil {
		t.Fatal(err)
	}
	// The sink holds the feed; the client's buffer of 10 overflows.
	testkit.EventuallyTrue(t, 10*time.Second, "drops reported while the sink blocks", func() bool { return f.State().SlowConsumerDrops > 0 })
	sink.mu.Lock()
	sink.block = nil
	sink.mu.Unlock()
	close(release)
	testkit.EventuallyTrue(t, 10*time.Second, "every message received or counted as dropped", func() bool {
		st := f.State()
		return st.Received+st.SlowConsumerDrops == total
	})
	// The last received events may wait in a batch for up to FlushDelay.
	testkit.EventuallyTrue(t, 10*time.Second, "every received event handed to the sink", func() bool {
		events, _, _ := sink.snapshot()
		return uint64(len(events)) == f.State().Received
	})
	events, _, _ := sink.snapshot()
	st := f.State()
	if uint64(len(events)) != st.Received || st.SlowConsumerDrops < total/2 {
		t.Errorf("events %d, state %+v", len(events), st)
	}
}

func TestRunReturnsPromptlyWhenServerIsDown(t *testing.T) {
	s := testkit.StartNATS(t, &server.Options{})
	url := s.ClientURL()
	s.Shutdown()
	s.WaitForShutdown()
	for _, durable := range []string{"", "ingot"} {
		f, err := New(Options{Server: url, Subject: "telemetry.>", ConnectTimeout: time.Second}, Config{Durable: durable}, newRecordingSink())
		if err != nil {
			t.Fatal(err)
		}
		stop := runFeed(t, f)
		testkit.EventuallyTrue(t, 10*time.Second, "a connection error in the state", func() bool { return f.State().LastError != "" })
		if st := f.State(); st.Phase != ingest.PhaseConnecting {
			t.Errorf("phase %s", st.Phase)
		}
		start := time.Now()
		stop()
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("durable %q: Run took %v to stop", durable, d)
		}
	}
}

func TestSeqTracker(t *testing.T) {
	tr := newSeqTracker(10)
	if !tr.done(10) || tr.done(11) {
		t.Fatal("floor")
	}
	tr.mark(12)
	tr.mark(13)
	if !tr.done(12) || tr.done(11) || tr.floor != 10 {
		t.Fatalf("gap: floor %d", tr.floor)
	}
	tr.mark(11)
	if tr.floor != 13 || len(tr.above) != 0 {
		t.Fatalf("contiguous: floor %d above %v", tr.floor, tr.above)
	}
	tr.mark(20)
	tr.raiseFloor(18)
	if tr.floor != 18 || !tr.done(20) || tr.done(19) {
		t.Fatalf("raiseFloor: floor %d above %v", tr.floor, tr.above)
	}
	tr.mark(19)
	if tr.floor != 20 || len(tr.above) != 0 {
		t.Fatalf("floor %d above %v", tr.floor, tr.above)
	}
	// Bounded: a permanent gap cannot grow the set without limit.
	for seq := uint64(22); seq < 22+3*maxTrackedAbove; seq++ {
		tr.mark(seq)
		if len(tr.above) > maxTrackedAbove {
			t.Fatalf("tracked %d sequences", len(tr.above))
		}
	}
	if tr.done(21) || !tr.done(22+3*maxTrackedAbove-1) {
		t.Fatal("forgetting must keep the newest and never invent the gap")
	}
}

func TestFeedStartedBeforeServerConnectsWhenItComesUp(t *testing.T) {
	probe := testkit.StartNATS(t, &server.Options{})
	port := probe.Addr().(*net.TCPAddr).Port
	url := probe.ClientURL()
	probe.Shutdown()
	probe.WaitForShutdown()

	sink := newRecordingSink()
	f, err := New(Options{Server: url, Subject: "telemetry.>", ConnectTimeout: time.Second}, Config{}, sink)
	if err != nil {
		t.Fatal(err)
	}
	runFeed(t, f)
	testkit.EventuallyTrue(t, 10*time.Second, "a connection error while the server is down", func() bool { return f.State().LastError != "" })
	if st := f.State(); st.Phase != ingest.PhaseConnecting {
		t.Fatalf("phase %s before the server exists", st.Phase)
	}
	s := testkit.StartNATS(t, &server.Options{Port: port})
	testkit.EventuallyTrue(t, 15*time.Second, "connected once the server is up", func() bool { return f.State().Phase == ingest.PhaseConnected })
	testkit.EventuallyTrue(t, 10*time.Second, "subscription registered", func() bool { return s.NumSubscriptions() > 0 })
	pub := connectPublisher(t, url)
	if err := pub.Publish("telemetry.anvil.label.submitted", eventBody("anvil.label.submitted", 1)); err != nil {
		t.Fatal(err)
	}
	testkit.EventuallyTrue(t, 10*time.Second, "event delivered", func() bool { ev, _, _ := sink.snapshot(); return len(ev) == 1 })
}
