package record

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// Mode says what Create does with an existing file.
type Mode int

const (
	// CreateNew refuses an existing file: a recording is evidence, never overwritten by
	// accident.
	CreateNew Mode = iota
	// Append adds a new session after the last whole frame of an existing recording; bytes
	// of a frame cut by an earlier crash are cut off first.
	Append
)

// File is a Writer on a file of its own, with fsync and repair on write errors.
type File struct {
	*Writer
	f    *os.File
	path string
	base int64 // where this session's header starts
	// Repaired counts the bytes of an incomplete frame removed from the end of an existing
	// file before appending.
	Repaired int64
}

// Create opens path for a recording session as mode says and writes the session header.
func Create(path string, h Header, mode Mode, opts WriterOptions) (*File, error) {
	var f *os.File
	var err error
	var base, repaired int64
	switch mode {
	case CreateNew:
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("record: %s already exists; choose another file or append to it with --append", path)
		}
		if err != nil {
			return nil, fmt.Errorf("record: %w", err)
		}
	case Append:
		base, repaired, err = lastWholeFrame(path)
		if err != nil {
			return nil, err
		}
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("record: %w", err)
		}
		if repaired > 0 {
			if err := f.Truncate(base); err != nil {
				f.Close()
				return nil, fmt.Errorf("record: cutting the incomplete frame off %s: %w", path, err)
			}
		}
		if _, err := f.Seek(base, io.SeekStart); err != nil {
			f.Close()
			return nil, fmt.Errorf("record: %w", err)
		}
	default:
		return nil, fmt.Errorf("record: unknown mode %d", mode)
	}
	w, err := NewWriter(f, h, opts)
	if err != nil {
		_ = f.Truncate(base)
		f.Close()
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	return &File{Writer: w, f: f, path: path, base: base, Repaired: repaired}, nil
}

// lastWholeFrame reads an existing recording to the end of its last whole frame. A missing
// or empty file starts at 0; a file that is not a recording is refused.
func lastWholeFrame(path string) (end, tail int64, err error) {
	st, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) || err == nil && st.Size() == 0 {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("record: %w", err)
	}
	r, err := Open(path)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: refusing to append to it", err)
	}
	defer r.Close()
	for {
		if _, err := r.Next(); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return 0, 0, err
		}
	}
	s := r.Stop()
	// Damage inside the file stays (the reader skips it); only a cut end is removed, since
	// appending after it would bury the new frames behind garbage.
	return s.Offset, st.Size() - s.Offset, nil
}

// Path is the file's path.
func (f *File) Path() string { return f.path }

// Size is the file's size in whole frames.
func (f *File) Size() int64 { return f.base + f.Written() }

// Flush writes pending records as a frame. After a failed write it cuts the file back to
// its last whole frame, so that the file stays clean for a later --append.
func (f *File) Flush() error {
	if err := f.Writer.Flush(); err != nil {
		_ = f.f.Truncate(f.Size())
		return err
	}
	return nil
}

// Sync flushes and fsyncs.
func (f *File) Sync() error {
	if err := f.Flush(); err != nil {
		return err
	}
	if err := f.f.Sync(); err != nil {
		return fmt.Errorf("record: fsync %s: %w", f.path, err)
	}
	return nil
}

// Close flushes, fsyncs and closes the file. The file is closed even when flushing failed.
func (f *File) Close() error {
	err := f.Sync()
	if cerr := f.Writer.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if cerr := f.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("record: closing %s: %w", f.path, cerr)
	}
	return err
}
