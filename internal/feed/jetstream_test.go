package feed

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nsai/ingot-top/internal/ingest"
	"github.com/nsai/ingot-top/internal/testkit"
	"github.com/nsai/ingot-top/internal/wire"
)

func jsClient(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(connectPublisher(t, url))
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func publishJS(t *testing.T, js jetstream.JetStream, subject string, data []byte) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ack, err := js.Publish(ctx, subject, data)
	if err != nil {
		t.Fatalf("publish %s: %v", subject, err)
	}
	return ack.Sequence
}

func consumerInfo(t *testing.T, js jetstream.JetStream, durable string) *jetstream.ConsumerInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := js.Consumer(ctx, DefaultStream, durable)
	if err != nil {
		t.Fatalf("consumer: %v", err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func newJSFeed(t *testing.T, url string, sink ingest.Sink, create bool) *Feed {
	t.Helper()
	f, err := New(Options{Server: url, Subject: "telemetry.>"},
		Config{Durable: "ingot", CreateStream: create, NakDelay: 20 * time.Millisecond}, sink)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestJetStreamDurableDeliversExactlyOnceAcrossRestart(t *testing.T) {
	s := testkit.StartJetStream(t)
	js := jsClient(t, s.ClientURL())
	sink := newRecordingSink()

	f1 := newJSFeed(t, s.ClientURL(), sink, true)
	stop1 := runFeed(t, f1)
	testkit.EventuallyTrue(t, 10*time.Second, "stream created", func() bool {
		_, err := js.Stream(context.Background(), DefaultStream)
		return err == nil
	})
	for i := range 5 {
		publishJS(t, js, "telemetry.anvil.label.submitted", eventBody("anvil.label.submitted", i))
	}
	testkit.EventuallyTrue(t, 10*time.Second, "first 5 events", func() bool { ev, _, _ := sink.snapshot(); return len(ev) == 5 })
	stop1()

	// Published while no consumer process runs.
	var lastSeq uint64
	for i := 5; i < 10; i++ {
		lastSeq = publishJS(t, js, "telemetry.anvil.label.submitted", eventBody("anvil.label.submitted", i))
	}
	// The restarted feed binds to the existing stream and durable consumer.
	f2 := newJSFeed(t, s.ClientURL(), sink, false)
	runFeed(t, f2)
	testkit.EventuallyTrue(t, 10*time.Second, "every message acknowledged", func() bool {
		info := consumerInfo(t, js, "ingot")
		return info.AckFloor.Stream == lastSeq && info.NumAckPending == 0
	})
	events, _, _ := sink.snapshot()
	if len(events) != 10 {
		t.Fatalf("%d events, want exactly 10", len(events))
	}
	for i, ev := range events {
		if ev.StreamSeq != uint64(i+1) {
			t.Errorf("event %d has StreamSeq %d", i, ev.StreamSeq)
		}
	}
}

func TestJetStreamTerminatesBadMessages(t *testing.T) {
	s := testkit.StartJetStream(t)
	js := jsClient(t, s.ClientURL())
	sink := newRecordingSink()
	f := newJSFeed(t, s.ClientURL(), sink, true)
	runFeed(t, f)
	testkit.EventuallyTrue(t, 10*time.Second, "consumer created", func() bool {
		_, err := js.Consumer(context.Background(), DefaultStream, "ingot")
		return err == nil
	})
	badSeq := publishJS(t, js, "telemetry.anvil.label.submitted", []byte(`{"v":2}`))
	goodSeq := publishJS(t, js, "telemetry.anvil.label.submitted", eventBody("anvil.label.submitted", 0))
	testkit.EventuallyTrue(t, 10*time.Second, "bad message terminated and good one acked", func() bool {
		info := consumerInfo(t, js, "ingot")
		return info.AckFloor.Stream == goodSeq && info.NumAckPending == 0
	})
	events, bad, _ := sink.snapshot()
	if len(bad) != 1 || bad[0].StreamSeq != badSeq || bad[0].Reason != wire.ReasonMissingField && bad[0].Reason != wire.ReasonBadVersion {
		t.Fatalf("invalid %+v", bad)
	}
	if len(events) != 1 || events[0].StreamSeq != goodSeq {
		t.Fatalf("events %+v", events)
	}
	if info := consumerInfo(t, js, "ingot"); info.NumRedelivered != 0 {
		t.Errorf("bad message redelivered: %+v", info)
	}
}

func TestJetStreamSinkErrorCausesRedelivery(t *testing.T) {
	s := testkit.StartJetStream(t)
	js := jsClient(t, s.ClientURL())
	sink := newRecordingSink()
	sink.failNext = 1
	f := newJSFeed(t, s.ClientURL(), sink, true)
	runFeed(t, f)
	testkit.EventuallyTrue(t, 10*time.Second, "consumer created", func() bool {
		_, err := js.Consumer(context.Background(), DefaultStream, "ingot")
		return err == nil
	})
	seq := publishJS(t, js, "telemetry.ingot.label.submit", eventBody("ingot.label.submit", 0))
	testkit.EventuallyTrue(t, 10*time.Second, "redelivered and accepted", func() bool { ev, _, _ := sink.snapshot(); return len(ev) == 1 })
	testkit.EventuallyTrue(t, 10*time.Second, "acknowledged", func() bool { return consumerInfo(t, js, "ingot").AckFloor.Stream == seq })
	events, _, batches := sink.snapshot()
	if batches != 2 || events[0].StreamSeq != seq {
		t.Errorf("batches %d, events %+v", batches, events)
	}
	if st := f.State(); st.SinkErrors != 1 || st.Received != 2 {
		t.Errorf("state %+v", st)
	}
}

func TestJetStreamMissingConsumerIsReported(t *testing.T) {
	s := testkit.StartJetStream(t)
	f := newJSFeed(t, s.ClientURL(), newRecordingSink(), false)
	runFeed(t, f)
	testkit.EventuallyTrue(t, 10*time.Second, "a missing-stream error", func() bool {
		return f.State().LastError != "" && strings.Contains(f.State().LastError, "stream TELEMETRY")
	})
}

func TestJetStreamRedeliveryOfAcceptedMessageIsDeduplicated(t *testing.T) {
	s := testkit.StartJetStream(t)
	js := jsClient(t, s.ClientURL())
	sink := newRecordingSink()
	release := make(chan struct{})
	sink.block = release
	f, err := New(Options{Server: s.ClientURL(), Subject: "telemetry.>"},
		Config{Durable: "ingot", CreateStream: true, AckWait: 100 * time.Millisecond}, sink)
	if err != nil {
		t.Fatal(err)
	}
	runFeed(t, f)
	testkit.EventuallyTrue(t, 10*time.Second, "consumer created", func() bool {
		_, err := js.Consumer(context.Background(), DefaultStream, "ingot")
		return err == nil
	})
	seq := publishJS(t, js, "telemetry.ingot.label.submit", eventBody("ingot.label.submit", 0))
	// The sink holds the batch past the ack wait, so the server redelivers the message.
	testkit.EventuallyTrue(t, 10*time.Second, "server redelivery", func() bool { return consumerInfo(t, js, "ingot").NumRedelivered >= 1 })
	sink.mu.Lock()
	sink.block = nil
	sink.mu.Unlock()
	close(release)
	testkit.EventuallyTrue(t, 10*time.Second, "redelivery received and acknowledged", func() bool {
		info := consumerInfo(t, js, "ingot")
		return f.State().Received >= 2 && info.AckFloor.Stream == seq && info.NumAckPending == 0
	})
	if events, _, _ := sink.snapshot(); len(events) != 1 {
		t.Fatalf("sink got %d events, want 1 (de-duplicated)", len(events))
	}
}
