package wire

import (
	"math/bits"
	"time"
)

// Shape templates: the decoder's fast path for the payloads an emitter sends again and again.
//
// An emitter's bridge writes every event of one name with the same keys in the same order and
// the same kinds of values; only the values change. After the general pass has accepted a
// compact payload, the decoder records its shape: the literal bytes between the values it
// reads (`{"v":1,"event":[…],"time":"`, `","measurements":{"duration_ms":`, …) and the holes
// where those values go (the time, the node, a metadata value under key K, a measurement K, a
// trace id). The next payload on the same subject is matched against it: each literal byte
// for byte, each hole scanned as the general pass scans that value and checked as the general
// path checks it. A payload that matches is then exactly the recorded payload with other
// values in the holes, so the general path would read the same fields, in the same order,
// with the same kinds, and would run the same checks on the same hole contents; the template
// runs those checks itself and fills the Event as the general path does. Anything that does
// not match, or any check that fails, falls back to the general path, which decodes the
// payload (and reports its error) from the start: the fast path never refuses a payload.
//
// Why a payload that matches decodes the same: the literals are identical, so every token
// outside the holes is; a string hole holds only plain bytes (printable ASCII, no '"' or
// '\\': plainRun) and ends at the first '"', where the general scanner ends it too; a
// number hole is led by a digit (or '-' and a digit) and is the longest run of number bytes,
// which is the token the scanner reads there, and the literal after it starts with ',' or
// '}'; a trace hole matches only the compact spellings of matchTrace, whose ids are
// lower-case hex of their sizes. The event array is part of a literal, and the subject is
// compared, so the event name is the one the general path found for the recorded payload.
//
// Bounds: shapeSets sets of shapeWays templates each, a template only of a payload of at most
// maxShapeBytes with at most maxShapeHoles holes and a subject of at most maxShapeSubject
// bytes. A template's buffers have those sizes from the start (about 2 KiB) and are reused
// when it is replaced, so however hostile the stream the templates hold at most
// shapeSets*shapeWays+1 of them, under 300 KiB (TestShapeMemoryBounded).
const (
	shapeSetBits = 5
	shapeSets    = 1 << shapeSetBits
	// shapeWays: an event's shapes are usually two (result ok, and error with a reason), and
	// a few subjects share a set.
	shapeWays       = 4
	maxShapeBytes   = 1024
	maxShapeHoles   = 32
	maxShapeSubject = 128
	// shapeBackoff is how many accepted payloads of a set are not recorded after a payload
	// that could not be (whitespace, escapes, other kinds of values) or after a template was
	// replaced before it served once: a stream whose shapes never repeat then pays for a
	// recording once in shapeBackoff payloads instead of every time.
	shapeBackoff = 32
)

// holeKind is which value of the event a hole holds.
type holeKind uint8

const (
	holeTime holeKind = iota
	holeNode
	holeMeasurement
	// The metadata holes, in this order and together (learnShape tests the range).
	holeMetaString
	holeMetaNumber
	// holeMetaLiteral is a metadata true, false or null: its text is in the literal before
	// it, and the hole adds the pair without reading anything.
	holeMetaLiteral
	// holeTrace is where the trace member is, or would go: `,"trace":` and a compact trace
	// object or null, or nothing (matchTrace). The emitters of one event send it with and
	// without a parent span, or leave it to the traceparent header: one template serves them.
	holeTrace
)

type shapeHole struct {
	// litEnd is where, in the template's lits, the literal before this hole ends (it starts
	// where the previous hole's ended).
	litEnd int32
	// limit is a metadata string's length cap (MaxReasonRunes for reason); for the time, the
	// length of the recorded one.
	limit int32
	kind  holeKind
	class rangeClass // a measurement's range
	word  uint8      // a holeMetaLiteral's text, in metaWords
	// key is the interned key of a measurement or metadata pair.
	key string
}

// metaWords are the metadata values a holeMetaLiteral stands for.
var metaWords = [...]string{"true", "false", "null"}

