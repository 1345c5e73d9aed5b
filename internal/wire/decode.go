package wire

import (
	"bytes"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/valyala/fastjson/fastfloat"
)

// Bounds of the decoder's intern tables. Event names and metadata keys repeat on almost every
// message, so the decoder hands out one shared string per distinct name or key instead of
// allocating it per event. Hostile input with endless distinct names must not grow memory, so
// each table has a fixed number of entries (it is emptied and refilled when full) and only
// short strings are interned.
const (
	maxInternedNames   = 1024
	maxInternedKeys    = 4096
	maxInternedNameLen = 256
	maxInternedKeyLen  = 128
	// maxArenaKeep is the largest string block kept between messages; one huge message must
	// not pin its buffer forever.
	maxArenaKeep = 256 << 10
	// arenaBlock is the size of a block the events' strings are carved from, and
	// arenaMinRoom the room left in it below which the next event starts a new one. A typical
	// event needs 100 to 150 bytes (an audit event its payload more), so a block serves half
	// a dozen events: most of the saving of one allocation per event. Larger blocks were a
	// few per cent quicker, but a consumer that keeps one string of an event keeps its whole
	// block alive, and the engine's error log keeps the strings of up to 1,000 events: 1 KiB
	// blocks bound that to about 1 MiB.
	arenaBlock   = 1024
	arenaMinRoom = 128
	// maxDepth is the deepest nesting accepted (the top-level object is depth 1), the limit
	// of the fastjson parser this decoder replaced: deeper payloads are not JSON to us.
	maxDepth = 300
)

// Sizes of the W3C trace-context ids, in lower-case hex characters.
const (
	traceIDLen = 32
	spanIDLen  = 16
)

// Decoder decodes and validates contract-v1 payloads in one pass over the bytes: it checks
// the JSON syntax strictly (RFC 8259 strings and escapes) while it reads the fields the
// contract names, and skips everything else without building a tree. A payload shaped like
// one accepted before on its subject (the same keys in the same order, the same kinds of
// values: what an emitter sends) is decoded through that shape's template instead, with the
// same result (shape.go). It reuses scratch buffers between calls, so a Decoder must be used
// by one goroutine at a time; use one Decoder per consuming goroutine. No string in a
// returned Event aliases the decoder's buffers: every Event stays valid after later calls.
type Decoder struct {
	prefix      string
	prefixValid bool // the prefix is valid UTF-8 (see Decode)

	interner

	// arena collects the bytes of every per-event string (metadata values, node, trace ids).
	// It is the unused rest of a block shared by neighbouring events: its start is the
	// current event's first byte, and the bytes an accepted event's strings were made of lie
	// before it and are never written again (see finishStrings).
	arena   []byte
	pending []pendingKV
	meas    []Measurement
	// kvBlock and measBlock are the unused rest of the blocks events' slices are carved from.
	kvBlock   []KV
	measBlock []Measurement
	// keyBuf and valBuf hold an escaped key or value unescaped, until the next one.
	keyBuf, valBuf []byte

	scan scanner
	top  [numTopFields]jsonValue
	// What the pass found inside event, measurements, metadata and trace; the checks that
	// produce errors run after the pass, in the contract's order, so the reason reported
	// does not depend on the order of the fields in the payload.
	event    eventParts
	measErr  *DecodeError
	metaErr  *DecodeError
	traceIDs [3]jsonValue

	minutes minuteCache
	// known holds the last event array seen in each slot of its subject (cacheSlot).
	known [cacheSize]knownEvent
	// shapes are the templates of the payloads seen last (shape.go); shapeScratch is where
	// the next one is recorded, its buffers swapped with the template it replaces.
	shapes       [shapeSets]shapeSet
	shapeScratch shapeTemplate
	// shapeSpans and shapeVals hold, per hole of the template being matched, a metadata
	// value's place in the arena and a measurement's value (fromShape).
	shapeSpans [maxShapeHoles]span
	shapeVals  [maxShapeHoles]float64
}

type internedName struct {
	name     string
	segments []string
}

// pendingKV is a metadata pair whose value still lives in the arena.
type pendingKV struct {
	key        string
	start, end int
}

type span struct{ start, end int }

// eventParts is what the pass found in the event array.
type eventParts struct {
	n       int
	bad     int // index of the first element that is not a string, -1 if none
	badKind jsonKind
	segs    [6][]byte
	// text is the array's exact text, brackets included.
	text span
}

// knownEvent is an event array that matched its subject, and the name it gave: the same
// subject with the same array text, byte for byte, gives the same name again without the
// segment checks.
type knownEvent struct {
	subject, text string
	name          internedName
}

// The top-level fields the contract names; the first occurrence of a duplicated key wins.
const (
	topV = iota
	topEvent
	topMeasurements
	topMetadata
	topTime
	topNode
	topTrace
	numTopFields
)

