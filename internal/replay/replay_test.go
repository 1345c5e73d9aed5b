package replay

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/ingest"
	"github.com/nsai/ingot-top/internal/record"
	"github.com/nsai/ingot-top/internal/wire"
)

var t0 = time.Date(2026, 3, 14, 3, 5, 0, 0, time.UTC)

// seen is a sink that notes, in order, what reached it and the clock at that moment.
type seen struct {
	clock *time.Time
	items []string
	bad   []ingest.Invalid
	evs   []wire.Event
}

func (s *seen) HandleBatch(evs []wire.Event) error {
	for _, ev := range evs {
		if ev.Received.After(*s.clock) {
			return fmt.Errorf("event received %v handed on while the clock read %v", ev.Received, *s.clock)
		}
		s.items = append(s.items, ev.Name)
		s.evs = append(s.evs, ev)
	}
	return nil
}

func (s *seen) HandleInvalid(bad ingest.Invalid) error {
	if bad.Received.After(*s.clock) {
		return fmt.Errorf("invalid received %v handed on while the clock read %v", bad.Received, *s.clock)
	}
	s.items = append(s.items, "invalid:"+string(bad.Reason))
	s.bad = append(s.bad, bad)
	return nil
}

func submitted(i int) []byte {
	return []byte(fmt.Sprintf(`{"v":1,"event":["anvil","label","submitted"],"measurements":{"duration_ms":%d},"metadata":{"queue_id":"q1","assignment_id":"a%d","labeler_id":"u1"}}`, 10+i, i))
}

type rec struct {
	at      time.Duration
	subject string
	data    []byte
	header  []record.HeaderField
	seq     uint64
	mark    record.MarkKind
	drops   uint64
}

func writeRecording(t *testing.T, path string, created time.Time, mode record.Mode, recs []rec) {
	t.Helper()
	f, err := record.Create(path, record.Header{Created: created, Subject: "telemetry.>"}, mode, record.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.mark != 0 {
			if err := f.WriteMark(record.Mark{Time: created.Add(r.at), Kind: r.mark, Drops: r.drops}); err != nil {
				t.Fatal(err)
			}
			continue
		}
		m := record.Message{Received: created.Add(r.at), Subject: r.subject, Data: r.data, Size: len(r.data), Header: r.header, StreamSeq: r.seq}
		if err := f.WriteMessage(&m); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

const subj = "telemetry.anvil.label.submitted"

func TestReplayDecodesInOrderOnTheRecordedClock(t *testing.T) {
	dir := t.TempDir()
	first, second := filepath.Join(dir, "b.itr"), filepath.Join(dir, "a.itr") // names against time order
	tp := "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	writeRecording(t, first, t0, record.CreateNew, []rec{
		{at: 0, mark: record.MarkStart},
		{at: 10 * time.Millisecond, subject: subj, data: submitted(1), seq: 41},
		{at: 20 * time.Millisecond, subject: subj, data: []byte("not json")},
		{at: 30 * time.Millisecond, subject: subj, data: submitted(2), header: []record.HeaderField{{Key: "traceparent", Value: tp}}},
		{at: time.Second, mark: record.MarkHeartbeat, drops: 3},
		{at: 1100 * time.Millisecond, subject: subj, data: bytes.Repeat([]byte("z"), 100_000)},
		{at: 1200 * time.Millisecond, subject: "telemetry.anvil.label.oops", data: submitted(3)},
	})
	writeRecording(t, first, t0.Add(time.Minute), record.Append, []rec{
		{at: 0, subject: subj, data: submitted(4)},
		{at: time.Second, mark: record.MarkStop, drops: 5},
	})
	writeRecording(t, second, t0.Add(2*time.Minute), record.CreateNew, []rec{
		{at: 0, subject: subj, data: submitted(5)},
		{at: 10 * time.Second, subject: subj, data: submitted(6)},
	})
	infos, err := Scan([]string{second, first})
	if err != nil {
		t.Fatal(err)
	}
	if infos[0].Path != first {
		t.Fatalf("Scan order %v, want the earlier recording first", infos)
	}
	var clock time.Time
	sink := &seen{clock: &clock}
	res, err := Run(context.Background(), infos, Options{BatchSize: 2, SetClock: func(t time.Time) {
		if t.Before(clock) {
			panic("clock moved back")
		}
		clock = t
	}}, sink)
	if err != nil {
		t.Fatal(err)
	}
	want := "anvil.label.submitted invalid:not_json anvil.label.submitted invalid:too_large invalid:subject_mismatch anvil.label.submitted anvil.label.submitted anvil.label.submitted"
	if got := strings.Join(sink.items, " "); got != want {
		t.Errorf("fed\n %s\nwant\n %s", got, want)
	}
	if sink.evs[0].StreamSeq != 41 || sink.evs[1].Trace.TraceID != "0af7651916cd43dd8448eb211c80319c" {
		t.Errorf("stream seq %d, trace from header %q", sink.evs[0].StreamSeq, sink.evs[1].Trace.TraceID)
	}
	if d := sink.bad[1].Detail; !strings.Contains(d, "100000 bytes") {
		t.Errorf("too_large detail %q does not name the size on the wire", d)
	}
	if res.Messages != 8 || res.Events != 5 || res.Invalid != 3 || res.Sessions != 3 || res.Drops != 8 {
		t.Errorf("result %+v, want 8 messages, 5 events, 3 invalid, 3 sessions, 8 drops", res)
	}
	if !res.Start.Equal(t0) || !res.End.Equal(t0.Add(2*time.Minute+10*time.Second)) || !clock.Equal(res.End) {
		t.Errorf("start %v end %v clock %v", res.Start, res.End, clock)
	}
	for _, f := range res.Files {
		if !f.Stop.Complete {
			t.Errorf("%s: %s", f.Path, f.Stop)
		}
	}
	// The first file's first session and the second file never wrote a stop mark (a
	// recorder killed); the appended session did.
	if res.Files[0].Unfinished != 1 || res.Files[1].Unfinished != 1 {
		t.Errorf("unfinished sessions per file: %d, %d; want 1, 1", res.Files[0].Unfinished, res.Files[1].Unfinished)
	}

	// --at: nothing after it is fed, and the clock ends on it.
	clock = time.Time{}
	sink = &seen{clock: &clock}
	at := t0.Add(1150 * time.Millisecond)
	res, err = Run(context.Background(), infos, Options{At: at, SetClock: func(t time.Time) { clock = t }}, sink)
	if err != nil {
		t.Fatal(err)
	}
	if len(sink.items) != 4 || !res.ReachedAt || !res.End.Equal(at) || !clock.Equal(at) || res.Drops != 3 {
		t.Errorf("at %v: fed %v, result %+v, clock %v", at, sink.items, res, clock)
	}
}

func TestReplayStopsOnCancel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.itr")
	var recs []rec
	for i := range 5000 {
		recs = append(recs, rec{at: time.Duration(i) * time.Millisecond, subject: subj, data: submitted(i)})
	}
	writeRecording(t, path, t0, record.CreateNew, recs)
	infos, err := Scan([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var clock time.Time
	sink := &seen{clock: &clock}
	res, err := Run(ctx, infos, Options{SetClock: func(t time.Time) { clock = t }, Pace: func(context.Context, time.Time) error {
		cancel()
		return nil
	}}, sink)
	if err == nil || res.Events >= 5000 {
		t.Errorf("cancelled replay: err %v, %d events", err, res.Events)
	}
}
