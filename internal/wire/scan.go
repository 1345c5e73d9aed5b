package wire

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"strconv"
	"unicode/utf8"
)

// jsonKind is the type of a JSON value; the names are the ones error details have always
// used (fastjson's).
type jsonKind uint8

const (
	kindNone jsonKind = iota // absent
	kindObject
	kindArray
	kindString
	kindNumber
	kindTrue
	kindFalse
	kindNull
)

var kindNames = [...]string{"none", "object", "array", "string", "number", "true", "false", "null"}

func (k jsonKind) String() string { return kindNames[k] }

// jsonValue is a scanned value: its kind and, for strings and numbers, where its text is (a
// string's content without the quotes, still escaped when text is textEscaped).
//
// It has four fields at most on purpose: the compiler keeps a struct of up to four fields in
// registers, and a fifth made the whole decoder half as fast.
type jsonValue struct {
	kind       jsonKind
	text       textKind
	start, end int
}

// textKind is what a string's scan found in its content.
type textKind uint8

const (
	textRaw     textKind = iota // no escapes, but bytes sanitising changes (non-ASCII, DEL)
	textEscaped                 // escapes, which must be unescaped before use
	// textPlain is printable ASCII only (0x20 … 0x7e) and no escapes: the scan found that
	// out on its way, and sanitising it changes nothing but its length.
	textPlain
)

// plainString is the string value data[start:end], which plainRun found plain.
func plainString(start, end int) jsonValue {
	return jsonValue{kind: kindString, text: textPlain, start: start, end: end}
}

func (v jsonValue) raw(data []byte) []byte { return data[v.start:v.end] }

// scanner walks a payload once, validating RFC 8259 syntax as it goes: raw control
// characters in strings and escapes other than \" \\ \/ \b \f \n \r \t \uXXXX are errors
// (tolerating them would let "\q" and "q" name the same queue). Number tokens and the
// literals follow the fastjson parser the decoder used before, so the same payloads are
// accepted: a number token is a run of [0-9.eE+-] or a signed inf/nan, and its value is
// checked where it is read. The first error stops the walk: err is set and every method
// returns without moving.
type scanner struct {
	data []byte
	pos  int
	err  string
}

// numberByte marks the bytes of a number token.
var numberByte = func() (t [256]bool) {
	for _, c := range []byte("0123456789.eE+-") {
		t[c] = true
	}
	return t
}()

// stringSpecial marks the bytes that end a run of plain string content: those JSON forbids
// or gives a meaning in a string (controls, '"', '\\'), non-ASCII, and DEL, which JSON
// allows but a terminal must not receive raw.
var stringSpecial = func() (t [256]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = true
	}
	for c := 0x7f; c < 0x100; c++ {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// SWAR constants: one byte repeated over a word.
const (
	ones   = 0x0101010101010101
	highs  = 0x8080808080808080
	quotes = 0x2222222222222222
	slashs = 0x5c5c5c5c5c5c5c5c
	spaces = 0x2020202020202020
)

// plainRun returns the index of the first stringSpecial byte of d at or after i (len(d) if
// none), eight bytes at a time: most of a payload is string content. In the word test a
// byte's high bit is set when it is < 0x20 or ≥ 0xa0 (x - 0x20 wraps or stays high), 0x7f
// … 0xfe (x + 1), '"' or '\\' (x^c - 1 wraps). A borrow or carry leaves only a byte that
// is itself special (< 0x20, 0xff, '"', '\\'), so the lowest set bit is exact.
func plainRun(d []byte, i int) int {
	for ; i+8 <= len(d); i += 8 {
		x := binary.LittleEndian.Uint64(d[i:])
		if m := ((x - spaces) | (x + ones) | ((x ^ quotes) - ones) | ((x ^ slashs) - ones)) & highs; m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for i < len(d) && !stringSpecial[d[i]] {
		i++
	}
	return i
}

func (s *scanner) fail(msg string) {
	if s.err == "" {
		s.err = msg + " at offset " + strconv.Itoa(s.pos)
	}
}

func (s *scanner) skipWS() {
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		// One compare for the usual case: compact payloads have no whitespace at all.
		if c > ' ' || c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return
		}
		s.pos++
	}
}

