package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nsai/ingot-top/internal/ingest"
	"github.com/nsai/ingot-top/internal/wire"
)

// Publisher is what republishing needs of a NATS connection; *nats.Conn satisfies it.
type Publisher interface {
	Publish(subject string, data []byte) error
}

// PublisherFunc returns the connection to publish on now, or nil while there is none (NATS
// down at start). The feed owns the connection; republishing borrows it.
type PublisherFunc func() Publisher

// SnapshotSource supplies the mergeable aggregate snapshot that the daemon republishes once a
// second on the snapshot subject (default ingot_top.snapshot), so that many viewers can
// share one ingestion. The engine provides the implementation and owns the encoding.
type SnapshotSource interface {
	// MergeableSnapshot returns the encoded snapshot to publish now, or nil to skip this tick.
	MergeableSnapshot() []byte
}

// RepublishConfig configures the throttled fan-out.
type RepublishConfig struct {
	// ErrorsSubject receives batches of error records; "" disables error republishing.
	ErrorsSubject string
	// ErrorsPerSecond caps how many messages go out on ErrorsSubject per second (the design's
	// "send max 1/sec").
	ErrorsPerSecond float64
	// MaxErrorsPerMessage caps the records in one message; errors beyond it are counted as
	// coalesced and only their number is published.
	MaxErrorsPerMessage int
	// SnapshotSubject receives the SnapshotSource payload once a second; "" disables it.
	SnapshotSubject string
}

func (c RepublishConfig) validate(telemetrySubject string) error {
	for _, s := range []struct{ flag, subject string }{
		{"--republish.errors-subject", c.ErrorsSubject},
		{"--republish.snapshot-subject", c.SnapshotSubject},
	} {
		if s.subject == "" {
			continue
		}
		if err := validPublishSubject(s.subject); err != nil {
			return fmt.Errorf("%s %q: %w", s.flag, s.subject, err)
		}
		// Publishing under the subscription would feed our own output back in as invalid
		// telemetry, and every error record would be counted again.
		if subjectMatches(telemetrySubject, s.subject) {
			return fmt.Errorf("%s %q is under the telemetry subject %q: it would be consumed again",
				s.flag, s.subject, telemetrySubject)
		}
	}
	if c.ErrorsSubject != "" {
		if c.ErrorsPerSecond <= 0 {
			return fmt.Errorf("--republish.errors-rate %v: want a positive number of messages per second", c.ErrorsPerSecond)
		}
		if c.MaxErrorsPerMessage <= 0 {
			return fmt.Errorf("--republish.errors-max-batch %d: want a positive number", c.MaxErrorsPerMessage)
		}
	}
	return nil
}

func validPublishSubject(subject string) error {
	if strings.ContainsAny(subject, " \t\r\n") {
		return errors.New("subjects cannot contain white space")
	}
	for _, tok := range strings.Split(subject, ".") {
		switch tok {
		case "":
			return errors.New("empty subject token")
		case "*", ">":
			return errors.New("cannot publish to a wildcard subject")
		}
	}
	return nil
}

// subjectMatches reports whether a NATS subscription pattern (with * and > wildcards)
// receives messages published on subject.
func subjectMatches(pattern, subject string) bool {
	pt := strings.Split(pattern, ".")
	st := strings.Split(subject, ".")
	for i, p := range pt {
		if p == ">" {
			return len(st) > i
		}
		if i >= len(st) {
			return false
		}
		if p != "*" && p != st[i] {
			return false
		}
	}
	return len(pt) == len(st)
}

func errorRecord(ev *wire.Event) ingest.ErrorRecord {
	op := ev.Segments[len(ev.Segments)-1]
	kind := ev.Segments[0] + "_error"
	if len(ev.Segments) >= 2 {
		kind = ev.Segments[1] + "_error" // anvil_client_error, forge_client_error, pipeline_error
	}
	rec := ingest.ErrorRecord{
		Type:      kind,
		Event:     ev.Name,
		Operation: op,
		Timestamp: ev.Time.UTC(),
		TraceID:   ev.Trace.TraceID,
		SpanID:    ev.Trace.SpanID,
		Node:      ev.Node,
		StreamSeq: ev.StreamSeq,
	}
	if len(ev.Metadata) > 0 {
		rec.Metadata = make(map[string]string, len(ev.Metadata))
		for _, kv := range ev.Metadata {
			if kv.Key == "reason" {
				rec.Reason = kv.Value
				continue
			}
			rec.Metadata[kv.Key] = kv.Value
		}
	}
	return rec
}

