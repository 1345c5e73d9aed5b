package term

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
