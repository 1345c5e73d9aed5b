package feed

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/nsai/ingot-top/internal/testkit"
)

// fakeTime is the coalescing conn's clock: sleeping advances it and is recorded.
type fakeTime struct {
	at     time.Time
	sleeps []time.Duration
}

func (f *fakeTime) now() time.Time { return f.at }
func (f *fakeTime) sleep(d time.Duration) {
	f.sleeps = append(f.sleeps, d)
	f.at = f.at.Add(d)
}

func TestCoalescingConnWaitsOnlyAfterADrainingRead(t *testing.T) {
	client, server := net.Pipe() // each Read returns at most what one Write wrote
	defer client.Close()
	defer server.Close()
	clock := &fakeTime{at: time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)}
	c := newCoalescingConn(client, 50*time.Millisecond)
	c.now, c.sleep = clock.now, clock.sleep

	writes := make(chan []byte)
	go func() {
		for b := range writes {
			if _, err := server.Write(b); err != nil {
				return
			}
		}
	}()
	defer close(writes)
	read := func(size int, want []byte) {
		t.Helper()
		buf := make([]byte, size)
		n, err := c.Read(buf)
		if err != nil || !bytes.Equal(buf[:n], want) {
			t.Fatalf("read %q, %v; want %q", buf[:n], err, want)
		}
	}

	writes <- []byte("0123456789abcdef0123456789abcdef") // 32 bytes: a full read of a 32-byte buffer
	read(32, []byte("0123456789abcdef0123456789abcdef"))
	writes <- []byte("0123456789abcdef0123456789abcdef")
	read(32, []byte("0123456789abcdef0123456789abcdef"))
	if len(clock.sleeps) != 0 {
		t.Fatalf("full reads waited: %v", clock.sleeps)
	}

	writes <- []byte("short")
	read(32, []byte("short")) // drains the socket: the next read waits
	clock.at = clock.at.Add(20 * time.Millisecond)
	writes <- []byte("later")
	read(32, []byte("later"))
	if len(clock.sleeps) != 1 || clock.sleeps[0] != 30*time.Millisecond {
		t.Fatalf("after a draining read and 20ms of parsing: slept %v, want [30ms]", clock.sleeps)
	}

	clock.at = clock.at.Add(time.Second) // the parse took longer than the interval
	writes <- []byte("x")
	read(32, []byte("x"))
	if len(clock.sleeps) != 1 {
		t.Fatalf("waited although the interval had passed: %v", clock.sleeps)
	}
}

// fakeConn returns reads of the given sizes, one per Read, as a socket would.
type fakeConn struct {
	net.Conn
	sizes []int
}

func (f *fakeConn) Read(p []byte) (int, error) {
	if len(f.sizes) == 0 {
		return 0, io.EOF
	}
	n := min(f.sizes[0], len(p))
	f.sizes = f.sizes[1:]
	return n, nil
}

func TestCoalescingStopsWaitingOnAFastStream(t *testing.T) {
	const buf = 32 << 10
	clock := &fakeTime{at: time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)}
	// a drained read, then after the wait four full reads and a partial one (over busyBytes
	// gathered in one wait), then drained reads
	fc := &fakeConn{sizes: []int{100, buf, buf, buf, 100, 100, 100, 100}}
	c := newCoalescingConn(fc, 50*time.Millisecond)
	c.now, c.sleep = clock.now, clock.sleep
	p := make([]byte, buf)
	for range 5 {
		if _, err := c.Read(p); err != nil {
			t.Fatal(err)
		}
	}
	if len(clock.sleeps) != 1 {
		t.Fatalf("sleeps %v, want one wait before the burst", clock.sleeps)
	}
	// 96 KiB arrived during one 50 ms wait: the stream is fast, the next reads do not wait.
	c.Read(p)
	if len(clock.sleeps) != 1 {
		t.Fatalf("waited on a fast stream: %v", clock.sleeps)
	}
	// After busyHold it is measured again: the read after a drained one waits.
	clock.at = clock.at.Add(busyHold)
	c.Read(p) // drained; the interval since the last drained read has long passed
	c.Read(p)
	if len(clock.sleeps) != 2 || clock.sleeps[1] != 50*time.Millisecond {
		t.Fatalf("sleeps %v, want a second 50ms wait once the busy hold is over", clock.sleeps)
	}
}

func TestCoalescingFeedLosesNothing(t *testing.T) {
	s := testkit.StartNATS(t, &server.Options{})
	sink := newRecordingSink()
	f, err := New(Options{Server: s.ClientURL(), Subject: "telemetry.>"},
		Config{FlushDelay: 100 * time.Millisecond, ReadCoalesce: 50 * time.Millisecond}, sink)
	if err != nil {
		t.Fatal(err)
	}
	before := s.NumSubscriptions()
	runFeed(t, f)
	testkit.WaitForSubscriber(t, s, before)
	if _, ok := f.Conn().Opts.CustomDialer.(*coalescingDialer); !ok {
		t.Fatalf("the feed did not dial through the coalescing dialer: %T", f.Conn().Opts.CustomDialer)
	}
	pub := connectPublisher(t, s.ClientURL())
	const n = 3000
	for i := range n {
		if err := pub.Publish("telemetry.ingot.label.submit", eventBody("ingot.label.submit", i)); err != nil {
			t.Fatal(err)
		}
		if i%50 == 0 {
			// Many small TCP writes, as a paced publisher sends them.
			if err := pub.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	testkit.EventuallyTrue(t, 20*time.Second, "every event delivered", func() bool {
		ev, _, _ := sink.snapshot()
		return len(ev) == n
	})
	if st := f.State(); st.Received != n || st.SlowConsumerDrops != 0 {
		t.Errorf("state %+v", st)
	}
}

var _ io.Reader = (*coalescingConn)(nil)
