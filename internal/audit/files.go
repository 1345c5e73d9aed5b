package audit

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

const (
	filePrefix = "audit-"
	plainExt   = ".jsonl"
	gzExt      = ".jsonl.gz"
	tmpExt     = ".jsonl.gz.tmp"
	dayLayout  = "2006-01-02"
)

func dayOf(t time.Time) string { return t.UTC().Format(dayLayout) }

func plainName(day string) string { return filePrefix + day + plainExt }

// dayFile is one file of the audit directory.
type dayFile struct {
	day  string
	path string
	gz   bool
	tmp  bool // an unfinished compression
}

// listDayFiles returns the audit files of dir, oldest day first, the plain file of a day
// before its .gz. Other files are left alone.
func listDayFiles(dir string) ([]dayFile, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("audit: list %s: %w", dir, err)
	}
	var files []dayFile
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasPrefix(name, filePrefix) {
			continue
		}
		rest := name[len(filePrefix):]
		if len(rest) < len(dayLayout) {
			continue
		}
		day, ext := rest[:len(dayLayout)], rest[len(dayLayout):]
		if _, err := time.Parse(dayLayout, day); err != nil {
			continue
		}
		f := dayFile{day: day, path: filepath.Join(dir, name)}
		switch ext {
		case plainExt:
		case gzExt:
			f.gz = true
		case tmpExt:
			f.tmp = true
		default:
			continue
		}
		files = append(files, f)
	}
	sort.Slice(files, func(i, j int) bool {
		if files[i].day != files[j].day {
			return files[i].day < files[j].day
		}
		return !files[i].gz && files[j].gz
	})
	return files, nil
}

// expired reports whether the day ended more than retentionDays×24h before now.
func expired(day string, now time.Time, retentionDays int) bool {
	if retentionDays <= 0 {
		return false
	}
	start, err := time.Parse(dayLayout, day)
	if err != nil {
		return false
	}
	end := start.Add(24 * time.Hour)
	return now.Sub(end) > time.Duration(retentionDays)*24*time.Hour
}

// tailChunk is how much of a file's end is read at a time when scanning backwards.
const tailChunk = 256 << 10

// repairTornTail truncates a last line that has no '\n' (a write cut short by a crash, or
// the zeros a power loss can leave) and returns how many bytes it removed.
func repairTornTail(path string) (int64, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("audit: open %s for recovery: %w", path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("audit: stat %s: %w", path, err)
	}
	size := info.Size()
	if size == 0 {
		return 0, nil
	}
	var last [1]byte
	if _, err := f.ReadAt(last[:], size-1); err != nil {
		return 0, fmt.Errorf("audit: read tail of %s: %w", path, err)
	}
	if last[0] == '\n' {
		return 0, nil
	}
	keep, err := lastNewlineEnd(f, size)
	if err != nil {
		return 0, fmt.Errorf("audit: scan tail of %s: %w", path, err)
	}
	if err := f.Truncate(keep); err != nil {
		return 0, fmt.Errorf("audit: truncate torn tail of %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("audit: fsync %s after truncation: %w", path, err)
	}
	return size - keep, nil
}

// lastNewlineEnd returns the offset just after the last '\n' before size, or 0.
func lastNewlineEnd(f *os.File, size int64) (int64, error) {
	buf := make([]byte, tailChunk)
	for end := size; end > 0; {
		start := max(end-tailChunk, 0)
		chunk := buf[:end-start]
		if _, err := f.ReadAt(chunk, start); err != nil {
			return 0, err
		}
		if i := bytes.LastIndexByte(chunk, '\n'); i >= 0 {
			return start + int64(i) + 1, nil
		}
		end = start
	}
	return 0, nil
}

// eachLineBackward calls fn with the whole lines of a plain file, last line first, until fn
// returns false. The slice is only valid during the call.
func eachLineBackward(path string, fn func(line []byte) bool) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("audit: open %s: %w", path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("audit: stat %s: %w", path, err)
	}
	var carry []byte // the head of a line whose start lies in an earlier chunk
	buf := make([]byte, tailChunk)
	for end := info.Size(); end > 0; {
		start := max(end-tailChunk, 0)
		chunk := buf[:end-start]
		if _, err := f.ReadAt(chunk, start); err != nil {
			return fmt.Errorf("audit: read %s: %w", path, err)
		}
		data := append(chunk, carry...)
		for {
			i := bytes.LastIndexByte(data[:max(len(data)-1, 0)], '\n')
			if i < 0 {
				break
			}
			if line := bytes.TrimSuffix(data[i+1:], []byte{'\n'}); len(line) > 0 && !fn(line) {
				return nil
			}
			data = data[:i+1]
		}
		carry = append([]byte(nil), data...)
		end = start
	}
	if line := bytes.TrimSuffix(carry, []byte{'\n'}); len(line) > 0 {
		fn(line)
	}
	return nil
}

// eachLineOfGzip calls fn with every line of a gzipped day file, first line first.
func eachLineOfGzip(path string, fn func(line []byte)) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("audit: open %s: %w", path, err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("audit: gzip header of %s: %w", path, err)
	}
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		fn(sc.Bytes())
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("audit: read %s: %w", path, err)
	}
	return nil
}

// gzipDayFile compresses a closed day file to .jsonl.gz (via .tmp, fsync, rename, fsync of
// the directory) and removes the plain file. done is false when there was nothing to do.
// errCompressionStopped is returned by gzipDayFile when stop closes mid-file: shutdown must
// not wait for a large day file; the plain file stays and is compressed at the next start.
var errCompressionStopped = errors.New("audit: compression stopped by shutdown")

// stoppableReader fails its next Read once stop is closed.
type stoppableReader struct {
	r    io.Reader
	stop <-chan struct{}
}

func (s stoppableReader) Read(p []byte) (int, error) {
	select {
	case <-s.stop:
		return 0, errCompressionStopped
	default:
	}
	return s.r.Read(p)
}

func gzipDayFile(plainPath string, stop <-chan struct{}) (done bool, err error) {
	gzPath := strings.TrimSuffix(plainPath, plainExt) + gzExt
	if _, err := os.Stat(gzPath); err == nil {
		// A crash came between the rename and the removal: the .gz is complete.
		if err := os.Remove(plainPath); err != nil && !errors.Is(err, os.ErrNotExist) {
			return false, fmt.Errorf("audit: remove %s: %w", plainPath, err)
		}
		return false, nil
	}
	src, err := os.Open(plainPath)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("audit: open %s: %w", plainPath, err)
	}
	defer src.Close()
	tmpPath := strings.TrimSuffix(plainPath, plainExt) + tmpExt
	dst, err := os.OpenFile(tmpPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return false, fmt.Errorf("audit: create %s: %w", tmpPath, err)
	}
	zw := gzip.NewWriter(dst)
	_, copyErr := io.Copy(zw, stoppableReader{r: src, stop: stop})
	err = errors.Join(copyErr, zw.Close(), dst.Sync(), dst.Close())
	if err != nil {
		_ = os.Remove(tmpPath)
		return false, fmt.Errorf("audit: compress %s: %w", plainPath, err)
	}
	if err := os.Rename(tmpPath, gzPath); err != nil {
		_ = os.Remove(tmpPath)
		return false, fmt.Errorf("audit: rename %s: %w", tmpPath, err)
	}
	dir := filepath.Dir(plainPath)
	if err := syncDir(dir); err != nil {
		return false, err
	}
	if err := os.Remove(plainPath); err != nil {
		return false, fmt.Errorf("audit: remove %s after compression: %w", plainPath, err)
	}
	return true, syncDir(dir)
}
