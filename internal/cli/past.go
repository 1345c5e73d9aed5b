package cli

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// PastFlags open the past from the JetStream stream that keeps the telemetry (the daemon's
// durable mode creates it): read from a start time, then go on live.
type PastFlags struct {
	Since  time.Duration `name:"since" placeholder:"DURATION" help:"Open the past: read the telemetry stream (--stream) from this long ago, e.g. 30m, on the stream's clock, then go live without losing or counting twice anything at the seam."`
	At     string        `name:"at" placeholder:"TIME" help:"Open the past from this time: RFC 3339 (2026-12-07T03:12:00Z) or a local time of day today (03:12); like --since."`
	Stream string        `name:"stream" default:"TELEMETRY" placeholder:"STREAM" help:"JetStream stream that keeps the telemetry subject, read by --since and --at."`
}

// Validate checks the flags at parse time.
func (p PastFlags) Validate() error {
	if p.Since < 0 {
		return fmt.Errorf("--since %s: want a duration back from now, like 30m", p.Since)
	}
	if p.Since > 0 && p.At != "" {
		return errors.New("--since and --at both say where to start: give one")
	}
	if p.At != "" {
		if _, err := parseAt(p.At, time.Now()); err != nil {
			return fmt.Errorf("--at %q: %w", p.At, err)
		}
	}
	return nil
}

// start is where to read from, zero for the live stream only.
func (p PastFlags) start(now time.Time) (time.Time, error) {
	switch {
	case p.Since > 0:
		return now.Add(-p.Since), nil
	case p.At != "":
		at, err := parseAt(p.At, now.Add(-12*time.Hour))
		if err != nil {
			return time.Time{}, fmt.Errorf("--at %q: %w", p.At, err)
		}
		if at.After(now) {
			return time.Time{}, fmt.Errorf("--at %s is in the future", at.Format(time.RFC3339))
		}
		return at, nil
	}
	return time.Time{}, nil
}

// pastClock is a headless reader's clock while it reads the past: the stream time of what
// was handed on last (from the feed's OnHistory), and a signal when the read caught up.
type pastClock struct {
	mu       sync.Mutex
	at       time.Time
	caught   chan struct{}
	onSecond func(time.Time) // called as the stream time enters each new second
	next     time.Time
}

func newPastClock(since time.Time) *pastClock {
	return &pastClock{at: since, caught: make(chan struct{})}
}

func (c *pastClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.at
}

func (c *pastClock) set(at time.Time, caughtUp bool) {
	c.mu.Lock()
	if at.After(c.at) {
		c.at = at
	}
	now := c.at
	tick := c.onSecond != nil && !now.Before(c.next)
	if tick {
		c.next = now.Truncate(time.Second).Add(time.Second)
	}
	c.mu.Unlock()
	if tick {
		c.onSecond(now)
	}
	if caughtUp {
		select {
		case <-c.caught:
		default:
			close(c.caught)
		}
	}
}
