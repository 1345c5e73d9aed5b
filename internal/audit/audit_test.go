package audit

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/ingest"
	"github.com/nsai/ingot-top/internal/testkit"
	"github.com/nsai/ingot-top/internal/wire"
)

// testClock is an injected clock the test moves by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

var day1 = time.Date(2026, 11, 27, 10, 30, 45, 123_000_000, time.UTC)

func event(name string, seq uint64, received time.Time) wire.Event {
	ev := wire.Event{
		Name:      name,
		Segments:  strings.Split(name, "."),
		Time:      received.Add(-200 * time.Millisecond),
		HasTime:   true,
		Received:  received,
		Node:      "anvil@10.0.0.5",
		StreamSeq: seq,
		Trace:     wire.Trace{TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", SpanID: "00f067aa0ba902b7"},
	}
	switch name {
	case wire.EventLabelSubmitted:
		ev.Metadata = []wire.KV{{Key: "queue_id", Value: "queue_123"}, {Key: "assignment_id", Value: "asg_456"}, {Key: "labeler_id", Value: "user_789"}}
		ev.Measurements = []wire.Measurement{{Key: "duration_ms", Value: 245}}
	case wire.EventQueueModified:
		ev.Metadata = []wire.KV{{Key: "queue_id", Value: "queue_123"}, {Key: "actor_id", Value: "admin_1"}, {Key: "change", Value: "priority=high"}}
	case wire.EventExportCompleted:
		ev.Metadata = []wire.KV{{Key: "queue_id", Value: "queue_123"}, {Key: "actor_id", Value: "admin_1"}, {Key: "format", Value: "jsonl"}}
		ev.Measurements = []wire.Measurement{{Key: "rows", Value: 1200}, {Key: "bytes", Value: 5.5e6}, {Key: "duration_ms", Value: 812.5}}
	default:
		ev.Metadata = []wire.KV{{Key: "queue_id", Value: "queue_123"}, {Key: "result", Value: "ok"}}
		ev.Measurements = []wire.Measurement{{Key: "duration_ms", Value: 12}}
	}
	return ev
}

func newWriter(t *testing.T, cfg Config) *Writer {
	t.Helper()
	w, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return w
}

// readLines returns every line of a plain or gzipped file and fails on a missing final '\n'.
func readLines(t *testing.T, path string) []string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("gzip %s: %v", path, err)
		}
		if raw, err = io.ReadAll(zr); err != nil {
			t.Fatalf("gunzip %s: %v", path, err)
		}
	}
	if len(raw) == 0 {
		return nil
	}
	if raw[len(raw)-1] != '\n' {
		t.Fatalf("%s: last line is torn: %q", path, tail(raw))
	}
	return strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
}

func tail(b []byte) []byte { return b[max(len(b)-80, 0):] }

type recordView struct {
	Received     string             `json:"received"`
	Time         string             `json:"time"`
	Event        string             `json:"event"`
	Seq          uint64             `json:"seq"`
	Metadata     map[string]string  `json:"metadata"`
	Measurements map[string]float64 `json:"measurements"`
}

func parseRecord(t *testing.T, line string) recordView {
	t.Helper()
	var r recordView
	if err := json.Unmarshal([]byte(line), &r); err != nil {
		t.Fatalf("line is not JSON (%v): %q", err, line)
	}
	return r
}

