// Package audit owns the compliance audit trail (ADR-008 "Compliance Logging", tied to
// ADR-006): the audit events of the wire contract (anvil.label.submitted,
// anvil.queue.modified, anvil.export.completed) appended as JSON lines to day files
// audit-YYYY-MM-DD.jsonl in one directory, with retention, optional gzip of closed days,
// torn-tail recovery and de-duplication of JetStream redeliveries.
//
// The Writer is an ingest.Sink. HandleBatch returns nil only once every audit record of the
// batch is on disk as the fsync policy promises, so that in JetStream mode the feed
// acknowledges only durable records; any write or sync error is returned wrapped (the feed
// NAKs the batch for redelivery) after the file was truncated back to its last whole line.
//
// Fsync policies (Config.Fsync):
//   - FsyncBatch ("batch", the default and what the daemon uses): one write and one fsync per
//     batch, before HandleBatch returns. An acknowledged record survives a process crash and
//     a power loss.
//   - FsyncAlways ("always"): one write and one fsync per record. Same guarantee as batch,
//     with less work lost to a failed batch, and far slower.
//   - FsyncInterval ("interval"): one write per batch, fsync every Config.FsyncInterval by a
//     background goroutine. A process crash loses nothing (the page cache survives it), but
//     a power loss or kernel crash may lose records that were already acknowledged to
//     JetStream, up to one interval's worth. Use it only where that is acceptable.
//
// Day files: a record goes to the file of the UTC day of its receive time (wire.Event
// Received; the writer's clock when that is zero). Files only move forward: a record whose
// receive day is earlier than the open file's day (clock step, redelivery just after
// midnight) goes into the open file, so a closed day is never reopened. Retention keeps a
// day file at least RetentionDays×24h after its day ended and deletes it at start and at
// each rotation after that; RetentionDays ≤ 0 keeps everything. With Compress, closed days
// are gzipped in the background (audit-YYYY-MM-DD.jsonl.gz, written to .tmp, fsynced,
// renamed). docs/audit.md describes the trail for operators.
//
// Duplicates: JetStream redelivers messages whose batch was not acknowledged, also after a
// crash. The writer keeps the highest stream sequence on the trail and a bitmap of the
// DedupWindow sequences below it (8 KiB), rebuilt at start by reading the tail of the
// newest day files, and skips records whose sequence is already on the trail. A sequence
// more than DedupWindow below the highest cannot be a redelivery under the feed's bounded
// ack-pending window, so it is taken as a stream reset (the stream was recreated): it is
// written, counted in Stats.SeqResets, logged, and the window restarts from it. Records
// with sequence 0 (core NATS) are never de-duplicated.
package audit

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nsai/ingot-top/internal/ingest"
	"github.com/nsai/ingot-top/internal/wire"
)

// FsyncPolicy says when appended records are forced to stable storage.
type FsyncPolicy string

const (
	FsyncBatch    FsyncPolicy = "batch"
	FsyncAlways   FsyncPolicy = "always"
	FsyncInterval FsyncPolicy = "interval"
)

// ParseFsyncPolicy accepts "batch", "always", "interval", and "" for the default (batch).
func ParseFsyncPolicy(s string) (FsyncPolicy, error) {
	switch p := FsyncPolicy(s); p {
	case "":
		return FsyncBatch, nil
	case FsyncBatch, FsyncAlways, FsyncInterval:
		return p, nil
	}
	return "", fmt.Errorf("audit: unknown fsync policy %q (want batch, always or interval)", s)
}

const (
	// DefaultRetentionDays follows ADR-008's log retention policy; callers pass it.
	DefaultRetentionDays = 30
	// DefaultFsyncInterval is the sync period of FsyncInterval when none is configured.
	DefaultFsyncInterval = time.Second
	// DedupWindow is how many sequences below the highest one the writer remembers.
	DedupWindow = 1 << 16
)

// ErrClosed is returned by calls on a closed Writer.
var ErrClosed = errors.New("audit: writer closed")