type shapeTemplate struct {
	live    bool
	subject []byte
	lits    []byte
	holes   []shapeHole
	name    internedName
	// nMeas and nMeta count the measurement and the metadata holes; hasTime and hasNode say
	// whether there is a time and a node hole; audit is IsAudit(name).
	nMeas, nMeta     int
	hasTime, hasNode bool
	audit            bool
	// pairs lists the measurement holes (the first nMeas) and then the metadata holes, each
	// in payload order: the event's slices are filled from it without a pass over every hole.
	pairs [maxShapeHoles]uint8
	// hits counts the payloads decoded through the template (the tests read it; the
	// recording policy asks whether it ever served).
	hits uint64
}

type shapeSet struct {
	ways [shapeWays]shapeTemplate
	// used is when each way served or was recorded last, on the set's clock: the least
	// recently used one is replaced.
	used  [shapeWays]uint64
	clock uint64
	// mru is the way that served or was recorded last: it is tried first.
	mru  uint8
	skip uint8 // payloads left to accept before the next recording (shapeBackoff)
}

// shapeSetOf picks the set of a subject from the same hash as the known events.
func shapeSetOf(subject string) int {
	return cacheSlot(subject) >> (cacheBits - shapeSetBits)
}

// decodeByShape decodes data through a template of its subject, if one fits; it reports
// false when none does, with nothing of the decoder changed that the general path reads:
// only the arena's spare capacity, shapeSpans, shapeVals and the minute cache, whose state
// after a successful parse is the general path's own.
func (d *Decoder) decodeByShape(set *shapeSet, ev *Event, subject string, data []byte, traceparent string, received time.Time, owned bool) bool {
	w := set.mru
	for range shapeWays {
		t := &set.ways[w]
		if t.live && string(t.subject) == subject {
			if d.fromShape(t, ev, data, traceparent, received, owned) {
				t.hits++
				set.clock++
				set.used[w], set.mru = set.clock, w
				return true
			}
		}
		w = (w + 1) % shapeWays
	}
	return false
}

