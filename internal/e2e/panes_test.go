package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/cellbuf"
)

// paneTimeout bounds the wait for a key's pane to be drawn whole. A frame can be caught half
// written, so the screen is read until it holds; a corrupted row stays corrupted.
const paneTimeout = 10 * time.Second

var (
	topLeft     = map[rune]bool{'┌': true, '┏': true, '╭': true}
	topRight    = map[rune]bool{'┐': true, '┓': true, '╮': true}
	bottomLeft  = map[rune]bool{'└': true, '┗': true, '╰': true}
	bottomRight = map[rune]bool{'┘': true, '┛': true, '╯': true}
	vertical    = map[rune]bool{'│': true, '┃': true}
)

// box is a pane's border on screen, in columns and rows from 0, corners included.
type box struct {
	left, right, top, bottom int
	title                    string
}

// screenProblems checks what a user sees on the captured screen of w×h: the row count, no
// row wider than the terminal, and every pane a closed box, its left and right borders in
// the same column on every row and nothing after the rightmost border. A row the terminal
// drew short or shifted (the REP corruption of issue 9), or stale text left past a border,
// breaks one of these. It returns the boxes found and the problems, one line each.
func screenProblems(lines []string, w, h int) ([]box, []string) {
	var problems []string
	if len(lines) != h {
		problems = append(problems, fmt.Sprintf("the screen has %d rows, want %d", len(lines), h))
	}
	for i, l := range lines {
		if n := ansi.StringWidth(l); n > w {
			problems = append(problems, fmt.Sprintf("row %d is %d columns wide, more than %d", i+1, n, w))
		}
	}
	grid := cellbuf.NewBuffer(w, h)
	cellbuf.SetContent(grid, strings.Join(lines, "\n"))
	at := func(x, y int) rune {
		if c := grid.Cell(x, y); c != nil {
			return c.Rune
		}
		return ' '
	}
	var boxes []box
	for y := range h {
		for x := range w {
			if !topLeft[at(x, y)] {
				continue
			}
			b := box{left: x, top: y, right: -1, bottom: -1}
			for x2 := x + 1; x2 < w; x2++ {
				if topRight[at(x2, y)] {
					b.right = x2
					break
				}
			}
			if b.right < 0 {
				problems = append(problems, fmt.Sprintf("row %d: the box at column %d has no top-right corner", y+1, x+1))
				continue
			}
			var title strings.Builder
			for x2 := x + 1; x2 < b.right; x2++ {
				if c := grid.Cell(x2, y); c != nil {
					title.WriteString(c.String())
				}
			}
			b.title = strings.Trim(title.String(), "─━ ")
			for y2 := y + 1; y2 < h; y2++ {
				if r := at(x, y2); bottomLeft[r] {
					b.bottom = y2
					break
				} else if !vertical[r] {
					problems = append(problems, fmt.Sprintf("row %d: the left border of %q should be in column %d, found %q", y2+1, b.title, x+1, r))
					break
				}
			}
			if b.bottom < 0 {
				continue
			}
			for y2 := y + 1; y2 < b.bottom; y2++ {
				if r := at(b.right, y2); !vertical[r] {
					problems = append(problems, fmt.Sprintf("row %d: the right border of %q should be in column %d, found %q", y2+1, b.title, b.right+1, r))
				}
			}
			if r := at(b.right, b.bottom); !bottomRight[r] {
				problems = append(problems, fmt.Sprintf("row %d: the bottom-right corner of %q should be in column %d, found %q", b.bottom+1, b.title, b.right+1, r))
			}
			boxes = append(boxes, b)
		}
	}
	// Nothing may follow the rightmost border of a row: that is where a short row leaves
	// the previous frame's text.
	for y := range h {
		last := -1
		for _, b := range boxes {
			if y >= b.top && y <= b.bottom && b.right > last {
				last = b.right
			}
		}
		if last < 0 {
			continue
		}
		for x := last + 1; x < w; x++ {
			if r := at(x, y); r != ' ' && r != 0 {
				problems = append(problems, fmt.Sprintf("row %d: %q after the last border (column %d): stale text", y+1, r, x+1))
				break
			}
		}
	}
	if len(boxes) == 0 {
		problems = append(problems, "no pane box on the screen")
	}
	return boxes, problems
}