func TestWritesOnlyAuditEventsInStableFieldOrder(t *testing.T) {
	dir := t.TempDir()
	clock := &testClock{now: day1}
	w := newWriter(t, Config{Dir: dir, Clock: clock.Now})

	batch := []wire.Event{
		event(wire.EventLabelSubmit, 1, day1),
		event(wire.EventLabelSubmitted, 2, day1),
		event(wire.EventQueueStatsUpdated, 3, day1),
		event(wire.EventQueueModified, 4, day1),
		event(wire.EventExportCompleted, 5, day1),
		event(wire.ExampleAnvilClientSubmit, 6, day1),
	}
	if err := w.HandleBatch(batch); err != nil {
		t.Fatalf("HandleBatch: %v", err)
	}
	if err := w.HandleInvalid(ingest.Invalid{Subject: "telemetry.anvil.label.submitted", Reason: wire.ReasonNotJSON}); err != nil {
		t.Fatalf("HandleInvalid: %v", err)
	}
	lines := readLines(t, filepath.Join(dir, "audit-2026-11-27.jsonl"))
	if len(lines) != 3 {
		t.Fatalf("got %d records, want the 3 audit events:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	want := `{"received":"2026-11-27T10:30:45.123Z","time":"2026-11-27T10:30:44.923Z","event":"anvil.label.submitted","seq":2,` +
		`"node":"anvil@10.0.0.5","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7",` +
		`"metadata":{"assignment_id":"asg_456","labeler_id":"user_789","queue_id":"queue_123"},"measurements":{"duration_ms":245}}`
	if lines[0] != want {
		t.Errorf("record:\n got %s\nwant %s", lines[0], want)
	}
	export := parseRecord(t, lines[2])
	if export.Event != wire.EventExportCompleted || export.Seq != 5 || export.Measurements["rows"] != 1200 ||
		export.Measurements["bytes"] != 5.5e6 || export.Metadata["format"] != "jsonl" || export.Metadata["actor_id"] != "admin_1" {
		t.Errorf("export record lost fields: %+v", export)
	}
	if s := w.Stats(); s.Records != 3 || s.LastSeq != 5 || s.Fsyncs != 1 {
		t.Errorf("stats = %+v, want 3 records, last seq 5, one fsync for the batch", s)
	}
}

func TestRecordWithoutTimeSeqOrTraceOmitsThem(t *testing.T) {
	dir := t.TempDir()
	clock := &testClock{now: day1}
	w := newWriter(t, Config{Dir: dir, Clock: clock.Now})
	ev := event(wire.EventQueueModified, 0, time.Time{})
	ev.HasTime, ev.Node, ev.Trace = false, "", wire.Trace{}
	ev.Metadata = append(ev.Metadata, wire.KV{Key: "note", Value: "line\nbreak \"quoted\" \x1b[31m \u2028 \xff"})
	if err := w.HandleBatch([]wire.Event{ev}); err != nil {
		t.Fatalf("HandleBatch: %v", err)
	}
	lines := readLines(t, filepath.Join(dir, "audit-2026-11-27.jsonl"))
	want := `{"received":"2026-11-27T10:30:45.123Z","event":"anvil.queue.modified","metadata":{"actor_id":"admin_1","change":"priority=high",` +
		`"note":"line\nbreak \"quoted\" \u001b[31m \u2028 \ufffd","queue_id":"queue_123"},"measurements":{}}`
	if len(lines) != 1 || lines[0] != want {
		t.Fatalf("records:\n got %q\nwant %q", lines, want)
	}
}

func TestRotatesByReceiveDayAndNeverBackwards(t *testing.T) {
	dir := t.TempDir()
	clock := &testClock{now: day1}
	w := newWriter(t, Config{Dir: dir, Clock: clock.Now})
	day2 := day1.Add(24 * time.Hour)
	// One batch straddling midnight, then a straggler received on day 1.
	if err := w.HandleBatch([]wire.Event{
		event(wire.EventLabelSubmitted, 1, day1),
		event(wire.EventLabelSubmitted, 2, day2),
	}); err != nil {
		t.Fatalf("HandleBatch: %v", err)
	}
	if err := w.HandleBatch([]wire.Event{event(wire.EventLabelSubmitted, 3, day1)}); err != nil {
		t.Fatalf("HandleBatch: %v", err)
	}
	first := readLines(t, filepath.Join(dir, "audit-2026-11-27.jsonl"))
	second := readLines(t, filepath.Join(dir, "audit-2026-11-28.jsonl"))
	if len(first) != 1 || parseRecord(t, first[0]).Seq != 1 {
		t.Errorf("day 1 file = %q, want only seq 1", first)
	}
	if len(second) != 2 || parseRecord(t, second[0]).Seq != 2 || parseRecord(t, second[1]).Seq != 3 {
		t.Errorf("day 2 file = %q, want seq 2 then the straggler 3", second)
	}
	if got := w.Stats().File; got != filepath.Join(dir, "audit-2026-11-28.jsonl") {
		t.Errorf("Stats.File = %s", got)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o640); err != nil {
		t.Fatal(err)
	}
}

func TestRetentionDeletesExpiredDaysAtStartAndRotation(t *testing.T) {
	dir := t.TempDir()
	line := `{"received":"x","event":"anvil.queue.modified","metadata":{},"measurements":{}}` + "\n"
	writeGzip(t, filepath.Join(dir, "audit-2026-10-26.jsonl.gz"), line) // ended 31 days 10 h before day1: expired
	for _, name := range []string{
		"audit-2026-10-27.jsonl", // ended 30 days 10 h before day1: expired
		"audit-2026-10-28.jsonl", // ended 29 days 10 h before day1: kept
		"audit-2026-11-26.jsonl",
		"unrelated.txt",
	} {
		writeFile(t, filepath.Join(dir, name), line)
	}
	clock := &testClock{now: day1}
	w := newWriter(t, Config{Dir: dir, Clock: clock.Now, RetentionDays: 30})
	assertFiles(t, dir, "audit-2026-10-28.jsonl", "audit-2026-11-26.jsonl", "unrelated.txt")

	// Two days later a rotation expires 10-28 as well.
	clock.Set(day1.Add(48 * time.Hour))
	if err := w.HandleBatch([]wire.Event{event(wire.EventQueueModified, 1, clock.Now())}); err != nil {
		t.Fatalf("HandleBatch: %v", err)
	}
	assertFiles(t, dir, "audit-2026-11-26.jsonl", "audit-2026-11-29.jsonl", "unrelated.txt")
	if got := w.Stats().Deleted; got != 3 {
		t.Errorf("Stats.Deleted = %d, want 3", got)
	}
}

func writeGzip(t *testing.T, path, content string) {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write([]byte(content)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, buf.String())
}

func assertFiles(t *testing.T, dir string, want ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("files = %v, want %v", got, want)
	}
}

func TestCompressesClosedDaysAndDedupsFromGzip(t *testing.T) {
	dir := t.TempDir()
	clock := &testClock{now: day1}
	w, err := New(Config{Dir: dir, Clock: clock.Now, Compress: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.HandleBatch([]wire.Event{event(wire.EventLabelSubmitted, 7, day1), event(wire.EventLabelSubmitted, 8, day1)}); err != nil {
		t.Fatal(err)
	}
	before := readLines(t, filepath.Join(dir, "audit-2026-11-27.jsonl"))
	// The next day's first record closes day 1, which is then compressed in the background.
	day2 := day1.Add(24 * time.Hour)
	clock.Set(day2)
	if err := w.HandleBatch([]wire.Event{event(wire.EventLabelSubmitted, 9, day2)}); err != nil {
		t.Fatal(err)
	}
	testkit.EventuallyTrue(t, 10*time.Second, "compression of day 1", func() bool { return w.Stats().Compressed == 1 })
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	assertFiles(t, dir, "audit-2026-11-27.jsonl.gz", "audit-2026-11-28.jsonl")
	if after := readLines(t, filepath.Join(dir, "audit-2026-11-27.jsonl.gz")); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Errorf("gzip content differs:\n%q\n%q", after, before)
	}

	// With day 2's file gone, the window must come from the gzip of day 1.
	if err := os.Remove(filepath.Join(dir, "audit-2026-11-28.jsonl")); err != nil {
		t.Fatal(err)
	}
	w2 := newWriter(t, Config{Dir: dir, Clock: clock.Now})
	if err := w2.HandleBatch([]wire.Event{event(wire.EventLabelSubmitted, 8, day2), event(wire.EventLabelSubmitted, 10, day2)}); err != nil {
		t.Fatal(err)
	}
	if s := w2.Stats(); s.Duplicates != 1 || s.Records != 1 || s.LastSeq != 10 {
		t.Errorf("stats after gzip recovery = %+v, want seq 8 skipped and 10 written", s)
	}
}

func TestRedeliveriesAreSkippedAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	clock := &testClock{now: day1}
	w, err := New(Config{Dir: dir, Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	var batch []wire.Event
	for seq := uint64(1); seq <= 100; seq++ {
		batch = append(batch, event(wire.EventLabelSubmitted, seq, day1))
	}
	if err := w.HandleBatch(batch); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w2 := newWriter(t, Config{Dir: dir, Clock: clock.Now})
	if got := w2.Stats().LastSeq; got != 100 {
		t.Fatalf("recovered LastSeq = %d, want 100", got)
	}
	redelivery := []wire.Event{
		event(wire.EventLabelSubmitted, 50, day1),
		event(wire.EventLabelSubmitted, 101, day1),
		event(wire.EventLabelSubmitted, 101, day1), // the same message twice in one batch
		event(wire.EventQueueModified, 0, day1),    // core NATS: no sequence, never skipped
		event(wire.EventQueueModified, 0, day1),
	}
	if err := w2.HandleBatch(redelivery); err != nil {
		t.Fatal(err)
	}
	if s := w2.Stats(); s.Records != 3 || s.Duplicates != 2 {
		t.Errorf("stats = %+v, want 3 written (101 and two seq-less) and 2 duplicates", s)
	}
	if n := len(readLines(t, filepath.Join(dir, "audit-2026-11-27.jsonl"))); n != 103 {
		t.Errorf("file has %d records, want 103", n)
	}
}

func TestWindowToleratesOutOfOrderAndReset(t *testing.T) {
	dir := t.TempDir()
	clock := &testClock{now: day1}
	w := newWriter(t, Config{Dir: dir, Clock: clock.Now})
	// 10 fails and comes back after 11 was acknowledged: it must be written, not skipped.
	for _, seq := range []uint64{11, 10, 11, 200_000, 3, 4, 3} {
		if err := w.HandleBatch([]wire.Event{event(wire.EventLabelSubmitted, seq, day1)}); err != nil {
			t.Fatal(err)
		}
	}
	s := w.Stats()
	if s.Records != 5 || s.Duplicates != 2 || s.SeqResets != 1 || s.LastSeq != 4 {
		t.Errorf("stats = %+v, want 11, 10, 200000, 3 (reset), 4 written; second 11 and second 3 skipped", s)
	}
}

func TestTornTailIsTruncatedAtOpen(t *testing.T) {
	dir := t.TempDir()
	clock := &testClock{now: day1}
	w, err := New(Config{Dir: dir, Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.HandleBatch([]wire.Event{event(wire.EventLabelSubmitted, 1, day1), event(wire.EventLabelSubmitted, 2, day1)}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "audit-2026-11-27.jsonl")
	good, _ := os.ReadFile(path)
	torn := `{"received":"2026-11-27T10:30:45.123Z","event":"anvil.label.submitted","seq":3,"meta`
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(torn + "\x00\x00\x00"); err != nil {
		t.Fatal(err)
	}
	f.Close()

	w2 := newWriter(t, Config{Dir: dir, Clock: clock.Now})
	s := w2.Stats()
	if s.TornTails != 1 || s.TornBytes != uint64(len(torn)+3) || s.LastSeq != 2 {
		t.Errorf("stats = %+v, want one torn tail of %d bytes and LastSeq 2", s, len(torn)+3)
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, good) {
		t.Errorf("file after recovery:\n%q\nwant\n%q", now, good)
	}
	// The torn record was never acknowledged, so its redelivery is written.
	if err := w2.HandleBatch([]wire.Event{event(wire.EventLabelSubmitted, 3, day1)}); err != nil {
		t.Fatal(err)
	}
	if lines := readLines(t, path); len(lines) != 3 || parseRecord(t, lines[2]).Seq != 3 {
		t.Errorf("lines = %q", lines)
	}
}

func TestFsyncPolicies(t *testing.T) {
	for _, policy := range []FsyncPolicy{FsyncBatch, FsyncAlways, FsyncInterval} {
		t.Run(string(policy), func(t *testing.T) {
			dir := t.TempDir()
			clock := &testClock{now: day1}
			w := newWriter(t, Config{Dir: dir, Clock: clock.Now, Fsync: policy, FsyncInterval: 10 * time.Millisecond})
			batch := []wire.Event{event(wire.EventLabelSubmitted, 1, day1), event(wire.EventQueueModified, 2, day1), event(wire.EventExportCompleted, 3, day1)}
			if err := w.HandleBatch(batch); err != nil {
				t.Fatal(err)
			}
			switch policy {
			case FsyncBatch:
				if got := w.Stats().Fsyncs; got != 1 {
					t.Errorf("fsyncs = %d, want 1 per batch", got)
				}
			case FsyncAlways:
				if got := w.Stats().Fsyncs; got != 3 {
					t.Errorf("fsyncs = %d, want 1 per record", got)
				}
			case FsyncInterval:
				testkit.EventuallyTrue(t, 10*time.Second, "the interval fsync", func() bool { return w.Stats().Fsyncs >= 1 })
			}
			if n := len(readLines(t, filepath.Join(dir, "audit-2026-11-27.jsonl"))); n != 3 {
				t.Errorf("%d records, want 3", n)
			}
		})
	}
	if _, err := ParseFsyncPolicy("sometimes"); err == nil {
		t.Error("ParseFsyncPolicy accepted an unknown policy")
	}
	if _, err := New(Config{Dir: t.TempDir(), Fsync: "never"}); err == nil {
		t.Error("New accepted an unknown policy")
	}
}

func TestReopenAfterExternalMoveKeepsDedup(t *testing.T) {
	dir := t.TempDir()
	clock := &testClock{now: day1}
	w := newWriter(t, Config{Dir: dir, Clock: clock.Now})
	if err := w.HandleBatch([]wire.Event{event(wire.EventLabelSubmitted, 1, day1)}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "audit-2026-11-27.jsonl")
	moved := filepath.Join(t.TempDir(), "moved.jsonl")
	if err := os.Rename(path, moved); err != nil {
		t.Fatal(err)
	}
	if err := w.Reopen(); err != nil {
		t.Fatalf("Reopen: %v", err)
	}
	if err := w.HandleBatch([]wire.Event{event(wire.EventLabelSubmitted, 1, day1), event(wire.EventLabelSubmitted, 2, day1)}); err != nil {
		t.Fatal(err)
	}
	if lines := readLines(t, path); len(lines) != 1 || parseRecord(t, lines[0]).Seq != 2 {
		t.Errorf("new file = %q, want only seq 2", lines)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.HandleBatch(nil); !errors.Is(err, ErrClosed) {
		t.Errorf("HandleBatch after Close = %v, want ErrClosed", err)
	}
}

func TestNewFailsOnUnusableDirectory(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-dir")
	writeFile(t, file, "x")
	if _, err := New(Config{Dir: filepath.Join(file, "audit")}); err == nil {
		t.Error("New succeeded under a regular file")
	}
	if _, err := New(Config{}); err == nil {
		t.Error("New succeeded without a directory")
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "quote\" back\\slash", "\x00\x1f\x7f", "\u2028\u2029", "\xff\xfe", "é中🙂"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendJSONString(nil, s)
		if bytes.ContainsAny(b, "\n\r") {
			t.Fatalf("encoded string breaks the line: %q", b)
		}
		var back string
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("not valid JSON %q: %v", b, err)
		}
		// Each invalid byte becomes one U+FFFD, as a []rune conversion does.
		if want := string([]rune(s)); back != want {
			t.Fatalf("round trip %q -> %q, want %q", s, back, want)
		}
	})
}

func TestRecordLinesAreValidJSONForHostileInput(t *testing.T) {
	var sc recordScratch
	ev := event(wire.EventExportCompleted, 9, day1)
	ev.Metadata = append(ev.Metadata, wire.KV{Key: "k\"ey\n", Value: "\x00\x01}{"})
	ev.Measurements = append(ev.Measurements, wire.Measurement{Key: "nan", Value: nanValue()})
	line := appendRecord(nil, &ev, ev.Received, &sc)
	if bytes.Count(line, []byte{'\n'}) != 1 || !json.Valid(bytes.TrimSuffix(line, []byte{'\n'})) {
		t.Fatalf("invalid record line %q", line)
	}
}

func nanValue() float64 {
	zero := 0.0
	return zero / zero
}

// Sanitising makes ESC and the literal text `\x1b` look alike; the compliance record keeps
// the emitter's exact payload so the two stay distinct.
func TestRecordKeepsTheExactPayload(t *testing.T) {
	dir := t.TempDir()
	clock := &testClock{now: day1}
	w := newWriter(t, Config{Dir: dir, Clock: clock.Now})
	dec := wire.NewDecoder("telemetry")
	payloads := []string{
		`{"v":1,"event":["anvil","queue","modified"],"measurements":{},"metadata":{"queue_id":"q1","actor_id":"\u001b[2Jroot","change":"x"}}`,
		"{\"v\":1,\n \"event\":[\"anvil\",\"queue\",\"modified\"],\"measurements\":{},\"metadata\":{\"queue_id\":\"q1\",\"actor_id\":\"\\\\x1b[2Jroot\",\"change\":\"x\"}}",
	}
	var batch []wire.Event
	for _, p := range payloads {
		ev, err := dec.Decode("telemetry.anvil.queue.modified", []byte(p), "", day1)
		if err != nil {
			t.Fatalf("decode %s: %v", p, err)
		}
		batch = append(batch, ev)
	}
	if err := w.HandleBatch(batch); err != nil {
		t.Fatal(err)
	}
	lines := readLines(t, filepath.Join(dir, "audit-2026-11-27.jsonl"))
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2", len(lines))
	}
	var actors []string
	for _, l := range lines {
		var rec struct {
			Payload struct {
				Metadata map[string]string `json:"metadata"`
			} `json:"payload"`
		}
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("line is not JSON: %v\n%s", err, l)
		}
		actors = append(actors, rec.Payload.Metadata["actor_id"])
	}
	if actors[0] != "\x1b[2Jroot" || actors[1] != `\x1b[2Jroot` {
		t.Errorf("payload actors = %q, want the ESC one and the literal one kept apart", actors)
	}
}
