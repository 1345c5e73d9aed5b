package ingest

import "time"

// ErrorRecord is one error as published on the errors subject: the design's
// {type, operation, assignment_id, reason, timestamp} plus what locates it.
type ErrorRecord struct {
	Type      string            `json:"type"` // e.g. "anvil_client_error"
	Event     string            `json:"event"`
	Operation string            `json:"operation"`
	Reason    string            `json:"reason,omitempty"`
	Timestamp time.Time         `json:"timestamp"`
	Metadata  map[string]string `json:"metadata,omitempty"`
	TraceID   string            `json:"trace_id,omitempty"`
	SpanID    string            `json:"span_id,omitempty"`
	Node      string            `json:"node,omitempty"`
	StreamSeq uint64            `json:"stream_seq,omitempty"`
}

// ErrorBatch is one message on the errors subject.
type ErrorBatch struct {
	V      int           `json:"v"`
	Sent   time.Time     `json:"sent"`
	Errors []ErrorRecord `json:"errors"`
	// Coalesced counts errors since the previous message that are not in Errors because the
	// message was full.
	Coalesced uint64 `json:"coalesced"`
}
