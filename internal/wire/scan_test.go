package wire

import (
	"bytes"
	"testing"
)

// TestPlainRunMatchesTable: the word-at-a-time scan stops where the byte table says, for
// every byte value at every position of a word, after a special byte (a borrow must not
// hide or invent one), and in the tail shorter than a word.
func TestPlainRunMatchesTable(t *testing.T) {
	want := func(d []byte, i int) int {
		for i < len(d) && !stringSpecial[d[i]] {
			i++
		}
		return i
	}
	base := []byte("abcdefghijklmnopqrstuvwxyz012345678")
	for size := range len(base) {
		for pos := range size {
			for c := range 256 {
				d := bytes.Clone(base[:size])
				d[pos] = byte(c)
				for _, start := range []int{0, 1, 3} {
					if start > size {
						continue
					}
					if got, want := plainRun(d, start), want(d, start); got != want {
						t.Fatalf("%q from %d: got %d, want %d", d, start, got, want)
					}
				}
				// A second special byte after the first: the first one is found.
				if pos+1 < size {
					d[pos+1] = 0
					if got, want := plainRun(d, 0), want(d, 0); got != want {
						t.Fatalf("%q: got %d, want %d", d, got, want)
					}
				}
			}
		}
	}
}
