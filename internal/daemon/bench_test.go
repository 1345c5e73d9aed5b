package daemon

import (
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nsai/ingot-top/internal/audit"
	"github.com/nsai/ingot-top/internal/ingest"
	"github.com/nsai/ingot-top/internal/metrics"
	"github.com/nsai/ingot-top/internal/wire"
)

// BenchmarkEventLoggerToFile is the per-event cost of the event log at the design's 10%
// sampling, writing JSON lines to a rotating file.
func BenchmarkEventLoggerToFile(b *testing.B) {
	cfg := LogConfig{Level: slog.LevelInfo, Format: LogFormatJSON, File: filepath.Join(b.TempDir(), "d.log"), MaxSizeMB: 100, SampleRate: 0.1}
	sink, err := openLogSink(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer sink.Close()
	el, err := NewEventLogger(sink.writer, cfg, prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	batch := make([]wire.Event, 256)
	for i := range batch {
		batch[i] = submitEvent(i)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = el.HandleBatch(batch)
	}
	el.Close()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/event")
}

// BenchmarkDaemonSinks is the per-event cost of everything the daemon does after NATS:
// decode, then the audit trail (fsync per batch), the exporter, the sampled event log and
// the error fan-out, in the feed's batch size. It bounds the sustainable ingest rate.
func BenchmarkDaemonSinks(b *testing.B) {
	dir := b.TempDir()
	reg := prometheus.NewRegistry()
	exporter, err := metrics.New(reg, metrics.Config{})
	if err != nil {
		b.Fatal(err)
	}
	trail, err := audit.New(audit.Config{Dir: filepath.Join(dir, "audit"), Fsync: audit.FsyncBatch})
	if err != nil {
		b.Fatal(err)
	}
	defer trail.Close()
	cfg := LogConfig{Level: slog.LevelInfo, Format: LogFormatJSON, File: filepath.Join(dir, "d.log"), MaxSizeMB: 100, SampleRate: 0.1}
	sink, err := openLogSink(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer sink.Close()
	el, err := NewEventLogger(sink.writer, cfg, reg)
	if err != nil {
		b.Fatal(err)
	}
	rep, err := NewErrorRepublisher(RepublishConfig{ErrorsSubject: "e", ErrorsPerSecond: 1, MaxErrorsPerMessage: 100}, func() Publisher { return nil }, realClock{}, reg)
	if err != nil {
		b.Fatal(err)
	}
	sinks := []ingest.Sink{trail, exporter, el, rep}

	var payloads [][]byte
	var subjects []string
	for i := range 1000 {
		switch i % 10 {
		case 0, 1, 2, 3:
			payloads, subjects = append(payloads, submitPayload(i, "q1", "keyboard")), append(subjects, "telemetry.ingot.label.submit")
		case 4, 5, 6:
			payloads, subjects = append(payloads, anvilSubmittedPayload(i)), append(subjects, "telemetry.anvil.label.submitted")
		case 7:
			payloads, subjects = append(payloads, clientErrorPayload(i)), append(subjects, "telemetry.ingot.anvil_client.submit_label")
		default:
			payloads, subjects = append(payloads, submitPayload(i, "q2", "mouse")), append(subjects, "telemetry.ingot.label.submit")
		}
	}
	dec := wire.NewDecoder("telemetry")
	batch := make([]wire.Event, 0, benchBatch)
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		for i := range benchBatch {
			j := (n + i) % len(payloads)
			ev, derr := dec.Decode(subjects[j], payloads[j], "", time.Now())
			if derr != nil {
				b.Fatal(derr)
			}
			batch = append(batch, ev)
		}
		n += benchBatch
		for _, s := range sinks {
			if err := s.HandleBatch(batch); err != nil {
				b.Fatal(err)
			}
		}
		batch = batch[:0]
	}
	el.Close()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/event")
}

// benchBatch is the daemon's default --batch-size.
const benchBatch = 4096
