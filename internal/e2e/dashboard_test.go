package e2e

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// Timeouts are generous for a loaded 2-core CI machine; a healthy run takes a few seconds.
const (
	firstDataTimeout = 20 * time.Second
	keyTimeout       = 5 * time.Second
	reconnectTimeout = 30 * time.Second
	exitTimeout      = 10 * time.Second
)

var (
	queueRow = regexp.MustCompile(`queue_[a-z]`)
	// a log row ("14:02:11 anvil submit_label …") or a signature row ("    25 anvil submit_label …")
	errorRow   = regexp.MustCompile(`(\b\d\d:\d\d:\d\d|\s\d+) (anvil|forge|ingot) `)
	connected  = regexp.MustCompile(`\bconnected\b`)
	windowName = regexp.MustCompile(`window (\d+m)\b`)
	traceLine  = regexp.MustCompile(`trace_id\s+[0-9a-f]{32}\b`)
	sgr        = regexp.MustCompile("\x1b\\[([0-9;:]*)m")
)

func contains(lines []string, s string) bool {
	for _, l := range lines {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

func matches(lines []string, re *regexp.Regexp) bool {
	for _, l := range lines {
		if re.MatchString(l) {
			return true
		}
	}
	return false
}

// tabBar reports a line naming all five panes: the narrow layout's tab bar.
func tabBar(lines []string) bool {
	for _, l := range lines {
		if strings.Contains(l, "1 Queues") && strings.Contains(l, "2 Latency") && strings.Contains(l, "3 Health") &&
			strings.Contains(l, "4 Errors") && strings.Contains(l, "5 Stream") {
			return true
		}
	}
	return false
}

// gridLayout reports the wide layout: four boxed panes, two titles per line, no tab bar.
func gridLayout(lines []string) bool {
	var top, bottom bool
	for _, l := range lines {
		top = top || strings.Contains(l, "1 Queues") && strings.Contains(l, "2 Latency")
		bottom = bottom || strings.Contains(l, "3 Health") && strings.Contains(l, "4 Errors")
	}
	return top && bottom && !tabBar(lines)
}

func live(lines []string) bool {
	return len(lines) > 0 && connected.MatchString(lines[0]) && matches(lines, queueRow)
}

// checkFits fails for any line wider than the terminal and for a frame that scrolled: the
// status bar must be the first line and the bottom border the line above the footer.
func checkFits(t *testing.T, lines []string, w, h int) {
	t.Helper()
	if len(lines) != h {
		t.Errorf("screen has %d lines, want %d", len(lines), h)
	}
	for i, l := range lines {
		if n := utf8.RuneCountInString(l); n > w {
			t.Errorf("line %d is %d columns wide, more than %d: %q", i+1, n, w, l)
		}
	}
	if len(lines) > 2 {
		if !strings.Contains(lines[0], "ingot-top") {
			t.Errorf("first line is not the status bar (the frame scrolled?): %q", lines[0])
		}
		if n := utf8.RuneCountInString(lines[len(lines)-2]); n != w {
			t.Errorf("line %d should be a pane's bottom border %d columns wide, is %d: %q", len(lines)-1, w, n, lines[len(lines)-2])
		}
	}
}

// checkASCII fails for any rune outside ASCII: --ascii promises no box drawing, braille or
// symbols, for terminals and fonts that lack them.
func checkASCII(t *testing.T, step string, lines []string) {
	t.Helper()
	for i, l := range lines {
		for _, r := range l {
			if r >= utf8.RuneSelf {
				t.Errorf("--ascii, %s: line %d has non-ASCII %q: %q", step, i+1, r, l)
				break
			}
		}
	}
}

// colourParams lists the SGR colour parameters in an escaped capture (foreground,
// background, 256-colour and true colour); bold, faint and reverse are not colours.
func colourParams(escaped string) []string {
	var found []string
	for _, m := range sgr.FindAllStringSubmatch(escaped, -1) {
		for _, p := range strings.FieldsFunc(m[1], func(r rune) bool { return r == ';' || r == ':' }) {
			n, err := strconv.Atoi(p)
			if err != nil {
				continue
			}
			if n >= 30 && n <= 49 && n != 39 && n != 49 || n >= 90 && n <= 107 {
				found = append(found, p)
			}
		}
	}
	return found
}

type variant struct {
	name    string
	env     []string
	flags   []string
	ascii   bool
	noColor bool
}

// TestDashboardInTmux drives the built binary like an operator: a real nats-server fed by
// the simulator, health probes against simulated endpoints, a 160x48 terminal, keys, a
// resize to 80x24, and q.
func TestDashboardInTmux(t *testing.T) {
	tmuxBin := requireTmux(t)
	bin := buildBinary(t)
	ns := startNATS(t, -1)
	sm := startSimulator(t, ns.ClientURL(), 1000)

	for _, v := range []variant{
		{name: "utf8-colour"},
		{name: "no-color-ascii", env: []string{"NO_COLOR=1"}, flags: []string{"--ascii"}, ascii: true, noColor: true},
	} {
		t.Run(v.name, func(t *testing.T) {
			home := t.TempDir()
			tm := newTmux(t, tmuxBin)
			env := append([]string{"HOME=" + home, "LC_ALL=C.UTF-8"}, v.env...)
			argv := append([]string{bin, "-s", ns.ClientURL(), "--forge-health", sm.forgeHealth, "--anvil-health", sm.anvilHealth,
				"--report-dir", home}, v.flags...)
			tm.start(160, 48, home, env, argv...)
			driveDashboard(t, tm, v)
		})
	}
}

func driveDashboard(t *testing.T, tm *tmux, v variant) {
	check := func(step string, lines []string) {
		t.Helper()
		if v.ascii {
			checkASCII(t, step, lines)
		}
	}

	lines := tm.waitFor("queue rows, error rows and a connected status bar", firstDataTimeout, func(l []string) bool {
		return live(l) && matches(l, errorRow)
	})
	if !gridLayout(lines) {
		t.Errorf("at 160x48 expected the four-pane grid; screen:\n%s", strings.Join(lines, "\n"))
	}
	checkFits(t, lines, 160, 48)
	check("first screen", lines)
	escaped := tm.must("capture-pane", "-p", "-e", "-t", tm.session)
	if colours := colourParams(escaped); v.noColor && len(colours) > 0 {
		t.Errorf("NO_COLOR=1 but the screen uses SGR colour parameters %v", colours)
	} else if !v.noColor && len(colours) == 0 {
		t.Errorf("colour expected without NO_COLOR, but the screen has no SGR colour")
	}

	// 4: the Errors pane takes focus; its own keys appear in the footer.
	tm.keys("4")
	lines = tm.waitFor("the Errors pane's keys in the footer after 4", keyTimeout, func(l []string) bool {
		return strings.Contains(l[len(l)-1], "f service")
	})
	check("errors pane", lines)
	if !contains(lines, "by signature") {
		t.Errorf("the Errors pane does not open grouped by signature; screen:\n%s", strings.Join(lines, "\n"))
	}

	// v: the rolling log, newest first, following; v again: back to the signatures.
	tm.keys("v")
	lines = tm.waitFor("the error log after v", keyTimeout, func(l []string) bool { return contains(l, "follow") && !contains(l, "by signature") })
	check("error log", lines)
	tm.keys("v")
	tm.waitFor("the signatures again after a second v", keyTimeout, func(l []string) bool { return contains(l, "by signature") })

	// Enter: the selected error's detail, with its trace as a waterfall.
	tm.keys("Enter")
	// One condition for the whole detail (a capture can catch it half drawn); one without
	// its trace_id line or the waterfall's spans times out with the screen it drew.
	lines = tm.waitFor("the error detail with its trace_id and its trace waterfall's spans after Enter", keyTimeout, func(l []string) bool {
		return contains(l, "Error detail") && contains(l, "trace waterfall") && matches(l, traceLine) &&
			contains(l, "span (service, event)")
	})
	check("error detail", lines)

	// Esc: back to the grid.
	tm.keys("Escape")
	lines = tm.waitFor("the grid again after Esc", keyTimeout, func(l []string) bool {
		return !contains(l, "Error detail") && gridLayout(l) && matches(l, queueRow)
	})
	check("after Esc", lines)

	// w: the window in the status bar changes.
	before := windowName.FindStringSubmatch(strings.Join(lines[:min(3, len(lines))], "\n"))
	if before == nil {
		t.Fatalf("no 'window Nm' in the status bar:\n%s", strings.Join(lines[:min(3, len(lines))], "\n"))
	}
	tm.keys("w")
	lines = tm.waitFor("a different window after w (was "+before[1]+")", keyTimeout, func(l []string) bool {
		now := windowName.FindStringSubmatch(strings.Join(l[:min(3, len(l))], "\n"))
		return now != nil && now[1] != before[1]
	})
	check("after w", lines)

	// ?: full help, and ? again closes it.
	tm.keys("?")
	lines = tm.waitFor("the full help after ?", keyTimeout, func(l []string) bool { return contains(l, "prev pane") })
	check("full help", lines)
	tm.keys("?")
	tm.waitFor("the full help closed after a second ?", keyTimeout, func(l []string) bool { return !contains(l, "prev pane") })

	// 80x24: the layout becomes tabs and nothing spills past 80 columns.
	tm.must("resize-window", "-t", tm.session, "-x", "80", "-y", "24")
	lines = tm.waitFor("the tab layout at 80x24", keyTimeout, func(l []string) bool {
		return len(l) == 24 && tabBar(l) && connected.MatchString(l[0])
	})
	if got := tm.display("#{pane_width}x#{pane_height}"); got != "80x24" {
		t.Errorf("pane is %s after resize-window, want 80x24", got)
	}
	checkFits(t, lines, 80, 24)
	check("80x24", lines)

	// q: exit status 0, and the terminal as the shell finds it: main screen, cursor
	// visible, no mouse reporting.
	tm.keys("q")
	if code := tm.waitExit(exitTimeout); code != 0 {
		t.Errorf("after q the dashboard exited with status %d, want 0; screen:\n%s", code, strings.Join(tm.screen(), "\n"))
	}
	const restored = "alternate_on=0 cursor_flag=1 mouse_any_flag=0"
	if state := tm.display("alternate_on=#{alternate_on} cursor_flag=#{cursor_flag} mouse_any_flag=#{mouse_any_flag}"); state != restored {
		t.Errorf("terminal not restored after q: %s, want %s", state, restored)
	}
	if after := tm.screen(); contains(after, "ingot-top") || contains(after, "Queues") {
		t.Errorf("the dashboard is still on the restored screen (or it printed on exit):\n%s", strings.Join(after, "\n"))
	}
}

// TestDashboardOpensWhileNATSIsDown starts the dashboard against a closed port: it must open,
// say what it is trying to reach and why that fails, and come alive once a server appears
// on that port.
func TestDashboardOpensWhileNATSIsDown(t *testing.T) {
	tmuxBin := requireTmux(t)
	bin := buildBinary(t)
	port := freePort(t)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)

	home := t.TempDir()
	tm := newTmux(t, tmuxBin)
	tm.start(160, 48, home, []string{"HOME=" + home, "LC_ALL=C.UTF-8"}, bin, "-s", url, "--report-dir", home)

	hostPort := fmt.Sprintf("127.0.0.1:%d", port)
	lines := tm.waitFor("the target and the refusal on screen while NATS is down", firstDataTimeout, func(l []string) bool {
		top := strings.Join(l[:min(3, len(l))], "\n")
		return strings.Contains(top, "connecting") && strings.Contains(top, hostPort) && strings.Contains(top, "connection refused")
	})
	if matches(lines, queueRow) {
		t.Errorf("queue rows while NATS is down:\n%s", strings.Join(lines, "\n"))
	}
	checkFits(t, lines, 160, 48)

	ns := startNATS(t, port)
	startSimulator(t, ns.ClientURL(), 1000)
	lines = tm.waitFor("queue rows once nats-server is up", reconnectTimeout, live)
	if top := strings.Join(lines[:2], "\n"); strings.Contains(top, "connection refused") {
		t.Errorf("connected, yet the status bar still shows the old error:\n%s", top)
	}

	tm.keys("q")
	if code := tm.waitExit(exitTimeout); code != 0 {
		t.Errorf("after q the dashboard exited with status %d, want 0; screen:\n%s", code, strings.Join(tm.screen(), "\n"))
	}
	if alt := tm.display("#{alternate_on}"); alt != "0" {
		t.Errorf("alternate screen still on after q")
	}
}
