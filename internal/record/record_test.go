package record

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/testkit"
	"github.com/nsai/ingot-top/internal/wire"
)

var t0 = time.Date(2026, 3, 14, 3, 5, 0, 0, time.UTC)

func testHeader() Header {
	return Header{Created: t0, Subject: "telemetry.>", Source: "nats://127.0.0.1:4222", Writer: "ingot-top test"}
}

// testMessages are varied on purpose: headers, a JetStream sequence, an empty payload, bytes
// that are not UTF-8, and a payload over the contract's limit.
func testMessages(n int) []Message {
	msgs := make([]Message, n)
	for i := range msgs {
		m := Message{
			Received: t0.Add(time.Duration(i) * 7 * time.Millisecond),
			Subject:  fmt.Sprintf("telemetry.anvil.label.submitted.%d", i%5),
			Data:     []byte(fmt.Sprintf(`{"v":1,"i":%d,"pad":%q}`, i, strings.Repeat("x", i%300))),
		}
		switch i % 7 {
		case 1:
			m.Header = []HeaderField{{"traceparent", fmt.Sprintf("00-%032x-%016x-01", i, i)}, {"x-other", "v"}}
		case 2:
			m.StreamSeq = uint64(1000 + i)
		case 3:
			m.Data = nil
		case 4:
			m.Data = []byte{0xff, 0xfe, 0x1b, '[', '3', '1', 'm'}
		case 5:
			if i%35 == 5 {
				m.Data = bytes.Repeat([]byte("y"), wire.MaxPayloadBytes*2)
			}
		}
		m.Size = len(m.Data)
		msgs[i] = m
	}
	return msgs
}

