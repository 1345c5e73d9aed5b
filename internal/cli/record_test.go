package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/nsai/ingot-top/internal/record"
	"github.com/nsai/ingot-top/internal/report"
	"github.com/nsai/ingot-top/internal/testkit"
)

// publishInvalid sends messages that break the contract in different ways, one with a
// trace header, so that a recording must keep invalid messages and headers.
func publishInvalid(t *testing.T, url string) int {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	bodies := []struct{ subject, body string }{
		{"telemetry.anvil.label.submitted", "not json"},
		{"telemetry.anvil.label.submitted", "not json either"},
		{"telemetry.anvil.label.submitted", `[1,2]`},
		{"telemetry.anvil.label.oops", `{"v":1,"event":["anvil","label","submitted"],"measurements":{},"metadata":{}}`},
		{"telemetry.anvil.label.submitted", "{\"v\":1,\"bad\":\"\xff\"}"},
		{"telemetry.anvil.label.submitted", `{"v":2,"event":["anvil","label","submitted"],"measurements":{},"metadata":{}}`},
		{"telemetry.anvil.label.submitted", `{"v":1,"event":["anvil","label","submitted"],"measurements":{"duration_ms":1},"metadata":{"pad":"` + strings.Repeat("x", 70_000) + `"}}`},
	}
	for _, b := range bodies {
		if err := nc.Publish(b.subject, []byte(b.body)); err != nil {
			t.Fatal(err)
		}
	}
	// A valid event whose trace is only in the header: the replay must see it too.
	msg := nats.NewMsg("telemetry.ingot.anvil_client.submit_label")
	msg.Header.Set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	msg.Data = []byte(`{"v":1,"event":["ingot","anvil_client","submit_label"],"measurements":{"duration_ms":20},"metadata":{"result":"error","reason":"timeout after 5000ms"}}`)
	if err := nc.PublishMsg(msg); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return len(bodies) + 1
}

func decodeDoc(t *testing.T, what string, res cmdResult) report.Document {
	t.Helper()
	var doc report.Document
	if err := json.Unmarshal([]byte(res.stdout), &doc); err != nil {
		t.Fatalf("%s: output is not the JSON document (exit %d): %v\nstdout %s\nstderr %s", what, res.code, err, res.stdout, res.stderr)
	}
	return doc
}

// counts is everything the acceptance criterion says must be equal, keyed for comparison.
func counts(doc report.Document) map[string]uint64 {
	c := map[string]uint64{
		"totals.events": doc.Totals.Events, "totals.invalid": doc.Totals.Invalid,
		"totals.unknown": doc.Totals.Unknown, "totals.errors": doc.Totals.Errors,
		"client_calls": doc.CallCount, "client_errors": doc.ErrorCount,
	}
	for _, q := range doc.Queues {
		c["queue "+q.ID+" labels"] = q.Labels
		c["queue "+q.ID+" keyboard"] = q.Keyboard
		c["queue "+q.ID+" mouse"] = q.Mouse
		c["queue "+q.ID+" api"] = q.API
	}
	for _, r := range doc.Invalid {
		c["invalid "+r.Name] = r.Count
	}
	for _, u := range doc.Unknown {
		c["unknown "+u.Name] = u.Count
	}
	for _, s := range doc.ErrorSigs {
		c["error "+s.Service+" "+s.Event+" "+s.Signature] = s.Count
	}
	for _, op := range doc.Operations {
		c["op "+op.Name+" count"] = op.Count
		c["op "+op.Name+" errors"] = op.Errors
	}
	for _, s := range doc.Services {
		c["service "+s.Name+" calls"] = s.Calls
		c["service "+s.Name+" errors"] = s.Errors
	}
	return c
}

// percentiles are the sketch's figures: equal within its 1 % relative accuracy.
func percentiles(doc report.Document) map[string]float64 {
	p := map[string]float64{}
	for _, op := range doc.Operations {
		p["op "+op.Name+" p50"], p["op "+op.Name+" p90"] = op.P50, op.P90
		p["op "+op.Name+" p95"], p["op "+op.Name+" p99"] = op.P95, op.P99
	}
	for _, q := range doc.Queues {
		p["queue "+q.ID+" time/sample p50"] = q.TimePerSampleP50
	}
	return p
}

