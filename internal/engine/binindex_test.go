package engine

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestBinTableMatchesIndex checks the table against LogarithmicMapping.Index at every bin
// bound and the floats next to it, at the edges of the table's range, and at random values
// over the range (uniform in the logarithm, as latencies spread); outside the range the table
// declines and Index is used.
func TestBinTableMatchesIndex(t *testing.T) {
	kit := newSketchKit()
	tab, m := kit.bins, kit.log
	check := func(v float64) {
		t.Helper()
		got, ok := tab.index(v)
		if v < fastBinLo || v > fastBinHi {
			if ok {
				t.Fatalf("index(%g) answered outside the table's range", v)
			}
			return
		}
		if want := m.Index(v); !ok || got != want {
			t.Fatalf("index(%v) = %d, %v; Index = %d", v, got, ok, want)
		}
	}
	for _, b := range tab.bounds {
		for _, v := range []float64{b, math.Nextafter(b, 0), math.Nextafter(b, math.Inf(1)), math.Nextafter(math.Nextafter(b, 0), 0)} {
			check(v)
		}
	}
	for _, v := range []float64{fastBinLo, math.Nextafter(fastBinLo, 0), math.Nextafter(fastBinLo, 1), fastBinHi, math.Nextafter(fastBinHi, 0), math.Nextafter(fastBinHi, math.Inf(1)), 1, 2, 1000, 0.5} {
		check(v)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	lo, hi := math.Log(fastBinLo/2), math.Log(fastBinHi*2)
	for range 1_000_000 {
		check(math.Exp(lo + (hi-lo)*rng.Float64()))
	}
	if len(tab.bounds) < 1000 {
		t.Fatalf("only %d bounds: the table covers less than its range", len(tab.bounds))
	}
}
