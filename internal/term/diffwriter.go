// Package term owns the bytes that reach the user's terminal. bubbletea v1 repaints every
// line that changed in full; over SSH, and for a dashboard whose numbers tick every second,
// that is most of the screen. DiffWriter sits between bubbletea and the terminal, rebuilds
// each full frame from bubbletea's line updates, and sends only the cells that changed, with
// a small set of sequences every terminal (tmux and screen included) implements alike (see
// screen in render.go).
package term

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
)

// DiffWriter is the output for tea.WithOutput. It is a term.File (Fd, Read, Close delegate
// to the terminal it wraps) because bubbletea only asks a real terminal for its size and
// only then sends the WindowSizeMsg a layout needs. Writes that are not alt-screen frames pass
// through unchanged (mode switches, cursor visibility, clipboard, title), so the terminal
// state bubbletea manages stays its own.
type DiffWriter struct {
	mu     sync.Mutex
	tty    *os.File
	out    io.Writer
	size   func() (w, h int)
	screen *screen
	lines  []string
	w, h   int
	diff   bool
	// Written counts bytes sent to the terminal, for measurement.
	written int64
}

// NewDiffWriter writes to out; size reports the terminal size (columns, rows) and is asked
// before every frame, because bubbletea does not tell its output writer about resizes.
//
// With diff false it passes every frame through unchanged (bubbletea's own line renderer),
// keeping only the exit clean-up below.
//
// The terminal's name does not change the bytes: terminals that call themselves xterm
// (macOS Terminal, PuTTY, mosh) or tmux differ in exactly the optional sequences a
// name-based capability guess would use, so the renderer uses none of them.
func NewDiffWriter(tty *os.File, _ string, size func() (int, int), diff bool) *DiffWriter {
	w, h := size()
	d := &DiffWriter{tty: tty, out: tty, size: size, w: w, h: h, diff: diff}
	d.screen = newScreen(w, h)
	return d
}

// NewDiffWriterTo renders to out, a terminal that is not a file of this process (an SSH
// channel). bubbletea must then be given the writer alone (not the DiffWriter, whose Fd
// would claim a terminal): it cannot ask out for its size, so the caller sends
// tea.WindowSizeMsg itself and size reports the same numbers.
func NewDiffWriterTo(out io.Writer, size func() (int, int), diff bool) *DiffWriter {
	w, h := size()
	d := &DiffWriter{out: out, size: size, w: w, h: h, diff: diff}
	d.screen = newScreen(w, h)
	return d
}

// Fd is the terminal's descriptor (^uintptr(0), no descriptor, for NewDiffWriterTo).
func (d *DiffWriter) Fd() uintptr {
	if d.tty == nil {
		return ^uintptr(0)
	}
	return d.tty.Fd()
}

// Read reads from the terminal (bubbletea never does; term.File requires it).
func (d *DiffWriter) Read(p []byte) (int, error) {
	if d.tty == nil {
		return 0, io.EOF
	}
	return d.tty.Read(p)
}

// Close leaves the terminal open: it belongs to the process, not to the dashboard.
func (d *DiffWriter) Close() error { return nil }

// Written returns how many bytes have reached the terminal.
func (d *DiffWriter) Written() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.written
}

// frameTail finds what bubbletea's standard renderer appends after the last line of an
// alt-screen frame: an optional erase-below (ESC[J), then a cursor position (ESC[row;colH or
// ESC[rowH or ESC[H). It returns where that tail starts and the row digits ("" when none).
// The cursor row is the frame's line count. Read backwards by hand: a regular expression
// anchored at the end still tried every offset of the frame (5 % of the dashboard's CPU).
func frameTail(body string) (start int, row string, ok bool) {
	i := len(body)
	if i == 0 || body[i-1] != 'H' {
		return 0, "", false
	}
	i--
	digitsBack := func(end int) int {
		for end > 0 && body[end-1] >= '0' && body[end-1] <= '9' {
			end--
		}
		return end
	}
	j := digitsBack(i)
	if j > 0 && body[j-1] == ';' { // a column: the row is before it
		i = j - 1
		j = digitsBack(i)
	}
	row = body[j:i]
	if j < 2 || body[j-2:j] != "\x1b[" {
		return 0, "", false
	}
	start = j - 2
	if strings.HasSuffix(body[:start], "\x1b[J") {
		start -= len("\x1b[J")
	}
	return start, row, true
}

