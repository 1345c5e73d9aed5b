package replay

import (
	"context"
	"sync"
	"testing"
	"time"
)

// fakeWall is an injected wall clock: timers are handed to the test, which fires them.
type fakeWall struct {
	mu     sync.Mutex
	now    time.Time
	timers chan fakeTimer
}

type fakeTimer struct {
	d time.Duration
	c chan time.Time
}

func newFakeWall() *fakeWall {
	return &fakeWall{now: time.Date(2026, 12, 7, 14, 0, 0, 0, time.UTC), timers: make(chan fakeTimer, 16)}
}

func (w *fakeWall) Now() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.now
}

func (w *fakeWall) advance(d time.Duration) {
	w.mu.Lock()
	w.now = w.now.Add(d)
	w.mu.Unlock()
}

func (w *fakeWall) After(d time.Duration) <-chan time.Time {
	c := make(chan time.Time, 1)
	w.timers <- fakeTimer{d: d, c: c}
	return c
}

func paceAsync(p *Pacer, at time.Time) chan error {
	done := make(chan error, 1)
	go func() { done <- p.Pace(context.Background(), at) }()
	return done
}

func waitDone(t *testing.T, done chan error, what string) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: Pace still blocked", what)
	}
}

func TestPacerPlaysAtSpeedPausesAndSkips(t *testing.T) {
	wall := newFakeWall()
	rec := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	p := NewPacer(2, time.Time{}, wall.Now, wall.After)

	waitDone(t, paceAsync(p, rec), "first recorded time")

	// 10s recorded at speed 2 is 5s of wall time.
	done := paceAsync(p, rec.Add(10*time.Second))
	tm := <-wall.timers
	if tm.d != 5*time.Second {
		t.Fatalf("waits %s for 10s recorded at speed 2, want 5s", tm.d)
	}
	if len(done) != 0 {
		t.Fatal("Pace returned before its recorded time was due")
	}
	wall.advance(5 * time.Second)
	tm.c <- wall.Now()
	waitDone(t, done, "due after 5s")
	if got := p.Status().Recorded; !got.Equal(rec.Add(10 * time.Second)) {
		t.Fatalf("status recorded = %s", got)
	}

	// Paused: the recorded clock stands still however much wall time passes.
	if !p.TogglePause() {
		t.Fatal("TogglePause did not pause")
	}
	wall.advance(time.Hour)
	done = paceAsync(p, rec.Add(11*time.Second))
	// A skip lets the next minute through while staying paused.
	p.Skip(time.Minute)
	waitDone(t, done, "skip while paused")
	if !p.Status().Paused {
		t.Fatal("skip resumed the replay")
	}
	done = paceAsync(p, rec.Add(2*time.Minute))
	if p.TogglePause() {
		t.Fatal("TogglePause did not resume")
	}
	// Resumed at recorded 03:01:10 (10s + the skipped minute): 50s recorded is 25s of wall.
	var tm2 fakeTimer
	for tm2 = range wall.timers {
		if tm2.d == 25*time.Second {
			break
		}
	}
	wall.advance(25 * time.Second)
	tm2.c <- wall.Now()
	waitDone(t, done, "resumed")
}

func TestPacerCatchesUpToFromAtOnce(t *testing.T) {
	wall := newFakeWall()
	rec := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	p := NewPacer(1, rec.Add(10*time.Minute), wall.Now, wall.After)
	for i := range 10 {
		waitDone(t, paceAsync(p, rec.Add(time.Duration(i)*time.Minute)), "before --from")
	}
	// From --from on, the recorded clock follows the wall clock.
	waitDone(t, paceAsync(p, rec.Add(10*time.Minute)), "at --from")
	done := paceAsync(p, rec.Add(10*time.Minute+3*time.Second))
	tm := <-wall.timers
	if tm.d != 3*time.Second {
		t.Fatalf("waits %s after --from, want 3s", tm.d)
	}
	tm.c <- wall.Now()
	// The timer fired early (the wall did not move): Pace waits again instead of returning.
	tm = <-wall.timers
	wall.advance(3 * time.Second)
	tm.c <- wall.Now()
	waitDone(t, done, "3s after --from")
}

func TestPacerSpeedZeroOnlyPausing(t *testing.T) {
	wall := newFakeWall()
	rec := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	p := NewPacer(0, time.Time{}, wall.Now, wall.After)
	waitDone(t, paceAsync(p, rec), "first")
	waitDone(t, paceAsync(p, rec.Add(time.Hour)), "an hour later at speed 0")
	p.TogglePause()
	done := paceAsync(p, rec.Add(time.Hour+time.Second))
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- p.Pace(ctx, rec.Add(2*time.Hour)) }()
	cancel()
	if err := <-errc; err != context.Canceled {
		t.Fatalf("cancelled Pace = %v", err)
	}
	p.TogglePause()
	waitDone(t, done, "resumed at speed 0")
}