// waitSane reads the screen until cond holds and screenProblems finds nothing, and fails
// with the problems and the screen otherwise.
func waitSane(t *testing.T, tm *tmux, w, h int, what string, cond func([]string) bool) []string {
	t.Helper()
	deadline := time.Now().Add(paneTimeout)
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		lines := tm.screen()
		_, problems := screenProblems(lines, w, h)
		ok := cond(lines)
		if ok && len(problems) == 0 {
			return lines
		}
		if time.Now().After(deadline) {
			if !ok {
				problems = append(problems, "never saw "+what)
			}
			t.Fatalf("%dx%d, %s:\n%s\nthe screen was:\n%s", w, h, what, strings.Join(problems, "\n"), strings.Join(lines, "\n"))
		}
		<-tick.C
	}
}

// focused reports the screen showing pane key as the focused pane (heavy border).
func focused(key string) func([]string) bool {
	return func(lines []string) bool { return contains(lines, "┏━ "+key+" ") }
}

// ingotRows are the rows an Ingot /health body broke out per service.
func ingotRows(lines []string) []string {
	var rows []string
	for _, l := range lines {
		if strings.Contains(l, "ingot/") {
			rows = append(rows, l)
		}
	}
	return rows
}

// TestDashboardPanesInTmux is issue 9's tmux corruption, as a user meets it: Ingot's /health
// answers 500 with no services, so the ingot/ rows fill with "·" (no report); then every pane
// in turn at 80x24 and 160x48, in a tmux whose TERM is tmux-256color (the setting tmux
// recommends). The renderer wrote "·" and asked for it to be repeated with REP; tmux repeats
// only ASCII, so the rows came out short and stale text stayed past the pane border. Every
// screen must be whole: borders aligned on every row, nothing past the last one.
func TestDashboardPanesInTmux(t *testing.T) {
	tmuxBin := requireTmux(t)
	bin := buildBinary(t)
	ns := startNATS(t, -1)
	sm := startSimulator(t, ns.ClientURL(), 1000)
	ingot := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"status":"error","services":{}}`))
	}))
	t.Cleanup(ingot.Close)

	for _, size := range [][2]int{{80, 24}, {160, 48}} {
		w, h := size[0], size[1]
		t.Run(fmt.Sprintf("%dx%d", w, h), func(t *testing.T) {
			home := t.TempDir()
			tm := newTmux(t, tmuxBin, `set -g default-terminal "tmux-256color"`)
			tm.start(w, h, home, []string{"HOME=" + home, "LC_ALL=C.UTF-8"}, bin, "-s", ns.ClientURL(),
				"--forge-health", sm.forgeHealth, "--anvil-health", sm.anvilHealth, "--ingot-health", ingot.URL+"/health",
				"--health.interval", "200ms", "--report-dir", home)
			// The Health pane, with the ingot/ rows holding a run of "·" long enough that a
			// renderer would repeat it.
			tm.keys("3")
			lines := waitSane(t, tm, w, h, "the Health pane with three whole ingot/ rows (a run of '········' in recent checks)", func(l []string) bool {
				rows := ingotRows(l)
				if !focused("3")(l) || len(rows) != 3 {
					return false
				}
				for _, r := range rows {
					if !strings.Contains(r, "········") {
						return false
					}
				}
				return true
			})
			// Every pane, and back to Health: switching redraws a pane's rows whole.
			for _, key := range []string{"1", "2", "3", "4", "5", "3"} {
				tm.keys(key)
				lines = waitSane(t, tm, w, h, "pane "+key+" focused", focused(key))
			}
			// The issue's own check: the ingot/ rows are whole (their borders were checked
			// with every other row's above).
			for _, r := range ingotRows(lines) {
				if !strings.Contains(r, "unknown") || !strings.Contains(r, "········") || !strings.Contains(r, "not re") {
					t.Errorf("%dx%d: an ingot/ row is not whole: %q", w, h, r)
				}
			}
			tm.keys("q")
			if code := tm.waitExit(exitTimeout); code != 0 {
				t.Errorf("after q the dashboard exited with status %d, want 0", code)
			}
		})
	}
}
