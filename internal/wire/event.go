// Package wire owns the telemetry wire contract v1 (docs/telemetry-wire.md):
// the decoded Event, the reasons a message can break the contract, and the rules that make
// any string from the stream safe to show on a terminal or write to a log.
package wire

import "time"

// ContractVersion is the only payload version this build understands.
const ContractVersion = 1

// MaxPayloadBytes is the contract's size limit for one message.
const MaxPayloadBytes = 64 * 1024

// Reason names why a message broke the contract. Reasons are stable strings because they
// become Prometheus label values and snapshot keys.
type Reason string

const (
	ReasonNotJSON         Reason = "not_json"
	ReasonNotObject       Reason = "not_object"
	ReasonMissingField    Reason = "missing_field"
	ReasonBadType         Reason = "bad_type"
	ReasonSubjectMismatch Reason = "subject_mismatch"
	ReasonTooLarge        Reason = "too_large"
	ReasonBadUTF8         Reason = "bad_utf8"
	ReasonBadVersion      Reason = "bad_version"
	ReasonBadEventName    Reason = "bad_event_name" // segments not [a-z0-9_]+, or not 2..6 of them
	ReasonBadTime         Reason = "bad_time"       // time present but not RFC 3339
	ReasonBadTrace        Reason = "bad_trace"      // trace ids of the wrong size or not lower-case hex
	ReasonBadValue        Reason = "bad_value"      // a known measurement outside its range (docs/telemetry-wire.md)
)

// AllReasons lists every reason, in a stable order, so exporters can pre-create series.
var AllReasons = []Reason{
	ReasonNotJSON, ReasonNotObject, ReasonMissingField, ReasonBadType, ReasonSubjectMismatch,
	ReasonTooLarge, ReasonBadUTF8, ReasonBadVersion, ReasonBadEventName, ReasonBadTime, ReasonBadTrace,
	ReasonBadValue,
}

// DecodeError is returned for every message that breaks the contract. Detail is already safe
// to print.
type DecodeError struct {
	Reason Reason
	Detail string
}

func (e *DecodeError) Error() string { return string(e.Reason) + ": " + e.Detail }

// KV is one metadata or id pair. Value is already sanitised and length-capped.
type KV struct {
	Key   string
	Value string
}

// Measurement is one numeric :telemetry measurement.
type Measurement struct {
	Key   string
	Value float64
}

// Trace is the W3C-sized trace context of an event. Empty strings mean absent.
type Trace struct {
	TraceID      string
	SpanID       string
	ParentSpanID string
}

// Event is one decoded, validated telemetry event. Every string field is sanitised.
// Metadata values that were numbers, bools or null arrive as their JSON text ("12", "true",
// "null"); atoms arrive as strings already.
type Event struct {
	// Name is the dotted event name without the prefix, e.g. "anvil.label.submitted".
	Name string
	// Segments is Name split on '.', 2 to 6 entries.
	Segments []string
	// Time is when the emitter executed the event; it equals Received when the payload had no time.
	Time     time.Time
	HasTime  bool
	Received time.Time

	Measurements []Measurement
	Metadata     []KV
	Node         string
	Trace        Trace

	// StreamSeq is the JetStream stream sequence, 0 for core NATS.
	StreamSeq uint64

	// Raw is the payload exactly as received, kept only for audit events (IsAudit), whose
	// compliance record must preserve values that sanitising makes ambiguous.
	Raw []byte
}

// App is the emitting application: "ingot", "forge", "anvil", or whatever an unknown
// emitter calls itself.
func (e *Event) App() string { return e.Segments[0] }

// Meta returns a metadata value by key.
func (e *Event) Meta(key string) (string, bool) {
	for i := range e.Metadata {
		if e.Metadata[i].Key == key {
			return e.Metadata[i].Value, true
		}
	}
	return "", false
}

// Measure returns a measurement by key.
func (e *Event) Measure(key string) (float64, bool) {
	for i := range e.Measurements {
		if e.Measurements[i].Key == key {
			return e.Measurements[i].Value, true
		}
	}
	return 0, false
}

// IsError reports whether the event carries result = "error".
func (e *Event) IsError() bool {
	r, _ := e.Meta("result")
	return r == "error"
}
