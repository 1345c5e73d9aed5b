package sim

import (
	"encoding/json"
	"math"
	"testing"
	"unicode/utf8"
)

// FuzzAppendString checks that any reason text, hostile or not, stays valid JSON and
// round-trips when it was valid UTF-8.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "timeout", `say "hi"\`, "\x00\x1b[31mred\n", "héllo ✓", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendString(nil, s)
		if !json.Valid(b) {
			t.Fatalf("invalid JSON %q for %q", b, s)
		}
		var back string
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if utf8.ValidString(s) && back != s {
			t.Fatalf("round trip %q -> %q", s, back)
		}
	})
}

func TestAppendNumber(t *testing.T) {
	for _, c := range []struct {
		in   float64
		want string
	}{{500, "500"}, {12.3456, "12.346"}, {0.0004, "0"}, {-3, "-3"}, {2.5e15, "2500000000000000"}, {math.NaN(), "0"}, {math.Inf(1), "0"}} {
		if got := string(appendNumber(nil, c.in)); got != c.want {
			t.Errorf("appendNumber(%v) = %s, want %s", c.in, got, c.want)
		}
	}
}
