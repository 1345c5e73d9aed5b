package wire

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSafeString(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"queue_123", 256, "queue_123"},
		{"", 5, ""},
		{"a\tb", 10, "a b"},
		{"a\nb\rc", 10, `a\nb\rc`},
		{"\x1b[31mred", 20, `\x1b[31mred`},
		{"del\x7f", 10, `del\x7f`},
		{"nul\x00", 10, `nul\x00`},
		{"c1\u009b2J", 20, `c1\u009b2J`},
		{"abc\u202edcba", 20, `abc\u202edcba`},
		{"iso\u2066x\u2069", 30, `iso\u2066x\u2069`},
		{"lrm\u200e\u200f", 30, `lrm\u200e\u200f`},
		{"sep\u2028\u2029", 30, `sep\u2028\u2029`},
		{"bad\xffutf8", 20, "bad\uFFFDutf8"},
		{"héllo wörld", 20, "héllo wörld"},
		{"abcdef", 4, "abc…"},
		{"abcd", 4, "abcd"},
		{"ééééé", 3, "éé…"},
		{"ab\x1bcd", 5, "ab…"}, // an escape is never cut in half
		{"abc", 0, "…"},
	}
	for _, tc := range tests {
		if got := SafeString(tc.in, tc.max); got != tc.want {
			t.Errorf("SafeString(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}

func TestSafeStringFastPathDoesNotAllocate(t *testing.T) {
	s := strings.Repeat("queue_123 ", 10)
	if n := testing.AllocsPerRun(100, func() { _ = SafeString(s, 256) }); n != 0 {
		t.Fatalf("fast path allocated %v times", n)
	}
}

func TestExcerpt(t *testing.T) {
	if got := Excerpt([]byte("\xff\xfe{\"a\":\x1b}"), 100); got != `\xff\xfe{"a":\x1b}` {
		t.Errorf("Excerpt = %q", got)
	}
	long := Excerpt([]byte(strings.Repeat("x", 10000)), 16)
	if utf8.RuneCountInString(long) != 16 || !strings.HasSuffix(long, "…") {
		t.Errorf("long excerpt %q", long)
	}
}

// TestSafeStringProperty drives SafeString with many generated strings built from the
// dangerous alphabet and asserts the invariant.
func TestSafeStringProperty(t *testing.T) {
	alphabet := []string{"a", "é", "\x00", "\x1b", "\t", "\n", "\r", "\x7f", "\x9b", "\u009b", "\u202a", "\u202e",
		"\u2066", "\u2069", "\u200e", "\u200f", "\u2028", "\u2029", "\xff", "\xe2\x80", "日", "\\", "\ufeff"}
	seed := uint64(1)
	next := func() uint64 { seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17; return seed }
	for range 20000 {
		var b strings.Builder
		for n := next() % 40; n > 0; n-- {
			b.WriteString(alphabet[next()%uint64(len(alphabet))])
		}
		limit := int(next()%50) + 1
		for _, out := range []string{SafeString(b.String(), limit), Excerpt([]byte(b.String()), limit)} {
			assertSafeOutput(t, b.String(), out, limit)
		}
	}
}

func assertSafeOutput(t testing.TB, in, out string, limit int) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Fatalf("%q → %q: invalid UTF-8", in, out)
	}
	for i := 0; i < len(out); i++ {
		if out[i] < 0x20 || out[i] == 0x7f {
			t.Fatalf("%q → %q: control byte %#x", in, out, out[i])
		}
	}
	for _, r := range out {
		if isUnsafeRune(r) {
			t.Fatalf("%q → %q: unsafe rune %U", in, out, r)
		}
	}
	if n := utf8.RuneCountInString(out); n > limit {
		t.Fatalf("%q → %q: %d runes > %d", in, out, n, limit)
	}
}

func FuzzSafeString(f *testing.F) {
	f.Add("\x1b[2J\u202e", 10)
	f.Add("plain", 3)
	f.Fuzz(func(t *testing.T, s string, limit int) {
		limit = limit%2000 + 1
		if limit < 1 {
			limit = -limit + 1
		}
		assertSafeOutput(t, s, SafeString(s, limit), limit)
		assertSafeOutput(t, s, Excerpt([]byte(s), limit), limit)
	})
}

// Invisible characters would let a fake id pass for a real one in a list.
func TestSafeStringShowsInvisibleCharacters(t *testing.T) {
	cases := map[string]string{
		"queue_a\u200b":     `queue_a\u200b`,
		"a\u00adb":          `a\u00adb`,
		"x\u2060y":          `x\u2060y`,
		"tag\U000E0041":     `tag\U000e0041`,
		"zwj\u200d":         `zwj\u200d`,
		"plain é and 漢字 ok": "plain é and 漢字 ok",
	}
	for in, want := range cases {
		if got := SafeString(in, 64); got != want {
			t.Errorf("SafeString(%q) = %q, want %q", in, got, want)
		}
		if got := SafeString(SafeString(in, 64), 64); got != SafeString(in, 64) {
			t.Errorf("not idempotent for %q: %q", in, got)
		}
	}
}