func topFieldOf(key []byte) int {
	switch string(key) {
	case "v":
		return topV
	case "event":
		return topEvent
	case "measurements":
		return topMeasurements
	case "metadata":
		return topMetadata
	case "time":
		return topTime
	case "node":
		return topNode
	case "trace":
		return topTrace
	}
	return -1
}

// NewDecoder returns a decoder for subjects "<prefix>.<event name>". An empty prefix means the
// whole subject is the event name.
func NewDecoder(prefix string) *Decoder {
	return &Decoder{
		prefix:      prefix,
		prefixValid: utf8.ValidString(prefix),
		interner:    newInterner(),
	}
}

// Prefix is the subject prefix this decoder strips.
func (d *Decoder) Prefix() string { return d.prefix }

func fail(reason Reason, detail string) (Event, *DecodeError) {
	return Event{}, failure(reason, detail)
}

func failure(reason Reason, detail string) *DecodeError {
	return &DecodeError{Reason: reason, Detail: SafeString(detail, MaxDetailRunes)}
}

// Decode validates one message against the contract and returns the event, or the reason it
// broke the contract. traceparent is the message's W3C "traceparent" header ("" if none); it
// is used only when the body has no trace, and a malformed header is ignored. received is when
// the message arrived; it stands in for the event time when the payload has none.
//
// Optional fields (time, node, trace, trace.parent_span_id) that are JSON null are treated as
// absent, because BEAM JSON encoders turn nil into null.
//
// Event.Segments is shared by every event of the same name (interned): treat it as read-only.
// Metadata and Measurements, and the bytes of the metadata values, node, trace ids and Raw,
// are carved from blocks shared with the decoder's neighbouring events (one allocation per
// several events instead of three per event); each slice's capacity is its length, so
// appending to one copies it and never touches a neighbour. A consumer that keeps them for
// long should copy them (strings.Clone for a value), or it keeps the block alive.
func (d *Decoder) Decode(subject string, data []byte, traceparent string, received time.Time) (Event, *DecodeError) {
	return d.decode(subject, data, traceparent, received, false)
}

// DecodeOwned is Decode for a payload the event may keep: the caller hands data over and
// never writes it again, as the NATS client's fresh buffer per message is. The event's plain
// strings (metadata values, node, trace ids) and Raw then point into data instead of being
// copied, which halves what a decode allocates; a consumer that keeps one of them keeps the
// payload alive, as it would keep a shared block after Decode.
func (d *Decoder) DecodeOwned(subject string, data []byte, traceparent string, received time.Time) (Event, *DecodeError) {
	return d.decode(subject, data, traceparent, received, true)
}

func (d *Decoder) decode(subject string, data []byte, traceparent string, received time.Time, owned bool) (Event, *DecodeError) {
	if len(data) > MaxPayloadBytes {
		return fail(ReasonTooLarge, "payload is "+strconv.Itoa(len(data))+" bytes, limit "+strconv.Itoa(MaxPayloadBytes))
	}
	// A refused event's bytes were handed out to no string: the next event reuses them.
	d.arena = d.arena[:0]
	if cap(d.arena) < arenaMinRoom || cap(d.arena) > maxArenaKeep {
		d.arena = make([]byte, 0, arenaBlock)
	}
	var ev Event
	set := &d.shapes[shapeSetOf(subject)]
	if d.decodeByShape(set, &ev, subject, data, traceparent, received, owned) {
		return ev, nil
	}

	d.pending = d.pending[:0]
	d.meas = d.meas[:0]
	d.top = [numTopFields]jsonValue{}
	d.event = eventParts{bad: -1}
	d.measErr, d.metaErr = nil, nil
	d.traceIDs = [3]jsonValue{}

	root := d.parse(data)
	// The scan validates the UTF-8 of every string it reads, and a non-ASCII byte anywhere
	// else is a syntax error, so a payload that scanned is valid UTF-8; only one that did not
	// needs the whole check, to report bad_utf8 before not_json as the contract orders them.
	if d.scan.err != "" && !utf8.Valid(data) {
		return fail(ReasonBadUTF8, "payload is not valid UTF-8")
	}
	decErr := d.decodeParsed(&ev, subject, data, root, traceparent, received)
	if decErr != nil {
		ev = Event{}
	}
	// An event's name matched the subject byte for byte after the prefix, and is [a-z0-9_.]:
	// with a valid prefix the subject is then valid UTF-8. Only a refused message needs the
	// check, whose reason comes before every other but the payload's own.
	if (decErr != nil || !d.prefixValid) && !utf8.ValidString(subject) {
		return fail(ReasonBadUTF8, "subject is not valid UTF-8")
	}
	if decErr == nil {
		d.learnShape(set, subject, data, &ev)
	}
	return ev, decErr
}

