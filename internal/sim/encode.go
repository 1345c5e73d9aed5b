package sim

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
)

// encode renders ev as a contract v1 payload into the generator's reusable buffer. The
// result is valid until the next call; nats.Conn copies it on Publish.
func (g *generator) encode(ev *simEvent, now time.Time) []byte {
	g.buf = appendEvent(g.buf[:0], ev, now)
	return g.buf
}

// appendEvent is a hand-written encoder: encoding/json with maps costs several times more
// per event, and the simulator has to outrun the consumers it load-tests.
func appendEvent(b []byte, ev *simEvent, now time.Time) []byte {
	info := &catalogue[ev.kind]
	b = append(b, `{"v":1,"event":[`...)
	for i, s := range info.segments {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, s...)
		b = append(b, '"')
	}
	b = append(b, `],"time":"`...)
	b = now.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z")
	b = append(b, `","measurements":{`...)
	for i := 0; i < ev.nMeas; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, ev.meas[i].key)
		b = append(b, ':')
		b = appendNumber(b, ev.meas[i].value)
	}
	b = append(b, `},"metadata":{`...)
	for i := 0; i < ev.nMeta; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, ev.meta[i].key)
		b = append(b, ':')
		b = appendString(b, ev.meta[i].value)
	}
	b = append(b, `},"node":`...)
	b = appendString(b, nodes[ev.node])
	if ev.hasTrace && !ev.traceInHeader {
		b = append(b, `,"trace":{"trace_id":"`...)
		b = appendHex(b, ev.trace.traceID[:])
		b = append(b, `","span_id":"`...)
		b = appendHex(b, ev.trace.spanID[:])
		b = append(b, '"')
		if ev.trace.parent {
			b = append(b, `,"parent_span_id":"`...)
			b = appendHex(b, ev.trace.parentID[:])
			b = append(b, '"')
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

func appendHex(b, src []byte) []byte {
	for _, c := range src {
		b = append(b, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return b
}

// appendNumber writes a JSON number with at most three decimals (microsecond resolution for
// durations); non-finite values, which JSON cannot carry, become 0.
func appendNumber(b []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(b, '0')
	}
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.AppendInt(b, int64(v), 10)
	}
	return strconv.AppendFloat(b, math.Round(v*1000)/1000, 'f', -1, 64)
}

// appendString writes a JSON string, escaping quotes, backslashes and control characters
// and replacing invalid UTF-8, so that free-text reasons always stay contract-valid.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			b = append(b, c)
			i++
			continue
		}
		if c < utf8.RuneSelf {
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
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// Message is one pre-built NATS message.
type Message struct {
	Subject string
	Header  nats.Header // nil unless the event carries its trace in the traceparent header
	Data    []byte
}

// PublishTo sends m through p. A message with a header must go as a nats.Msg; scratch is
// reused for it so that a publishing loop does not allocate one per message.
func (m *Message) PublishTo(p Publisher, scratch *nats.Msg) error {
	if m.Header == nil {
		return p.Publish(m.Subject, m.Data)
	}
	*scratch = nats.Msg{Subject: m.Subject, Header: m.Header, Data: m.Data}
	return p.PublishMsg(scratch)
}

// Pregenerate builds n messages of the configured traffic up front, for publishing
// benchmarks where generation must not be measured. Event times advance at cfg.Rate (or
// 1000 ev/s when the rate is 0) from the current time.
func Pregenerate(cfg Config, n int) ([]Message, error) {
	return PregenerateAt(cfg, time.Now(), n)
}

// PregenerateAt is Pregenerate with event times from start: the i-th message's time is
// start + i/rate. Tests build recordings of the past with it.
func PregenerateAt(cfg Config, start time.Time, n int) ([]Message, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if n < 0 {
		n = 0
	}
	now := start
	if cfg.Seed == 0 {
		cfg.Seed = now.UnixNano()
	}
	g := newGenerator(cfg, now)
	rate := cfg.Rate
	if rate <= 0 {
		rate = 1000
	}
	step := time.Duration(float64(time.Second) / rate)
	// One arena for all payloads: far fewer allocations than one slice per message.
	arena := make([]byte, 0, n*420)
	msgs := make([]Message, n)
	for i := range msgs {
		at := now.Add(time.Duration(i) * step)
		if g.burstOver(at) {
			g.setScenario(ScenarioNormal, at)
		}
		ev := g.next(at)
		start := len(arena)
		arena = appendEvent(arena, ev, at)
		msgs[i] = Message{Subject: g.subjects[ev.kind], Data: arena[start:len(arena):len(arena)]}
		if ev.traceInHeader {
			msgs[i].Header = nats.Header{"traceparent": []string{ev.traceparent()}}
		}
	}
	return msgs, nil
}