// Config configures a Writer. Only Dir is required.
type Config struct {
	Dir string
	// RetentionDays is how many days a day file is kept after its day ended; 0 or negative
	// keeps files forever (deleting compliance records is never a default). The daemon passes
	// DefaultRetentionDays unless told otherwise.
	RetentionDays int
	// Fsync: "" means FsyncBatch.
	Fsync FsyncPolicy
	// FsyncInterval is the period of FsyncInterval; 0 means DefaultFsyncInterval.
	FsyncInterval time.Duration
	// Compress gzips closed day files in the background.
	Compress bool
	// Clock gives the current time for retention and for events without a receive time;
	// nil means time.Now.
	Clock func() time.Time
	// Logger receives recoveries, retention and errors; nil discards.
	Logger *slog.Logger
}

// Stats are counters since New, for the exporter and for tests.
type Stats struct {
	Records     uint64 // audit records appended and synced per the policy
	Duplicates  uint64 // audit records skipped because their sequence was already on the trail
	SeqResets   uint64 // sequences far below the highest, taken as a stream reset
	Fsyncs      uint64
	WriteErrors uint64 // failed writes or syncs (each returned to the caller)
	// FailedRecords counts the audit records of batches HandleBatch refused that did not
	// reach the trail: records, not batches, because that is the size of the loss when the
	// caller cannot redeliver (core NATS). Under JetStream they come back and count again.
	FailedRecords uint64
	TornTails     uint64 // files whose torn last line was truncated during recovery
	TornBytes     uint64
	Deleted       uint64 // day files removed by retention
	Compressed    uint64 // day files gzipped
	LastSeq       uint64 // highest stream sequence on the trail
	File          string // day file being appended to, "" before the first record
}

// Writer appends audit records; it is an ingest.Sink. HandleBatch is meant to be called from
// one goroutine (the feed's); Reopen, Close and Stats may be called from any.
type Writer struct {
	cfg    Config
	policy FsyncPolicy
	log    *slog.Logger

	mu      sync.Mutex
	file    *os.File
	day     string    // day of the file to append to, "" when no file exists yet
	dayEnd  time.Time // midnight after day: records received from then on rotate
	size    int64     // offset after the last whole line that was committed
	dirty   bool      // interval policy: written since the last sync
	broken  bool      // file state unknown after a failed rollback: recover before writing
	closed  bool
	seen    seqWindow
	buf     []byte
	pending []pendingRecord
	scratch recordScratch
	stats   Stats

	stop     chan struct{}
	compress chan string
	bg       sync.WaitGroup

	// afterWrite, when set by a test, runs between write(2) and fsync(2): the crash test
	// kills the process there to leave records on disk that were never acknowledged.
	afterWrite func()
}

// pendingRecord marks the end of one encoded record in Writer.buf.
type pendingRecord struct {
	end int
	seq uint64
}

var _ ingest.Sink = (*Writer)(nil)

// New opens (creating if needed) the audit directory, recovers from a crash (torn last
// lines are truncated, the de-duplication window is rebuilt from the newest files),
// applies retention and starts the background work of the policy.
func New(cfg Config) (*Writer, error) {
	if cfg.Dir == "" {
		return nil, errors.New("audit: no directory configured")
	}
	policy, err := ParseFsyncPolicy(string(cfg.Fsync))
	if err != nil {
		return nil, err
	}
	if cfg.FsyncInterval <= 0 {
		cfg.FsyncInterval = DefaultFsyncInterval
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("audit: create directory %s: %w", cfg.Dir, err)
	}
	w := &Writer{cfg: cfg, policy: policy, log: logger, stop: make(chan struct{}), seen: newSeqWindow()}
	if cfg.Compress {
		w.compress = make(chan string, 64)
	}
	w.mu.Lock()
	err = w.recoverLocked()
	if err == nil {
		w.maintainLocked()
	}
	w.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if cfg.Compress {
		w.bg.Add(1)
		go w.compressLoop()
	}
	if policy == FsyncInterval {
		w.bg.Add(1)
		go w.syncLoop()
	}
	return w, nil
}

