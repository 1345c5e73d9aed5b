package wire

import "strings"

// interner shares the strings of names and keys across the events of one decoder, so that
// a stream of same-shaped messages allocates them once. The decoder and the test's
// reference decoder both use it: interning is not what the reference checks.
type interner struct {
	names map[string]internedName
	keys  map[string]string
	// keyCache short-cuts the keys map: a stream mixes a few dozen keys, and a slot picked
	// by a hash (cacheSlot) finds almost all of them with one compare, where a map probe hashes
	// the whole string. (Names need no such cache: the decoder's known events answer a
	// subject seen before without interning its name again.)
	keyCache [cacheSize]string
}

// cacheSize is the number of slots of the key cache and of the decoder's known events:
// many times the subjects or keys a stream usually mixes, so that two of them rarely share
// a slot (two that share one and alternate miss each time: a map probe for a key, the
// segment checks and two small copies for a subject).
const cacheBits, cacheSize = 10, 1 << 10

func newInterner() interner {
	return interner{names: make(map[string]internedName, 64), keys: make(map[string]string, 64)}
}

// cacheSlot hashes the length and the first, middle and last eight bytes of s (every byte
// when shorter), each word multiplied by its own odd constant so that no two positions
// cancel out, and takes the top bits. The subjects of a stream all begin with the same
// prefix and its keys often end alike (_id, _ms): they differ somewhere in those words.
func cacheSlot[T string | []byte](s T) int {
	n := len(s)
	var h uint64
	switch {
	case n >= 8:
		h = le64(s[:8])*0x9e3779b97f4a7c15 ^ le64(s[n/2-4:n/2+4])*0xc2b2ae3d27d4eb4f ^ le64(s[n-8:])*0x165667b19e3779f9
	case n >= 4: // the two four-byte halves, overlapping when shorter than eight
		h = (le32(s[:4]) | le32(s[n-4:])<<32) * 0x9e3779b97f4a7c15
	default:
		for i := range n {
			h = h<<8 | uint64(s[i])
		}
		h *= 0x9e3779b97f4a7c15
	}
	h ^= uint64(n)
	h ^= h >> 29
	h *= 0xbf58476d1ce4e5b9
	return int(h >> (64 - cacheBits))
}

// le64 and le32 read the first eight or four bytes of s, little-endian (the compiler turns each into one
// load).
func le64[T string | []byte](s T) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

func le32[T string | []byte](s T) uint64 {
	_ = s[3]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24
}

// internName returns the shared name and segments for a validated dotted name. The segments
// slice is shared by every event of that name and must be treated as read-only.
func (d *interner) internName(name string) internedName {
	in, ok := d.names[name]
	if !ok {
		in = internedName{name: strings.Clone(name)}
		in.segments = strings.Split(in.name, ".")
		if len(name) <= maxInternedNameLen {
			if len(d.names) >= maxInternedNames {
				clear(d.names)
			}
			d.names[in.name] = in
		}
	}
	return in
}

// internKey returns the sanitised, shared form of a metadata or measurement key.
//
// The key cache is two-way: a key may sit in either slot of its pair, the last one
// interned in the first. Two keys of the mix that hash to the same pair (component and
// pending did) then alternate without a map probe each.
func (d *interner) internKey(raw []byte) string {
	pair := cacheSlot(raw) &^ 1
	if c := d.keyCache[pair]; string(raw) == c {
		return c
	}
	if c := d.keyCache[pair+1]; string(raw) == c {
		return c
	}
	k := d.internKeySlow(raw)
	// Only keys that needed no sanitising may enter the cache: the comparisons above are
	// with the raw bytes. (The empty key is its own sanitised form, so an empty slot
	// answering it is right.)
	if k == string(raw) {
		d.keyCache[pair+1], d.keyCache[pair] = d.keyCache[pair], k
	}
	return k
}

func (d *interner) internKeySlow(raw []byte) string {
	if k, ok := d.keys[string(raw)]; ok {
		return k
	}
	safe := SafeString(string(raw), MaxValueRunes)
	if len(raw) <= maxInternedKeyLen {
		if len(d.keys) >= maxInternedKeys {
			clear(d.keys)
		}
		d.keys[string(raw)] = safe
	}
	return safe
}
