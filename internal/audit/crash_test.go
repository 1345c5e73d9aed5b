package audit

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/wire"
)

// The helper child is this test binary re-executed with these variables set.
const (
	helperEnvMode    = "AUDIT_HELPER_MODE" // "burst" or "fsize"
	helperEnvDir     = "AUDIT_HELPER_DIR"
	helperEnvFrom    = "AUDIT_HELPER_FROM"     // first stream sequence
	helperEnvBatches = "AUDIT_HELPER_BATCHES"  // 0: until killed or failing
	helperEnvLimit   = "AUDIT_HELPER_FSIZE"    // fsize mode: RLIMIT_FSIZE in bytes
	helperEnvSelf    = "AUDIT_HELPER_SELFKILL" // burst mode: SIGKILL itself between write and fsync of this batch
	helperBatchSize  = 1024                    // ~230 KB of records per write: a kill can land inside it
)

// isAuditSeq decides which sequences the helper publishes as audit events: two in three,
// the rest are other events that consume stream sequences as on a real stream.
func isAuditSeq(seq uint64) bool { return seq%3 != 0 }

func helperBatch(from uint64, received time.Time) []wire.Event {
	names := [...]string{wire.EventLabelSubmitted, wire.EventQueueModified, wire.EventExportCompleted}
	batch := make([]wire.Event, 0, helperBatchSize)
	for seq := from; seq < from+helperBatchSize; seq++ {
		name := wire.EventLabelSubmit
		if isAuditSeq(seq) {
			name = names[seq%uint64(len(names))]
		}
		batch = append(batch, event(name, seq, received))
	}
	return batch
}

// TestHelperAuditWriter is not a test: it is the child process of the crash tests. It
// writes batches and prints "ack <last seq of the batch>" only after HandleBatch returned nil.
func TestHelperAuditWriter(t *testing.T) {
	mode := os.Getenv(helperEnvMode)
	if mode == "" {
		t.Skip("helper process for the crash tests")
	}
	from, _ := strconv.ParseUint(os.Getenv(helperEnvFrom), 10, 64)
	batches, _ := strconv.Atoi(os.Getenv(helperEnvBatches))
	if mode == "fsize" {
		limit, _ := strconv.ParseUint(os.Getenv(helperEnvLimit), 10, 64)
		// Past the limit write(2) fails with EFBIG, as on a full disk: a real short write.
		signal.Ignore(syscall.SIGXFSZ)
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: limit, Max: limit}); err != nil {
			fmt.Printf("fatal setrlimit: %v\n", err)
			os.Exit(1)
		}
	}
	w, err := New(Config{Dir: os.Getenv(helperEnvDir)})
	if err != nil {
		fmt.Printf("fatal New: %v\n", err)
		os.Exit(1)
	}
	if selfKill, _ := strconv.Atoi(os.Getenv(helperEnvSelf)); selfKill > 0 {
		written := 0
		w.afterWrite = func() {
			if written++; written == selfKill {
				_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			}
		}
	}
	for i := 0; batches == 0 || i < batches; i++ {
		batch := helperBatch(from, time.Now())
		fmt.Printf("writing %d\n", from)
		if err := w.HandleBatch(batch); err != nil {
			fmt.Printf("error efbig=%t %v\n", errors.Is(err, syscall.EFBIG), err)
			os.Exit(0)
		}
		from += helperBatchSize
		fmt.Printf("ack %d\n", from-1)
	}
	if err := w.Close(); err != nil {
		fmt.Printf("fatal Close: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// helperChild is a running helper with its stdout.
type helperChild struct {
	cmd   *exec.Cmd
	lines *bufio.Scanner
}

func startHelper(t *testing.T, env ...string) *helperChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperAuditWriter$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start helper: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return &helperChild{cmd: cmd, lines: bufio.NewScanner(stdout)}
}

// next returns the next protocol line of the child, or "" at EOF.
func (c *helperChild) next(t *testing.T) string {
	t.Helper()
	for c.lines.Scan() {
		line := c.lines.Text()
		if strings.HasPrefix(line, "fatal") {
			t.Fatalf("helper: %s", line)
		}
		if strings.HasPrefix(line, "ack ") || strings.HasPrefix(line, "error ") || strings.HasPrefix(line, "writing ") {
			return line
		}
	}
	return ""
}

// parseAck returns the sequence of an "ack" line and 0 for a "writing" line.
func parseAck(t *testing.T, line string) uint64 {
	t.Helper()
	if strings.HasPrefix(line, "writing ") {
		return 0
	}
	seq, err := strconv.ParseUint(strings.TrimPrefix(line, "ack "), 10, 64)
	if err != nil {
		t.Fatalf("bad ack line %q", line)
	}
	return seq
}

// trail reads every record of dir, failing on torn or non-JSON lines, and counts sequences.
func trail(t *testing.T, dir string) map[uint64]int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "audit-*.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	counts := make(map[uint64]int)
	for _, f := range files {
		for _, line := range readLines(t, f) {
			r := parseRecord(t, line)
			if r.Seq == 0 || !isAuditSeq(r.Seq) {
				t.Fatalf("record with unexpected seq %d: %s", r.Seq, line)
			}
			counts[r.Seq]++
		}
	}
	return counts
}

