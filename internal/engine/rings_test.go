package engine

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
)

// TestPairedRingsMatchAddingTwice checks the fine-to-coarse spill against what it replaced,
// every value added to both rings: the same coarse windows (bins, counts, maxima) at every
// step, through arrivals in order, late ones (some too late for the fine ring), gaps longer
// than either ring, resets, and merges into another pair that has data of its own.
func TestPairedRingsMatchAddingTwice(t *testing.T) {
	kit := newSketchKit()
	type pair struct{ fine, coarse sketchRing }
	newPair := func(paired bool) *pair {
		p := &pair{fine: newSketchRing(fineSketchSlots), coarse: newSketchRing(coarseSlots)}
		if paired {
			pairSketchRings(&p.fine, &p.coarse)
			p.fine.dense = true // as an operation's: against the paginated stores
		}
		return p
	}
	add := func(p *pair, paired bool, at time.Time, v float64) {
		sv := kit.value(v)
		p.fine.addValue(sliceIndex(at, fineWidth), sv, kit)
		if !paired {
			p.coarse.addValue(sliceIndex(at, coarseWidth), sv, kit)
		}
	}
	accA, accB := kit.accumulator(), kit.accumulator()
	type sketchAccumulator struct{ sk *ddsketch.DDSketch }
	window := func(r *sketchRing, cur int64, ks [NumWindows]int, acc sketchAccumulator) (out [NumWindows]AggregateSketch) {
		r.eachWindow(cur, ks, acc.sk, func(w Window, n uint64, mx float64) {
			out[w] = AggregateSketch{N: n, Max: mx}
			if n > 0 {
				acc.sk.Encode(&out[w].Bins, true)
			}
		})
		return out
	}
	same := func(step int, what string, a, b [NumWindows]AggregateSketch) {
		t.Helper()
		for w := range a {
			if a[w].N != b[w].N || a[w].Max != b[w].Max || !slices.Equal(a[w].Bins, b[w].Bins) {
				t.Fatalf("step %d, %s, window %d: spilled %+v, added twice %+v", step, what, w, a[w], b[w])
			}
		}
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for round := 0; round < 20; round++ {
		spilled, twice := newPair(true), newPair(false)
		other, otherTwice := newPair(true), newPair(false)
		now := t0.Add(time.Duration(rng.Int64N(int64(time.Hour))))
		for step := 0; step < 3000; step++ {
			switch k := rng.IntN(100); {
			case k < 2: // a gap
				now = now.Add(time.Duration(rng.Int64N(int64(20 * time.Minute))))
			case k < 3:
				spilled.fine.reset()
				spilled.coarse.reset()
				twice.fine.reset()
				twice.coarse.reset()
			case k < 5: // another pair's data, as an evicted queue's into the fold
				for i := 0; i < 5; i++ {
					at := now.Add(-time.Duration(rng.Int64N(int64(3 * time.Minute))))
					v := rng.ExpFloat64() * 2000
					add(other, true, at, v)
					add(otherTwice, false, at, v)
				}
				other.fine.mergeInto(&spilled.fine, kit)
				other.coarse.mergeInto(&spilled.coarse, kit)
				otherTwice.fine.mergeInto(&twice.fine, kit)
				otherTwice.coarse.mergeInto(&twice.coarse, kit)
			default:
				now = now.Add(time.Duration(rng.Int64N(int64(2 * time.Second))))
				at := now
				if rng.IntN(10) == 0 { // late, up to past the fine ring's minute
					at = now.Add(-time.Duration(rng.Int64N(int64(3 * time.Minute))))
				}
				v := rng.ExpFloat64() * 2000
				switch rng.IntN(40) {
				case 0, 1:
					v = 0
				case 2: // below fastBinLo: a dense slot turns paginated
					v = 1e-200
				}
				add(spilled, true, at, v)
				add(twice, false, at, v)
			}
			if step%7 != 0 {
				continue
			}
			fine, coarse := sliceIndex(now, fineWidth), sliceIndex(now, coarseWidth)
			same(step, "fine", window(&spilled.fine, fine, fineSketchKs, sketchAccumulator{accA}), window(&twice.fine, fine, fineSketchKs, sketchAccumulator{accB}))
			same(step, "coarse", window(&spilled.coarse, coarse, coarseKs, sketchAccumulator{accA}), window(&twice.coarse, coarse, coarseKs, sketchAccumulator{accB}))
			var a, b windowAcc
			a.addRing(&spilled.coarse, coarse, 2, 9, kit)
			b.addRing(&twice.coarse, coarse, 2, 9, kit)
			same(step, "addRing", [NumWindows]AggregateSketch{a.aggregate()}, [NumWindows]AggregateSketch{b.aggregate()})
		}
	}
}

// TestPairedCountRingsMatchAddingTwice is TestPairedRingsMatchAddingTwice for a labeler's
// count rings: windowRows over the coarse ring at every step, as if every count had been
// added to both rings.
func TestPairedCountRingsMatchAddingTwice(t *testing.T) {
	type pair struct{ fine, coarse countRing }
	newPair := func(paired bool) *pair {
		p := &pair{fine: newCountRing(fineSketchSlots, lCols), coarse: newCountRing(coarseSlots, lCols)}
		if paired {
			pairCountRings(&p.fine, &p.coarse)
		}
		return p
	}
	add := func(p *pair, paired bool, at time.Time, col int, n uint32) {
		p.fine.add(sliceIndex(at, fineWidth), col, n)
		if !paired {
			p.coarse.add(sliceIndex(at, coarseWidth), col, n)
		}
	}
	rng := rand.New(rand.NewPCG(9, 10))
	for round := 0; round < 20; round++ {
		spilled, twice := newPair(true), newPair(false)
		other, otherTwice := newPair(true), newPair(false)
		now := t0.Add(time.Duration(rng.Int64N(int64(time.Hour))))
		for step := 0; step < 5000; step++ {
			switch k := rng.IntN(100); {
			case k < 2:
				now = now.Add(time.Duration(rng.Int64N(int64(20 * time.Minute))))
			case k < 3:
				spilled.fine.reset()
				spilled.coarse.reset()
				twice.fine.reset()
				twice.coarse.reset()
			case k < 5:
				for i := 0; i < 5; i++ {
					at := now.Add(-time.Duration(rng.Int64N(int64(3 * time.Minute))))
					col, n := rng.IntN(lCols), uint32(1+rng.IntN(3))
					add(other, true, at, col, n)
					add(otherTwice, false, at, col, n)
				}
				other.fine.mergeInto(&spilled.fine)
				other.coarse.mergeInto(&spilled.coarse)
				otherTwice.fine.mergeInto(&twice.fine)
				otherTwice.coarse.mergeInto(&twice.coarse)
			default:
				now = now.Add(time.Duration(rng.Int64N(int64(2 * time.Second))))
				at := now
				if rng.IntN(10) == 0 {
					at = now.Add(-time.Duration(rng.Int64N(int64(3 * time.Minute))))
				}
				col, n := rng.IntN(lCols), uint32(1+rng.IntN(3))
				add(spilled, true, at, col, n)
				add(twice, false, at, col, n)
			}
			fine, coarse := sliceIndex(now, fineWidth), sliceIndex(now, coarseWidth)
			var a, b [NumWindows][qCols]uint64
			spilled.fine.windowRows(fine, labelerFineKs, &a)
			twice.fine.windowRows(fine, labelerFineKs, &b)
			if a != b {
				t.Fatalf("round %d step %d: fine rows %v, added twice %v", round, step, a, b)
			}
			spilled.coarse.windowRows(coarse, coarseKs, &a)
			twice.coarse.windowRows(coarse, coarseKs, &b)
			if a != b {
				t.Fatalf("round %d step %d: coarse rows %v, added twice %v", round, step, a, b)
			}
		}
	}
}

// TestSketchRingMatchesDDSketch adds values, zeros and values too small to index among them,
// to a ring and to one plain DDSketch, and compares the window the ring gives with it.
func TestSketchRingMatchesDDSketch(t *testing.T) {
	kit := newSketchKit()
	rng := rand.New(rand.NewPCG(13, 14))
	for round := 0; round < 50; round++ {
		r := newSketchRing(fineSketchSlots)
		want, _ := kit.slice()
		cur := int64(1000 + round)
		for i := 0; i < 500; i++ {
			var v float64
			switch rng.IntN(4) {
			case 0:
				v = 0
			case 1:
				v = -rng.Float64()
			case 2:
				v = 1e-320 // below the smallest indexable value
			default:
				v = rng.ExpFloat64() * 300
			}
			idx := cur - int64(rng.IntN(fineSketchSlots))
			r.add(idx, v, kit)
			_ = want.Add(clampMS(v))
			if rng.IntN(50) == 0 { // a read in between flushes the zeros counted so far
				r.windowQuantiles(cur, fineSketchKs, kit.accumulator(), new([NumWindows]Quantiles))
			}
		}
		acc := kit.accumulator()
		r.eachWindow(cur, fineSketchKs, acc, func(Window, uint64, float64) {})
		if acc.GetCount() != want.GetCount() || acc.GetZeroCount() != want.GetZeroCount() {
			t.Fatalf("round %d: ring counts %v values (%v zero), DDSketch %v (%v zero)", round, acc.GetCount(), acc.GetZeroCount(), want.GetCount(), want.GetZeroCount())
		}
		for _, p := range []float64{0, 0.1, 0.3, 0.5, 0.9, 0.99, 1} {
			a, _ := acc.GetValueAtQuantile(p)
			b, _ := want.GetValueAtQuantile(p)
			if a != b {
				t.Fatalf("round %d: p%v = %v from the ring, %v from DDSketch", round, p*100, a, b)
			}
		}
	}
}

// TestDenseSlotStaysSmall checks that a value outside fastBinLo..fastBinHi turns a dense
// slot's store into a paginated one (a dense store spanning 1e-300 to 1e3 would hold tens
// of thousands of bins), and that the slot still holds every value.
func TestDenseSlotStaysSmall(t *testing.T) {
	kit := newSketchKit()
	r := newSketchRing(fineSketchSlots)
	r.dense = true
	for _, v := range []float64{12, 0, 250, 1e-300, 1000} {
		r.add(7, v, kit)
	}
	s := r.get(7)
	if s == nil || s.dense != nil {
		t.Fatalf("slot %+v: want a paginated store after a value below fastBinLo", s)
	}
	sk := s.sketch()
	want, _ := kit.slice()
	for _, v := range []float64{12, 0, 250, 1e-300, 1000} {
		_ = want.Add(v)
	}
	if sk.GetCount() != want.GetCount() || sk.GetZeroCount() != want.GetZeroCount() {
		t.Fatalf("slot counts %v (%v zero), DDSketch %v (%v zero)", sk.GetCount(), sk.GetZeroCount(), want.GetCount(), want.GetZeroCount())
	}
	for _, p := range []float64{0, 0.25, 0.5, 0.75, 1} {
		a, _ := sk.GetValueAtQuantile(p)
		b, _ := want.GetValueAtQuantile(p)
		if a != b {
			t.Fatalf("p%v: %v from the slot, %v from DDSketch", p*100, a, b)
		}
	}
}
