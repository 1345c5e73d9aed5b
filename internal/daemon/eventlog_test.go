package daemon

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nsai/ingot-top/internal/ingest"
	"github.com/nsai/ingot-top/internal/wire"
)

func submitEvent(i int) wire.Event {
	return wire.Event{
		Name:     "ingot.label.submit",
		Segments: []string{"ingot", "label", "submit"},
		Time:     time.Date(2026, 12, 1, 10, 30, 45, 123e6, time.UTC),
		HasTime:  true,
		Received: time.Date(2026, 12, 1, 10, 30, 45, 200e6, time.UTC),
		Measurements: []wire.Measurement{
			{Key: "duration_ms", Value: 245}, {Key: "client_latency_ms", Value: 12},
		},
		Metadata: []wire.KV{
			{Key: "queue_id", Value: "queue_123"}, {Key: "assignment_id", Value: "asg_456"},
			{Key: "user_id", Value: "user_789"}, {Key: "method", Value: "keyboard"},
			{Key: "message", Value: "hostile key"},
		},
		Trace: wire.Trace{TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", SpanID: "00f067aa0ba902b7"},
	}
}

func errorEvent() wire.Event {
	return wire.Event{
		Name:         "ingot.anvil_client.submit_label",
		Segments:     []string{"ingot", "anvil_client", "submit_label"},
		Time:         time.Date(2026, 12, 1, 10, 30, 45, 0, time.UTC),
		Measurements: []wire.Measurement{{Key: "duration_ms", Value: 2001}},
		Metadata: []wire.KV{
			{Key: "assignment_id", Value: "asg_1"}, {Key: "result", Value: "error"}, {Key: "reason", Value: "timeout"},
		},
		Trace: wire.Trace{TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", SpanID: "00f067aa0ba902b7"},
	}
}

func decodeLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(buf)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line is not JSON: %v: %q", err, sc.Text())
		}
		out = append(out, m)
	}
	return out
}

func TestEventLoggerSamplesOrdinaryEventsButNeverErrors(t *testing.T) {
	var buf bytes.Buffer
	reg := prometheus.NewRegistry()
	el, err := NewEventLogger(&buf, LogConfig{Level: slog.LevelInfo, Format: LogFormatJSON, SampleRate: 0.1}, reg)
	if err != nil {
		t.Fatal(err)
	}
	batch := make([]wire.Event, 0, 1000)
	for i := range 1000 {
		batch = append(batch, submitEvent(i))
	}
	for range 7 {
		batch = append(batch, errorEvent())
	}
	if err := el.HandleBatch(batch); err != nil {
		t.Fatal(err)
	}
	el.Close()
	lines := decodeLines(t, &buf)
	var submits, errs int
	for _, l := range lines {
		switch l["message"] {
		case "Label submitted":
			submits++
			if l["level"] != "info" || l["queue_id"] != "queue_123" || l["assignment_id"] != "asg_456" ||
				l["user_id"] != "user_789" || l["duration_ms"] != 245.0 || l["method"] != "keyboard" ||
				l["trace_id"] != "4bf92f3577b34da6a3ce929d0e0e4736" || l["event"] != "ingot.label.submit" ||
				l["meta_message"] != "hostile key" {
				t.Fatalf("submit line fields: %v", l)
			}
		case "AnvilClient error":
			errs++
			if l["level"] != "warn" || l["reason"] != "timeout" || l["operation"] != "submit_label" || l["result"] != "error" {
				t.Fatalf("error line fields: %v", l)
			}
		default:
			t.Fatalf("unexpected line %v", l)
		}
	}
	if submits != 100 || errs != 7 {
		t.Fatalf("logged %d submits (want exactly 100 of 1000 at rate 0.1) and %d errors (want all 7)", submits, errs)
	}
	lineCounts, _ := newEventLogLinesProbe(reg)
	if lineCounts["logged"] != 107 || lineCounts["sampled_out"] != 900 {
		t.Fatalf("line counters %v", lineCounts)
	}
}

func TestEventLoggerSamplesInvalidMessages(t *testing.T) {
	var buf bytes.Buffer
	el, err := NewEventLogger(&buf, LogConfig{Format: LogFormatJSON, SampleRate: 0.5}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if err := el.HandleInvalid(ingest.Invalid{Subject: "telemetry.x", Reason: wire.ReasonNotJSON, Detail: "d", Excerpt: `\x1b[2J`}); err != nil {
			t.Fatal(err)
		}
	}
	el.Close()
	lines := decodeLines(t, &buf)
	if len(lines) != 5 {
		t.Fatalf("want 5 of 10 invalid messages logged at rate 0.5, got %d", len(lines))
	}
	if lines[0]["reason"] != "not_json" || lines[0]["message"] != "Invalid telemetry message" {
		t.Fatalf("invalid line: %v", lines[0])
	}
}

func newEventLogLinesProbe(reg *prometheus.Registry) (map[string]float64, error) {
	mfs, err := reg.Gather()
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "ingot_top_log_events_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	return out, nil
}

// slog renames user attributes named msg and time like its own; metadata must not forge a
// second message or timestamp on the line.
func TestEventLogMetadataCannotForgeMessageOrTime(t *testing.T) {
	var buf bytes.Buffer
	el, err := NewEventLogger(&buf, LogConfig{Level: slog.LevelInfo, Format: LogFormatJSON, SampleRate: 1}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ev := errorEvent()
	ev.Metadata = append(ev.Metadata, wire.KV{Key: "msg", Value: "forged"}, wire.KV{Key: "time", Value: "2000-01-01"}, wire.KV{Key: "source", Value: "x"})
	if err := el.HandleBatch([]wire.Event{ev}); err != nil {
		t.Fatal(err)
	}
	el.Close()
	line := buf.String()
	for _, key := range []string{`"message":`, `"timestamp":`} {
		if n := bytes.Count([]byte(line), []byte(key)); n != 1 {
			t.Errorf("%s appears %d times in %s", key, n, line)
		}
	}
	if !bytes.Contains([]byte(line), []byte(`"meta_msg":"forged"`)) {
		t.Errorf("the metadata key was lost instead of prefixed: %s", line)
	}
}