// HandleBatch appends the audit events of events, skipping redelivered ones, and returns nil
// only when they are durable per the fsync policy.
func (w *Writer) HandleBatch(events []wire.Event) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		w.stats.FailedRecords += w.unwrittenLocked(events)
		return ErrClosed
	}
	if w.broken {
		if err := w.recoverLocked(); err != nil {
			w.stats.FailedRecords += w.unwrittenLocked(events)
			return err
		}
	}
	now := w.cfg.Clock().UTC()
	w.resetPending()
	// taken counts the records of this batch handed to a commit, so a failure can tell how
	// many of them did not make it (FsyncAlways commits some before failing).
	written, taken := w.stats.Records, uint64(0)
	fail := func(err error, rest []wire.Event) error {
		w.stats.FailedRecords += taken - (w.stats.Records - written) + w.unwrittenLocked(rest)
		return err
	}
	for i := range events {
		ev := &events[i]
		if !wire.IsAudit(ev.Name) {
			continue
		}
		if ev.StreamSeq != 0 && (w.seen.has(ev.StreamSeq) || w.pendingHas(ev.StreamSeq)) {
			w.stats.Duplicates++
			continue
		}
		received := ev.Received
		if received.IsZero() {
			received = now
		}
		if !received.Before(w.dayEnd) {
			if day := dayOf(received); day > w.day {
				if err := w.commitLocked(); err != nil {
					return fail(err, events[i:])
				}
				w.rotateLocked(day)
			}
		}
		w.buf = appendRecord(w.buf, ev, received, &w.scratch)
		w.pending = append(w.pending, pendingRecord{end: len(w.buf), seq: ev.StreamSeq})
		taken++
	}
	if err := w.commitLocked(); err != nil {
		return fail(err, nil)
	}
	return nil
}

// unwrittenLocked counts the audit records of events that are not on the trail yet: what a
// batch refused before any of it was encoded would have added.
func (w *Writer) unwrittenLocked(events []wire.Event) uint64 {
	var n uint64
	for i := range events {
		ev := &events[i]
		if wire.IsAudit(ev.Name) && (ev.StreamSeq == 0 || !w.seen.has(ev.StreamSeq)) {
			n++
		}
	}
	return n
}

// HandleInvalid ignores contract violations: they are not audit events.
func (w *Writer) HandleInvalid(ingest.Invalid) error { return nil }

// Reopen closes and reopens the day file (for SIGHUP after an external tool moved files),
// repairs any torn tail and applies retention. The de-duplication window is kept.
func (w *Writer) Reopen() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	if err := w.closeFileLocked(); err != nil {
		w.log.Error("audit: closing day file on reopen", "err", err)
	}
	if err := w.recoverLocked(); err != nil {
		return err
	}
	w.maintainLocked()
	return nil
}

// Close syncs and closes the day file and waits for background compression to finish.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	err := w.closeFileLocked()
	close(w.stop)
	w.mu.Unlock()
	w.bg.Wait()
	return err
}

// Stats returns a copy of the counters.
func (w *Writer) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.stats
	s.LastSeq = w.seen.hi
	if w.day != "" {
		s.File = filepath.Join(w.cfg.Dir, plainName(w.day))
	}
	return s
}

// Totals returns Stats().Records and Stats().FailedRecords without copying the rest, for a
// caller that checks after every batch whether records reached the trail.
func (w *Writer) Totals() (written, failed uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stats.Records, w.stats.FailedRecords
}

func (w *Writer) resetPending() {
	w.buf = w.buf[:0]
	w.pending = w.pending[:0]
}

// pendingHas catches a sequence repeated inside one batch (a redelivery racing the original).
func (w *Writer) pendingHas(seq uint64) bool {
	for _, p := range w.pending {
		if p.seq == seq {
			return true
		}
	}
	return false
}

