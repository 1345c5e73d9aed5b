package engine

import (
	"sync"
	"time"
)

// ManualClock is a TickerClock that moves only when told to. It is for tests (here and in
// packages that drive an Engine), and for replaying recorded streams.
type ManualClock struct {
	mu      sync.Mutex
	now     time.Time
	tickers []*manualTicker
}

type manualTicker struct {
	period time.Duration
	next   time.Time
	c      chan time.Time
	done   bool
}

// NewManualClock returns a clock reading start.
func NewManualClock(start time.Time) *ManualClock {
	return &ManualClock{now: start}
}

// Now returns the clock's current time.
func (m *ManualClock) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

// Advance moves the clock forward by d and fires every ticker whose period elapsed. A tick
// that finds the previous one unread is dropped, as with time.Ticker.
func (m *ManualClock) Advance(d time.Duration) {
	m.Set(m.Now().Add(d))
}

// Set moves the clock to t (backwards too, to test clock steps) and fires due tickers.
func (m *ManualClock) Set(t time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.now = t
	for _, tk := range m.tickers {
		if tk.done || t.Before(tk.next) {
			continue
		}
		select {
		case tk.c <- t:
		default:
		}
		for !t.Before(tk.next) {
			tk.next = tk.next.Add(tk.period)
		}
	}
}

// NewTicker implements TickerClock.
func (m *ManualClock) NewTicker(period time.Duration) (<-chan time.Time, func()) {
	if period <= 0 {
		period = time.Nanosecond
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	tk := &manualTicker{period: period, next: m.now.Add(period), c: make(chan time.Time, 1)}
	m.tickers = append(m.tickers, tk)
	return tk.c, func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		tk.done = true
	}
}
