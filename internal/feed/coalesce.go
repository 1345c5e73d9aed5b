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

// coalescingConn is used by nats.go's read loop only (one goroutine), so its state needs
// no lock; writes pass straight through.
type coalescingConn struct {
	net.Conn
	every time.Duration
	// drainedAt is when the last read that did not fill the caller's buffer returned; zero
	// after a full read, so a backlog is read back to back.
	drainedAt time.Time
	now       func() time.Time
	sleep     func(time.Duration)
}

func newCoalescingConn(c net.Conn, every time.Duration) *coalescingConn {
	return &coalescingConn{Conn: c, every: every, now: time.Now, sleep: time.Sleep}
}

func (c *coalescingConn) Read(p []byte) (int, error) {
	if !c.drainedAt.IsZero() {
		if wait := c.every - c.now().Sub(c.drainedAt); wait > 0 {
			c.sleep(wait)
		}
	}
	n, err := c.Conn.Read(p)
	if n < len(p) {
		c.drainedAt = c.now()
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
