package wire

import (
	"unicode"
	"unicode/utf8"
)

// Length caps applied to strings that come off the wire. They bound what one event can make
// a viewer render or a log line hold; a hostile emitter cannot blow up a terminal row.
const (
	// MaxValueRunes caps ids, metadata values, metadata keys and the node name.
	MaxValueRunes = 256
	// MaxReasonRunes caps the free-text metadata "reason", which the contract says may hold
	// anything and which operators need to read in full more often than ids.
	MaxReasonRunes = 1024
	// MaxDetailRunes caps DecodeError.Detail.
	MaxDetailRunes = 256
)

// ellipsis marks a truncated string. It is one rune, so a capped string never exceeds its cap.
const ellipsis = "…"

const hexDigits = "0123456789abcdef"

// SafeString returns s made safe to print on a terminal or write to a line-oriented log, and
// at most maxRunes runes long (a maxRunes below 1 is treated as 1).
//
// Neutralised, each into a visible escape so that an operator can still see it was there:
//   - C0 controls and DEL become \xNN, except LF and CR which become \n and \r and TAB which
//     becomes a single space (TAB is common and harmless once it cannot move the cursor
//     unpredictably; a space keeps columns readable);
//   - C1 controls (U+0080–U+009F), the bidi embeddings/overrides/isolates (U+202A–U+202E,
//     U+2066–U+2069), the marks U+200E, U+200F, U+061C, the line/paragraph separators
//     U+2028/U+2029, the BOM U+FEFF and every other invisible format character (Unicode
//     category Cf: zero-width spaces and joiners, soft hyphen, tags) become \uNNNN (or
//     \UNNNNNNNN outside the BMP);
//   - invalid UTF-8 becomes U+FFFD.
//
// A string that needs cutting ends in "…", counted in maxRunes; escapes are never cut in half.
// Plain printable ASCII within the cap is returned unchanged without allocating.
func SafeString(s string, maxRunes int) string {
	if maxRunes < 1 {
		maxRunes = 1
	}
	if len(s) <= maxRunes && isPlainASCII(s) {
		return s
	}
	return string(appendSafe(make([]byte, 0, min(len(s), 4*maxRunes)+8), s, maxRunes, false))
}

// Excerpt returns the start of a raw payload for showing a bad sample: at most n runes of
// output, escaped like SafeString except that bytes which are not valid UTF-8 are shown as
// \xNN (a bad sample is often binary, and the bytes are the useful part).
func Excerpt(data []byte, n int) string {
	if n < 1 {
		n = 1
	}
	// An escape is at most 6 runes per input byte and a rune is at most 4 bytes: looking at
	// 4n+4 bytes is enough to fill n runes of output and to know whether more follows.
	if limit := 4*n + 4; len(data) > limit {
		data = data[:limit]
	}
	return string(appendSafe(make([]byte, 0, min(len(data), 4*n)+8), string(data), n, true))
}

// IsSafe reports whether s contains nothing SafeString would neutralise. Tests and callers
// that want to assert the invariant use it.
func IsSafe(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return false
		}
		if isUnsafeRune(r) {
			return false
		}
		i += size
	}
	return true
}

func isPlainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

// isUnsafeRune reports the non-ASCII code points that can reorder, hide or break lines of
// terminal output.
func isUnsafeRune(r rune) bool {
	switch {
	case r >= 0x80 && r <= 0x9f: // C1 controls, including CSI (U+009B)
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069: // bidi embeddings, overrides, isolates
		return true
	case r == 0x200e, r == 0x200f, r == 0x061c: // bidi marks
		return true
	case r == 0x2028, r == 0x2029: // line and paragraph separators
		return true
	case r == 0xfeff:
		return true
	case unicode.In(r, unicode.Cf):
		// Other format characters are invisible: zero-width space and joiners (U+200B–U+200D),
		// the word joiner (U+2060), soft hyphen (U+00AD), tag characters (U+E0000…). Shown
		// raw, "queue_a\u200b" would pass for "queue_a" in a list of queues.
		return true
	}
	return false
}

// appendSafe appends the neutralised form of s to dst, capped at maxRunes output runes.
// hexInvalid selects \xNN rather than U+FFFD for invalid UTF-8.
func appendSafe(dst []byte, s string, maxRunes int, hexInvalid bool) []byte {
	if len(s) <= maxRunes && isPlainASCII(s) {
		return append(dst, s...)
	}
	start := len(dst)
	runes := 0
	// cut is the length of dst at the last unit boundary where the output still had room for
	// the ellipsis; if the output turns out too long it is cut back there.
	cut := start
	var esc [10]byte
	for i := 0; i < len(s); {
		c := s[i]
		var unit []byte
		var passthrough string // a printable non-ASCII rune, copied as is
		var unitRunes int
		size := 1
		switch {
		case c >= 0x20 && c < 0x7f:
			esc[0] = c
			unit, unitRunes = esc[:1], 1
		case c == '\t':
			esc[0] = ' '
			unit, unitRunes = esc[:1], 1
		case c == '\n':
			esc[0], esc[1] = '\\', 'n'
			unit, unitRunes = esc[:2], 2
		case c == '\r':
			esc[0], esc[1] = '\\', 'r'
			unit, unitRunes = esc[:2], 2
		case c < utf8.RuneSelf: // remaining C0 controls and DEL
			unit, unitRunes = hexEscape(&esc, c), 4
		default:
			r, n := utf8.DecodeRuneInString(s[i:])
			size = n
			switch {
			case r == utf8.RuneError && n == 1:
				if hexInvalid {
					unit, unitRunes = hexEscape(&esc, c), 4
				} else {
					passthrough, unitRunes = "\uFFFD", 1
				}
			case isUnsafeRune(r):
				unit = runeEscape(&esc, r)
				unitRunes = len(unit)
			default:
				passthrough, unitRunes = s[i:i+n], 1
			}
		}
		if runes+unitRunes > maxRunes {
			return append(dst[:cut], ellipsis...)
		}
		if passthrough != "" {
			dst = append(dst, passthrough...)
		} else {
			dst = append(dst, unit...)
		}
		runes += unitRunes
		if runes <= maxRunes-1 {
			cut = len(dst)
		}
		i += size
	}
	return dst
}

// runeEscape writes \uNNNN, or \UNNNNNNNN beyond the Basic Multilingual Plane.
func runeEscape(esc *[10]byte, r rune) []byte {
	digits := 4
	esc[0], esc[1] = '\\', 'u'
	if r > 0xffff {
		digits = 8
		esc[1] = 'U'
	}
	for i := 0; i < digits; i++ {
		esc[2+i] = hexDigits[(r>>(4*(digits-1-i)))&0xf]
	}
	return esc[:2+digits]
}

func hexEscape(esc *[10]byte, c byte) []byte {
	esc[0], esc[1], esc[2], esc[3] = '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf]
	return esc[:4]
}