// The acceptance check: a recording of a live run (the simulator with a seed and a
// count, plus invalid messages published raw) replays to the same counts the live snapshot
// printed over the same messages.
func TestReplayPrintsWhatTheLiveSnapshotPrinted(t *testing.T) {
	s := testkit.StartNATS(t, nil)
	url := s.ClientURL()
	path := filepath.Join(t.TempDir(), "live.itr")
	const simCount = 3000
	view := []string{"--format", "json", "--window", "1m", "--top", "1000", "--errors", "1000", "--max-error-rate", "1", "--quiet"}

	base := s.NumSubscriptions()
	snapCtx, stopSnap := context.WithCancel(context.Background())
	defer stopSnap()
	live := make(chan cmdResult, 1)
	go func() {
		live <- runCmd(snapCtx, append([]string{"snapshot", "-s", url, "--duration", "2m"}, view...)...)
	}()
	testkit.WaitForSubscriber(t, s, base)
	invalidCount := 8
	recorded := make(chan cmdResult, 1)
	go func() {
		recorded <- runCmd(context.Background(), "record", "-s", url, "-o", path, "--count", strconv.Itoa(simCount+invalidCount), "-q")
	}()
	testkit.WaitForSubscriber(t, s, base+1)

	sim := runCmd(context.Background(), "simulate", "-s", url, "--seed", "42", "--count", strconv.Itoa(simCount), "--rate", "0", "--error-rate", "0.05", "-q")
	if sim.code != ExitOK {
		t.Fatalf("simulate: exit %d: %s", sim.code, sim.stderr)
	}
	if n := publishInvalid(t, url); n != invalidCount {
		t.Fatalf("published %d raw messages, the recorder waits for %d", n, invalidCount)
	}
	var rec cmdResult
	select {
	case rec = <-recorded:
	case <-time.After(time.Minute):
		t.Fatal("the recorder did not stop at --count within a minute")
	}
	if rec.code != ExitOK {
		t.Fatalf("record: exit %d: %s", rec.code, rec.stderr)
	}
	// The recorder has every message, so the server has sent them all to the snapshot too;
	// stopping it now makes it drain what is on the wire and print.
	stopSnap()
	liveRes := <-live
	liveDoc := decodeDoc(t, "snapshot", liveRes)

	replayed := runCmd(context.Background(), append([]string{"replay", path}, view...)...)
	if replayed.code != ExitOK {
		t.Fatalf("replay: exit %d: %s", replayed.code, replayed.stderr)
	}
	replayDoc := decodeDoc(t, "replay", replayed)

	if liveDoc.Totals.Events != simCount+1 || liveDoc.Totals.Invalid != uint64(invalidCount-1) {
		t.Fatalf("the live snapshot saw %d events, %d invalid; want %d and %d (it missed messages: the comparison would mean nothing)",
			liveDoc.Totals.Events, liveDoc.Totals.Invalid, simCount+1, invalidCount-1)
	}
	want, got := counts(liveDoc), counts(replayDoc)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: replay %d, live %d", k, got[k], v)
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: replay %d, not in the live snapshot", k, v)
		}
	}
	if len(liveDoc.ErrorSigs) == 0 || len(liveDoc.Invalid) < 5 || len(liveDoc.Queues) < 5 {
		t.Errorf("the run is too thin to compare: %d error signatures, %d invalid reasons, %d queues", len(liveDoc.ErrorSigs), len(liveDoc.Invalid), len(liveDoc.Queues))
	}
	// The last error's trace came in a header only: the recording must keep headers.
	traces := func(doc report.Document) map[string]string {
		m := map[string]string{}
		for _, s := range doc.ErrorSigs {
			m[s.Service+" "+s.Event+" "+s.Signature] = s.LastTraceID
		}
		return m
	}
	wantT, gotT := traces(liveDoc), traces(replayDoc)
	for k, v := range wantT {
		if gotT[k] != v {
			t.Errorf("error %s: last trace %q in the replay, %q live", k, gotT[k], v)
		}
	}
	if wantT["anvil ingot.anvil_client.submit_label timeout after #ms"] != "0af7651916cd43dd8448eb211c80319c" {
		t.Errorf("the live snapshot did not take the trace from the header: %v", wantT)
	}
	wantP, gotP := percentiles(liveDoc), percentiles(replayDoc)
	for k, v := range wantP {
		if g := gotP[k]; math.Abs(g-v) > 0.01*math.Abs(v)+0.01 {
			t.Errorf("%s: replay %.2f, live %.2f (more than the sketch's 1%%)", k, g, v)
		}
	}
	if replayDoc.Connection.State != "recorded" || replayDoc.Connection.Received != uint64(simCount+invalidCount) {
		t.Errorf("replay connection = %+v", replayDoc.Connection)
	}
}