// decodeParsed is Decode after the pass over data, whose result (root, d.scan, d.top …) it
// checks in the contract's order. It fills *ev (an Event is large: filled in place, it is
// not copied on its way out) and leaves it partly filled when it returns an error.
func (d *Decoder) decodeParsed(ev *Event, subject string, data []byte, root jsonKind, traceparent string, received time.Time) *DecodeError {
	if d.scan.err != "" {
		return failure(ReasonNotJSON, d.scan.err)
	}
	if root != kindObject {
		return failure(ReasonNotObject, "payload is a JSON "+root.String()+", want an object")
	}

	// v
	version := d.top[topV]
	if version.kind == kindNone {
		return failure(ReasonMissingField, "v")
	}
	if version.kind != kindNumber {
		return failure(ReasonBadType, "v: want integer, got "+version.kind.String())
	}
	// "1" is the version every event carries; any other spelling is converted and compared.
	if raw := version.raw(data); !(len(raw) == 1 && raw[0] == '1') {
		if f, ok := parseNumber(raw); !ok || f != ContractVersion {
			return failure(ReasonBadVersion, "v is "+string(raw)+", this build understands "+strconv.Itoa(ContractVersion))
		}
	}

	// event
	switch k := d.top[topEvent].kind; k {
	case kindNone:
		return failure(ReasonMissingField, "event")
	case kindArray:
	default:
		return failure(ReasonBadType, "event: want array of strings, got "+k.String())
	}
	name, segments, decErr := d.eventName(subject, data)
	if decErr != nil {
		return decErr
	}

	// measurements and metadata
	switch k := d.top[topMeasurements].kind; k {
	case kindNone:
		return failure(ReasonMissingField, "measurements")
	case kindObject:
	default:
		return failure(ReasonBadType, "measurements: want object, got "+k.String())
	}
	switch k := d.top[topMetadata].kind; k {
	case kindNone:
		return failure(ReasonMissingField, "metadata")
	case kindObject:
	default:
		return failure(ReasonBadType, "metadata: want object, got "+k.String())
	}
	if d.measErr != nil {
		return d.measErr
	}
	if d.metaErr != nil {
		return d.metaErr
	}

	// *ev is zero (Decode's): only what is set is written.
	ev.Name, ev.Segments = name, segments
	ev.Time, ev.Received = received, received

	// time
	if t := d.top[topTime]; t.kind != kindNone && t.kind != kindNull {
		if t.kind != kindString {
			return failure(ReasonBadType, "time: want string, got "+t.kind.String())
		}
		raw := d.text(data, t, &d.valBuf)
		parsed, err := d.minutes.parseRFC3339(raw)
		if err != nil {
			return failure(ReasonBadTime, "time "+strconv.Quote(string(raw))+" is not RFC 3339")
		}
		ev.Time, ev.HasTime = parsed, true
	}

	// node
	var node span
	if n := d.top[topNode]; n.kind != kindNone && n.kind != kindNull {
		if n.kind != kindString {
			return failure(ReasonBadType, "node: want string, got "+n.kind.String())
		}
		node.start = len(d.arena)
		if n.text == textPlain && n.end-n.start <= MaxValueRunes {
			d.arena = append(d.arena, data[n.start:n.end]...)
		} else {
			d.arena = appendSafeBytes(d.arena, d.text(data, n, &d.valBuf), MaxValueRunes)
		}
		node.end = len(d.arena)
	}

	// trace: the body wins over the header.
	var trace [3]span
	if tr := d.top[topTrace]; tr.kind != kindNone && tr.kind != kindNull {
		if tr.kind != kindObject {
			return failure(ReasonBadType, "trace: want object, got "+tr.kind.String())
		}
		if decErr := d.bodyTrace(data, &trace); decErr != nil {
			return decErr
		}
	} else if traceparent != "" {
		d.arena = appendHeaderTrace(d.arena, traceparent, &trace)
	}

	d.finishEvent(ev, data, node, trace)
	return nil
}

// finishEvent gives an accepted event its measurements, metadata, strings and Raw, from
// what the general path or a shape template (fromShape) collected: d.meas, d.pending and
// the arena, where node and trace are.
func (d *Decoder) finishEvent(ev *Event, data []byte, node span, trace [3]span) {
	if len(d.meas) > 0 {
		ev.Measurements = carve(&d.measBlock, len(d.meas))
		copy(ev.Measurements, d.meas)
	}
	var meta []KV
	if len(d.pending) > 0 {
		meta = carve(&d.kvBlock, len(d.pending))
	}
	finishStrings(ev, arenaString(d.arena), d.pending, meta, node, trace)
	if IsAudit(ev.Name) {
		// The compliance trail keeps the emitter's exact bytes; everything else sees only
		// the sanitised strings, which are for display and cannot always be told apart.
		// Carved from the arena too, after the bytes the strings read: Raw's capacity is
		// its length, so neither a write to it nor an append reaches another's bytes.
		start := len(d.arena)
		d.arena = append(d.arena, data...)
		ev.Raw = d.arena[start:len(d.arena):len(d.arena)]
	}
	// The event's strings now read these bytes: the next event appends after them.
	d.arena = d.arena[len(d.arena):]
}

