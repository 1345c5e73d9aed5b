package engine

import (
	"math/rand/v2"
	"testing"
)

// TestKeyIndexMatchesMap drives keyIndex and a Go map with the same random puts, gets and
// deletes over a small key space (so probe chains collide, wrap around the table and are
// shifted back by deletes) and checks they always agree.
func TestKeyIndexMatchesMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var x keyIndex
	ref := map[uint64]int32{}
	// Keys chosen to share low bits, so many have the same home slot. 0 is among them; 1 is
	// not, since 0 is stored as 1.
	keyOf := func() uint64 {
		for {
			k := uint64(rng.IntN(300)) << (rng.IntN(2) * 8)
			if rng.IntN(4) == 0 { // home slots at the table's end: chains wrap round
				k = 1<<20 - uint64(rng.IntN(40))
			}
			if k != 1 {
				return k
			}
		}
	}
	for step := range 200_000 {
		k := keyOf()
		switch rng.IntN(3) {
		case 0:
			v := int32(step)
			x.put(k, v)
			ref[k] = v
		case 1:
			x.del(k)
			delete(ref, k)
		default:
			got, ok := x.get(k)
			want, wantOK := ref[k]
			if ok != wantOK || got != want {
				t.Fatalf("step %d: get(%d) = %d, %v; want %d, %v", step, k, got, ok, want, wantOK)
			}
		}
		if x.len() != len(ref) {
			t.Fatalf("step %d: len %d, want %d", step, x.len(), len(ref))
		}
	}
	for k, want := range ref {
		if got, ok := x.get(k); !ok || got != want {
			t.Fatalf("get(%d) = %d, %v; want %d", k, got, ok, want)
		}
	}
}
