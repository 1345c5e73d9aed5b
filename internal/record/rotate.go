package record

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// DirExt is the extension of recordings a Rotator writes; `replay DIR/*.itr` reads them.
const DirExt = ".itr"

// dirPrefix starts the names of a Rotator's files, so pruning never touches anything else.
const dirPrefix = "ingot-top-"

// RotatorConfig configures a rotating recording directory.
type RotatorConfig struct {
	Dir string
	// MaxFileSize starts a new file once the current one reaches it; MaxFileAge once it
	// spans this long (default 1h), so retention drops the past in slices of this size.
	MaxFileSize int64
	MaxFileAge  time.Duration
	// Retention deletes files whose last write is older than this (0: keep everything).
	Retention time.Duration
	// Header fields of every file (Created is set per file).
	Subject, Source, Writer string
	Now                     func() time.Time
}

// Rotator writes a recording into a directory as a series of files, each a whole recording
// of its own: a new file at MaxFileSize or MaxFileAge, and files older than Retention
// removed, so the last hours are always on disk at a bounded size. After a write error (a
// full disk) the file in use is given up; the next Tick starts a new one, first pruning
// what retention allows. Not safe for concurrent use.
type Rotator struct {
	cfg     RotatorConfig
	file    *File
	opened  time.Time
	broken  bool   // the current file refused a write; replaced at the next Tick
	drops   uint64 // cumulative drops, noted in every mark
	removed int    // files pruned so far
}

// NewRotator checks the directory (creating it) and returns a rotator that opens its first
// file at the first write or tick.
func NewRotator(cfg RotatorConfig) (*Rotator, error) {
	if cfg.Dir == "" {
		return nil, errors.New("record: no directory")
	}
	if cfg.MaxFileAge <= 0 {
		cfg.MaxFileAge = time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	probe, err := os.CreateTemp(cfg.Dir, ".write-test-*")
	if err != nil {
		return nil, fmt.Errorf("record: %s is not writable: %w", cfg.Dir, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	return &Rotator{cfg: cfg}, nil
}

// Path is the file being written, "" before the first or after a failed one.
func (r *Rotator) Path() string {
	if r.file == nil {
		return ""
	}
	return r.file.Path()
}

// Removed counts the files deleted by retention.
func (r *Rotator) Removed() int { return r.removed }

func (r *Rotator) open(now time.Time) error {
	name := dirPrefix + now.UTC().Format("20060102T150405.000Z")
	path := filepath.Join(r.cfg.Dir, name+DirExt)
	for i := 1; ; i++ {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			break
		}
		path = filepath.Join(r.cfg.Dir, fmt.Sprintf("%s-%d%s", name, i, DirExt))
	}
	f, err := Create(path, Header{Created: now, Subject: r.cfg.Subject, Source: r.cfg.Source, Writer: r.cfg.Writer}, CreateNew, WriterOptions{})
	if err != nil {
		// A header the disk refused leaves an empty file, which no replay could read.
		if info, serr := os.Stat(path); serr == nil && info.Size() == 0 {
			os.Remove(path)
		}
		return err
	}
	r.file, r.opened, r.broken = f, now, false
	if err := f.WriteMark(Mark{Time: now, Kind: MarkStart, Drops: r.drops, Note: "subscribed to " + r.cfg.Subject}); err != nil {
		r.broken = true
		return err
	}
	return nil
}

// Write appends one message. An error means it is not on disk; the caller counts it.
func (r *Rotator) Write(m *Message) error {
	if r.broken {
		return errors.New("record: the recording file failed; a new one is tried within a second")
	}
	if r.file == nil {
		if err := r.open(m.Received); err != nil {
			r.broken = true
			return err
		}
	}
	if err := r.file.WriteMessage(m); err != nil {
		r.broken = true
		return err
	}
	if r.cfg.MaxFileSize > 0 && r.file.Size() >= r.cfg.MaxFileSize {
		if err := r.closeFile(m.Received, "rotated"); err != nil {
			// The messages still pending in the writer are lost with this one; the next
			// Write or Tick opens a new file.
			return err
		}
	}
	return nil
}

// Tick is called about once a second: it notes the recorder's state (drops is its
// cumulative slow-consumer count) in a mark, syncs, rotates, prunes, and replaces a file
// that failed. An error means the recording is not being written right now.
func (r *Rotator) Tick(drops uint64) error {
	now := r.cfg.Now()
	r.drops = max(r.drops, drops)
	r.prune(now)
	if r.broken && r.file != nil {
		// Whatever reached the disk stays readable up to its last whole frame.
		_ = r.file.Close()
		r.file = nil
	}
	if r.file == nil {
		if err := r.open(now); err != nil {
			r.file, r.broken = nil, true
			return err
		}
	}
	if err := r.file.WriteMark(Mark{Time: now, Kind: MarkHeartbeat, Drops: r.drops}); err != nil {
		r.broken = true
		return err
	}
	if err := r.file.Sync(); err != nil {
		r.broken = true
		return err
	}
	if r.file.Size() >= r.cfg.MaxFileSize && r.cfg.MaxFileSize > 0 || now.Sub(r.opened) >= r.cfg.MaxFileAge {
		err := r.closeFile(now, "rotated")
		if err != nil {
			r.broken = true
		}
		return err
	}
	return nil
}

func (r *Rotator) closeFile(now time.Time, why string) error {
	if r.file == nil {
		return nil
	}
	err := r.file.WriteMark(Mark{Time: now, Kind: MarkStop, Drops: r.drops, Note: why})
	if cerr := r.file.Close(); err == nil {
		err = cerr
	}
	r.file = nil
	return err
}

// Close ends the current file with a stop mark saying why.
func (r *Rotator) Close(why string) error {
	if r.broken && r.file != nil {
		err := r.file.Close()
		r.file = nil
		return err
	}
	return r.closeFile(r.cfg.Now(), why)
}

// prune deletes this rotator's files (never the current one) last written before the
// retention horizon.
func (r *Rotator) prune(now time.Time) {
	if r.cfg.Retention <= 0 {
		return
	}
	entries, err := os.ReadDir(r.cfg.Dir)
	if err != nil {
		return
	}
	horizon := now.Add(-r.cfg.Retention)
	current := r.Path()
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, dirPrefix) || !strings.HasSuffix(name, DirExt) || e.IsDir() {
			continue
		}
		path := filepath.Join(r.cfg.Dir, name)
		if path == current {
			continue
		}
		info, err := e.Info()
		if err != nil || !info.ModTime().Before(horizon) {
			continue
		}
		if os.Remove(path) == nil {
			r.removed++
		}
	}
}

// DirFiles lists a rotator's recordings in dir, oldest name first.
func DirFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if n := e.Name(); strings.HasPrefix(n, dirPrefix) && strings.HasSuffix(n, DirExt) && !e.IsDir() {
			out = append(out, filepath.Join(dir, n))
		}
	}
	slices.Sort(out)
	return out, nil
}