// blockLen is how many entries a shared block of metadata pairs or measurements holds: an
// event carries a handful, so a block serves a few dozen events.
const blockLen = 128

// carve returns n zeroed entries from *block with their capacity capped at n, starting a new
// block when the current one is too short; an event with more than a quarter of a block
// gets its own allocation, so a rare large event does not waste the rest of one.
func carve[T any](block *[]T, n int) []T {
	if n > blockLen/4 {
		return make([]T, n)
	}
	if len(*block) < n {
		*block = make([]T, blockLen)
	}
	out := (*block)[:n:n]
	*block = (*block)[n:]
	return out
}

// arenaString is the current event's arena bytes as a string, without copying them.
//
// Why unsafe: a string per event (string(arena)) cost one allocation and one copy per event,
// a tenth of Decode. It is sound because the decoder owns the block and only ever appends
// to it: Decode advances d.arena past these bytes once the event is accepted, so nothing
// writes them again, and a later event that outgrows the block gets a new one from append
// or make, never this one's bytes. The GC keeps the block alive while any string points
// into it. TestDecodedStringsDoNotAliasParser and the fuzzers hold the decoder to it.
func arenaString(arena []byte) string {
	if len(arena) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(arena), len(arena))
}

// payloadString is an owned payload (DecodeOwned) as a string, without copying it. It is
// sound for the same reason as arenaString: DecodeOwned's caller never writes data again.
func payloadString(data []byte) string {
	if len(data) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(data), len(data))
}

// finishStrings gives the event its per-event strings (metadata values, node, trace ids)
// as substrings of strs, the bytes they were collected in. meta (len(pending) entries)
// receives the metadata pairs.
func finishStrings(ev *Event, strs string, pending []pendingKV, meta []KV, node span, trace [3]span) {
	if len(pending) > 0 {
		ev.Metadata = meta
		for i, p := range pending {
			ev.Metadata[i] = KV{Key: p.key, Value: strs[p.start:p.end]}
		}
	}
	ev.Node = strs[node.start:node.end]
	ev.Trace = Trace{
		TraceID:      strs[trace[0].start:trace[0].end],
		SpanID:       strs[trace[1].start:trace[1].end],
		ParentSpanID: strs[trace[2].start:trace[2].end],
	}
}

// text returns the content of string value v, unescaped (into buf when it has escapes, so
// valid until buf's next use).
func (d *Decoder) text(data []byte, v jsonValue, buf *[]byte) []byte {
	if v.text != textEscaped {
		return data[v.start:v.end]
	}
	return unescapeInto(buf, data[v.start:v.end])
}

// unescapeInto is text's rare case, out of line so that text is inlined.
//
//go:noinline
func unescapeInto(buf *[]byte, raw []byte) []byte {
	*buf = appendUnescaped((*buf)[:0], raw)
	return *buf
}

// parse is the single pass: it validates the whole payload and records or decodes the
// top-level fields. It returns the kind of the root value; d.scan.err says why the payload is
// not JSON.
func (d *Decoder) parse(data []byte) jsonKind {
	s := &d.scan
	*s = scanner{data: data}
	s.skipWS()
	var root jsonKind
	if s.pos < len(data) && data[s.pos] == '{' {
		d.topObject()
		root = kindObject
	} else {
		root = s.value(1).kind
	}
	if s.err == "" {
		s.skipWS()
		if s.pos < len(data) {
			s.fail("unexpected data after the JSON value")
		}
	}
	return root
}

func (d *Decoder) topObject() {
	s := &d.scan
	for more := s.open('}'); more; more = s.next('}') {
		k := s.key()
		if s.err != "" {
			return
		}
		id := topFieldOf(d.text(s.data, k, &d.keyBuf))
		if id < 0 || d.top[id].kind != kindNone {
			s.value(2)
		} else {
			d.top[id] = d.topValue(id)
		}
	}
}

