package ui

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/nsai/ingot-top/internal/ingest"
)

// TestStaleDaemonShown: in a --from-daemon view a daemon that stopped publishing is said in
// the status bar (merged daemons are not: the "daemons" source covers them), and the Health
// pane lists every daemon, the stale one unhealthy with how long it has been silent.
func TestStaleDaemonShown(t *testing.T) {
	f := SampleFrame(fixedAt)
	f.Conn = ingest.ConnState{Phase: ingest.PhaseConnected, Server: "nats://broker:4222", Since: fixedAt.Add(-time.Hour), Received: 100}
	f.Sources = []SourceInfo{
		{Name: "daemons", Age: time.Second, Detail: "connected, 1 merged, 1 stale (left out)"},
		{Name: DaemonSourcePrefix + "live-1", Age: time.Second, Detail: "host h1, merged"},
		{Name: DaemonSourcePrefix + "dead-2", Age: 2 * time.Minute, Stale: true, Detail: "host h2, stale: left out of the totals"},
	}
	m := withFrame(t, sized(t, New(Options{NoColor: true}), 160, 40), f)
	checkScreen(t, m.View(), 160, 40)
	status := strings.Join(strings.Split(ansi.Strip(m.View()), "\n")[:3], "\n")
	if !strings.Contains(status, "daemon dead-2 stale 2m") || strings.Contains(status, "live-1") {
		t.Errorf("status bar, want the stale daemon only:\n%s", status)
	}
	m = press(t, m, "3")
	v := ansi.Strip(m.View())
	for _, want := range []string{`daemon +healthy .* live-1: data`, `daemon +unhealthy .* dead-2: host h2`} {
		if !regexp.MustCompile(want).MatchString(v) {
			t.Errorf("health pane lacks a row matching %q:\n%s", want, v)
		}
	}
	// Forge, Anvil, NATS, Prometheus, then the daemons: the stale one's detail says it all.
	m = press(t, m, "j", "j", "j", "j", "j", "enter")
	flat := strings.Join(strings.Fields(ansi.Strip(m.View())), " ")
	for _, want := range []string{"state unhealthy", "source daemon dead-2", "data age 2m", "detail host h2, stale: left out of the totals"} {
		if !strings.Contains(flat, want) {
			t.Errorf("stale daemon detail lacks %q:\n%s", want, flat)
		}
	}
}
