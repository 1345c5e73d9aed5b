package engine

// keyIndex maps 64-bit hashes to int32 indexes: the trace index's lookup from a trace id's
// hash to its record, once per traced event. A Go map did it in one or two cache misses plus
// its probing; here a key and its index share a 16-byte entry, so a hit is one cache line
// in the common case. Open addressing with linear probing, at most three quarters full,
// doubling when it gets there; deletion shifts the following entries back instead of
// leaving tombstones, so lookups never slow down with churn (traces come and go at the
// event rate).
type keyIndex struct {
	entries []keyEntry // len is a power of two, or 0 before the first put
	n       int
}

type keyEntry struct {
	key uint64 // 0: empty; a key of 0 is stored as 1 (a 2^-64 collision, as for any pair)
	val int32
}

func storedKey(k uint64) uint64 {
	if k == 0 {
		return 1
	}
	return k
}

// slot returns k's slot and true, or the empty slot where k would go and false.
func (x *keyIndex) slot(k uint64) (int, bool) {
	mask := len(x.entries) - 1
	// The keys are maphash values: their low bits are already uniform.
	for i := int(k) & mask; ; i = (i + 1) & mask {
		switch x.entries[i].key {
		case k:
			return i, true
		case 0:
			return i, false
		}
	}
}

func (x *keyIndex) get(k uint64) (int32, bool) {
	if x.n == 0 {
		return 0, false
	}
	i, ok := x.slot(storedKey(k))
	if !ok {
		return 0, false
	}
	return x.entries[i].val, true
}

// put sets k's index, adding k when it is new.
func (x *keyIndex) put(k uint64, v int32) {
	if 4*(x.n+1) > 3*len(x.entries) {
		x.grow()
	}
	k = storedKey(k)
	i, ok := x.slot(k)
	if !ok {
		x.n++
	}
	x.entries[i] = keyEntry{key: k, val: v}
}

// del removes k, if present.
func (x *keyIndex) del(k uint64) {
	if x.n == 0 {
		return
	}
	i, ok := x.slot(storedKey(k))
	if !ok {
		return
	}
	mask := len(x.entries) - 1
	// Backward shift: an entry after the hole moves into it unless its home slot lies
	// cyclically in (hole, entry], where it can still be found without crossing the hole.
	for j := i; ; {
		j = (j + 1) & mask
		e := x.entries[j]
		if e.key == 0 {
			break
		}
		home := int(e.key) & mask
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			x.entries[i] = e
			i = j
		}
	}
	x.entries[i] = keyEntry{}
	x.n--
}

func (x *keyIndex) len() int { return x.n }

func (x *keyIndex) grow() {
	old := x.entries
	x.entries = make([]keyEntry, max(2*len(old), 64))
	mask := len(x.entries) - 1
	for _, e := range old {
		if e.key == 0 {
			continue
		}
		i := int(e.key) & mask
		for x.entries[i].key != 0 {
			i = (i + 1) & mask
		}
		x.entries[i] = e
	}
}
