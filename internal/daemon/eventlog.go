package daemon

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nsai/ingot-top/internal/ingest"
	"github.com/nsai/ingot-top/internal/wire"
)

// sampler keeps an exact fraction of the calls to take, deterministically: with rate 0.1
// every tenth call is kept. Deterministic beats random here because the log volume is then a
// fixed fraction of the traffic, and tests can count lines.
// The rate is kept in parts per million so that 0.1 × 10 is exactly 1, which it is not in
// floating point.
type sampler struct {
	ppm   int64
	accum int64
}

const samplerScale = 1_000_000

func newSampler(rate float64) sampler {
	return sampler{ppm: int64(math.Round(rate * samplerScale))}
}

func (s *sampler) take() bool {
	if s.ppm >= samplerScale {
		return true
	}
	s.accum += s.ppm
	if s.accum >= samplerScale {
		s.accum -= samplerScale
		return true
	}
	return false
}

// EventLogger is an ingest.Sink that writes telemetry events as structured log lines for
// ELK/Loki. Ordinary events are sampled at the configured rate; events with result = "error"
// are always written. The sampling decision is made on the feed's goroutine (so the samplers
// need no lock) and the chosen events are formatted and written on the logger's own
// goroutine, so that log I/O runs beside ingestion instead of inside it. The hand-over
// queue is bounded and a full queue blocks the feed: a log line is never silently lost.
type EventLogger struct {
	// logger formats into buf on the writer goroutine; buf goes to out in one write per
	// batch, which costs one syscall per batch instead of one per line and keeps a batch's
	// lines together between the daemon's own log lines.
	logger   *slog.Logger
	buf      bytes.Buffer
	out      io.Writer
	events   sampler
	invalids sampler

	logged     prometheus.Counter
	sampledOut prometheus.Counter

	// mu makes Close wait for an in-flight hand-over, so a late batch cannot hit a closed
	// queue.
	mu     sync.RWMutex
	closed bool
	queue  chan []logItem
	done   chan struct{}
}

// logItem is one line to write: an event, or an invalid message.
type logItem struct {
	event   wire.Event
	invalid *ingest.Invalid
}

// eventLogQueue is how many batches may wait for the writer goroutine.
const eventLogQueue = 64

// newEventLogLines is the daemon's own accounting of the sampled event log.
func newEventLogLines(reg prometheus.Registerer) (*prometheus.CounterVec, error) {
	lines := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ingot_top_log_events_total",
		Help: "Telemetry events and invalid messages seen by the event log, by outcome (logged or sampled_out).",
	}, []string{"outcome"})
	if err := reg.Register(lines); err != nil {
		return nil, err
	}
	return lines, nil
}

// NewEventLogger returns an event log sink writing lines in cfg's format and level to out,
// keeping cfg.SampleRate of the ordinary events; reg receives its logged/sampled-out
// counters. out must take a whole write at once (os.File, lumberjack). Close it to flush.
func NewEventLogger(out io.Writer, cfg LogConfig, reg prometheus.Registerer) (*EventLogger, error) {
	lines, err := newEventLogLines(reg)
	if err != nil {
		return nil, err
	}
	l := &EventLogger{
		out:        out,
		events:     newSampler(cfg.SampleRate),
		invalids:   newSampler(cfg.SampleRate),
		logged:     lines.WithLabelValues("logged"),
		sampledOut: lines.WithLabelValues("sampled_out"),
		queue:      make(chan []logItem, eventLogQueue),
		done:       make(chan struct{}),
	}
	l.logger = newLogger(&l.buf, cfg)
	go l.write()
	return l, nil
}

var _ ingest.Sink = (*EventLogger)(nil)

// HandleBatch picks the batch's lines and queues them. It never fails: a log line that
// cannot be written is not a reason to redeliver telemetry.
func (l *EventLogger) HandleBatch(events []wire.Event) error {
	var picked []logItem
	for i := range events {
		if !events[i].IsError() && !l.events.take() {
			l.sampledOut.Inc()
			continue
		}
		if picked == nil {
			picked = make([]logItem, 0, len(events)/8+1)
		}
		// Event strings never alias the decoder's buffers (package wire), so a copy of the
		// struct stays valid after the feed reuses its batch slice.
		picked = append(picked, logItem{event: events[i]})
	}
	l.enqueue(picked)
	return nil
}

// HandleInvalid logs a message that broke the contract. Invalid messages are sampled like
// ordinary events, because a hostile or broken publisher could otherwise flood the log.
func (l *EventLogger) HandleInvalid(bad ingest.Invalid) error {
	if !l.invalids.take() {
		l.sampledOut.Inc()
		return nil
	}
	l.enqueue([]logItem{{invalid: &bad}})
	return nil
}

func (l *EventLogger) enqueue(items []logItem) {
	if len(items) == 0 {
		return
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return
	}
	l.queue <- items
}

// Close writes every queued line and stops the writer goroutine. Later batches are ignored.
func (l *EventLogger) Close() {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.queue)
	}
	l.mu.Unlock()
	<-l.done
}

