package e2e

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/nsai/ingot-top/internal/record/recordtest"
	"github.com/nsai/ingot-top/internal/sim"
	"github.com/nsai/ingot-top/internal/testkit"
)

// firstAnvilFiring is when the first Anvil alert fired in the recording, by the headless
// replay's timeline.
func firstAnvilFiring(t *testing.T, bin, file string) time.Time {
	t.Helper()
	out, err := exec.Command(bin, "replay", file, "--format", "json", "-q").Output()
	if err != nil && len(out) == 0 {
		t.Fatalf("headless replay: %v", err)
	}
	var doc struct {
		Timeline []struct {
			Time time.Time `json:"time"`
			Kind string    `json:"kind"`
			What string    `json:"what"`
		} `json:"timeline"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("headless replay json: %v", err)
	}
	for _, e := range doc.Timeline {
		if e.Kind == "fired" && strings.Contains(e.What, "anvil") {
			return e.Time
		}
	}
	t.Fatalf("the headless replay's timeline has no Anvil alert firing: %+v", doc.Timeline)
	return time.Time{}
}

var (
	replayClock  = regexp.MustCompile(`^(\d\d:\d\d:\d\d) ingot-top REPLAY`)
	firingAnvil  = regexp.MustCompile(`FIRING .*anvil.* since (\d\d:\d\d:\d\d)`)
	replayPaused = regexp.MustCompile(`REPLAY paused`)
)

// TestReplayInDashboardInTmux replays a recorded degraded-Anvil incident in the dashboard at
// --speed 10: the REPLAY marker with the recorded clock, the alert firing on the recorded
// clock (Anvil degrades at 03:01:00; the alert's condition must hold for its minute), space
// pausing, ] jumping ahead, and q exiting 0.
func TestReplayInDashboardInTmux(t *testing.T) {
	tmuxBin := requireTmux(t)
	bin := buildBinary(t)
	home := t.TempDir()
	start := time.Date(2026, 3, 14, 3, 0, 0, 0, time.UTC)
	file := filepath.Join(home, "incident.itr")
	// Anvil degrades a minute in, and stays degraded for five.
	if _, err := recordtest.Write(file, start, 200, 7,
		recordtest.Segment{Scenario: sim.ScenarioNormal, Span: time.Minute},
		recordtest.Segment{Scenario: sim.ScenarioDegradedAnvil, Span: 5 * time.Minute}); err != nil {
		t.Fatal(err)
	}

	tm := newTmux(t, tmuxBin)
	tm.start(160, 48, home, []string{"HOME=" + home, "LC_ALL=C.UTF-8", "TZ=UTC"},
		bin, "replay", file, "--speed", "10", "--refresh", "250ms", "--report-dir", home)

	clockOf := func(lines []string) (time.Time, bool) {
		if len(lines) == 0 {
			return time.Time{}, false
		}
		m := replayClock.FindStringSubmatch(lines[0])
		if m == nil {
			return time.Time{}, false
		}
		c, err := time.Parse(time.TimeOnly, m[1])
		if err != nil {
			return time.Time{}, false
		}
		return time.Date(2026, 3, 14, c.Hour(), c.Minute(), c.Second(), 0, time.UTC), true
	}
	lines := tm.waitFor("the REPLAY marker on the recorded clock", firstDataTimeout, func(l []string) bool {
		c, ok := clockOf(l)
		return ok && !c.Before(start)
	})
	t.Logf("first replay screen: %q", lines[0])

	var firedAt, onset time.Time
	lines = tm.waitFor("the Anvil alert FIRING", 90*time.Second, func(l []string) bool {
		head := strings.Join(l[:min(4, len(l))], "\n")
		m := firingAnvil.FindStringSubmatch(head)
		if m == nil {
			return false
		}
		c, ok := clockOf(l)
		if !ok {
			return false
		}
		o, err := time.Parse(time.TimeOnly, m[1])
		if err != nil {
			return false
		}
		firedAt, onset = c, time.Date(2026, 3, 14, o.Hour(), o.Minute(), o.Second(), 0, time.UTC)
		return true
	})
	degraded := start.Add(time.Minute)
	// The onset is when Anvil degraded in the recording, not when the test ran.
	if d := onset.Sub(degraded); d < -5*time.Second || d > 30*time.Second {
		t.Errorf("alert onset %s on the recorded clock; Anvil degraded at %s", onset.Format(time.TimeOnly), degraded.Format(time.TimeOnly))
	}
	// Seen firing when the headless replay of the same file says the first Anvil alert
	// fired, give or take a frame at speed 10 (2.5 recorded seconds) and the headless
	// replay's 5 s evaluation step while nothing is active.
	want := firstAnvilFiring(t, bin, file)
	if d := firedAt.Sub(want); d < -8*time.Second || d > 8*time.Second {
		t.Errorf("seen FIRING at recorded %s; the recording's alert fired at %s", firedAt.Format(time.TimeOnly), want.Format(time.TimeOnly))
	}
	t.Logf("FIRING seen at recorded %s (onset %s, fired headless at %s): %q", firedAt.Format(time.TimeOnly), onset.Format(time.TimeOnly), want.Format(time.TimeOnly), lines[3])

	// Space pauses: the marker says so and the recorded clock stands still.
	tm.keys("Space")
	lines = tm.waitFor("REPLAY paused", keyTimeout, func(l []string) bool { return len(l) > 0 && replayPaused.MatchString(l[0]) })
	pausedAt, _ := clockOf(lines)
	// ] plays the next minute at once, still paused.
	tm.keys("]")
	tm.waitFor("the recorded clock a minute on after ]", keyTimeout, func(l []string) bool {
		c, ok := clockOf(l)
		return ok && replayPaused.MatchString(l[0]) && c.Sub(pausedAt) >= 50*time.Second
	})
	tm.keys("Space")
	tm.waitFor("the replay playing again", keyTimeout, func(l []string) bool {
		return len(l) > 0 && strings.Contains(l[0], "REPLAY ×10")
	})
	tm.keys("q")
	if code := tm.waitExit(10 * time.Second); code != 0 {
		t.Fatalf("replay exited %d after q, want 0", code)
	}
}

// TestDashboardSinceInTmux opens the past from a JetStream stream: `ingot-top --since 10m`
// counts what the stream kept, then goes live on the same consumer and counts what comes
// next, each exactly once.
func TestDashboardSinceInTmux(t *testing.T) {
	tmuxBin := requireTmux(t)
	bin := buildBinary(t)
	srv, js := testkit.StartTelemetryStream(t)
	ctx := context.Background()
	msgs, err := sim.PregenerateAt(sim.DefaultConfig(), time.Now().Add(-5*time.Minute), 600)
	if err != nil {
		t.Fatal(err)
	}
	publish := func(from, to int) {
		for _, m := range msgs[from:to] {
			if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: m.Subject, Header: m.Header, Data: m.Data}); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish(0, 400)

	home := t.TempDir()
	tm := newTmux(t, tmuxBin)
	tm.start(160, 48, home, []string{"HOME=" + home, "LC_ALL=C.UTF-8"},
		bin, "-s", srv.ClientURL(), "--since", "10m", "--refresh", "250ms", "--report-dir", home)
	tm.waitFor("the dashboard", firstDataTimeout, func(l []string) bool { return len(l) > 0 && strings.Contains(l[0], "ingot-top") })
	tm.keys("5")
	live := func(n int) func([]string) bool {
		return func(l []string) bool {
			return len(l) > 0 && strings.Contains(l[0], "connected") && !strings.Contains(l[0], "REPLAY") &&
				contains(l, "events "+strconv.Itoa(n)+" ")
		}
	}
	tm.waitFor("the stream's 400 events counted, then live", firstDataTimeout, live(400))
	publish(400, 600)
	tm.waitFor("200 more, live", firstDataTimeout, live(600))
	tm.keys("q")
	if code := tm.waitExit(10 * time.Second); code != 0 {
		t.Fatalf("exit %d after q", code)
	}
}
