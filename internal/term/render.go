package term

import (
	"bytes"
	"strings"
	"unicode/utf8"

	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/cellbuf"
)

// screen is the renderer proper: what the terminal shows (as far as we know), and how to
// turn it into the next frame with sequences every terminal agrees on.
//
// cellbuf's Screen did this before, and its optimisations broke real terminals: it sent REP
// (CSI n b) after any rune below U+0100, so "·" followed by REP became one "·" in tmux, which
// repeats only ASCII; its style diff turned bold off again when going from faint to bold; and
// it relied on ECH, ICH/DCH, scroll regions, VPA/HPA and moving the cursor by rewriting cells
// (a space for the right half of a wide character). Each is a place where the terminal's idea
// of a row can part from ours, and none paid off: on the dashboard this plain cell diff sends
// fewer bytes than cellbuf's Screen did (scripts/bench-ui.sh: 463 against 847 B/s).
//
// So this writes only: CUP and the relative cursor moves (CUU/CUD/CUF/CUB), SGR, EL (erase to
// the end of the line), ED 2 with CUP home for a full redraw, DECAWM around the bottom-right
// cell, OSC 8 hyperlinks, and printable text. Every row is parsed with cellbuf (grapheme
// widths, as lipgloss measures the layout), compared cell by cell with what the terminal
// shows, and only the changed cells are sent.
type screen struct {
	w, h int
	// shown is what the terminal shows; nil when unknown (first frame, after a resize, or
	// after bytes we did not write cleared or switched the screen), which means clear and
	// draw everything.
	shown []cellbuf.Line
	// lastFrame and thisFrame map the lines of the last frame and of the one being rendered
	// to their parse: most lines repeat frame after frame (in place, or a row down when the
	// error log scrolls), and only those can be reused. Keeping no more than two frames'
	// lines bounds the memory to 2×h parsed lines; a parsed 160-column line is 20 KB of
	// cells, and a cache of any 512 lines held up to 10 MB of them.
	lastFrame, thisFrame map[string]cellbuf.Line
	// cells shares one cell among the parsed lines' equal cells: a screen holds a few hundred
	// distinct ones (a glyph in a style) among its 7,680 at 160x48, and cellbuf allocates each
	// cell of a parsed line apart (1 MB of the dashboard's live heap at 160x48). Cells are
	// never modified once parsed. Emptied past maxSharedCells, which bounds it.
	cells map[cellKey]*cellbuf.Cell

	buf bytes.Buffer
	// The terminal's cursor and pen while a frame is written. cx < 0: position unknown
	// (start of a frame, after the last column, after a cell whose width a terminal may
	// count differently), so the next move is absolute.
	cx, cy int
	pen    cellbuf.Style
	link   cellbuf.Link
}

func newScreen(w, h int) *screen {
	return &screen{w: max(w, 1), h: max(h, 1), lastFrame: map[string]cellbuf.Line{}, thisFrame: map[string]cellbuf.Line{},
		cells: map[cellKey]*cellbuf.Cell{}}
}

// cellKey is a cell without combining runes, as a map key. The colours cellbuf parses from
// SGR are comparable values (ansi.BasicColor, ansi.IndexedColor, color.RGBA, ...).
type cellKey struct {
	r     rune
	width int
	style cellbuf.Style
	link  cellbuf.Link
}

const maxSharedCells = 4096

// share replaces the cells of l with the equal cells of earlier lines.
func (s *screen) share(l cellbuf.Line) {
	if len(s.cells) > maxSharedCells {
		clear(s.cells)
	}
	for x, c := range l {
		if c == nil || len(c.Comb) > 0 {
			continue
		}
		k := cellKey{r: c.Rune, width: c.Width, style: c.Style, link: c.Link}
		if same, ok := s.cells[k]; ok {
			l[x] = same
		} else {
			s.cells[k] = c
		}
	}
}

// invalidate forgets what the terminal shows: the next frame clears and redraws it.
func (s *screen) invalidate() { s.shown = nil }

// resize changes the size; the terminal has rewrapped or cropped what it showed, so the next
// frame clears and redraws.
func (s *screen) resize(w, h int) {
	s.w, s.h = max(w, 1), max(h, 1)
	s.shown = nil
	clear(s.lastFrame)
	clear(s.thisFrame)
}

// render returns the bytes that turn the terminal's screen into lines (one string per row,
// with SGR styling; rows past the end are blank).
func (s *screen) render(lines []string) []byte {
	s.buf.Reset()
	s.cx, s.cy = -1, -1
	// Between frames the pen is reset (see the end of this function), and bytes bubbletea
	// writes between frames (cursor visibility, title, clipboard) do not change it.
	s.pen, s.link = cellbuf.Style{}, cellbuf.Link{}
	next := make([]cellbuf.Line, s.h)
	for y := range next {
		var l string
		if y < len(lines) {
			l = lines[y]
		}
		next[y] = s.parse(l)
	}
	old := s.shown
	if old == nil {
		s.buf.WriteString(ansi.ResetStyle + ansi.CursorHomePosition + ansi.EraseEntireScreen)
		s.cx, s.cy = 0, 0
		old = make([]cellbuf.Line, s.h)
		for y := range old {
			old[y] = make(cellbuf.Line, s.w)
		}
	}
	for y := range next {
		s.renderRow(y, old[y], next[y])
	}
	s.setPen(cellbuf.Style{}, cellbuf.Link{})
	s.shown = next
	s.lastFrame, s.thisFrame = s.thisFrame, s.lastFrame
	clear(s.thisFrame)
	return s.buf.Bytes()
}