// checkTrail asserts that every audit sequence up to acked is on the trail exactly once and
// that no sequence is there twice.
func checkTrail(t *testing.T, dir string, acked uint64) map[uint64]int {
	t.Helper()
	counts := trail(t, dir)
	for seq, n := range counts {
		if n != 1 {
			t.Errorf("seq %d is on the trail %d times", seq, n)
		}
	}
	for seq := uint64(1); seq <= acked; seq++ {
		if isAuditSeq(seq) && counts[seq] == 0 {
			t.Fatalf("acknowledged seq %d is missing from the trail", seq)
		}
	}
	return counts
}

func TestAcknowledgedRecordsSurviveSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns writer processes")
	}
	rounds := 3
	var lastAcked uint64
	dir := t.TempDir()
	for round := range rounds {
		// Each round redelivers an overlap of up to two batches below the last acknowledgement,
		// as JetStream does with the unacknowledged batch after a crash.
		from := uint64(1)
		if lastAcked > 0 {
			from = max(lastAcked+1-uint64(rand.IntN(2*helperBatchSize)), 1)
		}
		env := []string{helperEnvMode + "=burst", helperEnvDir + "=" + dir, helperEnvFrom + "=" + strconv.FormatUint(from, 10)}
		if round == 1 {
			// One round dies between write(2) and fsync(2): its last batch is on disk but was
			// never acknowledged, and the next round redelivers it.
			env = append(env, helperEnvSelf+"="+strconv.Itoa(2+rand.IntN(8)))
		}
		child := startHelper(t, env...)
		if round != 1 {
			// Kill on a random protocol line: after an "ack", or just as a batch starts to be
			// written ("writing").
			killAfter := 3 + rand.IntN(20)
			for seen := 0; seen < killAfter; seen++ {
				line := child.next(t)
				if line == "" {
					t.Fatalf("round %d: helper ended before being killed", round)
				}
				lastAcked = max(lastAcked, parseAck(t, line))
			}
			// Jitter of up to 15 ms moves the kill from the batch's encoding towards its
			// write(2) or fsync(2). Correctness does not depend on it: any kill point must
			// pass the checks.
			for until := time.Now().Add(time.Duration(rand.IntN(15000)) * time.Microsecond); time.Now().Before(until); {
				runtime.Gosched()
			}
			if err := child.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
		}
		// Acknowledgements the child printed before dying count too.
		for line := child.next(t); line != ""; line = child.next(t) {
			lastAcked = max(lastAcked, parseAck(t, line))
		}
		_ = child.cmd.Wait()

		// Recovery by a new writer, as the restarted daemon does.
		w, err := New(Config{Dir: dir})
		if err != nil {
			t.Fatalf("round %d: recovery: %v", round, err)
		}
		stats := w.Stats()
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		counts := checkTrail(t, dir, lastAcked)
		t.Logf("round %d: from %d, last acked %d, %d records, torn tails %d (%d bytes), recovered LastSeq %d",
			round, from, lastAcked, len(counts), stats.TornTails, stats.TornBytes, stats.LastSeq)
		if stats.LastSeq < lastAcked-1 {
			t.Fatalf("recovered LastSeq %d below the last acknowledged audit seq %d", stats.LastSeq, lastAcked)
		}
		if round == 1 && stats.LastSeq <= lastAcked {
			t.Fatalf("the self-killed round left no unacknowledged batch on disk (LastSeq %d, acked %d)", stats.LastSeq, lastAcked)
		}
	}

	// A clean run continuing with overlap must not duplicate anything.
	from := max(lastAcked+1-300, 1)
	child := startHelper(t, helperEnvMode+"=burst", helperEnvDir+"="+dir,
		helperEnvFrom+"="+strconv.FormatUint(from, 10), helperEnvBatches+"=4")
	for line := child.next(t); line != ""; line = child.next(t) {
		lastAcked = max(lastAcked, parseAck(t, line))
	}
	if err := child.cmd.Wait(); err != nil {
		t.Fatalf("clean helper run: %v", err)
	}
	if want := from + 4*helperBatchSize - 1; lastAcked != want {
		t.Fatalf("clean run acknowledged up to %d, want %d", lastAcked, want)
	}
	counts := checkTrail(t, dir, lastAcked)
	if len(counts) != countAudit(lastAcked) {
		t.Errorf("trail holds %d records, want %d", len(counts), countAudit(lastAcked))
	}
}