// value scans the value at pos (whitespace already skipped); depth is its nesting level.
// Objects and arrays are validated and skipped.
func (s *scanner) value(depth int) jsonValue {
	if s.pos >= len(s.data) {
		s.fail("unexpected end of input")
		return jsonValue{}
	}
	if depth > maxDepth {
		s.fail("nesting deeper than " + strconv.Itoa(maxDepth))
		return jsonValue{}
	}
	switch s.data[s.pos] {
	case '{':
		for more := s.open('}'); more; more = s.next('}') {
			if _, _, ok := s.member(depth + 1); !ok {
				break
			}
		}
		return jsonValue{kind: kindObject}
	case '[':
		for more := s.open(']'); more; more = s.next(']') {
			s.value(depth + 1)
		}
		return jsonValue{kind: kindArray}
	case '"':
		start := s.pos + 1
		end := plainRun(s.data, start)
		if end < len(s.data) && s.data[end] == '"' {
			s.pos = end + 1
			return plainString(start, end)
		}
		return s.strRest(start, end)
	case 't':
		return s.literal("true", kindTrue)
	case 'f':
		return s.literal("false", kindFalse)
	case 'n':
		if !bytes.HasPrefix(s.data[s.pos:], []byte("null")) && len(s.data)-s.pos >= 3 && bytes.EqualFold(s.data[s.pos:s.pos+3], []byte("nan")) {
			s.pos += 3
			return jsonValue{kind: kindNumber, start: s.pos - 3, end: s.pos}
		}
		return s.literal("null", kindNull)
	}
	return s.number()
}

func (s *scanner) literal(word string, kind jsonKind) jsonValue {
	if !bytes.HasPrefix(s.data[s.pos:], []byte(word)) {
		s.fail("unexpected value")
		return jsonValue{}
	}
	s.pos += len(word)
	return jsonValue{kind: kind}
}

func (s *scanner) number() jsonValue {
	start, i := s.pos, s.pos
	for i < len(s.data) && numberByte[s.data[i]] {
		i++
	}
	if n := i - start; i < len(s.data) && (n == 0 || n == 1 && (s.data[start] == '-' || s.data[start] == '+')) {
		// A signed or bare inf/nan, in any case.
		if len(s.data)-i >= 3 && (bytes.EqualFold(s.data[i:i+3], []byte("inf")) || bytes.EqualFold(s.data[i:i+3], []byte("nan"))) {
			s.pos = i + 3
			return jsonValue{kind: kindNumber, start: start, end: s.pos}
		}
		s.pos = i
		s.fail("unexpected character " + strconv.QuoteRune(rune(s.data[i])))
		return jsonValue{}
	}
	s.pos = i
	return jsonValue{kind: kindNumber, start: start, end: i}
}

// strRest finishes scanning the string whose content starts at start, from i, the first
// byte plainRun stopped at. Most strings of a payload are plain printable ASCII without
// escapes and end right there, at a '"': the callers (value, key, member) check that first
// and call strRest only for the rest.
func (s *scanner) strRest(start, i int) jsonValue {
	d := s.data
	v := jsonValue{kind: kindString, start: start}
	for {
		if i >= len(d) {
			s.pos = i
			s.fail("missing closing quote")
			return jsonValue{}
		}
		switch c := d[i]; {
		case c == '"':
			v.end = i
			s.pos = i + 1
			return v
		case c < 0x20:
			s.pos = i
			s.fail("raw control character 0x" + string(hexDigits[c>>4]) + string(hexDigits[c&0xf]) + " inside a string")
			return jsonValue{}
		case c == 0x7f:
			i = plainRun(d, i+1)
			continue
		case c >= 0x80:
			// The UTF-8 check of the payload, folded into the scan: outside strings a
			// non-ASCII byte is a syntax error anyway (and Decode then tells the two apart).
			r, size := utf8.DecodeRune(d[i:])
			if r == utf8.RuneError && size == 1 {
				s.pos = i
				s.fail("invalid UTF-8")
				return jsonValue{}
			}
			i = plainRun(d, i+size)
			continue
		}
		// A backslash.
		v.text = textEscaped
		if i+1 >= len(d) {
			s.pos = i
			s.fail("unterminated escape")
			return jsonValue{}
		}
		switch d[i+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			i += 2
		case 'u':
			if i+5 >= len(d) || !isHex(d[i+2]) || !isHex(d[i+3]) || !isHex(d[i+4]) || !isHex(d[i+5]) {
				s.pos = i
				s.fail("bad \\u escape")
				return jsonValue{}
			}
			i += 6
		default:
			s.pos = i
			s.fail("invalid escape \\" + SafeString(string(d[i+1]), 1))
			return jsonValue{}
		}
		i = plainRun(d, i)
	}
}