// maxLogChunk bounds one write, well under the smallest rotation size (1 MB).
const maxLogChunk = 256 << 10

func (l *EventLogger) flushBuf() {
	if l.buf.Len() == 0 {
		return
	}
	// A failed write has nowhere better to be reported than the log itself; the lines are
	// dropped and counting them would need another series nobody watches.
	_, _ = l.out.Write(l.buf.Bytes())
	l.buf.Reset()
}

func (l *EventLogger) write() {
	defer close(l.done)
	ctx := context.Background()
	for items := range l.queue {
		for i := range items {
			if l.buf.Len() >= maxLogChunk {
				l.flushBuf()
			}
			if bad := items[i].invalid; bad != nil {
				l.logger.LogAttrs(ctx, slog.LevelWarn, "Invalid telemetry message",
					slog.String("subject", bad.Subject),
					slog.String("reason", string(bad.Reason)),
					slog.String("detail", bad.Detail),
					slog.String("excerpt", bad.Excerpt),
				)
				l.logged.Inc()
				continue
			}
			ev := &items[i].event
			isError := ev.IsError()
			level := slog.LevelInfo
			if isError {
				level = slog.LevelWarn
			}
			if l.logger.Enabled(ctx, level) {
				l.logger.LogAttrs(ctx, level, eventMessage(ev, isError), eventAttrs(ev)...)
				l.logged.Inc()
			}
		}
		l.flushBuf()
	}
}

// eventMessage is the log message, worded like the design's Logger calls.
func eventMessage(ev *wire.Event, isError bool) string {
	switch ev.Name {
	case "ingot.live_view.mount":
		return "LiveView mounted"
	case "ingot.label.submit":
		return "Label submitted"
	case "anvil.label.submitted":
		return "Label submitted (Anvil)"
	case "ingot.component.render_sample":
		return "Component rendered"
	case "ingot.assignment.abandoned":
		return "Assignment abandoned"
	case "forge.sample.created":
		return "Sample created"
	case "forge.artifact.uploaded":
		return "Artifact uploaded"
	case "forge.pipeline.executed":
		if isError {
			return "Pipeline failed"
		}
		return "Pipeline executed"
	case "anvil.assignment.completed":
		return "Assignment completed"
	case "anvil.queue.stats_updated":
		return "Queue stats updated"
	case "anvil.agreement.calculated":
		return "Agreement calculated"
	case "anvil.queue.modified":
		return "Queue modified"
	case "anvil.export.completed":
		return "Export completed"
	}
	if strings.HasPrefix(ev.Name, "ingot.forge_client.") {
		if isError {
			return "ForgeClient error"
		}
		return "ForgeClient call"
	}
	if strings.HasPrefix(ev.Name, "ingot.anvil_client.") {
		if isError {
			return "AnvilClient error"
		}
		return "AnvilClient call"
	}
	if isError {
		return "Telemetry error"
	}
	return "Telemetry event"
}

// reservedLogKeys are the keys the handler and eventAttrs write themselves; metadata with
// these names is prefixed so that a line never carries the same key twice. slog's own keys
// (msg, time, level, source) are here too, because the handler renames user attributes that
// carry them into "message" and "timestamp": a metadata key "msg" would otherwise forge a
// second message, and log pipelines keep the last one.
var reservedLogKeys = map[string]bool{
	"level": true, "message": true, "timestamp": true, "event": true,
	"trace_id": true, "span_id": true, "node": true, "event_time": true, "operation": true,
	"msg": true, "time": true, "source": true,
}

// eventAttrs carries the design's fields (queue_id, assignment_id, user_id, duration_ms,
// method, trace_id) and whatever else the event had: every metadata value is already
// sanitised and length-capped by package wire.
func eventAttrs(ev *wire.Event) []slog.Attr {
	attrs := make([]slog.Attr, 0, 6+len(ev.Metadata)+len(ev.Measurements))
	attrs = append(attrs, slog.String("event", ev.Name))
	if len(ev.Segments) >= 3 && (ev.Segments[1] == "forge_client" || ev.Segments[1] == "anvil_client") {
		attrs = append(attrs, slog.String("operation", ev.Segments[len(ev.Segments)-1]))
	}
	for _, kv := range ev.Metadata {
		key := kv.Key
		if reservedLogKeys[key] {
			key = "meta_" + key
		}
		attrs = append(attrs, slog.String(key, kv.Value))
	}
	for _, m := range ev.Measurements {
		key := m.Key
		if reservedLogKeys[key] {
			key = "measure_" + key
		}
		attrs = append(attrs, slog.Float64(key, m.Value))
	}
	if ev.Trace.TraceID != "" {
		attrs = append(attrs, slog.String("trace_id", ev.Trace.TraceID))
	}
	if ev.Trace.SpanID != "" {
		attrs = append(attrs, slog.String("span_id", ev.Trace.SpanID))
	}
	if ev.Node != "" {
		attrs = append(attrs, slog.String("node", ev.Node))
	}
	if ev.HasTime {
		attrs = append(attrs, slog.String("event_time", ev.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00")))
	}
	return attrs
}
