package daemon

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/wire"
)

func runAggregate(t *testing.T) *AggregateSource {
	t.Helper()
	a := NewAggregateSource(nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return a
}

func aggregateSubmit(queue string, i int, at time.Time) wire.Event {
	return wire.Event{
		Name: wire.EventLabelSubmit, Segments: strings.Split(wire.EventLabelSubmit, "."), Time: at, HasTime: true, Received: at,
		Metadata:     []wire.KV{{Key: "queue_id", Value: queue}, {Key: "user_id", Value: fmt.Sprint("u", i%7)}, {Key: "assignment_id", Value: fmt.Sprint(i)}},
		Measurements: []wire.Measurement{{Key: "duration_ms", Value: float64(1000 + i)}},
	}
}

func TestAggregateSourcePublishesDecodableAggregate(t *testing.T) {
	a := runAggregate(t)
	now := time.Now()
	var batch []wire.Event
	for i := 0; i < 300; i++ {
		batch = append(batch, aggregateSubmit(fmt.Sprintf("q%02d", i%30), i, now))
	}
	if err := a.HandleBatch(batch); err != nil {
		t.Fatal(err)
	}
	data := a.MergeableSnapshot()
	if data == nil {
		t.Fatal("no snapshot")
	}
	x, err := engine.DecodeAggregate(data)
	if err != nil {
		t.Fatalf("the published snapshot does not decode: %v", err)
	}
	if x.Producer != a.Producer() || x.Producer == "" || x.Totals.Events != 300 || len(x.Queues) != 30 {
		t.Errorf("aggregate producer %q events %d queues %d, want %q, 300, 30", x.Producer, x.Totals.Events, len(x.Queues), a.Producer())
	}
	if a.LastSize() != len(data) {
		t.Errorf("LastSize = %d, want %d", a.LastSize(), len(data))
	}
	if b := NewAggregateSource(nil, nil); b.Producer() == a.Producer() {
		t.Errorf("two sources in one process share producer id %q", a.Producer())
	}
}

func TestAggregateSourceShrinksToBudget(t *testing.T) {
	a := runAggregate(t)
	now := time.Now()
	var batch []wire.Event
	for i := 0; i < 2000; i++ {
		batch = append(batch, aggregateSubmit(fmt.Sprintf("queue-with-a-longish-name-%03d", i%400), i, now))
	}
	if err := a.HandleBatch(batch); err != nil {
		t.Fatal(err)
	}
	full := a.MergeableSnapshot()
	if full == nil {
		t.Fatal("no snapshot")
	}
	a.budget = len(full) / 3
	cut := a.MergeableSnapshot()
	if cut == nil || len(cut) > a.budget {
		t.Fatalf("aggregate of %d bytes against a budget of %d", len(cut), a.budget)
	}
	x, err := engine.DecodeAggregate(cut)
	if err != nil {
		t.Fatal(err)
	}
	// Cutting moves queues into the OtherID row; it loses no label.
	var labels uint32
	for _, q := range x.Queues {
		for _, v := range q.PerSecond {
			labels += v
		}
	}
	if x.QueuesOmitted == 0 || labels != 2000 {
		t.Errorf("cut aggregate: %d queues omitted, %d labels, want some omitted and all 2000 labels", x.QueuesOmitted, labels)
	}
	a.budget = 10
	if got := a.MergeableSnapshot(); got != nil {
		t.Errorf("an aggregate that cannot fit was published (%d bytes)", len(got))
	}
}
