package e2e

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// traceIDLine is the error detail's trace id, 32 lower-case hex digits.
var traceIDLine = regexp.MustCompile(`trace_id\s+[0-9a-f]{32}\b`)

// TestDemoWaterfallInTwoKeys runs `ingot-top demo` in tmux and, in each demo scenario, opens
// an error's trace from the first screen in two keys (4, Enter): the detail shows the trace
// id and the waterfall, with the failing span marked.
func TestDemoWaterfallInTwoKeys(t *testing.T) {
	tmuxBin := requireTmux(t)
	bin := buildBinary(t)
	home := t.TempDir()
	tm := newTmux(t, tmuxBin)
	tm.start(160, 48, home, []string{"HOME=" + home, "TMPDIR=" + home, "LC_ALL=C.UTF-8", "NO_COLOR=1"}, bin, "demo", "--rate", "300")

	for _, sc := range []struct {
		name, key string
		// want is a reason the scenario produces, awaited as the top signature
		want string
	}{
		{name: "normal"},
		{name: "degraded-anvil", key: "D", want: "timeout"},
		{name: "forge-down", key: "F", want: "econnrefused forge"},
		{name: "error-burst", key: "E"},
	} {
		// back to the first screen: no detail open, the Queues pane focused. Esc goes on its
		// own: with the next key in the same read it would be taken as Alt+key.
		if contains(tm.screen(), "Error detail") {
			tm.keys("Escape")
			tm.waitFor("the detail closed", 10*time.Second, func(l []string) bool { return !contains(l, "Error detail") })
		}
		tm.keys("1")
		if sc.key != "" {
			tm.keys(sc.key)
		}
		tm.waitFor("error signatures ("+sc.name+")", 60*time.Second, func(l []string) bool {
			return contains(l, "by signature") && matchesAny(l, groupRow)
		})
		// the scenario's own errors on top: a few seconds after its key
		if sc.want != "" {
			waitTop(t, tm, sc.want)
		}
		tm.keys("4")
		tm.keys("Enter")
		// One condition for the whole answer: a capture can catch a frame half written, the
		// waterfall's title already there and its marked span not yet. A waterfall that never
		// marks the failing span, or has no axis, times out with the screen it drew.
		lines := tm.waitFor("the waterfall with its axis and the failing span marked, after 4, Enter ("+sc.name+")", 10*time.Second, func(l []string) bool {
			return contains(l, "trace waterfall") && matchesAny(l, traceIDLine) &&
				contains(l, "span (service, event)") && matchesAny(l, failingSpan)
		})
		checkFits(t, lines, 160, 48)
	}
	tm.keys("q")
	if code := tm.waitExit(30 * time.Second); code != 0 {
		t.Errorf("demo exit status %d, want 0", code)
	}
}

// groupRow is a signature row of the Errors pane: count, service, operation.
var groupRow = regexp.MustCompile(`[▶ ]\s+\d+ (anvil|forge|ingot) +\S`)

// waitTop waits until the Errors pane's top signature is of the given reason.
func waitTop(t *testing.T, tm *tmux, reason string) {
	t.Helper()
	const head = "signature (numbers as #)"
	tm.waitFor("the "+reason+" signature on top", 60*time.Second, func(l []string) bool {
		for i, line := range l {
			r := []rune(line)
			col := strings.Index(line, head)
			if col < 0 || i+1 >= len(l) {
				continue
			}
			col = len([]rune(line[:col]))
			next := []rune(l[i+1])
			if col >= len(next) || col+len(head) > len(r) {
				return false
			}
			return strings.HasPrefix(string(next[col:]), reason)
		}
		return false
	})
}

func matchesAny(lines []string, re *regexp.Regexp) bool {
	for _, l := range lines {
		if re.MatchString(l) {
			return true
		}
	}
	return false
}
