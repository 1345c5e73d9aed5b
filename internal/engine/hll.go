package engine

import (
	"math"
	"math/bits"
)

// distinctCounter estimates how many distinct ids were folded into OtherID without keeping
// them: a HyperLogLog with 2^12 one-byte registers (4 KiB, about 1.6% standard error).
type distinctCounter struct {
	regs    []uint8
	touched bool
}

const hllBits = 12

func newDistinctCounter() distinctCounter {
	return distinctCounter{regs: make([]uint8, 1<<hllBits)}
}

func (d *distinctCounter) addHash(h uint64) {
	h = mix64(h)
	idx := h >> (64 - hllBits)
	rank := uint8(bits.LeadingZeros64(h<<hllBits|1<<(hllBits-1)) + 1)
	if rank > d.regs[idx] {
		d.regs[idx] = rank
	}
	d.touched = true
}

// estimate returns the estimated number of distinct hashes added.
func (d *distinctCounter) estimate() uint64 {
	if !d.touched {
		return 0
	}
	m := float64(len(d.regs))
	var sum float64
	zeros := 0
	for _, r := range d.regs {
		sum += math.Ldexp(1, -int(r))
		if r == 0 {
			zeros++
		}
	}
	alpha := 0.7213 / (1 + 1.079/m)
	est := alpha * m * m / sum
	if est <= 2.5*m && zeros > 0 { // small-range correction: linear counting
		est = m * math.Log(m/float64(zeros))
	}
	return uint64(est + 0.5)
}

// mix64 is the splitmix64 finaliser; it spreads hashes that may share low-entropy bits.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
