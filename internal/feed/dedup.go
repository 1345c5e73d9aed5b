package feed

import "slices"

// maxTrackedAbove bounds the stream sequences remembered above the contiguous floor.
const maxTrackedAbove = 1 << 16

// seqTracker remembers which JetStream stream sequences the sinks have already accepted, so
// that a redelivery (an ack lost on a reconnect, an ack wait that ran out) is acknowledged
// again without reaching the sinks twice. Memory is bounded: a floor below which every
// sequence is done, plus at most maxTrackedAbove sequences above it. Sequences the stream
// skips (other subjects, deleted messages) hold the floor back locally; raiseFloor applies
// the server's ack floor to fix that.
type seqTracker struct {
	floor uint64
	above map[uint64]struct{}
}

func newSeqTracker(floor uint64) *seqTracker {
	return &seqTracker{floor: floor, above: make(map[uint64]struct{})}
}

func (t *seqTracker) done(seq uint64) bool {
	if seq <= t.floor {
		return true
	}
	_, ok := t.above[seq]
	return ok
}

func (t *seqTracker) mark(seq uint64) {
	if seq <= t.floor {
		return
	}
	if seq != t.floor+1 {
		t.above[seq] = struct{}{}
		if len(t.above) > maxTrackedAbove {
			t.forgetOldest()
		}
		return
	}
	t.floor = seq
	t.advance()
}

// raiseFloor applies an ack floor reported by the server.
func (t *seqTracker) raiseFloor(floor uint64) {
	if floor <= t.floor {
		return
	}
	t.floor = floor
	for seq := range t.above {
		if seq <= floor {
			delete(t.above, seq)
		}
	}
	t.advance()
}

func (t *seqTracker) advance() {
	for {
		if _, ok := t.above[t.floor+1]; !ok {
			return
		}
		delete(t.above, t.floor+1)
		t.floor++
	}
}

// forgetOldest drops the lower half of the remembered sequences. Forgetting risks handing a
// redelivered message to the sinks twice; it never skips a message that was not handled.
func (t *seqTracker) forgetOldest() {
	seqs := make([]uint64, 0, len(t.above))
	for seq := range t.above {
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	for _, seq := range seqs[:len(seqs)/2] {
		delete(t.above, seq)
	}
}
