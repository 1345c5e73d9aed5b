package ui

import (
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"

	"github.com/nsai/ingot-top/internal/alerts"
	"github.com/nsai/ingot-top/internal/view"
)

// daemonFrame is the sample frame as a --from-daemon viewer has it: the stream is three
// daemons' merged aggregate, and the alerts are the daemons'.
func daemonFrame(at time.Time) Frame {
	f := SampleFrame(at)
	f.StreamSrc, f.Daemons = view.Daemon, 3
	for i := range f.Alerts.Active {
		f.Alerts.Active[i].Source = alerts.SourceDaemon
	}
	return f
}

func goldenDaemonRun(t *testing.T, w, h int, keys ...string) string {
	t.Helper()
	m := withFrame(t, sized(t, New(Options{NoColor: true}), w, h), daemonFrame(fixedAt))
	v := press(t, m, keys...).View()
	checkScreen(t, v, w, h)
	golden.RequireEqual(t, []byte(v))
	return ansi.Strip(v)
}

// TestGoldenDaemon80x24 and TestGoldenDaemon160x48: in --from-daemon mode the Queues pane
// says its figures are the daemons' (tag D, how many daemons), and so do the daemons' alerts.
func TestGoldenDaemon80x24(t *testing.T) {
	v := goldenDaemonRun(t, 80, 24)
	if !strings.Contains(v, "Queues · by velocity · 5m · D: 3 daemons") {
		t.Errorf("the Queues title does not say the figures are the daemons':\n%s", v)
	}
}

func TestGoldenDaemon160x48(t *testing.T) {
	v := goldenDaemonRun(t, 160, 48)
	if !strings.Contains(v, "Queues · by velocity · 5m · D: 3 daemons") || !strings.Contains(v, "· log · 5m · D: 3 daemons") {
		t.Errorf("the pane titles do not say the figures are the daemons':\n%s", v)
	}
}

// TestGoldenDaemonAlerts160x48: the alert list tags the daemons' alerts D.
func TestGoldenDaemonAlerts160x48(t *testing.T) {
	v := goldenDaemonRun(t, 160, 48, "a")
	if !strings.Contains(v, "IngotSlowLabelSubmit (D)") {
		t.Errorf("the daemons' alerts are not tagged D:\n%s", v)
	}
}
