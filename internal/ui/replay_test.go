package ui

import (
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
)

// applyCmd runs a command as bubbletea would and feeds its messages (but frame waits) back.
func applyCmd(t testing.TB, m Model, cmd tea.Cmd) Model {
	t.Helper()
	for _, msg := range runCmd(cmd) {
		if _, ok := msg.(frameMsg); ok || msg == nil {
			continue
		}
		nm, _ := m.Update(msg)
		m = nm.(Model)
	}
	return m
}

func TestReplayMarkerAndKeys(t *testing.T) {
	paused := false
	var skipped []time.Duration
	m := sized(t, New(Options{NoColor: true, Actions: Actions{
		ReplayPause: func() bool { paused = !paused; return paused },
		ReplaySkip:  func(d time.Duration) { skipped = append(skipped, d) },
	}}), 160, 48)
	f := recordedFrames(t, 120)
	f.Replay = &ReplayStatus{Speed: 10, Recording: true}
	m = withFrame(t, m, f)
	lines := strings.Split(m.View(), "\n")
	if !strings.HasPrefix(lines[0], "14:30:00 ingot-top REPLAY ×10") {
		t.Fatalf("status bar line 1 lacks the REPLAY marker on the recorded clock: %q", lines[0])
	}
	// A recording is neither live nor connected to NATS, and the status bar says neither.
	top := strings.Join(lines[:3], "\n")
	if strings.Contains(top, "LIVE") || !strings.Contains(top, "RECORDED") || !strings.Contains(top, "nats n/a") {
		t.Fatalf("a replayed recording's status bar claims LIVE or a NATS connection:\n%s", top)
	}

	nm, cmd := m.Update(tea.KeyMsg{Type: tea.KeySpace, Runes: []rune{' '}})
	m = applyCmd(t, nm.(Model), cmd)
	if !paused || !strings.Contains(m.View(), "replay paused") {
		t.Fatalf("space did not pause the replay (paused=%v):\n%s", paused, m.View())
	}
	nm, cmd = m.Update(keyMsg("]"))
	m = applyCmd(t, nm.(Model), cmd)
	if len(skipped) != 1 || skipped[0] != time.Minute {
		t.Fatalf("] skipped %v, want one minute", skipped)
	}
	f.Replay = &ReplayStatus{Speed: 10, Paused: true}
	m = withFrame(t, m, f)
	if line := strings.Split(m.View(), "\n")[0]; !strings.Contains(line, "REPLAY paused") {
		t.Fatalf("paused replay not marked: %q", line)
	}
	// In look-back, ] steps through the session's history as before, not the recording.
	m = press(t, m, "p", "[", "]")
	if len(skipped) != 1 {
		t.Fatalf("] in look-back skipped the replay: %v", skipped)
	}
	if !strings.Contains(m.View(), "PAST 14:30:00") {
		t.Fatalf("] in look-back did not step 10s:\n%s", m.View())
	}
	if !strings.Contains(m.View(), "replay: pause/resume") && !strings.Contains(press(t, m, "?").View(), "replay: pause/resume") {
		t.Fatal("help does not list the replay keys")
	}
}

func TestNoReplayKeysLive(t *testing.T) {
	m := withFrame(t, sized(t, New(Options{NoColor: true}), 160, 48), recordedFrames(t, 60))
	if v := m.View(); strings.Contains(v, "REPLAY") || strings.Contains(press(t, m, "?").View(), "replay:") {
		t.Fatalf("a live dashboard shows replay marks or keys:\n%s", v)
	}
}