func (s *screen) parse(line string) cellbuf.Line {
	l, ok := s.thisFrame[line]
	if !ok {
		l, ok = s.lastFrame[line]
	}
	if !ok {
		b := cellbuf.NewBuffer(s.w, 1)
		cellbuf.SetContentRect(b, sanitize(line), b.Bounds())
		l = b.Line(0)
		s.share(l)
	}
	s.thisFrame[line] = l
	return l
}

// sanitize keeps what the renderer can draw in a known number of columns: printable
// graphemes, SGR, and OSC 8 hyperlinks. Any other escape sequence, control character or
// zero-width grapheme is dropped: cellbuf would store it inside a cell and the renderer
// would send it to the terminal, moving the cursor, or changing modes, behind our back.
func sanitize(line string) string {
	if plain(line) {
		return line
	}
	p := ansi.GetParser()
	defer ansi.PutParser(p)
	var b strings.Builder
	var state byte
	for rest := line; len(rest) > 0; {
		seq, width, n, next := ansi.DecodeSequence(rest, state, p)
		if n <= 0 {
			break
		}
		state, rest = next, rest[n:]
		cmd := ansi.Cmd(p.Command())
		switch {
		case width > 0 && utf8.ValidString(seq):
			b.WriteString(seq)
		case width > 0:
			b.WriteString(strings.Repeat("?", width))
		case strings.HasPrefix(seq, "\x1b[") && cmd.Final() == 'm' && cmd.Prefix() == 0 && cmd.Intermediate() == 0:
			b.WriteString(seq)
		case strings.HasPrefix(seq, "\x1b]8;"):
			b.WriteString(seq)
		}
	}
	return b.String()
}

// plain reports the common line that needs no sanitising, checked without the parser: valid
// UTF-8, no control characters, every escape a complete SGR, and no rune that could make a
// zero-width grapheme of its own.
func plain(line string) bool {
	if !utf8.ValidString(line) {
		return false
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		if c != 0x1b {
			if c < 0x20 || c == 0x7f {
				return false
			}
			continue
		}
		j := i + 1
		if j >= len(line) || line[j] != '[' {
			return false
		}
		for j++; j < len(line) && (line[j] >= '0' && line[j] <= '9' || line[j] == ';' || line[j] == ':'); j++ {
		}
		if j >= len(line) || line[j] != 'm' {
			return false
		}
		i = j
	}
	for _, r := range line {
		if r >= 0x80 && r < 0xa0 || zeroWidth(r) {
			return false
		}
	}
	return true
}

// zeroWidth reports the runes that could start a zero-width grapheme on their own (so the
// slow path decides): combining marks, joiners, variation selectors and format characters.
func zeroWidth(r rune) bool {
	switch {
	case r >= 0x0300 && r <= 0x036f, // combining diacritical marks
		r >= 0x200b && r <= 0x200f, // zero-width space, joiners, marks
		r >= 0x2028 && r <= 0x202e,
		r >= 0x2060 && r <= 0x206f,
		r >= 0xfe00 && r <= 0xfe0f, // variation selectors
		r == 0xfeff,
		r >= 0xe0000:
		return true
	}
	return false
}

// isBlank reports a cell that erasing leaves as it is: a space with no style or link.
func isBlank(c *cellbuf.Cell) bool { return c == nil || c.Equal(&cellbuf.BlankCell) }

func sameCell(a, b *cellbuf.Cell) bool {
	if a == nil || b == nil {
		return isBlank(a) && isBlank(b)
	}
	return a.Equal(b)
}

// simple reports a cell every terminal draws in one column: one rune, width 1.
func simple(c *cellbuf.Cell) bool { return c == nil || c.Width == 1 && len(c.Comb) == 0 }

// maxGap is the run of unchanged cells rewritten rather than skipped with a cursor move: a
// CUF costs 3 or 4 bytes.
const maxGap = 3