// writeFile records msgs with a flush every flushEvery messages, and returns the frame ends.
func writeFile(t *testing.T, path string, msgs []Message, flushEvery int) []int64 {
	t.Helper()
	f, err := Create(path, testHeader(), CreateNew, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ends := []int64{f.Size()}
	if err := f.WriteMark(Mark{Time: t0, Kind: MarkStart}); err != nil {
		t.Fatal(err)
	}
	for i := range msgs {
		if err := f.WriteMessage(&msgs[i]); err != nil {
			t.Fatal(err)
		}
		if (i+1)%flushEvery == 0 {
			if err := f.Flush(); err != nil {
				t.Fatal(err)
			}
			ends = append(ends, f.Size())
		}
	}
	if err := f.WriteMark(Mark{Time: msgs[len(msgs)-1].Received, Kind: MarkStop, Drops: 3, Note: "count reached"}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if ends[len(ends)-1] != st.Size() {
		ends = append(ends, st.Size())
	}
	return ends
}

type readResult struct {
	msgs     []Message
	marks    []Mark
	sessions int
	stop     Stop
}

func readAll(t testing.TB, r *Reader) readResult {
	t.Helper()
	var res readResult
	for {
		kind, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		switch kind {
		case KindMessage:
			m := *r.Message()
			m.Data = bytes.Clone(m.Data)
			m.Header = append([]HeaderField(nil), m.Header...)
			res.msgs = append(res.msgs, m)
		case KindMark:
			res.marks = append(res.marks, r.Mark())
		case KindSession:
			res.sessions++
		}
	}
	res.stop = r.Stop()
	return res
}

func readPath(t *testing.T, path string) readResult {
	t.Helper()
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	return readAll(t, r)
}

func sameMessage(t *testing.T, i int, got, want Message) {
	t.Helper()
	wantData := want.Data[:min(len(want.Data), MaxStoredPayload)]
	if !got.Received.Equal(want.Received) || got.Subject != want.Subject || got.StreamSeq != want.StreamSeq ||
		!bytes.Equal(got.Data, wantData) || got.Size != len(want.Data) || fmt.Sprint(got.Header) != fmt.Sprint(want.Header) {
		t.Fatalf("message %d:\n got  %v %q seq %d size %d hdr %v data %.60q\n want %v %q seq %d size %d hdr %v data %.60q", i,
			got.Received, got.Subject, got.StreamSeq, got.Size, got.Header, got.Data,
			want.Received, want.Subject, want.StreamSeq, len(want.Data), want.Header, wantData)
	}
}

func TestRoundTripKeepsEveryField(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rec.itr")
	msgs := testMessages(500)
	writeFile(t, path, msgs, 64)
	res := readPath(t, path)
	if len(res.msgs) != len(msgs) {
		t.Fatalf("read %d messages, wrote %d", len(res.msgs), len(msgs))
	}
	for i := range msgs {
		sameMessage(t, i, res.msgs[i], msgs[i])
	}
	if !res.msgs[5].Truncated() || res.msgs[5].Size != 2*wire.MaxPayloadBytes {
		t.Errorf("the oversized payload: truncated %v, size %d", res.msgs[5].Truncated(), res.msgs[5].Size)
	}
	if res.msgs[1].Get("traceparent") == "" {
		t.Error("traceparent header lost")
	}
	if len(res.marks) != 2 || res.marks[0].Kind != MarkStart || res.marks[1].Kind != MarkStop || res.marks[1].Drops != 3 || res.marks[1].Note != "count reached" {
		t.Errorf("marks = %+v", res.marks)
	}
	if !res.stop.Complete || res.stop.Tail != 0 || res.stop.CorruptFrames != 0 {
		t.Errorf("stop = %+v, want complete", res.stop)
	}
	if !res.stop.LastTime.Equal(msgs[len(msgs)-1].Received) {
		t.Errorf("last time %v, want %v", res.stop.LastTime, msgs[len(msgs)-1].Received)
	}
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if h := r.Header(); h.Version != Version || !h.Created.Equal(t0) || h.Subject != "telemetry.>" || h.Writer != "ingot-top test" {
		t.Errorf("header = %+v", h)
	}
}

// The format promise: a file cut anywhere (SIGKILL, full disk) reads back exactly the
// messages of its whole frames, and says where it stopped.
func TestCutAnywhereReadsUpToTheLastWholeFrame(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rec.itr")
	msgs := testMessages(60)
	ends := writeFile(t, path, msgs, 10)
	full, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Messages in whole frames before each frame end: the first frame holds the start mark
	// and 10 messages, and so on; the last frame adds the stop mark.
	inFrames := func(cut int64) (msgsBefore int, boundary bool, end int64) {
		for i, e := range ends {
			if e <= cut {
				msgsBefore, end = min(i*10, len(msgs)), e
				boundary = e == cut
			}
		}
		return
	}
	step := 1
	if testing.Short() {
		step = 7
	}
	for cut := ends[0]; cut <= int64(len(full)); cut += int64(step) {
		cutPath := filepath.Join(dir, "cut.itr")
		if err := os.WriteFile(cutPath, full[:cut], 0o644); err != nil {
			t.Fatal(err)
		}
		res := readPath(t, cutPath)
		want, boundary, end := inFrames(cut)
		if len(res.msgs) != want {
			t.Fatalf("cut at %d/%d: read %d messages, want %d", cut, len(full), len(res.msgs), want)
		}
		for i := range res.msgs {
			sameMessage(t, i, res.msgs[i], msgs[i])
		}
		if res.stop.Offset != end || res.stop.Tail != cut-end || res.stop.Complete != boundary {
			t.Fatalf("cut at %d: stop %+v, want offset %d tail %d complete %v", cut, res.stop, end, cut-end, boundary)
		}
		if !boundary && !strings.Contains(res.stop.String(), fmt.Sprintf("replayed up to byte %d", end)) {
			t.Fatalf("cut at %d: stop says %q", cut, res.stop.String())
		}
	}
}

func TestDamagedFrameIsSkippedAndCounted(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rec.itr")
	msgs := testMessages(50)
	ends := writeFile(t, path, msgs, 10)
	full, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		at   int64 // byte to damage
		want int   // messages readable
	}{
		{"payload of the second frame", ends[1] + 8 + indexSize + 20, 40},
		{"index tag of the third frame", ends[2] + 8, 40},
		{"index magic of the third frame", ends[2], 40},
	} {
		bad := bytes.Clone(full)
		bad[c.at] ^= 0x5a
		p := filepath.Join(dir, "bad.itr")
		if err := os.WriteFile(p, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		res := readPath(t, p)
		if len(res.msgs) != c.want || res.stop.CorruptFrames != 1 || res.stop.Complete || res.stop.Problem == "" {
			t.Errorf("%s: %d messages, stop %+v; want %d messages and one damaged frame", c.name, len(res.msgs), res.stop, c.want)
		}
		if res.stop.Offset != int64(len(full)) {
			t.Errorf("%s: stopped at %d, want the end %d (the frames after the damage are read)", c.name, res.stop.Offset, len(full))
		}
	}
}

func TestAppendCutsAnIncompleteFrameAndAddsASession(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rec.itr")
	msgs := testMessages(30)
	ends := writeFile(t, path, msgs, 10)
	if err := os.Truncate(path, ends[2]+11); err != nil { // a crash mid-frame
		t.Fatal(err)
	}
	if _, err := Create(path, testHeader(), CreateNew, WriterOptions{}); err == nil || !strings.Contains(err.Error(), "--append") {
		t.Fatalf("creating over an existing recording: %v, want a refusal naming --append", err)
	}
	f, err := Create(path, testHeader(), Append, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if f.Repaired != 11 {
		t.Errorf("repaired %d bytes, want 11", f.Repaired)
	}
	more := testMessages(5)
	for i := range more {
		if err := f.WriteMessage(&more[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	res := readPath(t, path)
	if len(res.msgs) != 20+5 || res.sessions != 1 || !res.stop.Complete {
		t.Fatalf("%d messages, %d sessions, stop %+v; want 25 messages, one appended session, complete", len(res.msgs), res.sessions, res.stop)
	}
	sameMessage(t, 24, res.msgs[24], more[4])

	notRec := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(notRec, []byte("my notes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Create(notRec, testHeader(), Append, WriterOptions{}); !errors.Is(err, ErrNotRecording) {
		t.Errorf("appending to a text file: %v, want ErrNotRecording", err)
	}
	if _, err := Open(notRec); !errors.Is(err, ErrNotRecording) {
		t.Errorf("opening a text file: %v, want ErrNotRecording", err)
	}
}

func TestNewerVersionIsRefused(t *testing.T) {
	var buf bytes.Buffer
	h := testHeader()
	frame := appendHeaderFrame(nil, h)
	frame[8+len(fileTag)] = Version + 1
	buf.Write(frame)
	_, err := NewReader(&buf, "future.itr")
	if err == nil || !strings.Contains(err.Error(), "upgrade ingot-top") {
		t.Fatalf("reading a version %d file: %v", Version+1, err)
	}
}

// The file is a valid zstd stream: `zstd -dc` shows the records (the skippable frames hide
// the header and indexes), which helps when a recording must be inspected by hand.
func TestFileIsAValidZstdStream(t *testing.T) {
	testkit.RequireTool(t, "zstd")
	path := filepath.Join(t.TempDir(), "rec.itr")
	writeFile(t, path, testMessages(40), 10)
	out, err := exec.Command("zstd", "-dc", path).Output()
	if err != nil {
		t.Fatalf("zstd -dc: %v", err)
	}
	if !bytes.Contains(out, []byte(`{"v":1,"i":39,`)) {
		t.Errorf("zstd -dc output lacks the last message: %.200q", out)
	}
}

func TestHeaderFieldsKeepTraceparentWithinBounds(t *testing.T) {
	h := map[string][]string{"traceparent": {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}}
	for i := range 100 {
		h[fmt.Sprintf("k%03d", i)] = []string{strings.Repeat("v", 1000)}
	}
	var buf bytes.Buffer
	w, err := NewWriter(&buf, testHeader(), WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m := Message{Received: t0, Subject: "telemetry.x.y", Header: HeaderFields(h, nil), Data: []byte("{}")}
	if err := w.WriteMessage(&m); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := NewReader(&buf, "mem")
	if err != nil {
		t.Fatal(err)
	}
	res := readAll(t, r)
	if len(res.msgs) != 1 {
		t.Fatalf("%d messages", len(res.msgs))
	}
	got := res.msgs[0]
	if got.Get("traceparent") != h["traceparent"][0] || len(got.Header) > MaxHeaderFields {
		t.Errorf("%d header fields, traceparent %q", len(got.Header), got.Get("traceparent"))
	}
	total := 0
	for _, f := range got.Header {
		total += len(f.Key) + len(f.Value)
	}
	if total > MaxHeaderBytes {
		t.Errorf("%d header bytes kept, cap %d", total, MaxHeaderBytes)
	}
}