// fromShape matches data against t and, when it matches and every value passes the general
// path's checks, fills *ev as the general path would (decodeParsed and finishEvent): the
// same strings in the same order in the arena, the same carving of blocks.
//
// What the holes give is kept where no pointer is written (the arena, and the decoder's
// shapeSpans and shapeVals): while the GC marks, every pointer stored in the heap costs a
// write barrier, so the measurements and pairs are built once, in their blocks, at the end,
// instead of being staged in d.meas and d.pending as the general path does. The arena is a
// local until the end for the same reason, and so that a payload that does not match leaves
// the decoder as it was (but for bytes past the arena's length, which no string reads).
//
// With owned (DecodeOwned), the plain values, the node, the trace ids and Raw are not copied
// but read from data itself: their spans are marked with ownedSpan.
func (d *Decoder) fromShape(t *shapeTemplate, ev *Event, data []byte, traceparent string, received time.Time, owned bool) bool {
	arena := d.arena
	spans, vals := &d.shapeSpans, &d.shapeVals
	lits := t.lits
	p, prev := 0, 0
	// Where the node and the trace ids are in data (end 0 when absent), and the time: in a
	// struct whose address is taken, so that the loop keeps them in memory, touched only by
	// their holes, instead of carrying them in registers it spills on every hole.
	var at struct {
		node  span
		trace [3]span
		time  time.Time
	}
	holes := t.holes
	for k := range holes {
		h := &holes[k]
		lit := lits[prev:h.litEnd]
		prev = int(h.litEnd)
		if len(data)-p < len(lit) || string(data[p:p+len(lit)]) != string(lit) {
			return false
		}
		p += len(lit)
		switch h.kind {
		case holeMeasurement:
			// measurement's checks: a finite number in the key's range.
			e, f, ok := numberAt(data, p)
			if !ok || !isFinite(f) || !h.class.contains(f) {
				return false
			}
			vals[k] = f
			p = e
		case holeMetaString:
			e := plainRun(data, p)
			if e >= len(data) || data[e] != '"' {
				return false
			}
			switch start := len(arena); {
			case e-p > int(h.limit):
				arena = appendSafeBytes(arena, data[p:e], int(h.limit))
				spans[k] = span{start, len(arena)}
			case owned:
				spans[k] = ownedSpan(p, e)
			default: // metadataPair's plain case
				arena = append(arena, data[p:e]...)
				spans[k] = span{start, len(arena)}
			}
			p = e
		case holeMetaNumber:
			e, f, ok := numberAt(data, p)
			if !ok || !isFinite(f) {
				return false
			}
			start := len(arena)
			arena = appendSafeBytes(arena, data[p:e], MaxValueRunes)
			spans[k] = span{start, len(arena)}
			p = e
		case holeMetaLiteral:
			start := len(arena)
			arena = append(arena, metaWords[h.word]...)
			spans[k] = span{start, len(arena)}
		case holeTrace:
			e, ok := matchTrace(data, p, &at.trace)
			if !ok {
				return false
			}
			p = e
		case holeTime:
			// The usual timestamp has the recorded one's length, and the minute cache's fast
			// path accepts only digits and "-T:.Z": then it is plain and ends at that '"'
			// without a scan. (decodeParsed parses the time after the pass: the same
			// parse, and the minute cache changes only on success, so its order is moot.)
			if e := p + int(h.limit); e < len(data) && data[e] == '"' {
				if tm, ok := d.minutes.parseFast(data[p:e]); ok {
					at.time, p = tm, e
					continue
				}
			}
			e := plainRun(data, p)
			if e >= len(data) || data[e] != '"' {
				return false
			}
			tm, err := d.minutes.parseRFC3339(data[p:e])
			if err != nil {
				return false
			}
			at.time, p = tm, e
		default: // the node
			e := plainRun(data, p)
			if e >= len(data) || data[e] != '"' {
				return false
			}
			at.node, p = span{p, e}, e
		}
	}
	if tail := lits[prev:]; string(data[p:]) != string(tail) {
		return false
	}

	// From here on, decodeParsed's steps after the checks, and finishEvent's.
	ev.Name, ev.Segments = t.name.name, t.name.segments
	ev.Time, ev.Received = received, received
	if t.hasTime {
		ev.Time, ev.HasTime = at.time, true
	}
	var nodeStr span
	if node := at.node; t.hasNode {
		switch plain := node.end-node.start <= MaxValueRunes; {
		case plain && owned:
			nodeStr = ownedSpan(node.start, node.end)
		case plain:
			nodeStr.start = len(arena)
			arena = append(arena, data[node.start:node.end]...)
			nodeStr.end = len(arena)
		default:
			nodeStr.start = len(arena)
			arena = appendSafeBytes(arena, data[node.start:node.end], MaxValueRunes)
			nodeStr.end = len(arena)
		}
	}
	var traceStr [3]span
	if trace := &at.trace; trace[0].end != 0 { // bodyTrace's appends, in its order
		for i := range trace {
			switch {
			case trace[i].end == 0:
			case owned:
				traceStr[i] = ownedSpan(trace[i].start, trace[i].end)
			default:
				traceStr[i].start = len(arena)
				arena = append(arena, data[trace[i].start:trace[i].end]...)
				traceStr[i].end = len(arena)
			}
		}
	} else if traceparent != "" {
		arena = appendHeaderTrace(arena, traceparent, &traceStr)
	}

	strs := eventStrings{arena: arenaString(arena)}
	if owned {
		strs.data = payloadString(data)
	}
	if t.nMeas > 0 {
		ms := carve(&d.measBlock, t.nMeas)
		for j, k := range t.pairs[:len(ms)] {
			ms[j] = Measurement{Key: t.holes[k].key, Value: vals[k]}
		}
		ev.Measurements = ms
	}
	if t.nMeta > 0 {
		kvs := carve(&d.kvBlock, t.nMeta)
		for j, k := range t.pairs[t.nMeas : t.nMeas+len(kvs)] {
			kvs[j] = KV{Key: t.holes[k].key, Value: strs.of(spans[k])}
		}
		ev.Metadata = kvs
	}
	ev.Node = strs.of(nodeStr)
	ev.Trace = Trace{
		TraceID:      strs.of(traceStr[0]),
		SpanID:       strs.of(traceStr[1]),
		ParentSpanID: strs.of(traceStr[2]),
	}
	if t.audit && owned {
		ev.Raw = data[:len(data):len(data)]
	} else if t.audit { // finishEvent's Raw
		start := len(arena)
		arena = append(arena, data...)
		ev.Raw = arena[start:len(arena):len(arena)]
	}
	d.arena = arena[len(arena):]
	return true
}