// renderRow writes the changes that turn row y from old into next.
func (s *screen) renderRow(y int, old, next cellbuf.Line) {
	w := s.w
	// Blank cells from end on are erased with EL rather than written as spaces.
	end := w
	for end > 0 && isBlank(next[end-1]) {
		end--
	}
	erase := false
	for x := end; x < w; x++ {
		if !isBlank(old[x]) {
			erase = true
			break
		}
	}
	for x := 0; x < end; {
		if sameCell(old[x], next[x]) {
			x++
			continue
		}
		start, stop := x, x+1 // stop is exclusive
		// A changed cell inside a wide character: start at the character.
		for start > 0 && next[start] != nil && next[start].Width == 0 {
			start--
		}
		for stop < end {
			if !sameCell(old[stop], next[stop]) {
				stop++
				continue
			}
			// Rewrite a short run of unchanged one-column cells rather than jump over it.
			gap := stop
			for gap < end && gap-stop < maxGap && sameCell(old[gap], next[gap]) && simple(next[gap]) {
				gap++
			}
			if gap < end && !sameCell(old[gap], next[gap]) {
				stop = gap + 1
				continue
			}
			break
		}
		for i := start; i < stop; i++ {
			if next[i] != nil && next[i].Width == 0 {
				continue // the right half of a wide character, drawn with it
			}
			s.move(i, y)
			s.put(i, y, next[i])
		}
		x = stop
	}
	if erase {
		s.move(end, y)
		s.setPen(cellbuf.Style{}, cellbuf.Link{})
		s.buf.WriteString(ansi.EraseLineRight)
	}
}

// put writes the cell at x, y, where the cursor is.
func (s *screen) put(x, y int, c *cellbuf.Cell) {
	if c == nil {
		c = &cellbuf.BlankCell
	}
	s.setPen(c.Style, c.Link)
	corner := y == s.h-1 && x+c.Width >= s.w
	if corner {
		// Writing the bottom-right cell must not scroll the screen on terminals that wrap
		// at once instead of at the next character.
		s.buf.WriteString(ansi.ResetModeAutoWrap)
	}
	writeCell(&s.buf, c)
	if corner {
		s.buf.WriteString(ansi.SetModeAutoWrap)
	}
	s.cx += c.Width
	if s.cx >= s.w || !simple(c) {
		// After the last column the cursor waits to wrap, and terminals differ there; a
		// wide or combined character may take a different number of columns in a terminal
		// with other Unicode tables. Either way the next cell is placed absolutely, so a
		// disagreement stays inside that one character instead of shifting the row.
		s.cx, s.cy = -1, -1
	}
}

// writeCell writes the cell's text; control runes cannot reach here (see sanitize) but are
// dropped again so a cell can never carry an escape sequence.
func writeCell(b *bytes.Buffer, c *cellbuf.Cell) {
	if c.Rune == 0 {
		b.WriteByte(' ')
		return
	}
	wrote := false
	for i, r := range append([]rune{c.Rune}, c.Comb...) {
		if r < 0x20 || r >= 0x7f && r < 0xa0 {
			continue
		}
		if i == 0 && r == utf8.RuneError {
			r = '?'
		}
		b.WriteRune(r)
		wrote = true
	}
	if !wrote {
		b.WriteString(strings.Repeat(" ", max(c.Width, 1)))
	}
}

// move puts the cursor at x, y with the shortest of CUP and relative moves.
func (s *screen) move(x, y int) {
	if s.cx == x && s.cy == y {
		return
	}
	seq := ansi.CursorPosition(x+1, y+1)
	if s.cx >= 0 {
		var rel string
		switch {
		case y > s.cy:
			rel = ansi.CursorDown(y - s.cy)
		case y < s.cy:
			rel = ansi.CursorUp(s.cy - y)
		}
		switch {
		case x > s.cx:
			rel += ansi.CursorForward(x - s.cx)
		case x < s.cx && x == 0:
			rel += "\r"
		case x < s.cx:
			rel += ansi.CursorBackward(s.cx - x)
		}
		if len(rel) < len(seq) {
			seq = rel
		}
	}
	s.buf.WriteString(seq)
	s.cx, s.cy = x, y
}

// setPen changes the terminal's attributes to st and link.
func (s *screen) setPen(st cellbuf.Style, link cellbuf.Link) {
	if !st.Equal(&s.pen) {
		s.buf.WriteString(sgr(s.pen, st))
		s.pen = st
	}
	if !link.Equal(&s.link) {
		if safeLink(link) {
			s.buf.WriteString(ansi.SetHyperlink(link.URL, link.Params))
		} else {
			link = cellbuf.Link{}
			s.buf.WriteString(ansi.ResetHyperlink())
		}
		s.link = link
	}
}

// sgr is the SGR sequence that changes from to to. Turning an attribute off goes through a
// reset: SGR 22 clears bold and faint together and 25 both blinks, so an incremental
// "off" can take another attribute with it (cellbuf's DiffSequence loses bold when going
// from faint to bold).
func sgr(from, to cellbuf.Style) string {
	if to.Empty() {
		return ansi.ResetStyle
	}
	if from.Attrs&^to.Attrs != 0 || from.UlStyle != to.UlStyle && to.UlStyle == cellbuf.NoUnderline {
		return ansi.ResetStyle + to.Sequence()
	}
	return to.DiffSequence(from)
}

// safeLink reports a hyperlink that cannot end its OSC 8 early or carry a control character.
func safeLink(l cellbuf.Link) bool {
	for _, s := range []string{l.URL, l.Params} {
		for i := 0; i < len(s); i++ {
			if s[i] < 0x20 || s[i] >= 0x7f {
				return false
			}
		}
	}
	return true
}
