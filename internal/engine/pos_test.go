package engine

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestPosOfMatchesPosAt checks the cached slice indexes of arrivals against posAt's
// divisions: arrivals in order and out of order, across second, minute and five-minute
// boundaries, and before the epoch, where truncating division makes slices start elsewhere.
func TestPosOfMatchesPosAt(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	st := newState(DefaultConfig(), t0)
	bases := []time.Time{t0, time.Unix(0, 0), time.Unix(-3, 0), t0.Truncate(5 * time.Minute)}
	for _, base := range bases {
		at := base.Add(-2 * time.Second)
		for range 20_000 {
			switch rng.IntN(10) {
			case 0: // back in time
				at = at.Add(-time.Duration(rng.Int64N(int64(3 * time.Second))))
			case 1: // a jump
				at = at.Add(time.Duration(rng.Int64N(int64(10 * time.Minute))))
			default:
				at = at.Add(time.Duration(rng.Int64N(int64(50 * time.Millisecond))))
			}
			if got, want := st.posOf(at), posAt(at); got != want {
				t.Fatalf("posOf(%v) = %+v, posAt = %+v", at, got, want)
			}
		}
	}
}

// TestRingSlotIsRemainder checks ringSlot's constant-divisor cases against the % they replace.
func TestRingSlotIsRemainder(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{secondSlots, fineSlots, coarseSlots, fineSketchSlots, labelerSlots, 1, 7, 1000} {
		for range 100_000 {
			idx := rng.Int64N(1 << 40) // up to 2^32 and past it, where the fallback takes over
			if got, want := ringSlot(idx, n), int(idx%int64(n)); got != want {
				t.Fatalf("ringSlot(%d, %d) = %d, want %d", idx, n, got, want)
			}
		}
	}
}