// topValue reads the first occurrence of a contract field: the containers the event is built
// from are decoded here, everything else is only recorded.
func (d *Decoder) topValue(id int) jsonValue {
	s := &d.scan
	if s.pos < len(s.data) {
		c := s.data[s.pos]
		switch {
		case id == topEvent && c == '[':
			d.eventArray()
			return jsonValue{kind: kindArray}
		case id == topMeasurements && c == '{':
			d.measurementsObject()
			return jsonValue{kind: kindObject}
		case id == topMetadata && c == '{':
			d.metadataObject()
			return jsonValue{kind: kindObject}
		case id == topTrace && c == '{':
			d.traceObject()
			return jsonValue{kind: kindObject}
		}
	}
	return s.value(2)
}

func (d *Decoder) eventArray() {
	s := &d.scan
	d.event.text.start = s.pos
	for more := s.open(']'); more; more = s.next(']') {
		i := d.event.n
		v := s.value(3)
		if s.err != "" {
			break
		}
		if v.kind != kindString {
			if d.event.bad < 0 {
				d.event.bad, d.event.badKind = i, v.kind
			}
		} else if i < len(d.event.segs) {
			if v.text == textEscaped { // rare: a segment must be [a-z0-9_]+ anyway
				d.event.segs[i] = appendUnescaped(nil, v.raw(s.data))
			} else {
				d.event.segs[i] = v.raw(s.data)
			}
		}
		d.event.n++
	}
	d.event.text.end = s.pos
}

func (d *Decoder) measurementsObject() {
	s := &d.scan
	for more := s.open('}'); more; more = s.next('}') {
		k, v, ok := s.member(3)
		if !ok {
			return
		}
		if d.measErr == nil {
			d.measurement(d.text(s.data, k, &d.keyBuf), v)
		}
	}
}

func (d *Decoder) measurement(key []byte, v jsonValue) {
	if v.kind != kindNumber {
		d.measErr = failure(ReasonBadType, "measurements."+string(key)+": want number, got "+v.kind.String())
	} else if f, ok := parseNumber(v.raw(d.scan.data)); !ok || !isFinite(f) {
		d.measErr = failure(ReasonBadType, "measurements."+string(key)+": not a finite number")
	} else if problem := checkRange(key, f); problem != "" {
		d.measErr = failure(ReasonBadValue, "measurements."+string(key)+": "+problem)
	} else {
		d.meas = append(d.meas, Measurement{Key: d.internKey(key), Value: f})
	}
}

func (d *Decoder) metadataObject() {
	s := &d.scan
	for more := s.open('}'); more; more = s.next('}') {
		k, v, ok := s.member(3)
		if !ok {
			return
		}
		if d.metaErr == nil {
			d.metadataPair(d.text(s.data, k, &d.keyBuf), v)
		}
	}
}

func (d *Decoder) metadataPair(key []byte, v jsonValue) {
	data := d.scan.data
	k := d.internKey(key)
	start := len(d.arena)
	switch v.kind {
	case kindString:
		limit := MaxValueRunes
		if k == "reason" {
			limit = MaxReasonRunes
		}
		if v.text == textPlain && v.end-v.start <= limit {
			d.arena = append(d.arena, data[v.start:v.end]...)
		} else {
			d.arena = appendSafeBytes(d.arena, d.text(data, v, &d.valBuf), limit)
		}
	case kindNumber:
		if f, ok := parseNumber(v.raw(data)); !ok || !isFinite(f) {
			d.metaErr = failure(ReasonBadType, "metadata."+string(key)+": not a finite number")
			return
		}
		d.arena = appendSafeBytes(d.arena, v.raw(data), MaxValueRunes)
	case kindTrue:
		d.arena = append(d.arena, "true"...)
	case kindFalse:
		d.arena = append(d.arena, "false"...)
	case kindNull:
		d.arena = append(d.arena, "null"...)
	default:
		d.metaErr = failure(ReasonBadType, "metadata."+string(key)+": want string, number, bool or null, got "+v.kind.String())
		return
	}
	d.pending = append(d.pending, pendingKV{key: k, start: start, end: len(d.arena)})
}

// The members of the body's trace object.
const (
	traceIDKey      = "trace_id"
	spanIDKey       = "span_id"
	parentSpanIDKey = "parent_span_id"
)

var traceFields = [3]struct {
	name     string
	size     int
	required bool
}{
	{traceIDKey, traceIDLen, true},
	{spanIDKey, spanIDLen, true},
	{parentSpanIDKey, spanIDLen, false},
}

func (d *Decoder) traceObject() {
	s := &d.scan
	for more := s.open('}'); more; more = s.next('}') {
		k, v, ok := s.member(3)
		if !ok {
			return
		}
		i := -1
		switch string(d.text(s.data, k, &d.keyBuf)) {
		case traceIDKey:
			i = 0
		case spanIDKey:
			i = 1
		case parentSpanIDKey:
			i = 2
		}
		if i >= 0 && d.traceIDs[i].kind == kindNone {
			d.traceIDs[i] = v
		}
	}
}

