package ui

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Number formats have fixed widths so that a changing value repaints its own cells and never
// shifts the rest of the line.

// fmtMS formats milliseconds in at most 6 cells: "0.42ms", "4.2ms", "123ms", "1.23s", "12.3s", "123s", "12m".
func fmtMS(ms float64) string {
	switch {
	case ms <= 0 || math.IsNaN(ms):
		return "—"
	case ms < 10:
		return strconv.FormatFloat(ms, 'f', 1, 64) + "ms"
	case ms < 1000:
		return strconv.FormatFloat(ms, 'f', 0, 64) + "ms"
	case ms < 10_000:
		return strconv.FormatFloat(ms/1000, 'f', 2, 64) + "s"
	case ms < 100_000:
		return strconv.FormatFloat(ms/1000, 'f', 1, 64) + "s"
	case ms < 1_000_000:
		return strconv.FormatFloat(ms/1000, 'f', 0, 64) + "s"
	}
	return strconv.FormatFloat(ms/60_000, 'f', 0, 64) + "m"
}

// fmtRate formats a rate in at most 6 cells, with at most 3 significant digits: a figure
// that moves every second in its last digits repaints its cells every second, for a change
// no one reads (most of the bytes the dashboard wrote to the terminal).
func fmtRate(v float64) string {
	switch {
	case v <= 0 || math.IsNaN(v):
		return "0"
	case v < 9.995:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case v < 99.95:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case v < 999.5:
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return sig3(v)
}

// fmtPct formats a 0..1 fraction in at most 6 cells.
func fmtPct(f float64) string {
	if math.IsNaN(f) || f < 0 {
		return "—"
	}
	if f >= 1 {
		return "100%"
	}
	return strconv.FormatFloat(f*100, 'f', 1, 64) + "%"
}

// fmtCount formats a count in at most 6 cells: exact below 1000, 3 significant digits above
// ("1.23k", "45.6k", "789k", "1.23M"), for the reason fmtRate gives.
func fmtCount(v float64) string {
	switch {
	case v < 0 || math.IsNaN(v):
		return "—"
	case v < 999.5:
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return sig3(v)
}

// sig3 formats v >= 999.5 with 3 significant digits and a k, M or G suffix, in at most 5
// cells; the thresholds are where rounding would carry into a fourth digit.
func sig3(v float64) string {
	for _, u := range [...]struct {
		div    float64
		suffix string
	}{{1e3, "k"}, {1e6, "M"}, {1e9, "G"}} {
		x := v / u.div
		switch {
		case x < 9.995:
			return strconv.FormatFloat(x, 'f', 2, 64) + u.suffix
		case x < 99.95:
			return strconv.FormatFloat(x, 'f', 1, 64) + u.suffix
		case x < 999.5:
			return strconv.FormatFloat(x, 'f', 0, 64) + u.suffix
		}
	}
	return ">999G"
}

// fmtDur formats a duration coarsely in at most 6 cells: "45s", "12m", "1h05m", "3d04h".
func fmtDur(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	case d < 100*24*time.Hour:
		return fmt.Sprintf("%dd%02dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
	}
	return ">99d"
}

// fmtETA is a backlog's time to drain at the current velocity, in whole minutes: it moves
// with every stats update and every label, and seconds of it are noise no one plans by (a
// seconds-exact ETA was a fifth of the queue pane's terminal bytes).
func fmtETA(d time.Duration) string {
	if d < time.Minute {
		return "<1m"
	}
	return fmtDur(d)
}

// fmtAge is an age rounded to coarse steps, so that a source's age label changes rarely
// (every 10 s, then every minute) instead of every frame.
func fmtAge(d time.Duration) string {
	switch {
	case d < 10*time.Second:
		return "<10s"
	case d < time.Minute:
		return strconv.Itoa(int(d/(10*time.Second))*10) + "s"
	}
	return fmtDur(d)
}

var sparkRunes = []rune("▁▂▃▄▅▆▇█")

const sparkASCII = " .:-=+*#"

// sparkline draws the last w values of vals scaled to their max.
func sparkline(vals []float64, w int, ascii bool) string {
	if w <= 0 {
		return ""
	}
	if len(vals) > w {
		vals = vals[len(vals)-w:]
	}
	hi := 0.0
	for _, v := range vals {
		if v > hi {
			hi = v
		}
	}
	var b strings.Builder
	b.Grow(w * 3)
	for i := 0; i < w-len(vals); i++ {
		b.WriteByte(' ')
	}
	for _, v := range vals {
		idx := 0
		if hi > 0 && v > 0 {
			idx = int(v / hi * 7.999)
			if idx > 7 {
				idx = 7
			}
			if idx < 0 {
				idx = 0
			}
		}
		if ascii {
			b.WriteByte(sparkASCII[idx])
		} else {
			b.WriteRune(sparkRunes[idx])
		}
	}
	return b.String()
}

// column is one table column: a header, a fixed width, right alignment for numbers, and
// a priority — lower priorities are dropped first when the pane is narrow.
type column struct {
	title    string
	width    int
	right    bool
	priority int
}

// chooseColumns keeps the columns that fit in avail cells (one space between columns),
// beside a flexible first column of at least minFlex cells. It returns the kept indexes
// and the flex width.
func chooseColumns(cols []column, avail, minFlex int) ([]int, int) {
	keep := make([]bool, len(cols))
	used := 0
	for i, c := range cols {
		keep[i] = true
		used += c.width + 1
	}
	for used+minFlex > avail {
		worst := -1
		for i, c := range cols {
			if keep[i] && (worst < 0 || c.priority < cols[worst].priority) {
				worst = i
			}
		}
		if worst < 0 {
			break
		}
		keep[worst] = false
		used -= cols[worst].width + 1
	}
	var idx []int
	for i := range cols {
		if keep[i] {
			idx = append(idx, i)
		}
	}
	return idx, max(avail-used, 1)
}

// tableLine lays out a flex cell and the kept fixed cells.
func tableLine(flex string, flexW int, cols []column, keep []int, cells []string) string {
	var b strings.Builder
	b.Grow(flexW + 64)
	b.WriteString(fit(flex, flexW))
	for _, i := range keep {
		b.WriteByte(' ')
		if cols[i].right {
			b.WriteString(fitRight(cells[i], cols[i].width))
		} else {
			b.WriteString(fit(cells[i], cols[i].width))
		}
	}
	return b.String()
}
