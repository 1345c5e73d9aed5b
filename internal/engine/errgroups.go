package engine

import (
	"cmp"
	"hash/maphash"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Errors are also counted by signature: service, event name and reason with its numbers
// masked, so "timeout after 5000ms" and "timeout after 5012ms" are one group. During an
// incident at tens of errors a second the rolling log is unreadable; the groups say what is
// failing, how often, and since when, and each keeps its newest occurrence for the detail.

// maxSignatureBytes bounds the masked reason a signature keeps.
const maxSignatureBytes = 96

// maxSignatureInput bounds how much of a reason is read for its signature. The start of a
// reason is what tells errors apart, and the signature keeps at most maxSignatureBytes of
// it; reading further made the work (and what a coverage-guided fuzzer finds "new") grow
// with the reason's length. Past this many bytes, a reason's tail does not count.
const maxSignatureInput = 256

// groupExpiry is how long a group stays without a new occurrence: past the longest window
// it has nothing left to count.
const groupExpiry = 15*time.Minute + fineWidth

// ErrorGroup is the errors of one signature.
type ErrorGroup struct {
	Service   string `json:"service"`
	Event     string `json:"event"`
	Operation string `json:"operation"`
	// Signature is the reason with digit runs masked as '#': the grouping key with Service
	// and Event. Folded groups (past the cap) have Event OtherID.
	Signature string `json:"signature"`
	// Count is occurrences per window; Total since the producer started.
	Count [NumWindows]uint64 `json:"count"`
	Total uint64             `json:"total"`
	// First and Last are receive times of the first and newest occurrence.
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
	// Latest is the newest occurrence, for its detail and trace lineage.
	Latest ErrorEntry `json:"latest"`
}

type errGroup struct {
	service, event, operation, signature string
	counts                               countRing // fineWidth × fineSlots
	total                                uint64
	first, last                          time.Time
	latest                               ErrorEntry
}

// errorGroups is bounded by max groups; occurrences of new signatures past it are counted in
// other, and groups leave after groupExpiry without occurrences.
type errorGroups struct {
	max    int
	seed   maphash.Seed
	byKey  map[uint64]*errGroup
	other  *errGroup
	folded distinctCounter
	buf    []byte
}

func newErrorGroups(max int, seed maphash.Seed) errorGroups {
	return errorGroups{max: max, seed: seed, byKey: make(map[uint64]*errGroup), folded: newDistinctCounter()}
}

// maskDigits appends s to dst with what varies between occurrences of one error replaced
// by '#': numbers, with their separators ("12.4", "1,024") but not their units ("5000ms"
// becomes "#ms"), and hex ids ("9f8e7d6c", "77b3"). Words that merely
// contain digits ("s3", "v2", "ipv6") are kept. It reads at most maxSignatureInput bytes
// of s and appends at most maxSignatureBytes, never ending inside a multi-byte rune; what
// dst already holds (the group key's service and event) does not count against either.
// The work is bounded by those constants whatever the length of s.
func maskDigits(dst []byte, s string) []byte {
	start := len(dst)
	limit := start + maxSignatureBytes
	s = cutAtRune(s, maxSignatureInput)
	// Past the limit by a byte when there is more: the cut below must see whether it
	// falls inside a rune.
	for i := 0; i < len(s) && len(dst) <= limit; {
		c := s[i]
		if !isAlnum(c) {
			dst = append(dst, c)
			i++
			continue
		}
		j := i
		for j < len(s) && isAlnum(s[j]) {
			j++
		}
		word := s[i:j]
		switch {
		case !allDigits(word) && looksLikeID(word):
			dst = append(dst, '#')
			i = j
		case isDigit(c):
			k := i
			for k < len(s) && (isDigit(s[k]) || (s[k] == '.' || s[k] == ',') && k+1 < len(s) && isDigit(s[k+1])) {
				k++
			}
			dst = append(dst, '#')
			i = k // a unit after the number is a word of its own
		default:
			// Enough of the word to fill the signature and to see whether the cut below
			// falls inside a rune.
			dst = append(dst, word[:min(len(word), limit+utf8.UTFMax-len(dst))]...)
			i = j
		}
	}
	if len(dst) > limit {
		// dst[cut] is the first byte dropped: step back to the start of its rune.
		cut := limit
		for k := 1; k < utf8.UTFMax && cut > start && !utf8.RuneStart(dst[cut]); k++ {
			cut--
		}
		dst = dst[:cut]
	}
	return dst
}

// cutAtRune returns s cut to at most n bytes, not inside a multi-byte rune.
func cutAtRune(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for k := 1; k < utf8.UTFMax && n > 0 && !utf8.RuneStart(s[n]); k++ {
		n--
	}
	return s[:n]
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func allDigits(word string) bool {
	for i := 0; i < len(word); i++ {
		if !isDigit(word[i]) {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool { return isDigit(c) || c|0x20 >= 'a' && c|0x20 <= 'z' }

// looksLikeID is a hex token with a digit in it, of at least six characters or starting
// with a digit (the short groups of a UUID: "77b3").
func looksLikeID(word string) bool {
	if len(word) < 6 && !isDigit(word[0]) {
		return false
	}
	digit := false
	for i := 0; i < len(word); i++ {
		c := word[i]
		switch {
		case isDigit(c):
			digit = true
		case c|0x20 >= 'a' && c|0x20 <= 'f':
		default:
			return false
		}
	}
	return digit
}

func (g *errorGroups) add(e *ErrorEntry, at slicePos) {
	g.buf = append(g.buf[:0], e.Service...)
	g.buf = append(g.buf, 0)
	g.buf = append(g.buf, e.Event...)
	g.buf = append(g.buf, 0)
	sigStart := len(g.buf)
	g.buf = maskDigits(g.buf, e.Reason)
	key := maphash.Bytes(g.seed, g.buf)
	grp, ok := g.byKey[key]
	if !ok {
		if len(g.byKey) >= g.max {
			g.folded.addHash(key)
			if g.other == nil {
				g.other = &errGroup{event: OtherID, operation: OtherID, signature: "signatures past the cap", counts: newCountRing(fineSlots, 1)}
			}
			grp = g.other
		} else {
			grp = &errGroup{
				service: e.Service, event: e.Event, operation: e.Operation,
				signature: string(g.buf[sigStart:]), counts: newCountRing(fineSlots, 1),
			}
			g.byKey[key] = grp
		}
	}
	grp.counts.add(at.fine, 0, 1)
	grp.total++
	if grp.first.IsZero() {
		grp.first = at.t
	}
	if !at.t.Before(grp.last) {
		grp.last = at.t
		grp.latest = *e
	}
}

// expire drops groups without occurrences for groupExpiry.
func (g *errorGroups) expire(now time.Time) {
	cutoff := now.Add(-groupExpiry)
	for k, grp := range g.byKey {
		if grp.last.Before(cutoff) {
			delete(g.byKey, k)
		}
	}
	if g.other != nil && g.other.last.Before(cutoff) {
		g.other = nil
	}
}

// build returns the groups with any occurrence in the longest window, most frequent in 5m
// first, then newest.
func (g *errorGroups) build(fine int64) []ErrorGroup {
	out := make([]ErrorGroup, 0, len(g.byKey)+1)
	emit := func(grp *errGroup) {
		counts := grp.counts.windowSums(fine, fineKs, 0)
		if counts[Window15m] == 0 {
			return
		}
		out = append(out, ErrorGroup{
			Service: grp.service, Event: grp.event, Operation: grp.operation, Signature: grp.signature,
			Count: counts, Total: grp.total, First: grp.first, Last: grp.last, Latest: grp.latest,
		})
	}
	for _, grp := range g.byKey {
		emit(grp)
	}
	if g.other != nil {
		emit(g.other)
	}
	SortErrorGroups(out, Window5m)
	return out
}

// SortErrorGroups orders groups by their count in w, then by service, event and signature
// (not by recency, which would reshuffle equal rows every refresh).
func SortErrorGroups(groups []ErrorGroup, w Window) {
	slices.SortFunc(groups, func(a, b ErrorGroup) int {
		if c := cmp.Compare(b.Count[w], a.Count[w]); c != 0 {
			return c
		}
		return cmp.Or(strings.Compare(a.Service, b.Service), strings.Compare(a.Event, b.Event), strings.Compare(a.Signature, b.Signature))
	})
}
