package term

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/cellbuf"
)

// requireTmux finds tmux; without it the test is skipped on a developer machine and fails
// in CI, where scripts/install-test-deps.sh installs it.
func requireTmux(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("tmux")
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("tmux not installed (scripts/install-test-deps.sh installs it); skipping the real-terminal renderer test")
		}
		t.Fatalf("tmux not installed but CI is set: scripts/install-test-deps.sh should have installed it: %v", err)
	}
	return path
}

// tmuxPane is a pane of a private tmux server (own socket, no user config) that shows exactly
// the bytes the test writes to tty, through a FIFO read by cat on a raw pty: no newline
// translation, as under bubbletea.
type tmuxPane struct {
	t      *testing.T
	bin    string
	socket string
	target string
	tty    *os.File
	marks  int
}

const paneSettleTimeout = 10 * time.Second

func newTmuxPane(t *testing.T, tmuxBin string, w, h int) *tmuxPane {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "tmux.conf")
	if err := os.WriteFile(conf, []byte("set -g status off\nset -s escape-time 0\nset -g history-limit 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "tty")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	// O_RDWR opens a FIFO without waiting for a reader (Linux), so a tmux that never starts
	// cat fails the wait below instead of hanging here.
	tty, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("opening the FIFO: %v", err)
	}
	// The socket lives in the test's directory, so it goes with it (tmux leaves it behind).
	p := &tmuxPane{t: t, bin: tmuxBin, socket: filepath.Join(dir, "tmux.sock"), target: "p", tty: tty}
	t.Cleanup(func() {
		_, _ = p.cmd("kill-server")
		_ = tty.Close()
	})
	sh := "stty raw -echo && exec cat " + fifo
	if out, err := p.cmd("-f", conf, "new-session", "-d", "-s", p.target, "-x", strconv.Itoa(w), "-y", strconv.Itoa(h), sh); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	// The first mark also proves stty has run: cat starts only after it.
	p.sync()
	if got := p.display("#{pane_width}x#{pane_height}"); got != fmt.Sprintf("%dx%d", w, h) {
		t.Fatalf("tmux pane is %s, want %dx%d", got, w, h)
	}
	return p
}

