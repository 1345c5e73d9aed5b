package feed

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nsai/ingot-top/internal/testkit"
)

func createTelemetryStream(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: DefaultStream, Subjects: []string{"telemetry.>"}}); err != nil {
		t.Fatal(err)
	}
}

// historyClock records what OnHistory told the reader.
type historyClock struct {
	mu       sync.Mutex
	last     time.Time
	backward bool
	caughtUp bool
	calls    int
}

func (c *historyClock) on(at time.Time, caughtUp bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if at.Before(c.last) {
		c.backward = true
	}
	if at.After(c.last) {
		c.last = at
	}
	c.caughtUp = c.caughtUp || caughtUp
}

func (c *historyClock) state() (time.Time, bool, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last, c.caughtUp, c.backward
}

// --since: the stream from the start time on, nothing stored before it, then the live
// traffic on the same consumer; messages published while the history is read land exactly
// once, whichever side of the seam they fall on. Invalid messages in the history count too.
func TestSinceReadsTheStreamFromATimeThenGoesLiveExactlyOnce(t *testing.T) {
	s := testkit.StartJetStream(t)
	js := jsClient(t, s.ClientURL())
	createTelemetryStream(t, js)

	// Before --since: not to be counted.
	for i := range 50 {
		publishJS(t, js, "telemetry.anvil.label.submitted", eventBody("anvil.label.submitted", -1-i))
	}
	// Taken after the server acknowledged (and so stored) the 50: their store times are
	// before it.
	since := time.Now()
	const history = 3000
	for i := range history {
		publishJS(t, js, "telemetry.anvil.label.submitted", eventBody("anvil.label.submitted", i))
	}
	publishJS(t, js, "telemetry.anvil.label.submitted", []byte("{broken"))

	sink := newRecordingSink()
	clock := &historyClock{}
	f, err := New(Options{Server: s.ClientURL(), Subject: "telemetry.>"},
		Config{Since: since, OnHistory: clock.on, BatchSize: 256, HistoryReadAhead: 512}, sink)
	if err != nil {
		t.Fatal(err)
	}
	runFeed(t, f)
	// Published while the history is being read: some before the seam, some after.
	const live = 2000
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := history; i < history+live; i++ {
			publishJS(t, js, "telemetry.anvil.label.submitted", eventBody("anvil.label.submitted", i))
		}
	}()
	<-done
	testkit.Eventually(t, 20*time.Second, "history and live events", func() (bool, string) {
		ev, bad, _ := sink.snapshot()
		_, caught, _ := clock.state()
		return len(ev) >= history+live && len(bad) == 1 && caught, ""
	})
	// One more after the seam, to be sure nothing else trails in.
	publishJS(t, js, "telemetry.anvil.label.submitted", eventBody("anvil.label.submitted", history+live))
	testkit.EventuallyTrue(t, 10*time.Second, "the last live event", func() bool { ev, _, _ := sink.snapshot(); return len(ev) >= history+live+1 })

	ev, bad, _ := sink.snapshot()
	seen := map[uint64]bool{}
	var lastSeq uint64
	for _, e := range ev {
		if seen[e.StreamSeq] {
			t.Fatalf("stream sequence %d handed on twice", e.StreamSeq)
		}
		if e.StreamSeq <= lastSeq {
			t.Fatalf("out of stream order: %d after %d", e.StreamSeq, lastSeq)
		}
		seen[e.StreamSeq], lastSeq = true, e.StreamSeq
		if i, ok := e.Meta("i"); ok && len(i) > 0 && i[0] == '-' {
			t.Fatalf("an event stored before --since was counted: i=%s", i)
		}
	}
	if len(ev) != history+live+1 || len(bad) != 1 {
		t.Fatalf("%d events, %d invalid; want %d and 1", len(ev), len(bad), history+live+1)
	}
	if last, _, backward := clock.state(); backward || last.Before(since) {
		t.Fatalf("the reader's clock went backwards (%v) or stayed before --since (%s)", backward, last)
	}
	if st := f.State(); st.Received != uint64(history+live+2) {
		t.Fatalf("received %d, want %d", st.Received, history+live+2)
	}
}

// A connection lost in the middle of the history resumes after the last message handed on:
// nothing counted twice, nothing skipped.
func TestSinceResumesAfterAReconnect(t *testing.T) {
	s := testkit.StartJetStream(t)
	js := jsClient(t, s.ClientURL())
	createTelemetryStream(t, js)
	since := time.Now().Add(-time.Minute)
	const n = 2000
	for i := range n {
		publishJS(t, js, "telemetry.anvil.label.submitted", eventBody("anvil.label.submitted", i))
	}
	sink := newRecordingSink()
	var f *Feed
	closer := &closingSink{recordingSink: sink}
	f, err := New(Options{Server: s.ClientURL(), Subject: "telemetry.>"}, Config{Since: since, BatchSize: 100, HistoryReadAhead: 200}, closer)
	if err != nil {
		t.Fatal(err)
	}
	closer.f = f
	runFeed(t, f)
	testkit.Eventually(t, 20*time.Second, "every stored event once", func() (bool, string) {
		ev, _, _ := sink.snapshot()
		return len(ev) >= n, ""
	})
	ev, _, _ := sink.snapshot()
	seen := map[uint64]bool{}
	for _, e := range ev {
		if seen[e.StreamSeq] {
			t.Fatalf("stream sequence %d handed on twice after the reconnect", e.StreamSeq)
		}
		seen[e.StreamSeq] = true
	}
	if len(ev) != n {
		t.Fatalf("%d events, want %d", len(ev), n)
	}
	if f.State().Reconnects == 0 && f.gen.Load() < 2 {
		t.Fatal("the connection was never closed: the test did not test a reconnect")
	}
}
