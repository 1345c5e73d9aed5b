package ui

import (
	"strings"
	"testing"
)

// TestASCIIViewsStayASCII: with --ascii every screen of the new views is plain ASCII: the
// Latency groups and client row, the full help with the look-back keys, a past moment, the
// focused chart and the waterfall.
func TestASCIIViewsStayASCII(t *testing.T) {
	check := func(name string, v string) {
		t.Helper()
		for i, line := range strings.Split(v, "\n") {
			for _, r := range line {
				if r > 0x7e || (r < 0x20 && r != '\t') {
					t.Errorf("%s: line %d has %q: %q", name, i, r, line)
					break
				}
			}
		}
	}
	opts := Options{ASCII: true, NoColor: true}
	m := withFrame(t, sized(t, New(opts), 160, 48), latencyFrame())
	check("latency groups", press(t, m, "2").View())
	check("full help", press(t, m, "?").View())
	f := recordedFrames(t, 5*60)
	m = withFrame(t, sized(t, New(opts), 160, 48), f)
	check("past moment", press(t, m, "p", "{", "left").View())
	check("chart", press(t, m, "2", "j", "j", "j", "enter").View())
	m = withFrame(t, sized(t, New(opts), 160, 48), waterfallFrame())
	check("waterfall", press(t, m, "4", "enter").View())
	f = fleetFrame(fixedAt)
	for i := range f.Prom.Ops {
		f.Prom.Ops[i].TopBound, f.Prom.Ops[i].AtTop = 2000, [3]bool{false, true, true}
	}
	check("clamped fleet quantile", withFrame(t, sized(t, New(opts), 200, 60), f).View())
}