// A file cut mid-frame (a recorder killed, a disk filled) replays up to its last whole
// frame and says where it stopped.
func TestReplayOfACutFileStopsAtTheLastWholeFrame(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cut.itr")
	start := time.Now().Add(-time.Minute)
	f, err := record.Create(path, record.Header{Created: start, Subject: "telemetry.>"}, record.CreateNew, record.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var frameEnds []int64
	for i := range 500 {
		body := submitted(fmt.Sprintf("q%d", i%3), fmt.Sprintf("a%d", i))
		m := record.Message{Received: start.Add(time.Duration(i) * 50 * time.Millisecond), Subject: "telemetry.anvil.label.submitted", Data: []byte(body), Size: len(body)}
		if err := f.WriteMessage(&m); err != nil {
			t.Fatal(err)
		}
		if i%100 == 99 {
			if err := f.Flush(); err != nil {
				t.Fatal(err)
			}
			frameEnds = append(frameEnds, f.Size())
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	cut := (frameEnds[2] + frameEnds[3]) / 2 // inside the fourth frame
	if err := os.Truncate(path, cut); err != nil {
		t.Fatal(err)
	}
	res := runCmd(context.Background(), "replay", path, "--format", "json", "--window", "15m")
	if res.code != ExitOK {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	doc := decodeDoc(t, "replay", res)
	if doc.Totals.Events != 300 {
		t.Errorf("replayed %d events, want the 300 of the three whole frames", doc.Totals.Events)
	}
	where := fmt.Sprintf("cut mid-frame: replayed up to byte %d, %d bytes after it are an incomplete frame", frameEnds[2], cut-frameEnds[2])
	if !strings.Contains(res.stderr, where) || !strings.Contains(doc.Connection.LastError, where) {
		t.Errorf("neither stderr nor the report say %q:\nstderr: %s\nlast_error: %s", where, res.stderr, doc.Connection.LastError)
	}
	if !strings.Contains(res.stderr, "1 session(s) without a stop mark") {
		t.Errorf("stderr does not say the recording was not stopped cleanly: %s", res.stderr)
	}
	lastTime := start.Add(299 * 50 * time.Millisecond).UTC().Format(time.RFC3339Nano)
	if !strings.Contains(res.stderr, "last recorded time "+lastTime) {
		t.Errorf("stderr does not name the last recorded time %s: %s", lastTime, res.stderr)
	}

	// --at picks the moment: only what was received by then counts.
	res = runCmd(context.Background(), "replay", path, "--format", "json", "--window", "15m", "--at", "+4.999s")
	doc = decodeDoc(t, "replay --at", res)
	if doc.Totals.Events != 100 || !doc.At.Equal(start.Add(4999*time.Millisecond).UTC()) {
		t.Errorf("--at +4.999s: %d events at %v, want 100 at %v", doc.Totals.Events, doc.At, start.Add(4999*time.Millisecond).UTC())
	}
}

func TestReplayUsageErrors(t *testing.T) {
	dir := t.TempDir()
	notRec := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notRec, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	rec := filepath.Join(dir, "r.itr")
	start := time.Date(2026, 3, 14, 3, 6, 0, 0, time.Local)
	f, err := record.Create(rec, record.Header{Created: start, Subject: "telemetry.>"}, record.CreateNew, record.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"replay", rec}, "needs a terminal"},
		{[]string{"replay", rec, "--speed=-1"}, "--speed -1"},
		{[]string{"replay", rec, "--at", "03:07"}, "--at ends a headless replay"},
		{[]string{"replay", rec, "--format", "json", "--from", "03:07"}, "--from starts the dashboard"},
		{[]string{"replay", rec, "--from", "someday"}, "want RFC 3339"},
		{[]string{"replay", notRec, "--format", "json"}, "not an ingot-top recording"},
		{[]string{"replay", filepath.Join(dir, "missing.itr"), "--format", "json"}, "no such file"},
		{[]string{"replay", rec, "--format", "json", "--at", "yesterday"}, "want RFC 3339"},
		{[]string{"replay", rec, "--format", "json", "--at", "03:05"}, "before the recording starts"},
	} {
		res := runCmd(context.Background(), c.args...)
		if res.code != ExitUsage || !strings.Contains(res.stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", c.args, res.code, res.stderr, ExitUsage, c.want)
		}
	}
	res := runCmd(context.Background(), "record", "-o", rec, "-s", "nats://127.0.0.1:1")
	if res.code != ExitUsage || !strings.Contains(res.stderr, "--append") {
		t.Errorf("record over an existing file: exit %d, %q", res.code, res.stderr)
	}
	res = runCmd(context.Background(), "record", "-o", filepath.Join(dir, "new.itr"), "--max-size", "1KB")
	if res.code != ExitUsage || !strings.Contains(res.stderr, "below 64KiB") {
		t.Errorf("record --max-size 1KB: exit %d, %q", res.code, res.stderr)
	}
	url := fmt.Sprintf("nats://127.0.0.1:%d", testkit.FreePort(t))
	res = runCmd(context.Background(), "record", "-o", filepath.Join(dir, "new.itr"), "-s", url, "--duration", "1s", "-q")
	if res.code != ExitNoConnect || !strings.Contains(res.stderr, "never connected to "+url) {
		t.Errorf("record without a server: exit %d, %q; want %d", res.code, res.stderr, ExitNoConnect)
	}
}

func TestParseAt(t *testing.T) {
	start := time.Date(2026, 3, 14, 23, 30, 0, 0, time.Local)
	for in, want := range map[string]time.Time{
		"2026-03-14T23:45:00Z": time.Date(2026, 3, 14, 23, 45, 0, 0, time.UTC),
		"+90s":                 start.Add(90 * time.Second),
		"23:40":                time.Date(2026, 3, 14, 23, 40, 0, 0, time.Local),
		"00:15:30":             time.Date(2026, 3, 15, 0, 15, 30, 0, time.Local), // after midnight
		"2026-03-15 01:00:00":  time.Date(2026, 3, 15, 1, 0, 0, 0, time.Local),
	} {
		got, err := parseAt(in, start)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseAt(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}

// Helper child for TestRecordOnAFullDiskSaysWhatWasLost: `record` in a process whose file
// size limit makes write(2) fail with EFBIG, as a full disk fails it with ENOSPC.
func TestHelperRecordFullDisk(t *testing.T) {
	url, out := os.Getenv("RECORD_HELPER_URL"), os.Getenv("RECORD_HELPER_OUT")
	if url == "" {
		t.Skip("helper process for TestRecordOnAFullDiskSaysWhatWasLost")
	}
	limit, _ := strconv.ParseUint(os.Getenv("RECORD_HELPER_FSIZE"), 10, 64)
	signal.Ignore(syscall.SIGXFSZ)
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: limit, Max: limit}); err != nil {
		fmt.Fprintf(os.Stderr, "setrlimit: %v\n", err)
		os.Exit(100)
	}
	os.Exit(Main([]string{"record", "-s", url, "-o", out, "-q", "--max-size", "0"}, Env{Ctx: context.Background(), Stdout: os.Stdout, Stderr: os.Stderr, Getenv: func(string) string { return "" }}))
}

func TestRecordOnAFullDiskSaysWhatWasLost(t *testing.T) {
	s := testkit.StartNATS(t, nil)
	out := filepath.Join(t.TempDir(), "full.itr")
	const limit = 1 << 20 // room for a few whole frames before the failing one
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperRecordFullDisk$", "-test.count=1")
	cmd.Env = append(os.Environ(), "RECORD_HELPER_URL="+s.ClientURL(), "RECORD_HELPER_OUT="+out, "RECORD_HELPER_FSIZE="+strconv.Itoa(limit))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	base := s.NumSubscriptions()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	testkit.WaitForSubscriber(t, s, base)

	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// Incompressible payloads, so the limit is reached within a few frames.
	payload := make([]byte, 2000)
	sent := 0
	var exitErr error
	for exited := false; !exited; {
		for i := range payload {
			payload[i] = byte(sent*7919 + i*i*31 + (sent*i)>>3)
		}
		if err := nc.Publish("telemetry.anvil.label.submitted", payload); err != nil {
			t.Fatal(err)
		}
		sent++
		if sent%100 == 0 {
			if err := nc.Flush(); err != nil {
				t.Fatal(err)
			}
			select {
			case exitErr = <-done:
				exited = true
				done <- exitErr
			default:
			}
		}
		if sent > 1_000_000 {
			t.Fatal("the recorder did not stop at its file size limit")
		}
	}
	if code := cmd.ProcessState.ExitCode(); code != ExitProblem {
		t.Fatalf("exit %d (%v), want %d; stderr:\n%s", code, exitErr, ExitProblem, stderr.String())
	}
	m := regexp.MustCompile(`(\d+) of (\d+) messages received were not written \(\S+ holds (\d+),`).FindStringSubmatch(stderr.String())
	if m == nil || !strings.Contains(stderr.String(), "file too large") {
		t.Fatalf("stderr does not report the write error and the loss: %s", stderr.String())
	}
	lost, received, held := atoi(t, m[1]), atoi(t, m[2]), atoi(t, m[3])
	if lost == 0 || held == 0 || lost+held != received {
		t.Errorf("lost %d + held %d != received %d", lost, held, received)
	}
	// What the file holds is exactly what it says: clean to its last whole frame.
	r, err := record.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	n := 0
	for {
		kind, err := r.Next()
		if err != nil {
			break
		}
		if kind == record.KindMessage {
			n++
		}
	}
	if n != held || !r.Stop().Complete {
		t.Errorf("file holds %d messages (stop: %s), the recorder said %d", n, r.Stop(), held)
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// readRecording returns the messages and the stop mark of a recording file.
func readRecording(t *testing.T, path string) (msgs int, stopNote string, stop record.Stop) {
	t.Helper()
	r, err := record.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for {
		kind, err := r.Next()
		if err != nil {
			break
		}
		switch kind {
		case record.KindMessage:
			msgs++
		case record.KindMark:
			if m := r.Mark(); m.Kind == record.MarkStop {
				stopNote = m.Note
			}
		}
	}
	return msgs, stopNote, r.Stop()
}

// Ctrl-C or SIGTERM (both end the command's context) finish the frame and exit 0 with
// every received message in the file; --max-size stops the recording at the cap.
func TestRecordStopsCleanlyOnInterruptAndAtMaxSize(t *testing.T) {
	s := testkit.StartNATS(t, nil)
	dir := t.TempDir()
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()

	path := filepath.Join(dir, "int.itr")
	ctx, interrupt := context.WithCancel(context.Background())
	defer interrupt()
	done := make(chan cmdResult, 1)
	base := s.NumSubscriptions()
	go func() { done <- runCmd(ctx, "record", "-s", s.ClientURL(), "-o", path) }()
	testkit.WaitForSubscriber(t, s, base)
	for i := range 50 {
		if err := nc.Publish("telemetry.anvil.label.submitted", []byte(submitted("q", fmt.Sprintf("a%d", i)))); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	// The recorder closes a frame every second: wait until the messages are in the file.
	testkit.Eventually(t, 20*time.Second, "50 messages in the recording", func() (bool, string) {
		n, _, _ := readRecording(t, path)
		return n == 50, fmt.Sprintf("%d messages", n)
	})
	interrupt()
	res := <-done
	if res.code != ExitOK {
		t.Fatalf("interrupted record: exit %d: %s", res.code, res.stderr)
	}
	if !strings.Contains(res.stderr, "record: stopped (interrupted): 50 messages") {
		t.Errorf("stderr: %s", res.stderr)
	}
	if n, note, stop := readRecording(t, path); n != 50 || note != "interrupted" || !stop.Complete {
		t.Errorf("after the interrupt the file holds %d messages, stop note %q, %s", n, note, stop)
	}

	path = filepath.Join(dir, "cap.itr")
	done = make(chan cmdResult, 1)
	base = s.NumSubscriptions()
	go func() {
		done <- runCmd(context.Background(), "record", "-s", s.ClientURL(), "-o", path, "--max-size", "100KiB", "-q")
	}()
	testkit.WaitForSubscriber(t, s, base)
	payload := make([]byte, 1500)
	for sent := 0; ; sent++ {
		for i := range payload {
			payload[i] = byte(sent*7919 + i*i*31 + (sent*i)>>3) // incompressible enough
		}
		if err := nc.Publish("telemetry.anvil.label.submitted", payload); err != nil {
			t.Fatal(err)
		}
		if sent%50 != 0 {
			continue
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		select {
		case res = <-done:
		default:
			if sent > 100_000 {
				t.Fatal("the recorder did not stop at --max-size")
			}
			continue
		}
		break
	}
	if res.code != ExitOK {
		t.Fatalf("--max-size: exit %d: %s", res.code, res.stderr)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() < 100<<10 || st.Size() > 100<<10+record.DefaultChunkBytes+4096 {
		t.Errorf("--max-size 100KiB left a file of %d bytes", st.Size())
	}
	if _, note, stop := readRecording(t, path); note != "--max-size reached" || !stop.Complete {
		t.Errorf("stop note %q, %s", note, stop)
	}
}
