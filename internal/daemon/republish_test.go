package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/nsai/ingot-top/internal/ingest"
	"github.com/nsai/ingot-top/internal/testkit"
	"github.com/nsai/ingot-top/internal/wire"
)

func TestSubjectRules(t *testing.T) {
	for _, c := range []struct {
		pattern, subject string
		match            bool
	}{
		{"telemetry.>", "telemetry.errors", true},
		{"telemetry.>", "telemetry", false},
		{"telemetry.>", "ingot_top.errors", false},
		{"telemetry.*.label.*", "telemetry.ingot.label.submit", true},
		{"telemetry.*.label.*", "telemetry.ingot.label", false},
		{">", "anything.at.all", true},
		{"a.b", "a.b", true},
		{"a.b", "a.b.c", false},
	} {
		if got := subjectMatches(c.pattern, c.subject); got != c.match {
			t.Errorf("subjectMatches(%q, %q) = %v", c.pattern, c.subject, got)
		}
	}
	good := RepublishConfig{ErrorsSubject: "ingot_top.errors", ErrorsPerSecond: 1, MaxErrorsPerMessage: 10, SnapshotSubject: "ingot_top.snapshot"}
	if err := good.validate("telemetry.>"); err != nil {
		t.Fatalf("defaults rejected: %v", err)
	}
	for _, bad := range []RepublishConfig{
		{ErrorsSubject: "telemetry.errors", ErrorsPerSecond: 1, MaxErrorsPerMessage: 1},
		{SnapshotSubject: "telemetry.snap"},
		{ErrorsSubject: "ingot_top.*", ErrorsPerSecond: 1, MaxErrorsPerMessage: 1},
		{ErrorsSubject: "ingot_top..x", ErrorsPerSecond: 1, MaxErrorsPerMessage: 1},
		{ErrorsSubject: "ingot_top.errors", ErrorsPerSecond: 0, MaxErrorsPerMessage: 1},
	} {
		if err := bad.validate("telemetry.>"); err == nil {
			t.Errorf("accepted %+v", bad)
		}
	}
}

func TestErrorRepublisherBatchesThrottlesAndCountsCoalesced(t *testing.T) {
	srv := testkit.StartJetStream(t)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync("ingot_top.errors")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	clock := newFakeClock(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	reg := prometheus.NewRegistry()
	r, err := NewErrorRepublisher(RepublishConfig{ErrorsSubject: "ingot_top.errors", ErrorsPerSecond: 2, MaxErrorsPerMessage: 3},
		func() Publisher { return nc }, clock, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	if d := waitArmed(t, clock); d != 500*time.Millisecond {
		t.Fatalf("2/s must tick every 500ms, armed %v", d)
	}

	ok := submitEvent(0)
	if err := r.HandleBatch([]wire.Event{ok, errorEvent(), errorEvent(), ok, errorEvent(), errorEvent(), errorEvent()}); err != nil {
		t.Fatal(err)
	}
	// Nothing is published between ticks: that is the throttle.
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.NextMsg(50 * time.Millisecond); err == nil {
		t.Fatal("published before the tick")
	}
	clock.advance(500 * time.Millisecond)
	msg, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatalf("no message after the tick: %v", err)
	}
	var batch ingest.ErrorBatch
	if err := json.Unmarshal(msg.Data, &batch); err != nil {
		t.Fatal(err)
	}
	if batch.V != 1 || len(batch.Errors) != 3 || batch.Coalesced != 2 {
		t.Fatalf("want 3 records and 2 coalesced, got %d and %d", len(batch.Errors), batch.Coalesced)
	}
	rec := batch.Errors[0]
	if rec.Type != "anvil_client_error" || rec.Operation != "submit_label" || rec.Reason != "timeout" ||
		rec.Metadata["assignment_id"] != "asg_1" || rec.TraceID == "" || rec.Timestamp.IsZero() {
		t.Fatalf("record %+v", rec)
	}
	// The counters are bumped after the publish, so the message can arrive first.
	testkit.Eventually(t, 5*time.Second, "published 3 and coalesced 2 counted", func() (bool, string) {
		published := testutil.ToFloat64(r.records.WithLabelValues("published"))
		coalesced := testutil.ToFloat64(r.records.WithLabelValues("coalesced"))
		return published == 3 && coalesced == 2, fmt.Sprintf("published %v, coalesced %v", published, coalesced)
	})

	// An idle tick publishes nothing; the final flush on stop publishes what is left.
	waitArmed(t, clock)
	clock.advance(500 * time.Millisecond)
	waitArmed(t, clock)
	if err := r.HandleBatch([]wire.Event{errorEvent()}); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	msg, err = sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatalf("final flush not published: %v", err)
	}
	batch = ingest.ErrorBatch{}
	if err := json.Unmarshal(msg.Data, &batch); err != nil || len(batch.Errors) != 1 || batch.Coalesced != 0 {
		t.Fatalf("final batch %+v (%v)", batch, err)
	}
}

func TestErrorRepublisherWithoutConnectionCountsFailures(t *testing.T) {
	clock := newFakeClock(time.Now())
	r, err := NewErrorRepublisher(RepublishConfig{ErrorsSubject: "e", ErrorsPerSecond: 1, MaxErrorsPerMessage: 10},
		func() Publisher { return nil }, clock, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if err := r.HandleBatch([]wire.Event{errorEvent(), errorEvent()}); err != nil {
		t.Fatal(err)
	}
	r.Flush()
	if got := testutil.ToFloat64(r.records.WithLabelValues("failed")); got != 2 {
		t.Fatalf("failed counter %v", got)
	}
}

type staticSnapshots struct{ payload []byte }

func (s staticSnapshots) MergeableSnapshot() []byte { return s.payload }

func TestSnapshotPublisherPublishesEverySecondWhenNonNil(t *testing.T) {
	srv := testkit.StartJetStream(t)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync("ingot_top.snapshot")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	clock := newFakeClock(time.Now())
	p, err := newSnapshotPublisher("ingot_top.snapshot", staticSnapshots{[]byte(`{"snap":1}`)}, func() Publisher { return nc }, clock, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	for range 3 {
		if d := waitArmed(t, clock); d != time.Second {
			t.Fatalf("armed %v, want 1s", d)
		}
		clock.advance(time.Second)
		msg, err := sub.NextMsg(5 * time.Second)
		if err != nil || string(msg.Data) != `{"snap":1}` {
			t.Fatalf("snapshot message %v %v", msg, err)
		}
	}
	waitArmed(t, clock)
	cancel()
	<-done
	// nil payload: nothing goes out.
	p.source = staticSnapshots{}
	p.publishOnce()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.NextMsg(50 * time.Millisecond); err == nil {
		t.Fatal("published a nil snapshot")
	}
}
