package term

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"
)

// newFileWriter gives a DiffWriter whose "terminal" is a plain file, so the test can read
// exactly the bytes a terminal would receive.
func newFileWriter(t *testing.T, w, h int, diff bool) (*DiffWriter, func() string) {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "tty"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	d := NewDiffWriter(f, "xterm-256color", func() (int, int) { return w, h }, diff)
	var off int64
	next := func() string {
		data, err := os.ReadFile(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		out := string(data[off:])
		off = int64(len(data))
		return out
	}
	return d, next
}

// frame builds what bubbletea v1's standard renderer writes for an alt-screen flush: home,
// each line either "\n" (unchanged) or its content, erase-right and CRLF, then the cursor
// parked on the last line.
func frame(lines []string, changed []bool) string {
	var b strings.Builder
	b.WriteString("\x1b[H")
	for i, l := range lines {
		last := i == len(lines)-1
		if !changed[i] {
			if !last {
				b.WriteString("\n")
			}
			continue
		}
		b.WriteString(l + "\x1b[K")
		if !last {
			b.WriteString("\r\n")
		}
	}
	b.WriteString("\x1b[" + itoa(len(lines)) + ";H")
	return b.String()
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

func TestDiffWriterSendsOnlyChangedCells(t *testing.T) {
	d, next := newFileWriter(t, 40, 3, true)
	lines := []string{"ingot-top 05:00:00 connected", "queue_a   12.0/min", "queue_b    3.0/min"}
	if _, err := d.Write([]byte(frame(lines, []bool{true, true, true}))); err != nil {
		t.Fatal(err)
	}
	first := next()
	for _, l := range lines {
		if !strings.Contains(first, strings.Fields(l)[0]) {
			t.Fatalf("first frame lacks %q: %q", l, first)
		}
	}
	// One second later only the clock's last digit changes; bubbletea resends line 1 whole.
	lines[0] = "ingot-top 05:00:01 connected"
	if _, err := d.Write([]byte(frame(lines, []bool{true, false, false}))); err != nil {
		t.Fatal(err)
	}
	second := next()
	if strings.Contains(second, "ingot-top") || strings.Contains(second, "queue_") {
		t.Errorf("unchanged text was resent: %q", second)
	}
	if !strings.Contains(second, "1") || len(second) > 24 {
		t.Errorf("second frame = %q (%d bytes), want just the changed digit and a cursor move", second, len(second))
	}
	// A frame with the last line changed only (the renderer skips lines with bare "\n").
	lines[2] = "queue_b    4.0/min"
	if _, err := d.Write([]byte(frame(lines, []bool{false, false, true}))); err != nil {
		t.Fatal(err)
	}
	if third := next(); !strings.Contains(third, "4") || strings.Contains(third, "queue_") {
		t.Errorf("third frame = %q, want only the changed digit", third)
	}
}

func TestDiffWriterClearsAltScreenBeforeLeaving(t *testing.T) {
	for _, diff := range []bool{true, false} {
		d, next := newFileWriter(t, 20, 2, diff)
		if _, err := d.Write([]byte("\x1b[?25h\x1b[?1049l\x1b[?25h")); err != nil {
			t.Fatal(err)
		}
		out := next()
		if !strings.Contains(out, "\x1b[H\x1b[2J\x1b[?1049l") {
			t.Errorf("diff=%v: leaving the alt screen without clearing it: %q", diff, out)
		}
	}
}

func TestLineModePassesFramesThrough(t *testing.T) {
	d, next := newFileWriter(t, 20, 2, false)
	f := frame([]string{"a", "b"}, []bool{true, true})
	if _, err := d.Write([]byte(f)); err != nil {
		t.Fatal(err)
	}
	if out := next(); out != f {
		t.Errorf("line mode changed the frame: %q, want %q", out, f)
	}
}

// newTermWriter is newFileWriter with the terminal name the dashboard passes from $TERM.
func newTermWriter(t *testing.T, w, h int, termName string) (*DiffWriter, func() string) {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "tty"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	d := NewDiffWriter(f, termName, func() (int, int) { return w, h }, true)
	var off int64
	return d, func() string {
		data, err := os.ReadFile(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		out := string(data[off:])
		off = int64(len(data))
		return out
	}
}

// terminalNames are $TERM values operators have; a renderer that guesses capabilities from
// the name sends different bytes for each.
var terminalNames = []string{"xterm-256color", "tmux-256color", "screen-256color", "alacritty", "kitty", "wezterm", "linux", "xterm", ""}

// repeatedRuns are frames of the dashboard's characters in runs: the health pane's dotted
// leaders, borders, bars, ellipses and CJK, each repeated, then shorter.
func repeatedRuns(w int) [][]string {
	first := []string{
		"ingot/ " + strings.Repeat("·", 30) + " 500",
		strings.Repeat("│", 20) + strings.Repeat("█", 20),
		strings.Repeat("…", 12) + strings.Repeat("─", 25),
		strings.Repeat("日本", 10) + strings.Repeat("x", 10),
		strings.Repeat("é", 15) + strings.Repeat("±", 15),
		"\x1b[1m" + strings.Repeat("━", 30) + "\x1b[0m" + strings.Repeat(" ", 5) + strings.Repeat("●", 8),
	}
	second := []string{
		"ingot/ " + strings.Repeat("·", 12) + " 500",
		strings.Repeat("█", 10) + strings.Repeat("│", 9),
		strings.Repeat("─", 8) + strings.Repeat("…", 30),
		strings.Repeat("語", 15),
		strings.Repeat("±", 20),
		strings.Repeat("·", w),
	}
	return [][]string{first, second, first}
}

// sequenceScan walks the renderer's output and calls check for every escape sequence and
// control character with the printed grapheme that came before it.
func sequenceScan(out string, check func(seq string, cmd ansi.Cmd, params ansi.Params, last string)) {
	p := ansi.NewParser()
	var state byte
	last := ""
	for len(out) > 0 {
		seq, width, n, next := ansi.DecodeSequence(out, state, p)
		state, out = next, out[n:]
		if width > 0 {
			last = seq
			continue
		}
		check(seq, ansi.Cmd(p.Command()), p.Params(), last)
	}
}

// TestDiffWriterNeverRepeatsNonASCII is the tmux corruption of issue 9: the renderer wrote "·"
// and then REP (CSI n b) to repeat it; tmux repeats only ASCII, so the row came out short.
func TestDiffWriterNeverRepeatsNonASCII(t *testing.T) {
	for _, termName := range terminalNames {
		d, next := newTermWriter(t, 60, 6, termName)
		var prev []string
		for n, lines := range repeatedRuns(60) {
			if _, err := d.Write([]byte(frame(lines, changedFlags(prev, lines)))); err != nil {
				t.Fatal(err)
			}
			prev = lines
			sequenceScan(next(), func(seq string, cmd ansi.Cmd, _ ansi.Params, last string) {
				if ansi.HasCsiPrefix(seq) && cmd.Final() == 'b' {
					if last == "" || last[0] >= 0x80 {
						t.Errorf("TERM=%q frame %d: REP %q after the non-ASCII %q: tmux and others repeat only ASCII", termName, n+1, seq, last)
					} else {
						t.Errorf("TERM=%q frame %d: REP %q after %q: terminals that call themselves xterm (macOS Terminal, PuTTY, mosh) lack it", termName, n+1, seq, last)
					}
				}
			})
		}
	}
}

// TestDiffWriterSendsOnlyPortableSequences: besides text, frames use only sequences every
// terminal implements alike, whatever $TERM says: cursor positioning and relative moves, SGR,
// erase to the end of the line, clear screen, autowrap around the last cell, hyperlinks. ECH,
// ICH/DCH, IL/DL, scroll regions, VPA/HPA, REP and tabs each made tmux's row differ from ours.
func TestDiffWriterSendsOnlyPortableSequences(t *testing.T) {
	allowed := func(seq string, cmd ansi.Cmd, params ansi.Params) bool {
		switch {
		case seq == "\r":
			return true
		case ansi.HasOscPrefix(seq):
			return strings.HasPrefix(seq, "\x1b]8;")
		case !ansi.HasCsiPrefix(seq) || cmd.Intermediate() != 0:
			return false
		case cmd.Prefix() == '?':
			p, _, _ := params.Param(0, 0)
			return (cmd.Final() == 'h' || cmd.Final() == 'l') && len(params) == 1 && p == 7
		case cmd.Prefix() != 0:
			return false
		}
		switch cmd.Final() {
		case 'H', 'A', 'B', 'C', 'D', 'm':
			return true
		case 'K':
			p, _, _ := params.Param(0, 0)
			return p == 0
		case 'J':
			p, _, _ := params.Param(0, 0)
			return p == 2
		}
		return false
	}
	for _, termName := range terminalNames {
		w, h := 80, 24
		frames := tmuxFrames(w, h, 7)
		frames = append(frames, repeatedRuns(w)...)
		d, next := newTermWriter(t, w, h, termName)
		var prev []string
		for n, lines := range frames {
			if _, err := d.Write([]byte(frame(lines, changedFlags(prev, lines)))); err != nil {
				t.Fatal(err)
			}
			prev = lines
			sequenceScan(next(), func(seq string, cmd ansi.Cmd, params ansi.Params, _ string) {
				if !allowed(seq, cmd, params) {
					t.Errorf("TERM=%q frame %d: the renderer sent %q", termName, n+1, seq)
				}
			})
		}
	}
}

// TestDiffWriterKeepsEscapesInLinesOut: a line that carries a cursor move, a title, a clear or
// a control character (a bug upstream, or data that escaped sanitising) must not move the
// cursor or change the terminal: the renderer draws text and SGR only.
func TestDiffWriterKeepsEscapesInLinesOut(t *testing.T) {
	d, next := newTermWriter(t, 40, 4, "xterm-256color")
	lines := []string{"a\x1b[5Ab", "c\x1b]0;pwned\x07d\x1b[2Je", "f\tg\bh\x07i\x9b31mj", "k\x1b[?1049lm\x1bPq\x1b\\n"}
	if _, err := d.Write([]byte(frame(lines, []bool{true, true, true, true}))); err != nil {
		t.Fatal(err)
	}
	out := next()
	sequenceScan(out, func(seq string, cmd ansi.Cmd, _ ansi.Params, _ string) {
		if seq != "\r" && (!ansi.HasCsiPrefix(seq) || !strings.ContainsAny(string(cmd.Final()), "HABCDmKJ") || cmd.Prefix() != 0) {
			t.Errorf("a sequence from the frame's text reached the terminal: %q in %q", seq, out)
		}
	})
	for _, want := range []string{"ab", "cde", "fghij", "kmn"} {
		if !strings.Contains(ansi.Strip(out), want) {
			t.Errorf("the text %q is not drawn as one run: %q", want, out)
		}
	}
	if strings.Contains(out, "\x1b[31m") {
		t.Errorf("an 8-bit CSI in the text was taken for SGR: %q", out)
	}
}

// frameTail against the regular expression it replaced, on tails bubbletea writes and on
// look-alikes it does not.
func TestFrameTailMatchesTheRegexp(t *testing.T) {
	re := regexp.MustCompile(`(\x1b\[J)?\x1b\[(\d*)(;\d*)?H$`)
	for _, body := range []string{
		"line\r\nlast\x1b[J\x1b[48;1H", "line\x1b[48H", "x\x1b[H", "\x1b[J\x1b[H", "\x1b[;5H",
		"line\x1b[48;1", "line48;1H", "line\x1b[4a;1H", "H", "", "\x1b[J\x1b[J\x1b[2;3H",
		"\x1b[1;2;3H", "[48;1H", "\x1b48;1H", "a\x1b[12;H",
	} {
		start, row, ok := frameTail(body)
		loc := re.FindStringSubmatchIndex(body)
		if ok != (loc != nil) {
			t.Errorf("%q: ok=%v, regexp matched=%v", body, ok, loc != nil)
			continue
		}
		if !ok {
			continue
		}
		if start != loc[0] || row != body[loc[4]:loc[5]] {
			t.Errorf("%q: start %d row %q, regexp start %d row %q", body, start, row, loc[0], body[loc[4]:loc[5]])
		}
	}
}

// Equal cells of the parsed lines are one cell (a screen has a few hundred distinct ones among
// thousands), and the table that shares them stays bounded however many distinct cells pass.
func TestScreenSharesEqualCells(t *testing.T) {
	s := newScreen(8, 2)
	s.render([]string{"aaaa", "\x1b[1mab\x1b[0mab"})
	top, bottom := s.shown[0], s.shown[1]
	if top[0] != top[1] || top[0] != bottom[2] {
		t.Error("the plain 'a' cells are not one cell")
	}
	if bottom[0] == top[0] {
		t.Error("a bold 'a' shares the plain 'a' cell")
	}
	if bottom[0].Rune != 'a' || bottom[0].Style.Attrs == 0 || top[0].Style.Attrs != 0 {
		t.Errorf("cells %+v and %+v", bottom[0], top[0])
	}
	for i := 0; i < 3*maxSharedCells; i++ {
		s.render([]string{string(rune(0x4e00 + i)), ""})
	}
	if len(s.cells) > maxSharedCells+8 {
		t.Errorf("%d shared cells, cap %d", len(s.cells), maxSharedCells)
	}
}
