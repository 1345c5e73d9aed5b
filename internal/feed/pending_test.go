package feed

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/ingest"
	"github.com/nsai/ingot-top/internal/testkit"
	"github.com/nsai/ingot-top/internal/wire"
)

// blockingSink holds the feed until release is closed, valid events and invalid alike.
type blockingSink struct{ release chan struct{} }

func (s *blockingSink) HandleBatch([]wire.Event) error     { <-s.release; return nil }
func (s *blockingSink) HandleInvalid(ingest.Invalid) error { <-s.release; return nil }

// The most the client may buffer by default for the daemon to stay within 150 MiB under a
// burst (a buffered message costs about 1.5 times its size in heap, and the heap grows to
// twice what is live before a collection; scripts/bench-burst.sh measures it).
const (
	pendingBudgetBytes = 32 << 20
	pendingBudgetMsgs  = 128 << 10
)

// Issue 9, item 6: in core mode the client buffered up to 512 MiB (1M messages) of a burst
// the sinks could not take, and the daemon peaked at 500–700 MB. By default a burst larger
// than the budget is cut at the pending limits, and every message past them is counted as a
// slow-consumer drop.
func TestDefaultPendingBufferIsBounded(t *testing.T) {
	for _, tc := range []struct {
		name  string
		size  int // payload bytes
		total int
	}{
		// Twice the byte budget in large messages, then twice the message budget in small ones.
		{"bytes", 64 << 10, 2 * pendingBudgetBytes / (64 << 10)},
		{"messages", 16, 2 * pendingBudgetMsgs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := testkit.StartNATS(t, nil)
			release := make(chan struct{})
			sink := &blockingSink{release: release}
			f, err := New(Options{Server: s.ClientURL(), Subject: "telemetry.>"}, Config{}, sink)
			if err != nil {
				t.Fatal(err)
			}
			before := s.NumSubscriptions()
			runFeed(t, f)
			unblock := sync.OnceFunc(func() { close(release) })
			t.Cleanup(unblock) // runs before runFeed's stop: a failed test must not hang
			testkit.WaitForSubscriber(t, s, before)
			pub := connectPublisher(t, s.ClientURL())
			payload := bytes.Repeat([]byte("x"), tc.size)
			for range tc.total {
				if err := pub.Publish("telemetry.a.b", payload); err != nil {
					t.Fatal(err)
				}
			}
			if err := pub.Flush(); err != nil {
				t.Fatal(err)
			}
			// The sink holds the feed: the burst stays in the client's buffer, up to its limits.
			testkit.Eventually(t, 30*time.Second, "drops counted while the sink blocks", func() (bool, string) {
				st := f.State()
				return st.SlowConsumerDrops > 0, fmt.Sprintf("%+v", st)
			})
			if sub := f.coreSub.Load(); sub != nil {
				msgs, size, err := sub.Pending()
				if err == nil && (msgs > pendingBudgetMsgs || size > pendingBudgetBytes) {
					t.Errorf("buffered %d messages, %d bytes: over the budget", msgs, size)
				}
			}
			unblock()
			testkit.Eventually(t, 30*time.Second, "every message received or counted as dropped", func() (bool, string) {
				st := f.State()
				return st.Received+st.SlowConsumerDrops == uint64(tc.total), fmt.Sprintf("total %d, %+v", tc.total, st)
			})
		})
	}
}