// numberHole returns the end of the number token at p, led by a digit or by '-' and a
// digit (the tokens the scanner reads the same way wherever they are), or -1.
func numberHole(data []byte, p int) int {
	i := p
	if i < len(data) && data[i] == '-' {
		i++
	}
	if i >= len(data) || data[i] < '0' || data[i] > '9' {
		return -1
	}
	for i++; i < len(data) && numberByte[data[i]]; i++ {
	}
	return i
}

// numberAt reads a number hole at p: the token numberHole finds, converted by parseNumber;
// ok is false when there is no such token or parseNumber refuses it. The usual short
// decimal ("20.301", "-3", "2845875") is converted on the way through its digits, exactly as
// parseNumber converts it (the same mantissa and the same division): a word at a time by
// shortDecimalWords, or byte by byte when it does not fit its words; any other token goes
// to numberHole and parseNumber themselves.
func numberAt(data []byte, p int) (end int, f float64, ok bool) {
	if end, f, ok := shortDecimalWords(data, p); ok {
		return end, f, true
	}
	// parseNumber's fast case, when the token ends here (it is the whole numberHole run).
	d := readShortDecimal(data, p)
	if d.end >= len(data) || !numberByte[data[d.end]] {
		if f, ok := d.value(data); ok {
			return d.end, f, true
		}
	}
	e := numberHole(data, p)
	if e < 0 {
		return 0, 0, false
	}
	f, ok = parseNumber(data[p:e])
	return e, f, ok
}

// shortDecimalWords is numberAt's usual case read eight bytes at a time: an optional '-',
// 1 to 7 digits, optionally '.' and 1 to 7 digits, ending before a byte that is not a
// number byte, with eight bytes of data readable at each run of digits. It gives what
// readShortDecimal and value give for such a token (the same mantissa, divided by the same
// power of ten); ok is false for anything else, which numberAt then reads byte by byte.
//
// Why: the byte loop's exit is a branch on the number's length, which changes from payload
// to payload and is mispredicted about once a number; here the length is the count of
// trailing digit bytes in a word, and the digits are combined by three multiplications.
// The usual number ("20.301", "-3", "2845875") is all in its first word, fraction and
// all: its fraction's digits are moved down over the '.' to join the integer's, and one
// conversion reads them all.
func shortDecimalWords(data []byte, p int) (end int, f float64, ok bool) {
	neg := p < len(data) && data[p] == '-'
	if neg {
		p++
	}
	if p < 0 || len(data)-p < 8 {
		return 0, 0, false
	}
	x := le64(data[p:])
	other := nonDigits(x)
	n := bits.TrailingZeros64(other) >> 3
	if n == 0 || n == 8 {
		return 0, 0, false
	}
	end = p + n
	var mant uint64
	fracDigits := 0
	if data[end] != '.' {
		mant = digitsValue(x, n)
	} else if after := other & (^uint64(0) << (8*n + 8)); after != 0 {
		// The fraction ends in this word: the first byte past the '.' that is not a digit
		// (the bytes before it are read exactly, as in digitWord).
		e := bits.TrailingZeros64(after) >> 3
		m := e - n - 1
		if m == 0 { // "12.", which value refuses
			return 0, 0, false
		}
		below := uint64(1)<<(8*n) - 1
		mant = digitsValue(x&below|(x>>8)&^below, n+m)
		end, fracDigits = p+e, m
	} else {
		frac, m := digitWord(data, end+1)
		if m == 0 || m == 8 {
			return 0, 0, false
		}
		mant = digitsValue(x, n)*uint64(pow10Int[m]) + frac
		end, fracDigits = end+1+m, m
	}
	if end < len(data) && numberByte[data[end]] {
		return 0, 0, false
	}
	f = float64(mant)
	if fracDigits > 0 {
		f /= pow10[fracDigits]
	}
	if neg {
		f = -f
	}
	return end, f, true
}