func (p *tmuxPane) cmd(args ...string) (string, error) {
	out, err := exec.Command(p.bin, append([]string{"-S", p.socket}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("tmux %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func (p *tmuxPane) display(format string) string {
	p.t.Helper()
	out, err := p.cmd("display-message", "-p", "-t", p.target, format)
	if err != nil {
		p.t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

// sync waits until tmux has parsed everything written so far: it writes a pane title
// (OSC 2, which changes no cell) and waits for tmux to report it, since tmux parses a
// pane's output in order.
func (p *tmuxPane) sync() {
	p.t.Helper()
	p.marks++
	mark := "sync-" + strconv.Itoa(p.marks)
	if _, err := p.tty.WriteString("\x1b]2;" + mark + "\a"); err != nil {
		p.t.Fatal(err)
	}
	deadline := time.Now().Add(paneSettleTimeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for p.display("#{pane_title}") != mark {
		if time.Now().After(deadline) {
			p.t.Fatalf("tmux did not show pane title %q within %s", mark, paneSettleTimeout)
		}
		<-tick.C
	}
}

// capture is the visible screen: plain text rows (trailing blanks trimmed by tmux) and the
// same with SGR attributes and trailing blanks kept (-e -N), to compare attributes too.
func (p *tmuxPane) capture() (plain []string, styled string) {
	p.t.Helper()
	out, err := p.cmd("capture-pane", "-p", "-t", p.target)
	if err != nil {
		p.t.Fatal(err)
	}
	styled, err = p.cmd("capture-pane", "-p", "-e", "-N", "-t", p.target)
	if err != nil {
		p.t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(out, "\n"), "\n"), styled
}

// expectedScreen is what a terminal must show for a frame of h rows: the text without
// escapes, trailing blanks trimmed as capture-pane does.
func expectedScreen(lines []string, h int) []string {
	want := make([]string, h)
	for i := range want {
		if i < len(lines) {
			want[i] = strings.TrimRight(ansi.Strip(lines[i]), " ")
		}
	}
	return want
}

func diffRows(got, want []string) string {
	var b strings.Builder
	for i := range max(len(got), len(want)) {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			fmt.Fprintf(&b, "row %d:\n  got  %q\n  want %q\n", i+1, g, w)
		}
	}
	return b.String()
}

// changedFlags marks the rows bubbletea would resend: those that differ from the last frame.
func changedFlags(prev, next []string) []bool {
	flags := make([]bool, len(next))
	for i := range next {
		flags[i] = i >= len(prev) || prev[i] != next[i]
	}
	return flags
}

// cellsOf parses text as a terminal would draw it from the top-left corner: each line on its
// own row, SGR state carried on, as capture-pane -e writes it.
func cellsOf(text string, w, h int) *cellbuf.Buffer {
	b := cellbuf.NewBuffer(w, h)
	cellbuf.SetContent(b, text)
	return b
}

// diffCells describes the first cells (at most a few) where got differs from want in text or
// attributes.
func diffCells(got, want *cellbuf.Buffer) string {
	var b strings.Builder
	n := 0
	for y := range want.Height() {
		for x := range want.Width() {
			g, w := got.Cell(x, y), want.Cell(x, y)
			if !g.Equal(w) {
				fmt.Fprintf(&b, "row %d column %d: got %q %+v, want %q %+v\n", y+1, x+1, g.String(), g.Style, w.String(), w.Style)
				if n++; n == 5 {
					return b.String()
				}
			}
		}
	}
	return b.String()
}

// checkFramesInTmux sends frames through a DiffWriter to a real tmux pane of w×h and, after
// each frame, compares the pane with the frame: the text row by row, and each cell's
// character and attributes (from capture-pane -e), so stale, shifted or missing cells and
// wrong colours all fail.
func checkFramesInTmux(t *testing.T, tmuxBin, termName string, w, h int, frames [][]string) {
	t.Helper()
	pane := newTmuxPane(t, tmuxBin, w, h)
	d := NewDiffWriter(pane.tty, termName, func() (int, int) { return w, h }, true)
	// What bubbletea writes when it starts: alternate screen, clear, hide the cursor.
	if _, err := d.Write([]byte("\x1b[?1049h\x1b[H\x1b[2J\x1b[?25l")); err != nil {
		t.Fatal(err)
	}
	var prev []string
	for n, lines := range frames {
		if _, err := d.Write([]byte(frame(lines, changedFlags(prev, lines)))); err != nil {
			t.Fatal(err)
		}
		prev = lines
		pane.sync()
		got, gotStyled := pane.capture()
		if d := diffRows(got, expectedScreen(lines, h)); d != "" {
			t.Fatalf("TERM=%s %dx%d frame %d: the pane differs from the frame:\n%sscreen:\n%s", termName, w, h, n+1, d, strings.Join(got, "\n"))
		}
		if d := diffCells(cellsOf(gotStyled, w, h), cellsOf(strings.Join(lines, "\n"), w, h)); d != "" {
			t.Fatalf("TERM=%s %dx%d frame %d: the text is right but attributes differ:\n%s", termName, w, h, n+1, d)
		}
	}
}

// The characters the dashboard draws with, and CJK (two columns each), in runs long enough
// for a renderer to be tempted to repeat them.
var runeRuns = []string{"·", "│", "█", "…", "─", "━", "▁", "▇", "●", "—", "±", "é", "日", "本", "語", "x", "=", " "}

var styles = []string{"", "\x1b[1m", "\x1b[2m", "\x1b[7m", "\x1b[31m", "\x1b[38;5;244m", "\x1b[1;38;5;39m", "\x1b[44m", "\x1b[38;2;250;128;0m"}

// tmuxFrames builds the frame sequence the real-terminal test checks at w×h: a screen full
// of text, then the pane boxes of the issue (an ingot/ row of repeated · after a 500 from
// /health), rows that shrink, grow, shift sideways and scroll, CJK, and random edits.
func tmuxFrames(w, h int, seed uint64) [][]string {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	full := make([]string, h)
	for i := range full {
		full[i] = fit(strings.Repeat(fmt.Sprintf("row%02d-abcdefghij ", i), w/17+1), w)
	}
	box := make([]string, h)
	inner := w - 2
	box[0] = fit("ingot-top 05:00:00 connected", w)
	box[1] = "┌" + strings.Repeat("─", inner) + "┐"
	for i := 2; i < h-2; i++ {
		text := fmt.Sprintf(" ingot/ %s 500 %s", strings.Repeat("·", 12+i%7), strings.Repeat("·", 30))
		if i%3 == 0 {
			text = fmt.Sprintf(" forge  %s ok", strings.Repeat("█", 8+i%11))
		}
		if i%4 == 0 {
			text = " 日本語 " + strings.Repeat("…", 5) + strings.Repeat("│", 4)
		}
		box[i] = "│" + padTo(fit(text, inner), inner) + "│"
	}
	box[h-2] = "└" + strings.Repeat("─", inner) + "┘"
	box[h-1] = fit(" 1 Queues  2 Latency  3 Health  4 Errors  5 Stream  q quit", w)

	// The same rows, shorter: stale text past the new end must be erased.
	short := make([]string, h)
	for i, l := range box {
		short[i] = ansi.Truncate(l, w/2+i%5, "")
	}
	// Rows shifted right by one and two columns (insertions), then left (deletions).
	shifted := make([]string, h)
	for i, l := range box {
		shifted[i] = fit(strings.Repeat(" ", 1+i%2)+l, w)
	}
	// Scrolled up by three rows.
	scrolled := append(append([]string{}, box[3:]...), box[:3]...)

	frames := [][]string{full, box, short, box, shifted, box, scrolled, box}
	prev := box
	for range 6 {
		next := append([]string{}, prev...)
		for range 1 + r.IntN(h/2) {
			next[r.IntN(h)] = randomRow(r, w)
		}
		if r.IntN(3) == 0 {
			k := 1 + r.IntN(4)
			next = append(next[k:], next[:k]...)
		}
		frames = append(frames, next)
		prev = next
	}
	return frames
}

// randomRow is a row of runs of the same character and style, at most w columns wide.
func randomRow(r *rand.Rand, w int) string {
	var b strings.Builder
	width := 0
	target := r.IntN(w + 1)
	for width < target {
		s := runeRuns[r.IntN(len(runeRuns))]
		style := styles[r.IntN(len(styles))]
		run := strings.Repeat(s, 1+r.IntN(24))
		b.WriteString(style + run)
		if style != "" {
			b.WriteString("\x1b[0m")
		}
		width += ansi.StringWidth(run)
	}
	return fit(b.String(), target)
}

// fit cuts s to at most w columns (a wide character that would straddle the edge is dropped).
func fit(s string, w int) string { return ansi.Truncate(s, w, "") }

func padTo(s string, w int) string {
	if n := ansi.StringWidth(s); n < w {
		return s + strings.Repeat(" ", w-n)
	}
	return s
}

// TestDiffWriterInTmux checks the renderer's bytes against a real terminal (tmux) at the two
// sizes the dashboard is used at. The terminal names are those tmux users have: tmux's own
// (REP was sent after · and tmux repeats only ASCII, so rows came out short and stale text
// stayed past the border), screen's, and xterm's.
func TestDiffWriterInTmux(t *testing.T) {
	tmuxBin := requireTmux(t)
	for _, size := range [][2]int{{80, 24}, {160, 48}} {
		for _, termName := range []string{"tmux-256color", "screen-256color", "xterm-256color"} {
			w, h := size[0], size[1]
			t.Run(fmt.Sprintf("%s-%dx%d", termName, w, h), func(t *testing.T) {
				checkFramesInTmux(t, tmuxBin, termName, w, h, tmuxFrames(w, h, uint64(w*h)))
			})
		}
	}
}
