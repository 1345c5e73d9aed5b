package wire

import (
	"bytes"
	"encoding/binary"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

// refDecoder is the fastjson decoder this package shipped before its single-pass parser,
// kept as the oracle of FuzzDecodeMatchesReference. It decodes and validates contract-v1 payloads. It reuses one JSON parser and scratch
// buffers between calls, so a Decoder must be used by one goroutine at a time; use one
// Decoder per consuming goroutine. No string in a returned Event aliases the decoder's
// buffers: every Event stays valid after later calls.
type refDecoder struct {
	prefix string
	parser fastjson.Parser
	// parserGrown marks that the last payload was large enough to replace the parser.
	parserGrown bool

	interner

	// arena collects the bytes of every per-event string (metadata values, node, trace ids) so
	// that one allocation turns them all into strings.
	arena   []byte
	pending []pendingKV
	number  []byte
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
// Metadata and Measurements are fresh slices owned by the event.
func (d *refDecoder) Decode(subject string, data []byte, traceparent string, received time.Time) (Event, *DecodeError) {
	if len(data) > MaxPayloadBytes {
		return fail(ReasonTooLarge, "payload is "+strconv.Itoa(len(data))+" bytes, limit "+strconv.Itoa(MaxPayloadBytes))
	}
	if d.parserGrown {
		d.parser = fastjson.Parser{}
	}
	d.parserGrown = len(data) > parserResetBytes
	if !utf8.Valid(data) {
		return fail(ReasonBadUTF8, "payload is not valid UTF-8")
	}
	if !utf8.ValidString(subject) {
		return fail(ReasonBadUTF8, "subject is not valid UTF-8")
	}
	if problem := strictJSONProblem(data); problem != "" {
		return fail(ReasonNotJSON, problem)
	}
	root, err := d.parser.ParseBytes(data)
	if err != nil {
		return fail(ReasonNotJSON, err.Error())
	}
	if root.Type() != fastjson.TypeObject {
		return fail(ReasonNotObject, "payload is a JSON "+root.Type().String()+", want an object")
	}
	obj, _ := root.Object()
	var fields refTopFields
	fields.collect(obj)

	if len(d.arena) > maxArenaKeep {
		d.arena = nil
	}
	d.arena = d.arena[:0]
	d.pending = d.pending[:0]

	// v
	version := fields.version
	if version == nil {
		return fail(ReasonMissingField, "v")
	}
	if version.Type() != fastjson.TypeNumber {
		return fail(ReasonBadType, "v: want integer, got "+version.Type().String())
	}
	if f, err := version.Float64(); err != nil || f != ContractVersion {
		d.number = version.MarshalTo(d.number[:0])
		return fail(ReasonBadVersion, "v is "+string(d.number)+", this build understands "+strconv.Itoa(ContractVersion))
	}

	// event
	eventValue := fields.event
	if eventValue == nil {
		return fail(ReasonMissingField, "event")
	}
	if eventValue.Type() != fastjson.TypeArray {
		return fail(ReasonBadType, "event: want array of strings, got "+eventValue.Type().String())
	}
	name, segments, decErr := d.eventName(subject, eventValue)
	if decErr != nil {
		return Event{}, decErr
	}

	// measurements and metadata
	measurementsValue := fields.measurements
	if measurementsValue == nil {
		return fail(ReasonMissingField, "measurements")
	}
	if measurementsValue.Type() != fastjson.TypeObject {
		return fail(ReasonBadType, "measurements: want object, got "+measurementsValue.Type().String())
	}
	metadataValue := fields.metadata
	if metadataValue == nil {
		return fail(ReasonMissingField, "metadata")
	}
	if metadataValue.Type() != fastjson.TypeObject {
		return fail(ReasonBadType, "metadata: want object, got "+metadataValue.Type().String())
	}
	measurementsObj, _ := measurementsValue.Object()
	measurements, decErr := d.measurements(measurementsObj)
	if decErr != nil {
		return Event{}, decErr
	}
	metadataObj, _ := metadataValue.Object()
	if decErr := d.metadata(metadataObj); decErr != nil {
		return Event{}, decErr
	}

	ev := Event{
		Name:         name,
		Segments:     segments,
		Time:         received,
		Received:     received,
		Measurements: measurements,
	}

	// time
	if t := fields.time; t != nil && t.Type() != fastjson.TypeNull {
		if t.Type() != fastjson.TypeString {
			return fail(ReasonBadType, "time: want string, got "+t.Type().String())
		}
		raw, _ := t.StringBytes()
		parsed, err := parseRFC3339(raw)
		if err != nil {
			return fail(ReasonBadTime, "time "+strconv.Quote(string(raw))+" is not RFC 3339")
		}
		ev.Time, ev.HasTime = parsed, true
	}

	// node
	var node span
	if n := fields.node; n != nil && n.Type() != fastjson.TypeNull {
		if n.Type() != fastjson.TypeString {
			return fail(ReasonBadType, "node: want string, got "+n.Type().String())
		}
		raw, _ := n.StringBytes()
		node.start = len(d.arena)
		d.arena = appendSafeBytes(d.arena, raw, MaxValueRunes)
		node.end = len(d.arena)
	}

	// trace: the body wins over the header.
	var trace [3]span
	if tr := fields.trace; tr != nil && tr.Type() != fastjson.TypeNull {
		if tr.Type() != fastjson.TypeObject {
			return fail(ReasonBadType, "trace: want object, got "+tr.Type().String())
		}
		if decErr := d.bodyTrace(tr, &trace); decErr != nil {
			return Event{}, decErr
		}
	} else if traceparent != "" {
		d.arena = appendHeaderTrace(d.arena, traceparent, &trace)
	}

	finishStrings(&ev, string(d.arena), d.pending, make([]KV, len(d.pending)), node, trace)
	if IsAudit(ev.Name) {
		ev.Raw = bytes.Clone(data)
	}
	return ev, nil
}

// refTopFields holds the top-level values the contract names; the first occurrence of a
// duplicated key wins. One pass over the object is cheaper than a lookup per field.
type refTopFields struct {
	version, event, measurements, metadata, time, node, trace *fastjson.Value
}

func (f *refTopFields) collect(obj *fastjson.Object) {
	obj.Visit(func(key []byte, v *fastjson.Value) {
		var slot **fastjson.Value
		switch string(key) {
		case "v":
			slot = &f.version
		case "event":
			slot = &f.event
		case "measurements":
			slot = &f.measurements
		case "metadata":
			slot = &f.metadata
		case "time":
			slot = &f.time
		case "node":
			slot = &f.node
		case "trace":
			slot = &f.trace
		default:
			return
		}
		if *slot == nil {
			*slot = v
		}
	})
}

// eventName validates the event array and matches it to the subject. Because the dotted name
// must equal the subject after the prefix, the name is taken from the subject (interned).
func (d *refDecoder) eventName(subject string, eventValue *fastjson.Value) (string, []string, *DecodeError) {
	parts, _ := eventValue.Array()
	var segs [6][]byte
	for i, p := range parts {
		if p.Type() != fastjson.TypeString {
			_, err := fail(ReasonBadType, "event["+strconv.Itoa(i)+"]: want string, got "+p.Type().String())
			return "", nil, err
		}
		if i < len(segs) {
			segs[i], _ = p.StringBytes()
		}
	}
	if len(parts) < 2 || len(parts) > 6 {
		_, err := fail(ReasonBadEventName, "event has "+strconv.Itoa(len(parts))+" segments, want 2 to 6")
		return "", nil, err
	}
	for i, seg := range segs[:len(parts)] {
		if !validSegment(seg) {
			_, err := fail(ReasonBadEventName, "event["+strconv.Itoa(i)+"] "+strconv.Quote(string(seg))+" is not [a-z0-9_]+")
			return "", nil, err
		}
	}

	name, ok := d.trimPrefix(subject)
	if !ok || !joinsTo(name, segs[:len(parts)]) {
		_, err := fail(ReasonSubjectMismatch, "event does not match subject "+strconv.Quote(subject))
		return "", nil, err
	}
	interned := d.internName(name)
	return interned.name, interned.segments, nil
}

func (d *refDecoder) trimPrefix(subject string) (string, bool) {
	if d.prefix == "" {
		return subject, true
	}
	if len(subject) <= len(d.prefix) || !strings.HasPrefix(subject, d.prefix) || subject[len(d.prefix)] != '.' {
		return "", false
	}
	return subject[len(d.prefix)+1:], true
}

func (d *refDecoder) measurements(obj *fastjson.Object) ([]Measurement, *DecodeError) {
	if obj.Len() == 0 {
		return nil, nil
	}
	out := make([]Measurement, 0, obj.Len())
	var decErr *DecodeError
	obj.Visit(func(key []byte, v *fastjson.Value) {
		if decErr != nil {
			return
		}
		if v.Type() != fastjson.TypeNumber {
			_, decErr = fail(ReasonBadType, "measurements."+string(key)+": want number, got "+v.Type().String())
			return
		}
		f, err := v.Float64()
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			_, decErr = fail(ReasonBadType, "measurements."+string(key)+": not a finite number")
			return
		}
		if problem := checkRange(key, f); problem != "" {
			_, decErr = fail(ReasonBadValue, "measurements."+string(key)+": "+problem)
			return
		}
		out = append(out, Measurement{Key: d.internKey(key), Value: f})
	})
	if decErr != nil {
		return nil, decErr
	}
	return out, nil
}

func (d *refDecoder) metadata(obj *fastjson.Object) *DecodeError {
	var decErr *DecodeError
	obj.Visit(func(key []byte, v *fastjson.Value) {
		if decErr != nil {
			return
		}
		k := d.internKey(key)
		start := len(d.arena)
		switch v.Type() {
		case fastjson.TypeString:
			raw, _ := v.StringBytes()
			limit := MaxValueRunes
			if k == "reason" {
				limit = MaxReasonRunes
			}
			d.arena = appendSafeBytes(d.arena, raw, limit)
		case fastjson.TypeNumber:
			f, err := v.Float64()
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				_, decErr = fail(ReasonBadType, "metadata."+string(key)+": not a finite number")
				return
			}
			d.number = v.MarshalTo(d.number[:0])
			d.arena = appendSafeBytes(d.arena, d.number, MaxValueRunes)
		case fastjson.TypeTrue:
			d.arena = append(d.arena, "true"...)
		case fastjson.TypeFalse:
			d.arena = append(d.arena, "false"...)
		case fastjson.TypeNull:
			d.arena = append(d.arena, "null"...)
		default:
			_, decErr = fail(ReasonBadType, "metadata."+string(key)+": want string, number, bool or null, got "+v.Type().String())
			return
		}
		d.pending = append(d.pending, pendingKV{key: k, start: start, end: len(d.arena)})
	})
	return decErr
}