// pow10Int are the powers of ten a run of at most seven fraction digits shifts by.
var pow10Int = [...]uint32{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000}

// digitWord reads the run of ASCII digits at p within the eight bytes there: their value
// and their count, 8 when all eight are digits (the run may go on) and 0 when there are
// not eight bytes to read.
func digitWord(data []byte, p int) (uint64, int) {
	if p < 0 || len(data)-p < 8 {
		return 0, 0
	}
	x := le64(data[p:])
	n := bits.TrailingZeros64(nonDigits(x)) >> 3
	if n == 0 || n == 8 {
		return 0, n
	}
	return digitsValue(x, n), n
}

// nonDigits marks with its high bit each byte of x that is not an ASCII digit, exactly up
// to the first one: a byte's high bit in x + (0x80-'0') says it is at least '0', in
// x + (0x7f-'9') that it is above '9' (isLowerHex's test). A byte of 0x80 or more is never
// taken for a digit, and the carry it may pass on reaches only the bytes after it.
func nonDigits(x uint64) uint64 {
	return ^((x + 0x50*ones) &^ (x + 0x46*ones)) & highs
}

// digitsValue is the value of x's first n (1 to 7) bytes, ASCII digits: less '0', shifted to
// the top of the word behind zeros that stand for leading zeros, and combined in pairs,
// fours and eights (the bytes past them borrow nothing from these, and are shifted out).
func digitsValue(x uint64, n int) uint64 {
	v := (x - 0x30*ones) << (64 - 8*n)
	v = (v * (10<<8 + 1)) >> 8 & 0x00ff00ff00ff00ff
	v = (v * (100<<16 + 1)) >> 16 & 0x0000ffff0000ffff
	return (v * (10000<<32 + 1)) >> 32
}

// The compact spellings of a trace member that a holeTrace matches.
const (
	traceMember  = `,"trace":`
	traceNull    = traceMember + `null`
	traceOpen    = traceMember + traceOpenID
	traceSpan    = `","span_id":"`
	traceParent  = traceParent1 + traceParent2
	traceClose   = `"}`
	traceLongest = len(traceOpen) + traceIDLen + len(traceSpan) + spanIDLen + len(traceParent) + spanIDLen + len(traceClose)

	// A compare with a constant of at most 16 bytes is a few word loads in line, a longer
	// one a call to runtime.memequal; a slice of a constant is not a constant. So matchTrace
	// compares traceOpen past the traceMember it has matched, and traceParent in two parts,
	// each a constant of its own.
	traceOpenID  = `{"trace_id":"`
	traceParent1 = `","parent_span_i`
	traceParent2 = `d":"`
)

// matchTrace reads the ids a word at a time: their lengths are multiples of eight (this
// constant would overflow otherwise).
const _ = uint(0) - traceIDLen%8 - spanIDLen%8