// ErrorRepublisher is an ingest.Sink that collects error events and publishes them in batches,
// at most ErrorsPerSecond messages a second, so that a burst of errors cannot flood the
// subscribers (the design's throttled "errors:global" broadcast).
type ErrorRepublisher struct {
	cfg     RepublishConfig
	conn    PublisherFunc
	clock   Clock
	records *prometheus.CounterVec

	mu        sync.Mutex
	pending   []ingest.ErrorRecord
	coalesced uint64
}

// NewErrorRepublisher returns the error fan-out; call Run to start publishing.
func NewErrorRepublisher(cfg RepublishConfig, conn PublisherFunc, clock Clock, reg prometheus.Registerer) (*ErrorRepublisher, error) {
	records := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ingot_top_republish_errors_total",
		Help: "Error events handled by the errors-subject fan-out, by outcome: published (as a record), coalesced (counted only, message full), failed (publish failed or no connection).",
	}, []string{"outcome"})
	for _, o := range []string{"published", "coalesced", "failed"} {
		records.WithLabelValues(o)
	}
	if err := reg.Register(records); err != nil {
		return nil, err
	}
	return &ErrorRepublisher{cfg: cfg, conn: conn, clock: clock, records: records}, nil
}

var _ ingest.Sink = (*ErrorRepublisher)(nil)

// HandleBatch queues the batch's error events for the next message.
func (r *ErrorRepublisher) HandleBatch(events []wire.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range events {
		if !events[i].IsError() {
			continue
		}
		if len(r.pending) >= r.cfg.MaxErrorsPerMessage {
			r.coalesced++
			continue
		}
		r.pending = append(r.pending, errorRecord(&events[i]))
	}
	return nil
}

// HandleInvalid ignores invalid messages: they are not errors of the platform.
func (r *ErrorRepublisher) HandleInvalid(ingest.Invalid) error { return nil }

// Run publishes the queued errors every 1/ErrorsPerSecond until ctx ends, then once more.
func (r *ErrorRepublisher) Run(ctx context.Context) {
	// A huge --republish.errors-rate must not turn this loop into a spin: 100 flushes/s at most.
	interval := max(time.Duration(float64(time.Second)/r.cfg.ErrorsPerSecond), 10*time.Millisecond)
	for {
		select {
		case <-ctx.Done():
			r.Flush()
			return
		case <-r.clock.After(interval):
			r.Flush()
		}
	}
}

// Flush publishes what is queued now, if anything.
func (r *ErrorRepublisher) Flush() {
	r.mu.Lock()
	batch := ingest.ErrorBatch{V: 1, Sent: r.clock.Now().UTC(), Errors: r.pending, Coalesced: r.coalesced}
	r.pending = nil
	r.coalesced = 0
	r.mu.Unlock()
	if len(batch.Errors) == 0 && batch.Coalesced == 0 {
		return
	}
	total := float64(len(batch.Errors)) + float64(batch.Coalesced)
	conn := r.conn()
	if conn == nil {
		r.records.WithLabelValues("failed").Add(total)
		return
	}
	data, err := json.Marshal(batch)
	if err == nil {
		err = conn.Publish(r.cfg.ErrorsSubject, data)
	}
	if err != nil {
		r.records.WithLabelValues("failed").Add(total)
		return
	}
	r.records.WithLabelValues("published").Add(float64(len(batch.Errors)))
	r.records.WithLabelValues("coalesced").Add(float64(batch.Coalesced))
}

// snapshotPublisher sends the SnapshotSource payload once a second.
type snapshotPublisher struct {
	subject string
	source  SnapshotSource
	conn    PublisherFunc
	clock   Clock
	sent    *prometheus.CounterVec
}

func newSnapshotPublisher(subject string, source SnapshotSource, conn PublisherFunc, clock Clock, reg prometheus.Registerer) (*snapshotPublisher, error) {
	sent := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ingot_top_republish_snapshots_total",
		Help: "Aggregated snapshots offered for the snapshot subject, by outcome (published, failed).",
	}, []string{"outcome"})
	for _, o := range []string{"published", "failed"} {
		sent.WithLabelValues(o)
	}
	if err := reg.Register(sent); err != nil {
		return nil, err
	}
	return &snapshotPublisher{subject: subject, source: source, conn: conn, clock: clock, sent: sent}, nil
}

func (p *snapshotPublisher) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.clock.After(time.Second):
			p.publishOnce()
		}
	}
}

func (p *snapshotPublisher) publishOnce() {
	data := p.source.MergeableSnapshot()
	if data == nil {
		return
	}
	conn := p.conn()
	if conn == nil || conn.Publish(p.subject, data) != nil {
		p.sent.WithLabelValues("failed").Inc()
		return
	}
	p.sent.WithLabelValues("published").Inc()
}
