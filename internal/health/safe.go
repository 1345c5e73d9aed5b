package health

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxShownRunes caps any single string a probe hands to a viewer, so that a hostile or
// chatty endpoint cannot flood a pane.
const maxShownRunes = 200

// safeText makes text from the network safe to print on a terminal: control characters
// (C0, DEL, C1, including ESC), Unicode bidi overrides/isolates and invalid UTF-8 are
// replaced by visible escapes, and the result is capped at maxRunes runes.
//
// TODO(wire): replace with wire.SafeString once internal/wire exports it; this local copy
// exists only because that package was being written in parallel.
func safeText(s string, maxRunes int) string {
	var b strings.Builder
	b.Grow(min(len(s), 4*maxRunes))
	runes := 0
	for i := 0; i < len(s); {
		if runes >= maxRunes {
			b.WriteString("…")
			break
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			b.WriteString(`\x`)
			b.WriteString(hex2(s[i]))
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f):
			b.WriteString(`\x`)
			b.WriteString(hex2(byte(r)))
		case isBidiControl(r) || isInvisibleFormat(r):
			b.WriteString(`\u`)
			u := strconv.FormatInt(int64(r), 16)
			b.WriteString(strings.Repeat("0", max(0, 4-len(u))))
			b.WriteString(u)
		default:
			b.WriteRune(r)
		}
		i += size
		runes++
	}
	return b.String()
}

func hex2(c byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[c>>4], digits[c&0x0f]})
}

// isBidiControl reports the characters that can reorder what a terminal shows (Trojan
// Source style spoofing).
func isBidiControl(r rune) bool {
	switch {
	case r == 0x061c, r == 0x200e, r == 0x200f:
		return true
	case r >= 0x202a && r <= 0x202e:
		return true
	case r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// isInvisibleFormat reports zero-width and line/paragraph separator characters that would
// hide or break text in a fixed-width pane.
func isInvisibleFormat(r rune) bool {
	switch r {
	case 0x200b, 0x200c, 0x200d, 0x2028, 0x2029, 0xfeff:
		return true
	}
	return false
}