func (d *Decoder) bodyTrace(data []byte, out *[3]span) *DecodeError {
	for i, f := range traceFields {
		v := d.traceIDs[i]
		if v.kind == kindNone || v.kind == kindNull {
			if f.required {
				return &DecodeError{Reason: ReasonBadTrace, Detail: "trace." + f.name + " missing"}
			}
			continue
		}
		if v.kind != kindString {
			return &DecodeError{Reason: ReasonBadType, Detail: "trace." + f.name + ": want string, got " + v.kind.String()}
		}
		raw := d.text(data, v, &d.valBuf)
		if len(raw) != f.size || !isLowerHex(raw) {
			return &DecodeError{Reason: ReasonBadTrace, Detail: "trace." + f.name + ": want " + strconv.Itoa(f.size) + " lower-case hex characters"}
		}
		out[i].start = len(d.arena)
		d.arena = append(d.arena, raw...)
		out[i].end = len(d.arena)
	}
	return nil
}

// eventName checks what the pass found in the event array and matches it to the subject.
// Because the dotted name must equal the subject after the prefix, the name is taken from the
// subject (interned).
func (d *Decoder) eventName(subject string, data []byte) (string, []string, *DecodeError) {
	parts := &d.event
	text := data[parts.text.start:parts.text.end]
	known := &d.known[cacheSlot(subject)]
	if known.subject == subject && known.text == string(text) && subject != "" {
		return known.name.name, known.name.segments, nil
	}
	if parts.bad >= 0 {
		return "", nil, failure(ReasonBadType, "event["+strconv.Itoa(parts.bad)+"]: want string, got "+parts.badKind.String())
	}
	if parts.n < 2 || parts.n > 6 {
		return "", nil, failure(ReasonBadEventName, "event has "+strconv.Itoa(parts.n)+" segments, want 2 to 6")
	}
	segs := parts.segs[:parts.n]
	for i, seg := range segs {
		if !validSegment(seg) {
			return "", nil, failure(ReasonBadEventName, "event["+strconv.Itoa(i)+"] "+strconv.Quote(string(seg))+" is not [a-z0-9_]+")
		}
	}

	name, ok := d.trimPrefix(subject)
	if !ok || !joinsTo(name, segs) {
		return "", nil, failure(ReasonSubjectMismatch, "event does not match subject "+strconv.Quote(subject))
	}
	interned := d.internName(name)
	// Copies: the subject and the payload are the caller's.
	*known = knownEvent{subject: strings.Clone(subject), text: string(text), name: interned}
	return interned.name, interned.segments, nil
}

func (d *Decoder) trimPrefix(subject string) (string, bool) {
	if d.prefix == "" {
		return subject, true
	}
	if len(subject) <= len(d.prefix) || !strings.HasPrefix(subject, d.prefix) || subject[len(d.prefix)] != '.' {
		return "", false
	}
	return subject[len(d.prefix)+1:], true
}