func countAudit(upTo uint64) int {
	n := 0
	for seq := uint64(1); seq <= upTo; seq++ {
		if isAuditSeq(seq) {
			n++
		}
	}
	return n
}

func TestFullDiskLeavesNoTornLineAndRedeliveryCompletes(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a writer process")
	}
	dir := t.TempDir()
	const limit = 1 << 20
	child := startHelper(t, helperEnvMode+"=fsize", helperEnvDir+"="+dir, helperEnvFrom+"=1",
		helperEnvLimit+"="+strconv.Itoa(limit))
	var lastAcked uint64
	var failure string
	for line := child.next(t); line != ""; line = child.next(t) {
		if strings.HasPrefix(line, "error ") {
			failure = line
			break
		}
		lastAcked = max(lastAcked, parseAck(t, line))
	}
	for child.lines.Scan() { // let the child finish writing and exit
	}
	if err := child.cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	if !strings.HasPrefix(failure, "error efbig=true ") {
		t.Fatalf("want a wrapped EFBIG from HandleBatch, got %q (last ack %d)", failure, lastAcked)
	}
	if lastAcked == 0 {
		t.Fatal("limit too small: no batch fit")
	}
	counts := checkTrail(t, dir, lastAcked)
	if want := countAudit(lastAcked); len(counts) != want {
		t.Fatalf("trail holds %d records after the failed write, want exactly the %d acknowledged", len(counts), want)
	}
	info, err := os.Stat(filepath.Join(dir, plainName(dayOf(time.Now()))))
	if err == nil && info.Size() > limit {
		t.Fatalf("file grew past the limit: %d", info.Size())
	}

	// Space is back: the NAKed batch is redelivered and written once.
	w := newWriter(t, Config{Dir: dir})
	if err := w.HandleBatch(helperBatch(lastAcked+1, time.Now())); err != nil {
		t.Fatalf("redelivery: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	lastAcked += helperBatchSize
	if counts := checkTrail(t, dir, lastAcked); len(counts) != countAudit(lastAcked) {
		t.Fatalf("trail holds %d records, want %d", len(counts), countAudit(lastAcked))
	}
}
