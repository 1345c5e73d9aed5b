package sshserve

import (
	"net"
	"sync"
	"time"
)

// ipLimiter allows each remote IP address perMinute new connections per minute (a token
// bucket refilled continuously, holding at most a minute's worth), before the SSH handshake
// costs the server anything. The table is bounded: when it is full, buckets that have
// refilled completely (addresses that are not connecting now) are forgotten first, and if
// none has, the table starts over, which at worst lets a wide attack a minute's burst again.
type ipLimiter struct {
	perMinute int
	max       int
	now       func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
	// told is set once a refusal was reported, until the bucket has a token again: a
	// flood of refused connections is one log line per minute, not one per connection.
	told bool
}

func newIPLimiter(perMinute, maxEntries int, now func() time.Time) *ipLimiter {
	return &ipLimiter{perMinute: perMinute, max: maxEntries, now: now, buckets: map[string]*bucket{}}
}

// allow takes a token for remote's IP address; report is set on the first refusal since
// the address last had a token.
func (l *ipLimiter) allow(remote string) (ok, report bool) {
	if l.perMinute <= 0 {
		return true, false
	}
	ip := remote
	if host, _, err := net.SplitHostPort(remote); err == nil {
		ip = host
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[ip]
	if !ok {
		if len(l.buckets) >= l.max {
			l.evict(now)
		}
		b = &bucket{tokens: float64(l.perMinute), at: now}
		l.buckets[ip] = b
	}
	b.refill(now, l.perMinute)
	if b.tokens < 1 {
		report = !b.told
		b.told = true
		return false, report
	}
	b.tokens--
	b.told = false
	return true, false
}

func (b *bucket) refill(now time.Time, perMinute int) {
	if el := now.Sub(b.at); el > 0 {
		b.tokens = min(float64(perMinute), b.tokens+el.Minutes()*float64(perMinute))
		b.at = now
	}
}

func (l *ipLimiter) evict(now time.Time) {
	for ip, b := range l.buckets {
		b.refill(now, l.perMinute)
		if b.tokens >= float64(l.perMinute) {
			delete(l.buckets, ip)
		}
	}
	if len(l.buckets) >= l.max {
		clear(l.buckets)
	}
}
