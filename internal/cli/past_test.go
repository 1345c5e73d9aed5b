package cli

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/testkit"
)

// snapshot --since reads what the stream kept from that time on, on the stream's clock,
// and prints it once the read has caught up: every event and invalid message exactly once,
// nothing stored before the start.
func TestSnapshotSinceReadsTheStreamFromAStartTime(t *testing.T) {
	s, js := testkit.StartTelemetryStream(t)
	ctx := context.Background()
	publish := func(data string) {
		if _, err := js.Publish(ctx, "telemetry.anvil.label.submitted", []byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 20 {
		publish(submitted("queue_old", fmt.Sprintf("old_%d", i)))
	}
	at := time.Now().UTC()
	const n = 500
	for i := range n {
		publish(submitted("queue_new", fmt.Sprintf("asg_%d", i)))
	}
	publish("{not json")

	res := runCmd(ctx, "snapshot", "-s", s.ClientURL(), "--at", at.Format(time.RFC3339Nano), "--format", "json", "-q", "-d", "10s")
	doc := decodeDoc(t, "snapshot --at", res)
	if doc.Totals.Events != n || doc.Totals.Invalid != 1 {
		t.Fatalf("snapshot --at: %d events, %d invalid; want %d and 1\n%s", doc.Totals.Events, doc.Totals.Invalid, n, res.stderr)
	}
	for _, q := range doc.Queues {
		if strings.Contains(q.ID, "old") {
			t.Fatalf("a queue from before --at: %+v", q)
		}
	}
	// The stream's clock: the report is as of the last message stored, not the wall clock.
	if doc.At.After(time.Now()) || doc.At.Before(at) {
		t.Fatalf("report at %s; the read started at %s", doc.At, at)
	}

	res = runCmd(ctx, "snapshot", "-s", s.ClientURL(), "--since", "1h", "--format", "json", "-q")
	if doc := decodeDoc(t, "snapshot --since 1h", res); doc.Totals.Events != n+20 {
		t.Fatalf("snapshot --since 1h: %d events, want %d", doc.Totals.Events, n+20)
	}
	res = runCmd(ctx, "snapshot", "-s", s.ClientURL(), "--since", "1h", "--stream", "NOPE", "-d", "1s", "-q")
	if res.code != ExitNoConnect || !strings.Contains(res.stderr, "--durable NAME --create") {
		t.Fatalf("snapshot --since on a missing stream: exit %d %q", res.code, res.stderr)
	}
	res = runCmd(ctx, "snapshot", "-s", s.ClientURL(), "--since", "1h", "--at", "03:00")
	if res.code != ExitUsage || !strings.Contains(res.stderr, "give one") {
		t.Fatalf("--since with --at: exit %d %q", res.code, res.stderr)
	}
}