// open consumes the '{' or '[' at pos and reports whether an element follows (false for an
// empty container, which it consumes whole).
func (s *scanner) open(closer byte) bool {
	s.pos++
	s.skipWS()
	if s.pos >= len(s.data) {
		s.fail("unexpected end of input")
		return false
	}
	if s.data[s.pos] == closer {
		s.pos++
		return false
	}
	return true
}

// next consumes what follows an element: ',' (true: another element follows) or the closer.
// After an error it returns false without moving, so that a loop over the elements,
// `for more := s.open(c); more; more = s.next(c)`, ends at the first error.
func (s *scanner) next(closer byte) bool {
	if s.err != "" {
		return false
	}
	// The usual case: a compact ',' and the next element, or the closer.
	if i := s.pos; i+1 < len(s.data) {
		if c := s.data[i]; c == ',' && s.data[i+1] > ' ' {
			s.pos = i + 1
			return true
		} else if c == closer {
			s.pos = i + 1
			return false
		}
	}
	s.skipWS()
	if s.pos >= len(s.data) {
		s.fail("unexpected end of input")
		return false
	}
	switch s.data[s.pos] {
	case ',':
		s.pos++
		s.skipWS()
		return true
	case closer:
		s.pos++
		return false
	}
	s.fail("missing ',' or '" + string(closer) + "'")
	return false
}

// member scans one `"key": value` of an object, the value nesting at most depth deep; ok is
// false after a syntax error (s.err says which).
//
// The usual member of a compact payload, a plain key and a plain string or a number that
// starts with a digit ("queue_id":"q_1", "duration_ms":12.5), is scanned here in one go with
// the position in a register; anything else (whitespace, escapes, non-ASCII, other values,
// errors) goes through key and value from the member's start, which scan it the same way.
func (s *scanner) member(depth int) (k, v jsonValue, ok bool) {
	d, i := s.data, s.pos
	if i < len(d) && d[i] == '"' && depth <= maxDepth {
		end := plainRun(d, i+1)
		if end+2 < len(d) && d[end] == '"' && d[end+1] == ':' {
			k = plainString(i+1, end)
			j := end + 2
			switch c := d[j]; {
			case c == '"':
				if vend := plainRun(d, j+1); vend < len(d) && d[vend] == '"' {
					s.pos = vend + 1
					return k, plainString(j+1, vend), true
				}
			case c >= '0' && c <= '9':
				e := j + 1
				for e < len(d) && numberByte[d[e]] {
					e++
				}
				s.pos = e
				return k, jsonValue{kind: kindNumber, start: j, end: e}, true
			}
		}
	}
	k = s.key()
	if s.err != "" {
		return k, v, false
	}
	v = s.value(depth)
	return k, v, s.err == ""
}

// key scans `"key":` and leaves pos at the value.
func (s *scanner) key() jsonValue {
	if s.pos >= len(s.data) || s.data[s.pos] != '"' {
		s.fail("missing object key")
		return jsonValue{}
	}
	// The usual key: plain, directly followed by ':' and the value.
	d, i := s.data, s.pos
	end := plainRun(d, i+1)
	if end+2 < len(d) && d[end] == '"' && d[end+1] == ':' && d[end+2] > ' ' {
		s.pos = end + 2
		return plainString(i+1, end)
	}
	k := s.strRest(i+1, end)
	if s.err != "" {
		return k
	}
	s.skipWS()
	if s.pos >= len(s.data) || s.data[s.pos] != ':' {
		s.fail("missing ':' after object key")
		return jsonValue{}
	}
	s.pos++
	s.skipWS()
	return k
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