// matchTrace matches a holeTrace at p: nothing (no trace member here: the literal that
// follows must match), or `,"trace":null`, or `,"trace":{"trace_id":"…","span_id":"…"}` with
// or without `,"parent_span_id":"…"` before the '}', every id of its size in lower-case hex
// (bodyTrace's checks; no other spelling, no other member). It sets trace[i] to where id i
// is in data, and returns the end of what it matched; false when a trace member is there but
// not one of these.
//
// The forms are unambiguous: a template holds one top-level trace member at most (the
// recorder refuses a payload with two), so the literal after the hole never starts with
// `,"trace":`, and a payload that has it at p has its trace member here or not at all.
func matchTrace(data []byte, p int, trace *[3]span) (int, bool) {
	rest := data[p:]
	if len(rest) < len(traceMember) || string(rest[:len(traceMember)]) != traceMember {
		return p, true
	}
	if len(rest) >= len(traceNull) && string(rest[:len(traceNull)]) == traceNull {
		return p + len(traceNull), true
	}
	if len(rest) > traceLongest {
		rest = rest[:traceLongest]
	}
	i := len(traceOpen)
	if len(rest) < i+traceIDLen+len(traceSpan)+spanIDLen+len(traceClose) || string(rest[len(traceMember):i]) != traceOpenID {
		return 0, false
	}
	trace[0] = span{p + i, p + i + traceIDLen}
	i += traceIDLen
	if string(rest[i:i+len(traceSpan)]) != traceSpan {
		return 0, false
	}
	i += len(traceSpan)
	trace[1] = span{p + i, p + i + spanIDLen}
	i += spanIDLen
	if len(rest)-i >= len(traceParent)+spanIDLen+len(traceClose) && string(rest[i:i+len(traceParent1)]) == traceParent1 && string(rest[i+len(traceParent1):i+len(traceParent)]) == traceParent2 {
		i += len(traceParent)
		trace[2] = span{p + i, p + i + spanIDLen}
		i += spanIDLen
	}
	if string(rest[i:i+len(traceClose)]) != traceClose {
		return 0, false
	}
	// isLowerHex of each id, in line and without a branch per word: the ids are whole
	// words (traceIDLen and spanIDLen are multiples of eight; an absent parent is empty).
	var notHex uint64
	for _, id := range trace {
		for j := id.start; j < id.end; j += 8 {
			notHex |= notLowerHex(le64(data[j:]))
		}
	}
	if notHex != 0 {
		return 0, false
	}
	return p + i + len(traceClose), true
}

// learnShape records the shape of data, which the general path has just accepted as ev, in
// set, unless the set is backing off or data's shape is not one a template holds.
func (d *Decoder) learnShape(set *shapeSet, subject string, data []byte, ev *Event) {
	if len(data) > maxShapeBytes || len(subject) > maxShapeSubject {
		return
	}
	if set.skip > 0 {
		set.skip--
		return
	}
	// Recorded aside first: a payload that cannot be recorded leaves the set as it was.
	t := &d.shapeScratch
	if cap(t.lits) == 0 {
		// Every template's buffers start here (they rotate through the swap below), at the
		// size of the largest shape: appends never grow them, so the templates' memory is
		// fixed (TestShapeMemoryBounded).
		t.subject = make([]byte, 0, maxShapeSubject)
		t.lits = make([]byte, 0, maxShapeBytes)
		t.holes = make([]shapeHole, 0, maxShapeHoles)
	}
	if !d.recordShape(t, data) {
		set.skip = shapeBackoff
		return
	}
	t.subject = append(t.subject[:0], subject...)
	t.name = internedName{name: ev.Name, segments: ev.Segments}
	t.audit = IsAudit(ev.Name)
	t.nMeas, t.nMeta, t.hasTime, t.hasNode = 0, 0, false, false
	for k, h := range t.holes {
		switch h.kind {
		case holeMeasurement:
			t.pairs[t.nMeas] = uint8(k)
			t.nMeas++
		case holeTime:
			t.hasTime = true
		case holeNode:
			t.hasNode = true
		}
	}
	for k, h := range t.holes {
		if h.kind >= holeMetaString && h.kind <= holeMetaLiteral {
			t.pairs[t.nMeas+t.nMeta] = uint8(k)
			t.nMeta++
		}
	}
	t.live, t.hits = true, 0
	victim := uint8(0)
	for w := range uint8(shapeWays) {
		if !set.ways[w].live {
			victim = w
			break
		}
		if set.used[w] < set.used[victim] {
			victim = w
		}
	}
	if old := &set.ways[victim]; old.live && old.hits == 0 {
		// Replaced before it served once: the shapes of this set are not repeating.
		set.skip = shapeBackoff
	}
	// A swap, so that the replaced template's buffers are reused for the next recording.
	set.ways[victim], *t = *t, set.ways[victim]
	t.live = false
	set.clock++
	set.used[victim], set.mru = set.clock, victim
}

