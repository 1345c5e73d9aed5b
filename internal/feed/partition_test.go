package feed

import (
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/nsai/ingot-top/internal/testkit"
)

// partitionMapping is the subject mapping docs/scale-out.md gives for going beyond one
// consumer group: every telemetry subject is moved, by a hash of all its tokens, under one
// of N partition prefixes, and each partition's group subscribes to tp.<i>.telemetry.>.
// The event name stays what follows the prefix, so the decoder reads it unchanged.
const (
	partitionSource = "telemetry.>"
	partitionDest   = "tp.{{partition(3)}}.telemetry.>"
)

// The mapping, on a real server, splits the stream into disjoint partitions that together
// hold every event, always puts one subject in the same partition, and leaves the events
// decodable by a feed on the partition's subject.
func TestSubjectMappingPartitionsTheStream(t *testing.T) {
	s := testkit.StartNATS(t, &server.Options{})
	if err := s.GlobalAccount().AddMapping(partitionSource, partitionDest); err != nil {
		t.Fatalf("mapping %s -> %s: %v", partitionSource, partitionDest, err)
	}
	const parts = 3
	sinks := make([]*recordingSink, parts)
	for i := range parts {
		sinks[i] = newRecordingSink()
		f, err := New(Options{Server: s.ClientURL(), Subject: fmt.Sprintf("tp.%d.telemetry.>", i)}, Config{}, sinks[i])
		if err != nil {
			t.Fatal(err)
		}
		before := s.NumSubscriptions()
		runFeed(t, f)
		testkit.WaitForSubscriber(t, s, before)
	}
	names := []string{
		"anvil.label.submitted", "anvil.queue.modified", "anvil.export.completed",
		"forge.sample.created", "forge.sample.fetched", "ingot.label.submit",
		"ingot.assignment.abandoned", "anvil.assignment.completed", "forge.pipeline.executed",
	}
	const each = 20
	pub := connectPublisher(t, s.ClientURL())
	for _, name := range names {
		for i := range each {
			if err := pub.Publish("telemetry."+name, eventBody(name, i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	total := len(names) * each
	testkit.Eventually(t, 10*time.Second, "every event in one partition", func() (bool, string) {
		n := 0
		var counts []int
		for _, s := range sinks {
			ev, bad, _ := s.snapshot()
			n += len(ev) + len(bad)
			counts = append(counts, len(ev))
		}
		return n == total, fmt.Sprintf("%v (want %d in all)", counts, total)
	})
	partitionOf := map[string]int{}
	used := 0
	for i, sink := range sinks {
		ev, bad, _ := sink.snapshot()
		if len(bad) != 0 {
			t.Errorf("partition %d: %d events not decodable, first %+v", i, len(bad), bad[0])
		}
		if len(ev) > 0 {
			used++
		}
		for _, e := range ev {
			if p, seen := partitionOf[e.Name]; seen && p != i {
				t.Errorf("%s in partitions %d and %d", e.Name, p, i)
			}
			partitionOf[e.Name] = i
		}
	}
	if len(partitionOf) != len(names) {
		t.Errorf("decoded event names %v, want the %d published", partitionOf, len(names))
	}
	if used < 2 {
		t.Errorf("the mapping put every subject in one partition: %v", partitionOf)
	}
	t.Logf("partition of each event: %v", partitionOf)
}
