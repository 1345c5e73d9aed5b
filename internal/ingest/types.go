// Package ingest owns the types that the layers of ingestion share: what the feed hands to
// its sinks (Sink, Invalid), the connection state viewers show (ConnState), and the error
// batch a daemon republishes (ErrorBatch). They live apart from the NATS transport and from
// the daemon so that the engine, the exporter, the audit trail and the daemon source can
// depend on them without depending on either.
package ingest

import (
	"time"

	"github.com/nsai/ingot-top/internal/wire"
)

// Sink receives what the feed decodes. Calls come from one goroutine, in arrival order.
// A Sink may block to apply back-pressure; it must not keep the batch slice after returning.
// Returning nil means the batch is durably handled as far as this sink is concerned: in
// JetStream mode the feed acknowledges a message only after every sink returned nil for it,
// and a non-nil error makes the feed NAK the batch for redelivery (core NATS cannot
// redeliver, so there the error is counted and reported).
type Sink interface {
	HandleBatch(events []wire.Event) error
	HandleInvalid(bad Invalid) error
}

// Invalid is one message that broke the contract.
type Invalid struct {
	Received time.Time
	Subject  string // sanitised
	Reason   wire.Reason
	Detail   string // sanitised
	Excerpt  string // first bytes of the payload, escaped for display
	// StreamSeq is the JetStream sequence, 0 for core NATS.
	StreamSeq uint64
}

// Phase is the connection phase.
type Phase string

const (
	PhaseConnecting   Phase = "connecting" // never connected yet
	PhaseConnected    Phase = "connected"
	PhaseReconnecting Phase = "reconnecting"
	PhaseDisconnected Phase = "disconnected" // closed; no more attempts
)

// ConnState is the connection as viewers show it.
type ConnState struct {
	Phase       Phase
	Server      string    // URL in use or being tried, credentials redacted
	Since       time.Time // when Phase began
	LastError   string    // sanitised; "" if none
	LastErrorAt time.Time
	Reconnects  uint64
	// Received counts messages taken off the subscription (valid or not).
	Received uint64
	// SlowConsumerDrops counts messages the client library dropped because we fell behind.
	SlowConsumerDrops uint64
	Subject           string
	// SinkErrors counts sink calls that returned an error (the last one is in LastError).
	SinkErrors uint64
	// AbandonedAtShutdown counts messages the client had buffered but the feed could not
	// process within its shutdown budget (core NATS only; JetStream redelivers them).
	AbandonedAtShutdown uint64
}