// commitLocked writes the pending records to the day file and syncs them per the policy.
// On failure the file is truncated back to its last committed line and nothing of the
// failed chunk counts as written.
func (w *Writer) commitLocked() error {
	if len(w.pending) == 0 {
		return nil
	}
	defer w.resetPending()
	if w.file == nil {
		if err := w.openLocked(); err != nil {
			return err
		}
	}
	if w.policy == FsyncAlways {
		start := 0
		for i, p := range w.pending {
			if err := w.appendChunkLocked(w.buf[start:p.end], w.pending[i:i+1]); err != nil {
				return err
			}
			start = p.end
		}
		return nil
	}
	return w.appendChunkLocked(w.buf, w.pending)
}

func (w *Writer) appendChunkLocked(chunk []byte, records []pendingRecord) error {
	n, err := w.file.Write(chunk)
	if err == nil && n != len(chunk) {
		err = io.ErrShortWrite
	}
	if err != nil {
		w.stats.WriteErrors++
		w.rollbackLocked()
		return fmt.Errorf("audit: append %d records to %s: %w", len(records), w.file.Name(), err)
	}
	if w.afterWrite != nil {
		w.afterWrite()
	}
	if w.policy == FsyncInterval {
		w.dirty = true
	} else {
		if err := w.file.Sync(); err != nil {
			w.stats.WriteErrors++
			w.rollbackLocked()
			return fmt.Errorf("audit: fsync %s: %w", w.file.Name(), err)
		}
		w.stats.Fsyncs++
	}
	w.size += int64(len(chunk))
	for _, p := range records {
		if p.seq != 0 {
			if w.seen.add(p.seq) {
				w.stats.SeqResets++
				w.log.Warn("audit: stream sequence far below the highest on the trail; taking it as a stream reset", "seq", p.seq)
			}
		}
	}
	w.stats.Records += uint64(len(records))
	return nil
}

// rollbackLocked removes a partly written chunk. If even that fails the file's content is
// unknown, so the writer recovers from disk (torn-tail repair, window rebuild) before the
// next write; lines that made it whole are then on the trail and their redelivery is skipped.
func (w *Writer) rollbackLocked() {
	err := w.file.Truncate(w.size)
	if err == nil {
		return
	}
	w.log.Error("audit: truncating after a failed write; will recover before the next write", "file", w.file.Name(), "err", err)
	_ = w.file.Close()
	w.file = nil
	w.broken = true
}

// openLocked opens the file of w.day for appending, repairing a torn tail first.
func (w *Writer) openLocked() error {
	path := filepath.Join(w.cfg.Dir, plainName(w.day))
	if err := w.repairLocked(path); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("audit: open %s: %w", path, err)
	}
	info, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("audit: stat %s: %w", path, err)
	}
	// A new file's directory entry must be durable too, or a power loss can drop the file.
	if err := syncDir(w.cfg.Dir); err != nil {
		_ = f.Close()
		return err
	}
	w.file, w.size, w.dirty = f, info.Size(), false
	return nil
}

func (w *Writer) repairLocked(path string) error {
	removed, err := repairTornTail(path)
	if err != nil {
		return err
	}
	if removed > 0 {
		w.stats.TornTails++
		w.stats.TornBytes += uint64(removed)
		w.log.Warn("audit: truncated a torn last line left by a crash", "file", path, "bytes", removed)
	}
	return nil
}

func (w *Writer) closeFileLocked() error {
	if w.file == nil {
		return nil
	}
	f := w.file
	w.file = nil
	syncErr := f.Sync()
	if syncErr == nil {
		w.stats.Fsyncs++
		w.dirty = false
	}
	closeErr := f.Close()
	if err := errors.Join(syncErr, closeErr); err != nil {
		return fmt.Errorf("audit: close %s: %w", f.Name(), err)
	}
	return nil
}

