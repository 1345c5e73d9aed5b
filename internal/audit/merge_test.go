package audit

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/testkit"
	"github.com/nsai/ingot-top/internal/wire"
)

// writeTrail writes the sequences, batch by batch, through a real Writer into dir.
func writeTrail(t *testing.T, dir string, clock *testClock, batches ...[]uint64) {
	t.Helper()
	w := newWriter(t, Config{Dir: dir, Clock: clock.Now})
	for _, b := range batches {
		events := make([]wire.Event, 0, len(b))
		for _, seq := range b {
			// The emitter's time is the message's; only the receive time is the daemon's.
			ev := event(wire.EventLabelSubmitted, seq, day1)
			ev.Received = clock.Now()
			events = append(events, ev)
		}
		if err := w.HandleBatch(events); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func seqsOf(t *testing.T, trail []byte) []uint64 {
	t.Helper()
	var seqs []uint64
	for _, line := range strings.Split(strings.TrimSuffix(string(trail), "\n"), "\n") {
		if line == "" {
			continue
		}
		var r struct{ Seq uint64 }
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("merged line %q: %v", line, err)
		}
		seqs = append(seqs, r.Seq)
	}
	return seqs
}

func span(from, to uint64) []uint64 {
	var s []uint64
	for q := from; q <= to; q++ {
		s = append(s, q)
	}
	return s
}

// Three daemons of one group took turns; the second was killed after writing 7..9 and
// before acknowledging them, and the third got them again (its trail goes back down: a
// second sorted run). The merge writes 1..12 once each, in order.
func TestMergeFoldsRedeliveriesAcrossDaemons(t *testing.T) {
	root := t.TempDir()
	clock := &testClock{now: day1}
	a, b, c := filepath.Join(root, "a"), filepath.Join(root, "b"), filepath.Join(root, "c")
	writeTrail(t, a, clock, []uint64{1, 2, 3}, []uint64{10})
	writeTrail(t, b, clock, []uint64{4, 5, 6}, []uint64{7, 8, 9})
	clock.Set(day1.Add(time.Second))
	writeTrail(t, c, clock, []uint64{11, 12}, []uint64{7, 8, 9})

	var out bytes.Buffer
	rep, err := Merge([]string{a, b, c}, &out, MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := seqsOf(t, out.Bytes()); !reflect.DeepEqual(got, span(1, 12)) {
		t.Errorf("merged sequences %v", got)
	}
	want := MergeReport{Records: 12, Duplicates: 3, FirstSeq: 1, LastSeq: 12, Runs: 4, Lines: 15, Files: 3}
	if rep.Records != want.Records || rep.Duplicates != want.Duplicates || rep.FirstSeq != 1 || rep.LastSeq != 12 ||
		rep.Runs != want.Runs || rep.Lines != want.Lines || rep.Missing != 0 || rep.Conflicts != 0 || !rep.Complete() {
		t.Errorf("report %+v", rep)
	}
	// The first delivery is kept: b's records of 7..9 (received at day1), not c's.
	for _, line := range strings.Split(out.String(), "\n")[6:9] {
		if !strings.Contains(line, day1.Format(time.RFC3339Nano)) {
			t.Errorf("kept a later delivery: %s", line)
		}
	}
	// The merged trail verifies on its own, as one file.
	merged := filepath.Join(root, "fleet.jsonl")
	if _, err := MergeToFile([]string{a, b, c}, merged, MergeOptions{}); err != nil {
		t.Fatal(err)
	}
	again, err := Merge([]string{merged}, nil, MergeOptions{First: 1, Last: 12})
	if err != nil || again.Records != 12 || again.Duplicates != 0 || again.Runs != 1 || !again.Complete() {
		t.Errorf("merged trail verified: %+v, %v", again, err)
	}
}

// Gaps between the first and last sequence, and before --first and after --last, are named
// as ranges; a sequence with two different records is a conflict; damaged lines are counted
// with where they are; records without a sequence come last.
func TestVerifyNamesGapsConflictsAndDamage(t *testing.T) {
	root := t.TempDir()
	clock := &testClock{now: day1}
	a, b := filepath.Join(root, "a"), filepath.Join(root, "b")
	writeTrail(t, a, clock, []uint64{3, 4, 5}, []uint64{9})
	writeTrail(t, b, clock, []uint64{12})
	// A record of seq 4 with other content (the stream was recreated), a damaged line and a
	// core-mode record, appended to b's day file.
	other := event(wire.EventQueueModified, 4, day1)
	core := event(wire.EventExportCompleted, 0, day1)
	var sc recordScratch
	extra := appendRecord(nil, &other, day1, &sc)
	extra = append(extra, "{not a record\n"...)
	extra = appendRecord(extra, &core, day1, &sc)
	bFile := filepath.Join(b, "audit-2026-11-27.jsonl")
	f, err := os.OpenFile(bFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(extra); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()

	var out bytes.Buffer
	rep, err := Merge([]string{a, b}, &out, MergeOptions{First: 1, Last: 14})
	if err != nil {
		t.Fatal(err)
	}
	wantRanges := []SeqRange{{1, 2}, {6, 8}, {10, 11}, {13, 14}}
	if !reflect.DeepEqual(rep.MissingRanges, wantRanges) || rep.Missing != 9 {
		t.Errorf("missing %d %v, want 9 %v", rep.Missing, rep.MissingRanges, wantRanges)
	}
	if rep.Conflicts != 1 || rep.Damaged != 1 || rep.Unsequenced != 1 || rep.Records != 6 || rep.Complete() {
		t.Errorf("report %+v", rep)
	}
	if len(rep.DamagedAt) != 1 || rep.DamagedAt[0] != bFile+":3" {
		t.Errorf("damaged at %v, want %s:3", rep.DamagedAt, bFile)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 6 || !strings.Contains(lines[5], wire.EventExportCompleted) || strings.Contains(lines[5], `"seq"`) {
		t.Errorf("unsequenced record not last:\n%s", out.String())
	}
	// Without --first/--last only the inner gaps count; a narrower window ignores the rest.
	if rep, _ := Merge([]string{a, b}, nil, MergeOptions{}); rep.Missing != 5 {
		t.Errorf("inner gaps: %d, want 5 (%v)", rep.Missing, rep.MissingRanges)
	}
	if rep, _ := Merge([]string{a, b}, nil, MergeOptions{First: 3, Last: 5}); rep.Missing != 0 {
		t.Errorf("window 3..5: %d missing (%v)", rep.Missing, rep.MissingRanges)
	}
}

// Day files are read oldest first, compressed ones through gzip, and a day whose complete
// .gz sits beside its plain file (a crash between rename and removal) is read once.
func TestMergeReadsCompressedDaysOnce(t *testing.T) {
	dir := t.TempDir()
	clock := &testClock{now: day1}
	w := newWriter(t, Config{Dir: dir, Clock: clock.Now, Compress: true})
	if err := w.HandleBatch([]wire.Event{event(wire.EventLabelSubmitted, 1, day1), event(wire.EventLabelSubmitted, 2, day1)}); err != nil {
		t.Fatal(err)
	}
	plain := readLines(t, filepath.Join(dir, "audit-2026-11-27.jsonl"))
	day2 := day1.Add(24 * time.Hour)
	clock.Set(day2)
	if err := w.HandleBatch([]wire.Event{event(wire.EventLabelSubmitted, 3, day2)}); err != nil {
		t.Fatal(err)
	}
	testkit.EventuallyTrue(t, 10*time.Second, "compression of day 1", func() bool { return w.Stats().Compressed == 1 })
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "audit-2026-11-27.jsonl"), strings.Join(plain, "\n")+"\n")
	rep, err := Merge([]string{dir}, nil, MergeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Files != 2 || rep.Lines != 3 || rep.Records != 3 || rep.Duplicates != 0 || rep.Runs != 1 || !rep.Complete() {
		t.Errorf("report %+v", rep)
	}
}

// The runs bound is enforced with a message that says what to do.
func TestMergeRefusesMoreRunsThanAllowed(t *testing.T) {
	dir := t.TempDir()
	clock := &testClock{now: day1}
	// A trail in falling order: every record starts a run.
	var lines []byte
	var sc recordScratch
	for seq := uint64(5); seq >= 1; seq-- {
		ev := event(wire.EventLabelSubmitted, seq, day1)
		lines = appendRecord(lines, &ev, clock.Now(), &sc)
	}
	writeFile(t, filepath.Join(dir, "audit-2026-11-27.jsonl"), string(lines))
	if _, err := Merge([]string{dir}, nil, MergeOptions{MaxRuns: 4}); err == nil || !strings.Contains(err.Error(), "--max-runs") {
		t.Errorf("5 runs with MaxRuns 4: %v", err)
	}
	var out bytes.Buffer
	rep, err := Merge([]string{dir}, &out, MergeOptions{MaxRuns: 5})
	if err != nil || rep.Runs != 5 || !reflect.DeepEqual(seqsOf(t, out.Bytes()), span(1, 5)) {
		t.Errorf("5 runs: %+v %v\n%s", rep, err, out.String())
	}
}

func TestMergeRejectsADirectoryWithoutTrail(t *testing.T) {
	if _, err := Merge([]string{t.TempDir()}, nil, MergeOptions{}); err == nil || !strings.Contains(err.Error(), "no audit day files") {
		t.Errorf("empty dir: %v", err)
	}
}

// Whatever two trail files hold, merging never fails on their content, writes strictly
// increasing sequences, and accounts for every line.
func FuzzMergeTrails(f *testing.F) {
	var sc recordScratch
	var seed []byte
	for _, seq := range []uint64{3, 1, 2, 2, 0} {
		ev := event(wire.EventLabelSubmitted, seq, day1)
		seed = appendRecord(seed, &ev, day1, &sc)
	}
	f.Add(seed, []byte(`{"received":"x","event":"e","seq":2}`+"\n\n"+`{"received":"x","event":"e","seq":9}`))
	f.Add([]byte("{\"received\":\"\",\"event\":\"\",\"seq\":-1}\n[1]\n"), []byte(`{"seq":1}`))
	f.Add([]byte(strings.Repeat("x", 5000)), []byte{})
	f.Fuzz(func(t *testing.T, one, two []byte) {
		dir := t.TempDir()
		p1, p2 := filepath.Join(dir, "one.jsonl"), filepath.Join(dir, "two.jsonl")
		if err := os.WriteFile(p1, one, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p2, two, 0o600); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		rep, err := Merge([]string{p1, p2}, &out, MergeOptions{MaxRuns: 1 << 20})
		if err != nil {
			t.Fatalf("merge: %v", err)
		}
		sequenced := rep.Records - rep.Unsequenced
		if rep.Lines != sequenced+rep.Duplicates+rep.Conflicts+rep.Unsequenced+rep.Damaged {
			t.Fatalf("lines do not add up: %+v", rep)
		}
		var rp recordParser
		var prev uint64
		var written uint64
		for _, line := range bytes.Split(out.Bytes(), []byte{'\n'}) {
			if len(line) == 0 {
				continue
			}
			written++
			seq, _, err := rp.parse(line)
			if err != nil {
				t.Fatalf("wrote a line that is not a record: %q", line)
			}
			if seq != 0 {
				if seq <= prev {
					t.Fatalf("sequence %d after %d", seq, prev)
				}
				prev = seq
			}
		}
		if written != rep.Records {
			t.Fatalf("wrote %d lines, reported %d records", written, rep.Records)
		}
	})
}

func TestContentOfDropsOnlyTheReceiveTime(t *testing.T) {
	for in, want := range map[string]string{
		`{"received":"2026-11-27T10:30:45Z","event":"a","seq":1}`: `"event":"a","seq":1}`,
		`{"event":"a","received":"x"}`:                            `{"event":"a","received":"x"}`,
		`{"received":"unterminated`:                               `{"received":"unterminated`,
	} {
		if got := string(contentOf([]byte(in))); got != want {
			t.Errorf("contentOf(%s) = %s, want %s", in, got, want)
		}
	}
}
