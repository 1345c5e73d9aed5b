package replay

import (
	"context"
	"sync"
	"time"
)

// Pacer plays a replay on the recorded clock at a chosen speed, for a viewer: its Pace is
// Options.Pace, and the dashboard's keys pause, resume and skip through it while Run is
// blocked in Pace. Speed 0 plays as fast as the engine takes the messages.
//
// The recorded time it lets through is anchorRec + (wall now - anchorWall) × speed; pausing
// freezes that time, resuming starts the wall clock again, and a skip moves the anchor on,
// so everything up to the new time is fed at once.
type Pacer struct {
	now   func() time.Time
	after func(time.Duration) <-chan time.Time

	mu         sync.Mutex
	speed      float64
	from       time.Time // before this recorded time, play as fast as possible
	paused     bool
	started    bool // the anchor is set (the first recorded time at or after from was seen)
	anchorRec  time.Time
	anchorWall time.Time
	recorded   time.Time // the newest recorded time let through
	ended      bool
	// changed is closed and replaced on every control change, waking a blocked Pace.
	changed chan struct{}
}

// NewPacer plays at speed (0: as fast as possible) from the recorded time from (zero: the
// start). now and after are the wall clock (nil: time.Now and time.After); tests inject them.
func NewPacer(speed float64, from time.Time, now func() time.Time, after func(time.Duration) <-chan time.Time) *Pacer {
	if now == nil {
		now = time.Now
	}
	if after == nil {
		after = time.After
	}
	return &Pacer{now: now, after: after, speed: max(speed, 0), from: from, changed: make(chan struct{})}
}

// PacerStatus is what a viewer shows about the replay.
type PacerStatus struct {
	Speed    float64
	Paused   bool
	Ended    bool
	Recorded time.Time // the newest recorded time let through
}

// Status reports the pacer's state.
func (p *Pacer) Status() PacerStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	return PacerStatus{Speed: p.speed, Paused: p.paused, Ended: p.ended, Recorded: p.recorded}
}

// End marks the replay finished (the viewer says so).
func (p *Pacer) End() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ended = true
}

// TogglePause pauses a playing replay or resumes a paused one, and reports whether it is
// now paused.
func (p *Pacer) TogglePause() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if p.paused {
		// The recorded time stood still while paused: the wall clock starts from here.
		p.anchorWall = now
	} else if p.started {
		p.anchorRec = p.allowedLocked(now)
		p.anchorWall = now
	}
	p.paused = !p.paused
	p.wakeLocked()
	return p.paused
}

// Skip lets d more of the recording through at once (the dashboard's "jump ahead a minute").
// Before the first paced message it moves --from on instead.
func (p *Pacer) Skip(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.started {
		if p.from.IsZero() {
			p.from = p.recorded
		}
		p.from = p.from.Add(d)
	} else {
		p.anchorRec = p.anchorRec.Add(d)
	}
	p.wakeLocked()
}

func (p *Pacer) wakeLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// allowedLocked is the newest recorded time playing may have reached at wall time now.
func (p *Pacer) allowedLocked(now time.Time) time.Time {
	if p.paused {
		return p.anchorRec
	}
	return p.anchorRec.Add(time.Duration(float64(now.Sub(p.anchorWall)) * p.speed))
}

// Pace blocks until the recorded time may be played: it is Options.Pace.
func (p *Pacer) Pace(ctx context.Context, recorded time.Time) error {
	for {
		p.mu.Lock()
		if !p.started && (p.from.IsZero() || !recorded.Before(p.from)) {
			p.started = true
			p.anchorRec, p.anchorWall = recorded, p.now()
			if !p.from.IsZero() && p.from.Before(recorded) {
				p.anchorRec = p.from
			}
		}
		var wait time.Duration
		switch {
		case !p.started:
			// catching up to --from: no waiting, and no pause either (nothing is shown yet)
		case p.paused:
			if recorded.After(p.anchorRec) {
				wait = -1
			}
		case p.speed == 0:
		default:
			if ahead := recorded.Sub(p.allowedLocked(p.now())); ahead > 0 {
				wait = time.Duration(float64(ahead) / p.speed)
			}
		}
		changed := p.changed
		if wait == 0 && recorded.After(p.recorded) {
			p.recorded = recorded
		}
		p.mu.Unlock()
		if wait == 0 {
			return nil
		}
		var timer <-chan time.Time
		if wait > 0 {
			timer = p.after(wait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		case <-timer:
		}
	}
}
