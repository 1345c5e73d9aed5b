package wire

import "strings"

// interner shares the strings of names and keys across the events of one decoder, so that
// a stream of same-shaped messages allocates them once. The decoder and the test's
// reference decoder both use it: interning is not what the reference checks.
type interner struct {
	names map[string]internedName
	keys  map[string]string
	// nameCache and keyCache short-cut the intern maps: a stream mixes a few dozen event
	// names and keys, and a slot picked by a cheap hash of length and three bytes finds
	// almost all of them with one compare, where a map probe hashes the whole string.
	nameCache [64]internedName
	keyCache  [64]string
}

func newInterner() interner {
	return interner{names: make(map[string]internedName, 64), keys: make(map[string]string, 64)}
}

// cacheSlot is the slot of a name or key in a 64-entry cache.
func cacheSlot[T string | []byte](s T) int {
	n := len(s)
	if n == 0 {
		return 0
	}
	return (n*7 ^ int(s[0])*3 ^ int(s[n/2])*5 ^ int(s[n-1])) & 63
}

// internName returns the shared name and segments for a validated dotted name. The segments
// slice is shared by every event of that name and must be treated as read-only.
func (d *interner) internName(name string) internedName {
	slot := cacheSlot(name)
	if c := d.nameCache[slot]; c.name == name && name != "" {
		return c
	}
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
	d.nameCache[slot] = in
	return in
}

// internKey returns the sanitised, shared form of a metadata or measurement key.
func (d *interner) internKey(raw []byte) string {
	slot := cacheSlot(raw)
	if c := d.keyCache[slot]; c != "" && string(raw) == c {
		return c
	}
	k := d.internKeySlow(raw)
	// Only keys that needed no sanitising may enter the cache: the comparison above is with
	// the raw bytes.
	if k == string(raw) {
		d.keyCache[slot] = k
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
