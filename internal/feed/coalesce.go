package feed

import (
	"net"
	"time"

	"github.com/nats-io/nats.go"
)

// A viewer that redraws once a second gains nothing from reading the socket the moment each
// small TCP segment lands, and pays for it: at a few thousand events a second a publisher's
// writes arrive a hundred or more times a second, and every read wakes the client's read
// loop, the feed, and the Go runtime's scheduler and sysmon thread. coalescingConn waits
// after a read that drained the socket, so what arrives meanwhile is taken in one read.
// Reads that fill the buffer are never delayed: throughput is what the process can parse.

// coalescingDialer dials TCP like nats.go's default dialer and wraps each connection.
type coalescingDialer struct {
	dialer net.Dialer
	every  time.Duration
}

func (d *coalescingDialer) Dial(network, address string) (net.Conn, error) {
	c, err := d.dialer.Dial(network, address)
	if err != nil {
		return nil, err
	}
	return newCoalescingConn(c, d.every), nil
}

// busyBytes is what arrives during one wait on a stream too fast to gain from waiting (at
// 50 ms, 1.3 MB/s, a few thousand events a second): reads are large anyway, and waiting
// would cap throughput at the socket buffer per wait. busyHold is how long such a stream
// is then read without waits before it is measured again.
const (
	busyBytes = 64 << 10
	busyHold  = time.Second
)

// coalescingConn is used by nats.go's read loop only (one goroutine), so its state needs
// no lock; writes pass straight through.
type coalescingConn struct {
	net.Conn
	every time.Duration
	// drainedAt is when the last read that did not fill the caller's buffer returned; zero
	// after a full read, so a backlog is read back to back.
	drainedAt time.Time
	// gathered counts the bytes read since the last wait ended, until a read drains the
	// socket again: what arrived during the wait. measuring is false once that is known.
	gathered  int
	measuring bool
	busyUntil time.Time
	now       func() time.Time
	sleep     func(time.Duration)
}

func newCoalescingConn(c net.Conn, every time.Duration) *coalescingConn {
	return &coalescingConn{Conn: c, every: every, now: time.Now, sleep: time.Sleep}
}

func (c *coalescingConn) Read(p []byte) (int, error) {
	if !c.drainedAt.IsZero() && !c.now().Before(c.busyUntil) {
		if wait := c.every - c.now().Sub(c.drainedAt); wait > 0 {
			c.sleep(wait)
			c.gathered, c.measuring = 0, true
		}
	}
	n, err := c.Conn.Read(p)
	now := c.now()
	if c.measuring {
		c.gathered += n
		if c.gathered >= busyBytes {
			c.busyUntil, c.measuring = now.Add(busyHold), false
		}
	}
	if n < len(p) {
		c.drainedAt, c.measuring = now, false
	} else {
		c.drainedAt = time.Time{}
	}
	return n, err
}

// coalescingOption makes nats.go dial through a coalescingDialer; connectTimeout is the
// dial timeout nats.go would otherwise apply.
func coalescingOption(every, connectTimeout time.Duration) nats.Option {
	if connectTimeout <= 0 {
		connectTimeout = nats.DefaultTimeout
	}
	return nats.SetCustomDialer(&coalescingDialer{dialer: net.Dialer{Timeout: connectTimeout}, every: every})
}