// shapeRecorder walks an accepted payload to record its shape.
type shapeRecorder struct {
	t    *shapeTemplate
	data []byte
	pos  int
	mark int // start of the literal being collected
	ok   bool
}

// hole ends the current literal at pos and adds a hole there, of n bytes.
func (r *shapeRecorder) hole(h shapeHole, n int) {
	if len(r.t.holes) >= maxShapeHoles {
		r.ok = false
		return
	}
	r.t.lits = append(r.t.lits, r.data[r.mark:r.pos]...)
	h.litEnd = int32(len(r.t.lits))
	r.t.holes = append(r.t.holes, h)
	r.pos += n
	r.mark = r.pos
}

// stringHole adds a hole of n bytes of string content, which plainString found at pos, and
// consumes the closing quote (the first byte of the next literal).
func (r *shapeRecorder) stringHole(h shapeHole, n int) {
	r.hole(h, n)
	r.pos++
}

// eat consumes c, or fails the recording.
func (r *shapeRecorder) eat(c byte) {
	if r.pos < len(r.data) && r.data[r.pos] == c {
		r.pos++
	} else {
		r.ok = false
	}
}

func (r *shapeRecorder) peek() byte {
	if r.pos < len(r.data) {
		return r.data[r.pos]
	}
	return 0
}

// key reads a compact plain `"key":` and returns the key's bytes.
func (r *shapeRecorder) key() []byte {
	d, i := r.data, r.pos
	if i >= len(d) || d[i] != '"' {
		r.ok = false
		return nil
	}
	end := plainRun(d, i+1)
	if end+1 >= len(d) || d[end] != '"' || d[end+1] != ':' {
		r.ok = false
		return nil
	}
	r.pos = end + 2
	return d[i+1 : end]
}

// plainString returns the length of the plain string content after the '"' at pos, and
// consumes that quote; -1 if the value is not a plain string.
func (r *shapeRecorder) plainString() int {
	d, i := r.data, r.pos
	if i >= len(d) || d[i] != '"' {
		return -1
	}
	end := plainRun(d, i+1)
	if end >= len(d) || d[end] != '"' {
		return -1
	}
	r.pos = i + 1
	return end - (i + 1)
}

// literal consumes word if it is at pos.
func (r *shapeRecorder) literal(word string) bool {
	if len(r.data)-r.pos >= len(word) && string(r.data[r.pos:r.pos+len(word)]) == word {
		r.pos += len(word)
		return true
	}
	return false
}