func validSegment(seg []byte) bool {
	if len(seg) == 0 {
		return false
	}
	for _, c := range seg {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// appendHeaderTrace fills the trace from a W3C traceparent header, version 00:
// "00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>", appending its ids to arena. The
// header's parent id is the caller's span, so it becomes SpanID. Anything else is ignored:
// the header is not part of the payload contract.
func appendHeaderTrace(arena []byte, h string, out *[3]span) []byte {
	const size = 2 + 1 + traceIDLen + 1 + spanIDLen + 1 + 2
	if len(h) != size || h[:3] != "00-" || h[35] != '-' || h[52] != '-' {
		return arena
	}
	traceID, spanID, flags := h[3:35], h[36:52], h[53:55]
	if !isLowerHex(traceID) || !isLowerHex(spanID) || !isLowerHex(flags) {
		return arena
	}
	out[0].start = len(arena)
	arena = append(arena, traceID...)
	out[0].end = len(arena)
	out[1].start = len(arena)
	arena = append(arena, spanID...)
	out[1].end = len(arena)
	return arena
}

// isLowerHex reports whether b is all 0-9 and a-f, eight bytes at a time: a trace id
// is 16 or 32 of them. With every high bit clear no byte's sum carries into the next, and a
// byte's high bit in x + (0x80-lo) says it is at least lo, in x + (0x7f-hi) that it is
// above hi.
func isLowerHex[T string | []byte](b T) bool {
	for ; len(b) >= 8; b = b[8:] {
		if notLowerHex(le64(b)) != 0 {
			return false
		}
	}
	for i := 0; i < len(b); i++ {
		if !lowerHex[b[i]] {
			return false
		}
	}
	return true
}

// notLowerHex is isLowerHex's test of eight bytes: the high bit of each byte of x that is
// not 0-9 or a-f (at least one, if any; a byte with its own high bit set is one, and then
// the others' bits may be wrong).
func notLowerHex(x uint64) uint64 {
	digit := (x + 0x50*ones) &^ (x + 0x46*ones) // '0' … '9'
	lower := (x + 0x1f*ones) &^ (x + 0x19*ones) // 'a' … 'f'
	return (x | ^(digit | lower)) & highs
}

// lowerHex marks 0-9 and a-f: one load per byte of a trace id instead of four compares.
var lowerHex = func() (t [256]bool) {
	for _, c := range []byte("0123456789abcdef") {
		t[c] = true
	}
	return t
}()

// appendSafeBytes is appendSafe for payload bytes: the common plain-ASCII value is copied
// straight into dst without an intermediate string.
func appendSafeBytes(dst, raw []byte, maxRunes int) []byte {
	if len(raw) <= maxRunes && isPlainASCIIBytes(raw) {
		return append(dst, raw...)
	}
	return appendSafe(dst, string(raw), maxRunes, false)
}

func isPlainASCIIBytes(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

// parseRFC3339 accepts RFC 3339 timestamps with or without a fraction and with any offset,
// and returns UTC. The common shape "2026-12-01T10:30:45.123Z" takes a fast path.
func parseRFC3339(b []byte) (time.Time, error) {
	if t, ok := parseUTCFast(b); ok {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}

// parseUTCFast handles "YYYY-MM-DDTHH:MM:SS[.fraction]Z" without allocating.
func parseUTCFast(b []byte) (time.Time, bool) {
	minute, ok := parseMinute(b)
	if !ok {
		return time.Time{}, false
	}
	return afterMinute(minute, b)
}

// parseMinute checks the shape of a fast-path timestamp and returns the Unix time of its
// "YYYY-MM-DDTHH:MM" (b[:16]).
func parseMinute(b []byte) (int64, bool) {
	if len(b) < 20 || b[len(b)-1] != 'Z' || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return 0, false
	}
	year, ok1 := decimal(b[0:4])
	month, ok2 := decimal(b[5:7])
	day, ok3 := decimal(b[8:10])
	hour, ok4 := decimal(b[11:13])
	minute, ok5 := decimal(b[14:16])
	if !(ok1 && ok2 && ok3 && ok4 && ok5) {
		return 0, false
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || hour > 23 || minute > 59 {
		return 0, false
	}
	return daysFromCivil(year, month, day)*86400 + int64(hour*3600+minute*60), true
}

// afterMinute completes a timestamp whose minute parseMinute accepted: ":SS[.fraction]Z".
func afterMinute(minute int64, b []byte) (time.Time, bool) {
	sec, ok := decimal(b[17:19])
	if !ok || sec > 59 {
		return time.Time{}, false
	}
	nanos := 0
	frac := b[19 : len(b)-1]
	if len(frac) > 0 {
		if frac[0] != '.' || len(frac) < 2 || len(frac) > 10 {
			return time.Time{}, false
		}
		digits := frac[1:]
		n, ok := decimal(digits)
		if !ok {
			return time.Time{}, false
		}
		for i := len(digits); i < 9; i++ {
			n *= 10
		}
		nanos = n
	}
	return time.Unix(minute+int64(sec), int64(nanos)).UTC(), true
}

// decimal reads a run of decimal digits (at most nine, so it cannot overflow).
func decimal(s []byte) (int, bool) {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// minuteCache remembers the minute the last fast-path timestamp was in: events come in time
// order, thousands a minute, so the date, hour and minute are parsed and checked once a
// minute and the rest of the time only compared.
type minuteCache struct {
	prefix [2]uint64 // the timestamp's first 16 bytes, "YYYY-MM-DDTHH:MM"
	unix   int64     // parseMinute of them
	// set is false until the first timestamp: sixteen NULs ("\u0000" unescaped) must not
	// match the empty cache.
	set bool
}

// parseRFC3339 is the package's parseRFC3339, through the cache.
func (c *minuteCache) parseRFC3339(b []byte) (time.Time, error) {
	if t, ok := c.parseFast(b); ok {
		return t, nil
	}
	return parseRFC3339(b)
}

// parseFast is parseRFC3339's cached fast path alone: "YYYY-MM-DDTHH:MM:SS[.fraction]Z",
// every byte a digit or one of "-T:.Z" (which a shape template relies on, fromShape).
func (c *minuteCache) parseFast(b []byte) (time.Time, bool) {
	if len(b) >= 20 && b[len(b)-1] == 'Z' && b[16] == ':' {
		prefix := [2]uint64{le64(b[:8]), le64(b[8:16])}
		if prefix == c.prefix && c.set {
			if t, ok := afterMinute(c.unix, b); ok {
				return t, true
			}
		} else if minute, ok := parseMinute(b); ok {
			if t, ok := afterMinute(minute, b); ok {
				c.prefix, c.unix, c.set = prefix, minute, true
				return t, true
			}
		}
	}
	return time.Time{}, false
}

// daysFromCivil is the number of days from 1970-01-01 to a valid proleptic Gregorian date
// (Howard Hinnant's algorithm): time.Date's normalising costs more than the whole fast path.
func daysFromCivil(year, month, day int) int64 {
	y := int64(year)
	if month <= 2 {
		y--
	}
	era := y
	if era < 0 { // January and February of year 0 count as year -1
		era -= 399
	}
	era /= 400
	yoe := y - era*400
	mp := int64(month+9) % 12
	doy := (153*mp+2)/5 + int64(day) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// pow10 are the exact powers of ten of fastfloat's fast path.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16}

// parseNumber converts a number token. The common short decimal ("245.5", "-3", "1200") is
// converted here without allocating, the same way fastjson's fastfloat does it (an exact
// integer mantissa divided by an exact power of ten, so the result is identical); any other
// token goes to fastfloat itself, so every token means what it meant before this parser.
func parseNumber(tok []byte) (float64, bool) {
	if d := readShortDecimal(tok, 0); d.end == len(tok) {
		if f, ok := d.value(tok); ok {
			return f, true
		}
	}
	f, err := fastfloat.Parse(string(tok))
	return f, err == nil
}

// shortDecimal is the reading of the usual number token from its start: an optional '-',
// digits and an optional fraction, as one integer mantissa; end is the first byte after it.
type shortDecimal struct {
	end, intDigits, fracDigits int
	mant                       uint64
	neg                        bool
}

func readShortDecimal(b []byte, i int) shortDecimal {
	var d shortDecimal
	if d.neg = i < len(b) && b[i] == '-'; d.neg {
		i++
	}
	start := i
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		d.mant = d.mant*10 + uint64(b[i]-'0')
		i++
	}
	d.intDigits = i - start
	if i < len(b) && b[i] == '.' {
		i++
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			d.mant = d.mant*10 + uint64(b[i]-'0')
			i++
			d.fracDigits++
		}
	}
	d.end = i
	return d
}

// value is fastfloat's fast path over d (read from b): the exact mantissa divided by an
// exact power of ten. It refuses what fastfloat leaves to strconv, whose rounding can differ
// from the division's: over 16 digits for an integer, 15 with a fraction, and "12.".
func (d shortDecimal) value(b []byte) (float64, bool) {
	fast := d.intDigits > 0 && d.intDigits <= 16
	if d.fracDigits > 0 {
		fast = fast && d.intDigits+d.fracDigits <= 15
	} else {
		fast = fast && b[d.end-1] != '.'
	}
	if !fast {
		return 0, false
	}
	f := float64(d.mant)
	if d.fracDigits > 0 {
		f /= pow10[d.fracDigits]
	}
	if d.neg {
		f = -f
	}
	return f, true
}

func isFinite(f float64) bool { return f-f == 0 }

// appendUnescaped appends the content of a JSON string whose escapes the scanner validated,
// exactly as fastjson unescaped it: a lone UTF-16 surrogate escape stays as its six
// characters, and a surrogate followed by an escape that does not complete it becomes U+FFFD.
func appendUnescaped(dst, s []byte) []byte {
	for {
		n := bytes.IndexByte(s, '\\')
		if n < 0 {
			return append(dst, s...)
		}
		dst = append(dst, s[:n]...)
		ch := s[n+1]
		s = s[n+2:]
		switch ch {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			x := rune(hex4(s))
			xs := s[:4]
			s = s[4:]
			if !utf16.IsSurrogate(x) {
				dst = utf8.AppendRune(dst, x)
				continue
			}
			if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
				dst = append(dst, `\u`...)
				dst = append(dst, xs...)
				continue
			}
			dst = utf8.AppendRune(dst, utf16.DecodeRune(x, rune(hex4(s[2:]))))
			s = s[6:]
		default: // " \ /
			dst = append(dst, ch)
		}
	}
}

// hex4 reads four hex digits the scanner validated.
func hex4(s []byte) uint16 {
	var x uint16
	for _, c := range s[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		x = x<<4 | uint16(c)
	}
	return x
}

// joinsTo reports whether name is the segments joined with dots, compared in place.
func joinsTo(name string, segs [][]byte) bool {
	rest := name
	for i, seg := range segs {
		if i > 0 {
			if len(rest) == 0 || rest[0] != '.' {
				return false
			}
			rest = rest[1:]
		}
		if len(rest) < len(seg) || rest[:len(seg)] != string(seg) {
			return false
		}
		rest = rest[len(seg):]
	}
	return rest == ""
}