const homeSeq = "\x1b[H"

// Write implements io.Writer.
func (d *DiffWriter) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.diff || !bytes.HasPrefix(p, []byte(homeSeq)) {
		return d.passthrough(p)
	}
	body := string(p[len(homeSeq):])
	tail, row, ok := frameTail(body)
	if !ok {
		return d.passthrough(p)
	}
	count := 1
	if row != "" {
		n, err := strconv.Atoi(row)
		if err != nil || n < 1 || n > 10000 {
			return d.passthrough(p)
		}
		count = n
	}
	body = body[:tail]
	d.apply(body, count)
	if w, h := d.size(); w > 0 && h > 0 && (w != d.w || h != d.h) {
		d.w, d.h = w, h
		d.screen.resize(w, h)
	}
	out := d.screen.render(d.lines)
	n, err := d.out.Write(out)
	d.written += int64(n)
	if err != nil {
		// Part of the frame may have reached the terminal: draw the next one whole.
		d.screen.invalidate()
		return 0, fmt.Errorf("writing a frame to the terminal: %w", err)
	}
	return len(p), nil
}

func (d *DiffWriter) passthrough(p []byte) (int, error) {
	s := string(p)
	// Anything that clears or switches the screen invalidates what the diff screen believes
	// the terminal shows, so the next frame is drawn in full.
	if strings.Contains(s, "\x1b[2J") || strings.Contains(s, "\x1b[?1049") || strings.Contains(s, "\x1b[?47") {
		d.screen.invalidate()
	}
	// Clear the alternate screen before leaving it: after a resize, tmux (and some other
	// terminals) copy alternate-screen rows the saved main screen never had back onto it,
	// leaving pieces of the dashboard above the user's prompt.
	if i := bytes.Index(p, []byte(altScreenOff)); i >= 0 {
		fixed := make([]byte, 0, len(p)+len(clearAll))
		fixed = append(fixed, p[:i]...)
		fixed = append(fixed, clearAll...)
		fixed = append(fixed, p[i:]...)
		n, err := d.out.Write(fixed)
		d.written += int64(n)
		if err != nil {
			return 0, err
		}
		return len(p), nil
	}
	n, err := d.out.Write(p)
	d.written += int64(n)
	return n, err
}

const (
	altScreenOff = "\x1b[?1049l"
	clearAll     = "\x1b[H\x1b[2J"
)

// apply updates d.lines from one frame body: each line is either a bare "\n" (unchanged
// since the last frame) or its new content ending in "\r\n" (the last line has no ending).
// Lines past the body are unchanged; count, from the renderer's final cursor row, is the
// frame's height.
func (d *DiffWriter) apply(body string, count int) {
	var next []string
	i := 0
	for {
		if i >= len(body) {
			break
		}
		if body[i] == '\n' {
			idx := len(next)
			if idx < len(d.lines) {
				next = append(next, d.lines[idx])
			} else {
				next = append(next, "")
			}
			i++
			continue
		}
		end := strings.Index(body[i:], "\r\n")
		last := end < 0
		var line string
		if last {
			line = body[i:]
		} else {
			line = body[i : i+end]
		}
		line = strings.TrimPrefix(line, "\r")
		line = strings.TrimSuffix(line, "\x1b[K")
		next = append(next, line)
		if last {
			break
		}
		i += end + 2
	}
	for len(next) < count {
		idx := len(next)
		if idx < len(d.lines) {
			next = append(next, d.lines[idx])
		} else {
			next = append(next, "")
		}
	}
	d.lines = next[:count]
}

// WriteRaw sends bytes that are not a frame (clipboard, bell) between frames, never inside one.
func (d *DiffWriter) WriteRaw(p []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	n, err := d.out.Write(p)
	d.written += int64(n)
	return err
}