// rotateLocked moves to a later day: the current file is synced and closed, retention runs,
// and the closed day is queued for compression. The new file opens at the next commit.
func (w *Writer) rotateLocked(day string) {
	if err := w.closeFileLocked(); err != nil {
		w.log.Error("audit: closing day file on rotation", "err", err)
	}
	w.setDayLocked(day)
	w.maintainLocked()
}

func (w *Writer) setDayLocked(day string) {
	w.day = day
	// Day strings come from dayOf or validated file names; were one bad, a zero dayEnd only
	// makes every record compare its day.
	start, _ := time.Parse(dayLayout, day)
	w.dayEnd = start.Add(24 * time.Hour)
}

// recoverLocked repairs torn tails of uncompressed day files, finds the newest day and
// rebuilds the de-duplication window from the newest files.
func (w *Writer) recoverLocked() error {
	files, err := listDayFiles(w.cfg.Dir)
	if err != nil {
		return err
	}
	for _, f := range files {
		if f.tmp {
			// A compression that a crash interrupted; the plain file is still there.
			if err := os.Remove(f.path); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("audit: remove stale %s: %w", f.path, err)
			}
			continue
		}
		if !f.gz {
			if err := w.repairLocked(f.path); err != nil {
				return err
			}
		}
		if f.day > w.day {
			w.setDayLocked(f.day)
		}
	}
	if err := rebuildWindow(&w.seen, files, w.log); err != nil {
		return err
	}
	w.broken = false
	return nil
}

// maintainLocked applies retention and queues closed days for compression. Failures are
// logged, not returned: they must not stop the trail.
func (w *Writer) maintainLocked() {
	files, err := listDayFiles(w.cfg.Dir)
	if err != nil {
		w.log.Error("audit: listing day files for retention", "err", err)
		return
	}
	if w.cfg.RetentionDays > 0 {
		now := w.cfg.Clock().UTC()
		for _, f := range files {
			if f.day == w.day || !expired(f.day, now, w.cfg.RetentionDays) {
				continue
			}
			if err := os.Remove(f.path); err != nil && !errors.Is(err, os.ErrNotExist) {
				w.log.Error("audit: retention could not delete a day file", "file", f.path, "err", err)
				continue
			}
			w.stats.Deleted++
			w.log.Info("audit: retention deleted a day file", "file", f.path)
		}
	}
	if w.compress == nil {
		return
	}
	for _, f := range files {
		if f.gz || f.tmp || f.day >= w.day || expired(f.day, w.cfg.Clock().UTC(), w.cfg.RetentionDays) {
			continue
		}
		select {
		case w.compress <- f.path:
		default: // queue full: the file is picked up again at the next rotation or start
		}
	}
}

// syncLoop is the FsyncInterval flusher.
func (w *Writer) syncLoop() {
	defer w.bg.Done()
	ticker := time.NewTicker(w.cfg.FsyncInterval)
	defer ticker.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-ticker.C:
			w.mu.Lock()
			if w.file != nil && w.dirty {
				if err := w.file.Sync(); err != nil {
					w.stats.WriteErrors++
					w.log.Error("audit: interval fsync failed; acknowledged records may be lost on power loss", "file", w.file.Name(), "err", err)
				} else {
					w.stats.Fsyncs++
					w.dirty = false
				}
			}
			w.mu.Unlock()
		}
	}
}

func (w *Writer) compressLoop() {
	defer w.bg.Done()
	for {
		select {
		case <-w.stop:
			return
		case path := <-w.compress:
			done, err := gzipDayFile(path, w.stop)
			w.mu.Lock()
			if errors.Is(err, errCompressionStopped) {
				w.log.Info("audit: compression of a closed day file stopped by shutdown; it resumes at the next start", "file", path)
			} else if err != nil {
				w.log.Error("audit: compressing a closed day file", "file", path, "err", err)
			} else if done {
				w.stats.Compressed++
			}
			w.mu.Unlock()
		}
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("audit: open directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("audit: fsync directory %s: %w", dir, err)
	}
	return nil
}