// recordShape fills t with the shape of data, which the general path accepted, and reports
// whether data has a shape a template holds: a compact object (no whitespace) with each
// top-level field once, whose time and node are plain strings or null, whose measurements
// are numbers led by a digit or by '-' and a digit, whose metadata values are such numbers,
// plain strings, true, false or null, under plain keys, and whose trace, if any, is not the
// first member and is one of matchTrace's spellings. Other fields (v, event, unknown ones)
// are literal text, whatever they hold.
func (d *Decoder) recordShape(t *shapeTemplate, data []byte) bool {
	t.lits, t.holes = t.lits[:0], t.holes[:0]
	r := shapeRecorder{t: t, data: data, ok: true}
	r.eat('{')
	var seen [numTopFields]bool
	for r.ok {
		member := r.pos
		id := topFieldOf(r.key())
		if !r.ok {
			return false
		}
		if id >= 0 {
			if seen[id] {
				return false
			}
			seen[id] = true
		}
		switch id {
		case topTime, topNode:
			kind := holeTime
			if id == topNode {
				kind = holeNode
			}
			if n := r.plainString(); n >= 0 {
				r.stringHole(shapeHole{kind: kind, limit: int32(n)}, n)
			} else if !r.literal("null") {
				return false
			}
		case topMeasurements:
			d.recordMeasurements(&r)
		case topMetadata:
			d.recordMetadata(&r)
		case topTrace:
			// The hole takes the whole member with the comma before it, so that the
			// template also serves the payloads that leave the trace out.
			if data[member-1] != ',' {
				return false
			}
			var trace [3]span
			end, ok := matchTrace(data, member-1, &trace)
			if !ok || end == member-1 {
				return false
			}
			r.pos = member - 1
			r.hole(shapeHole{kind: holeTrace}, end-r.pos)
		default: // v, event, an unknown field: literal text, whatever it holds
			s := scanner{data: data, pos: r.pos}
			s.value(2)
			if s.err != "" {
				return false
			}
			r.pos = s.pos
		}
		if r.peek() != ',' {
			break
		}
		r.pos++
	}
	if r.ok && !seen[topTrace] {
		// No trace: where emitters put one, last, for the payloads that have it.
		r.hole(shapeHole{kind: holeTrace}, 0)
	}
	r.eat('}')
	if !r.ok || r.pos != len(data) || !seen[topV] || !seen[topEvent] || !seen[topMeasurements] || !seen[topMetadata] {
		return false
	}
	t.lits = append(t.lits, data[r.mark:]...)
	return true
}

// members walks a compact object at pos, calling value with each member's key and pos at
// its value, which value reads; a failure anywhere leaves r.ok false.
func (r *shapeRecorder) members(value func(key []byte)) {
	r.eat('{')
	if r.peek() == '}' {
		r.pos++
		return
	}
	for r.ok {
		key := r.key()
		if !r.ok {
			return
		}
		value(key)
		if !r.ok || r.peek() != ',' {
			break
		}
		r.pos++
	}
	r.eat('}')
}

func (d *Decoder) recordMeasurements(r *shapeRecorder) {
	r.members(func(key []byte) {
		e := numberHole(r.data, r.pos)
		if e < 0 {
			r.ok = false
			return
		}
		r.hole(shapeHole{kind: holeMeasurement, key: d.internKey(key), class: rangeOf(key)}, e-r.pos)
	})
}

func (d *Decoder) recordMetadata(r *shapeRecorder) {
	r.members(func(raw []byte) {
		key := d.internKey(raw)
		if n := r.plainString(); n >= 0 {
			limit := MaxValueRunes
			if key == "reason" { // metadataPair's limit
				limit = MaxReasonRunes
			}
			r.stringHole(shapeHole{kind: holeMetaString, key: key, limit: int32(limit)}, n)
			return
		}
		if e := numberHole(r.data, r.pos); e >= 0 {
			r.hole(shapeHole{kind: holeMetaNumber, key: key}, e-r.pos)
			return
		}
		for i, w := range metaWords {
			if r.literal(w) {
				r.hole(shapeHole{kind: holeMetaLiteral, key: key, word: uint8(i)}, 0)
				return
			}
		}
		r.ok = false
	})
}

// ownedSpan marks data[start:end] as read from the payload itself (DecodeOwned), not from
// the arena: its start is stored complemented, so it is negative.
func ownedSpan(start, end int) span { return span{^start, end} }

// eventStrings are the bytes an event's strings are cut from: the arena, and with
// DecodeOwned the payload.
type eventStrings struct{ arena, data string }

func (s eventStrings) of(sp span) string {
	if sp.start < 0 {
		return s.data[^sp.start:sp.end]
	}
	return s.arena[sp.start:sp.end]
}
