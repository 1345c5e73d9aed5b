package term

import (
	"fmt"
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/cellbuf"
)

// vt is a model terminal that knows only the sequences the renderer may send, and fails on
// anything else. It checks the renderer's own logic (changed spans, erasing, cursor
// tracking) fast and for any input; the tmux test checks the same against a real terminal.
type vt struct {
	w, h     int
	grid     *cellbuf.Buffer
	x, y     int
	wrapNext bool // the cursor sits past the last column, waiting to wrap
	autowrap bool
	pen      cellbuf.Style
	link     cellbuf.Link
}

func newVT(w, h int) *vt {
	return &vt{w: w, h: h, grid: cellbuf.NewBuffer(w, h), autowrap: true}
}

// feed interprets out; it returns an error for a sequence outside the renderer's set, or a
// write that would scroll or run off the screen.
func (v *vt) feed(out string) error {
	p := ansi.NewParser()
	var state byte
	for len(out) > 0 {
		seq, width, n, next := ansi.DecodeSequence(out, state, p)
		state, out = next, out[n:]
		if width > 0 {
			if err := v.print(seq, width); err != nil {
				return err
			}
			continue
		}
		cmd := ansi.Cmd(p.Command())
		param := func(def int) int { n, _ := p.Param(0, def); return max(n, def) }
		switch {
		case seq == "\r":
			v.x, v.wrapNext = 0, false
		case strings.HasPrefix(seq, "\x1b]8;"):
			cellbuf.ReadLink(p.Data(), &v.link)
		case !strings.HasPrefix(seq, "\x1b[") || cmd.Intermediate() != 0:
			return fmt.Errorf("unexpected %q", seq)
		case cmd.Prefix() == '?' && (cmd.Final() == 'h' || cmd.Final() == 'l') && param(0) == 7:
			v.autowrap = cmd.Final() == 'h'
		case cmd.Prefix() != 0:
			return fmt.Errorf("unexpected %q", seq)
		case cmd.Final() == 'm':
			cellbuf.ReadStyle(p.Params(), &v.pen)
		case cmd.Final() == 'H':
			row, _ := p.Param(0, 1)
			col, _ := p.Param(1, 1)
			v.moveTo(max(col, 1)-1, max(row, 1)-1)
		case cmd.Final() == 'A':
			v.moveTo(v.x, v.y-param(1))
		case cmd.Final() == 'B':
			v.moveTo(v.x, v.y+param(1))
		case cmd.Final() == 'C':
			v.moveTo(v.x+param(1), v.y)
		case cmd.Final() == 'D':
			v.moveTo(v.x-param(1), v.y)
		case cmd.Final() == 'K' && param(0) == 0:
			if !v.pen.Empty() {
				return fmt.Errorf("EL with attributes set: terminals differ on what the erased cells get")
			}
			for x := v.x; x < v.w; x++ {
				v.set(x, nil)
			}
		case cmd.Final() == 'J' && param(0) == 2:
			v.grid.Clear()
		default:
			return fmt.Errorf("unexpected %q", seq)
		}
	}
	return nil
}

func (v *vt) moveTo(x, y int) {
	v.x, v.y = min(max(x, 0), v.w-1), min(max(y, 0), v.h-1)
	v.wrapNext = false
}

// set writes a cell the way terminals do: a wide character partly overwritten is erased whole.
func (v *vt) set(x int, c *cellbuf.Cell) {
	v.grid.Line(v.y).Set(x, c)
}

func (v *vt) print(g string, width int) error {
	if v.wrapNext {
		if !v.autowrap {
			v.x = v.w - 1
		} else {
			if v.y == v.h-1 {
				return fmt.Errorf("printing %q past the bottom-right corner scrolls the screen", g)
			}
			v.x, v.y = 0, v.y+1
		}
		v.wrapNext = false
	}
	if v.x+width > v.w {
		return fmt.Errorf("%q (%d columns) does not fit at column %d of %d", g, width, v.x+1, v.w)
	}
	c := cellbuf.NewGraphemeCell(g)
	c.Width = width
	c.Style, c.Link = v.pen, v.link
	v.set(v.x, c)
	v.x += width
	if v.x >= v.w {
		v.x, v.wrapNext = v.w-1, true
	}
	return nil
}

// intended is the screen a frame means: each line parsed on its own row.
func intended(lines []string, w, h int) *cellbuf.Buffer {
	b := cellbuf.NewBuffer(w, h)
	for y, l := range lines {
		if y < h {
			cellbuf.SetContentRect(b, sanitize(l), cellbuf.Rect(0, y, w, 1))
		}
	}
	return b
}

// checkFramesInModel renders frames and checks the model terminal shows each one exactly.
func checkFramesInModel(t *testing.T, w, h int, frames [][]string) {
	t.Helper()
	s := newScreen(w, h)
	term := newVT(w, h)
	for n, lines := range frames {
		if err := term.feed(string(s.render(lines))); err != nil {
			t.Fatalf("%dx%d frame %d: %v", w, h, n+1, err)
		}
		if d := diffCells(term.grid, intended(lines, w, h)); d != "" {
			t.Fatalf("%dx%d frame %d: the model terminal differs from the frame:\n%s", w, h, n+1, d)
		}
	}
}

// TestRenderInModelTerminal runs the tmux test's frame sequences, and more random ones at odd
// sizes, through the model terminal.
func TestRenderInModelTerminal(t *testing.T) {
	for seed := range 60 {
		w, h := 10+seed%151, 6+seed%43
		checkFramesInModel(t, w, h, tmuxFrames(w, h, uint64(seed)))
	}
}

// FuzzRender feeds arbitrary lines (escapes, controls, invalid UTF-8, wide and zero-width
// characters) as two frames and a resize: only the renderer's sequences may come out, and
// the model terminal must show each frame as parsed.
func FuzzRender(f *testing.F) {
	f.Add("ingot/ ··········· 500\n│日本│\x1b[1mbold\x1b[0m", "ingot/ ·· 500\n\x1b[2mfaint\x1b[1mbold", uint8(40), uint8(5))
	f.Add("a\x1b[5Ab\tc\x07", "👩\u200d👧\u200d👦 ⚠\ufe0f e\u0301 \xff", uint8(7), uint8(2))
	f.Add(strings.Repeat("█", 30), strings.Repeat("·", 31), uint8(30), uint8(1))
	f.Fuzz(func(t *testing.T, a, b string, w8, h8 uint8) {
		w, h := 1+int(w8)%200, 1+int(h8)%60
		frames := [][]string{strings.Split(a, "\n"), strings.Split(b, "\n"), strings.Split(a, "\n")}
		checkFramesInModel(t, w, h, frames)
		// A resize: everything is drawn again, at the new size.
		s := newScreen(w, h)
		s.render(frames[0])
		s.resize(w+3, h+1)
		term := newVT(w+3, h+1)
		if err := term.feed(string(s.render(frames[1]))); err != nil {
			t.Fatalf("after a resize: %v", err)
		}
		if d := diffCells(term.grid, intended(frames[1], w+3, h+1)); d != "" {
			t.Fatalf("after a resize the model terminal differs:\n%s", d)
		}
	})
}