func (d *refDecoder) bodyTrace(tr *fastjson.Value, out *[3]span) *DecodeError {
	fields := [3]struct {
		name     string
		size     int
		required bool
	}{
		{"trace_id", traceIDLen, true},
		{"span_id", spanIDLen, true},
		{"parent_span_id", spanIDLen, false},
	}
	for i, f := range fields {
		v := tr.Get(f.name)
		if v == nil || v.Type() == fastjson.TypeNull {
			if f.required {
				return &DecodeError{Reason: ReasonBadTrace, Detail: "trace." + f.name + " missing"}
			}
			continue
		}
		if v.Type() != fastjson.TypeString {
			return &DecodeError{Reason: ReasonBadType, Detail: "trace." + f.name + ": want string, got " + v.Type().String()}
		}
		raw, _ := v.StringBytes()
		if len(raw) != f.size || !isLowerHex(raw) {
			return &DecodeError{Reason: ReasonBadTrace, Detail: "trace." + f.name + ": want " + strconv.Itoa(f.size) + " lower-case hex characters"}
		}
		out[i].start = len(d.arena)
		d.arena = append(d.arena, raw...)
		out[i].end = len(d.arena)
	}
	return nil
}

// strictJSONProblem (the reference decoder's separate pass) finds what fastjson tolerates but RFC 8259 forbids: raw control
// characters inside strings, and escapes other than \" \\ \/ \b \f \n \r \t \uXXXX. The
// contract calls such payloads not JSON, and tolerating them would let "\q" and "q" name
// the same queue. One pass over the bytes, outside the parser, costs a few ns per byte.
func strictJSONProblem(data []byte) string {
	// Almost every payload has neither a backslash nor a control byte: two fast checks
	// prove it without walking the strings.
	if bytes.IndexByte(data, '\\') < 0 && !hasControlByte(data) {
		return ""
	}
	i := 0
	for {
		// Outside strings only '"' matters; IndexByte skips there at memory speed.
		j := bytes.IndexByte(data[i:], '"')
		if j < 0 {
			return ""
		}
		i += j + 1
		for {
			for i < len(data) && !refStringSpecial[data[i]] {
				i++
			}
			if i >= len(data) {
				return "" // unterminated: the parser reports it
			}
			c := data[i]
			if c == '"' {
				i++
				break
			}
			if c < 0x20 {
				return "raw control character 0x" + string(hexDigits[c>>4]) + string(hexDigits[c&0xf]) + " inside a string at offset " + strconv.Itoa(i)
			}
			// c == '\\'
			if i+1 >= len(data) {
				return "unterminated escape at offset " + strconv.Itoa(i)
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+5 >= len(data) || !isHex(data[i+2]) || !isHex(data[i+3]) || !isHex(data[i+4]) || !isHex(data[i+5]) {
					return "bad \\u escape at offset " + strconv.Itoa(i)
				}
				i += 6
			default:
				return "invalid escape \\" + SafeString(string(data[i+1]), 1) + " at offset " + strconv.Itoa(i)
			}
		}
	}
}

// refStringSpecial marks the bytes that end a run of plain string content for
// strictJSONProblem: control bytes, '"' and '\\' (the decoder's own table also stops at
// non-ASCII bytes, which its scan validates as UTF-8; this pass leaves that to utf8.Valid).
var refStringSpecial = func() (t [256]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// hasControlByte reports a byte below 0x20 anywhere, eight bytes at a time (the classic
// "has less than" word trick), because this runs on every message.
func hasControlByte(data []byte) bool {
	const highs, below = 0x8080808080808080, 0x20 * 0x0101010101010101
	i := 0
	for ; i+8 <= len(data); i += 8 {
		x := binary.LittleEndian.Uint64(data[i:])
		if (x-below)&^x&highs != 0 {
			return true
		}
	}
	for ; i < len(data); i++ {
		if data[i] < 0x20 {
			return true
		}
	}
	return false
}

func newRefDecoder(prefix string) *refDecoder {
	return &refDecoder{
		prefix:   prefix,
		interner: newInterner(),
	}
}

// parserResetBytes: after a payload this large the reference's parser (whose value cache
// grows with the number of JSON values) is replaced.
const parserResetBytes = 16 << 10
