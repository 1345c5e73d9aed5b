package feed

import (
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/nsai/ingot-top/internal/testkit"
)

// Feeds of one core queue group split the stream: every event reaches exactly one of them.
// A feed outside the group still sees everything, so the split is the group's doing.
func TestCoreFeedsOfOneGroupShareTheStream(t *testing.T) {
	s := testkit.StartNATS(t, &server.Options{})
	const n = 400
	members := []*recordingSink{newRecordingSink(), newRecordingSink()}
	for _, sink := range members {
		f, err := New(Options{Server: s.ClientURL(), Subject: "telemetry.>"}, Config{Group: "ingest"}, sink)
		if err != nil {
			t.Fatal(err)
		}
		before := s.NumSubscriptions()
		runFeed(t, f)
		testkit.WaitForSubscriber(t, s, before)
	}
	outsider := newRecordingSink()
	f, err := New(Options{Server: s.ClientURL(), Subject: "telemetry.>"}, Config{}, outsider)
	if err != nil {
		t.Fatal(err)
	}
	before := s.NumSubscriptions()
	runFeed(t, f)
	testkit.WaitForSubscriber(t, s, before)

	pub := connectPublisher(t, s.ClientURL())
	for i := range n {
		if err := pub.Publish("telemetry.ingot.label.submit", eventBody("ingot.label.submit", i%10)); err != nil {
			t.Fatal(err)
		}
	}
	testkit.Eventually(t, 10*time.Second, "every event at one member and at the outsider", func() (bool, string) {
		a, _, _ := members[0].snapshot()
		b, _, _ := members[1].snapshot()
		o, _, _ := outsider.snapshot()
		return len(a)+len(b) == n && len(o) == n, fmt.Sprintf("members %d+%d outsider %d", len(a), len(b), len(o))
	})
	a, _, _ := members[0].snapshot()
	b, _, _ := members[1].snapshot()
	if len(a) == 0 || len(b) == 0 {
		t.Errorf("one member took everything: %d and %d", len(a), len(b))
	}
}
