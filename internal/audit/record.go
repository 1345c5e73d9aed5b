package audit

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nsai/ingot-top/internal/wire"
)

// recordScratch holds sort buffers reused across records so that encoding does not allocate.
type recordScratch struct {
	meta     []wire.KV
	measures []wire.Measurement
	raw      bytes.Buffer
}

// appendRecord encodes one audit record as a JSON line. Field order is fixed so that
// trails diff and grep well:
//
//	{"received":…,"time":…,"event":…,"seq":…,"node":…,"trace_id":…,"span_id":…,
//	 "parent_span_id":…,"metadata":{…},"measurements":{…}}\n
//
// "time" is present only when the emitter sent one; "seq" only when non-zero; node and trace
// ids only when non-empty. Metadata and measurement keys are sorted; metadata values are the
// contract's strings (numbers and bools as their JSON text).
func appendRecord(b []byte, ev *wire.Event, received time.Time, sc *recordScratch) []byte {
	b = append(b, `{"received":"`...)
	b = received.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if ev.HasTime {
		b = append(b, `,"time":"`...)
		b = ev.Time.UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	b = append(b, `,"event":`...)
	b = appendJSONString(b, ev.Name)
	if ev.StreamSeq != 0 {
		b = append(b, `,"seq":`...)
		b = strconv.AppendUint(b, ev.StreamSeq, 10)
	}
	b = appendOptional(b, "node", ev.Node)
	b = appendOptional(b, "trace_id", ev.Trace.TraceID)
	b = appendOptional(b, "span_id", ev.Trace.SpanID)
	b = appendOptional(b, "parent_span_id", ev.Trace.ParentSpanID)

	sc.meta = append(sc.meta[:0], ev.Metadata...)
	slices.SortStableFunc(sc.meta, func(x, y wire.KV) int { return strings.Compare(x.Key, y.Key) })
	b = append(b, `,"metadata":{`...)
	for i, kv := range sc.meta {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, kv.Key)
		b = append(b, ':')
		b = appendJSONString(b, kv.Value)
	}
	sc.measures = append(sc.measures[:0], ev.Measurements...)
	slices.SortStableFunc(sc.measures, func(x, y wire.Measurement) int { return strings.Compare(x.Key, y.Key) })
	b = append(b, `},"measurements":{`...)
	for i, m := range sc.measures {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, m.Key)
		b = append(b, ':')
		b = appendJSONNumber(b, m.Value)
	}
	b = append(b, '}')
	if len(ev.Raw) > 0 {
		// The payload as emitted, compacted onto the record's one line. It was validated as
		// strict JSON on the way in, so Compact only fails on a payload the decoder never
		// passes; then the record goes without it rather than with a broken line.
		mark := len(b)
		b = append(b, `,"payload":`...)
		sc.raw.Reset()
		if err := json.Compact(&sc.raw, ev.Raw); err == nil {
			b = append(b, sc.raw.Bytes()...)
		} else {
			b = b[:mark]
		}
	}
	return append(b, "}\n"...)
}

func appendOptional(b []byte, key, value string) []byte {
	if value == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return appendJSONString(b, value)
}

// appendJSONNumber writes null for NaN and infinities, which JSON cannot carry.
func appendJSONNumber(b []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(b, "null"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

const hexDigits = "0123456789abcdef"

// appendJSONString quotes s as a JSON string. Wire strings are sanitised already; this still
// escapes every control character, replaces invalid UTF-8 and escapes U+2028/U+2029 so that
// no input can break a line or the JSON of the trail.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, `\u202`...)
			b = append(b, hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
