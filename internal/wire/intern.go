package wire

import "strings"

// interner shares the strings of names and keys across the events of one decoder, so that
// a stream of same-shaped messages allocates them once. The decoder and the test's
// reference decoder both use it: interning is not what the reference checks.
type interner struct {
	names map[string]internedName
	keys  map[string]string
	// lastName and recentKeys short-cut the intern maps for the common case of a stream of
	// same-shaped messages: recentKeys[i] is the key last seen at position i of an object.
	lastName   internedName
	recentKeys [16]string
}

func newInterner() interner {
	return interner{names: make(map[string]internedName, 64), keys: make(map[string]string, 64)}
}

// internName returns the shared name and segments for a validated dotted name. The segments
// slice is shared by every event of that name and must be treated as read-only.
func (d *interner) internName(name string) internedName {
	if name == d.lastName.name && name != "" {
		return d.lastName
	}
	if in, ok := d.names[name]; ok {
		d.lastName = in
		return in
	}
	in := internedName{name: strings.Clone(name)}
	in.segments = strings.Split(in.name, ".")
	if len(name) <= maxInternedNameLen {
		if len(d.names) >= maxInternedNames {
			clear(d.names)
		}
		d.names[in.name] = in
	}
	d.lastName = in
	return in
}

// internKey returns the sanitised, shared form of a metadata or measurement key; slot is a
// position hint for the recent-keys cache (-1 for none).
func (d *interner) internKey(raw []byte, slot int) string {
	cached := slot >= 0 && slot < len(d.recentKeys)
	if cached && d.recentKeys[slot] != "" && string(raw) == d.recentKeys[slot] {
		return d.recentKeys[slot]
	}
	k := d.internKeySlow(raw)
	// Only keys that needed no sanitising may enter the cache: the comparison above is with
	// the raw bytes.
	if cached && k == string(raw) {
		d.recentKeys[slot] = k
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
