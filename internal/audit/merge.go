package audit

// The fleet's trail. Daemons of one group (docs/scale-out.md) each write the records of the
// messages JetStream handed them, so the trail of the whole stream is spread over their
// directories; and a daemon killed between its fsync and its ack leaves records that
// JetStream then redelivers to another daemon, so a stream sequence can be on two trails.
// Merge reads them all and writes one record per stream sequence, in sequence order, and
// says what it folded and what is missing.
//
// Memory is bounded by the number of sorted runs, not by the size of the trails: a daemon's
// records are in increasing sequence order except where it received a redelivery (a lower
// sequence after higher ones). A first pass finds where each run starts; the second merges
// the runs k-way, one buffered reader per run (MergeOptions.MaxRuns bounds them). The trails
// are read twice, and a third time when there are records without a sequence (core NATS).

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"container/heap"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/valyala/fastjson"
)

const (
	// DefaultMaxRuns bounds the readers open at once while merging (about 64 KiB each).
	DefaultMaxRuns = 1024
	// maxLineBytes is the longest record read; a longer line is counted as damaged.
	maxLineBytes = 4 << 20
	// maxMissingRanges is how many missing ranges a report lists; all are counted.
	maxMissingRanges = 100
	runBufferBytes   = 32 << 10
)

// MergeOptions tune Merge; the zero value merges everything.
type MergeOptions struct {
	// First and Last, when non-zero, are the sequences the trail must cover: sequences from
	// First to the lowest found, and from the highest found to Last, count as missing.
	First, Last uint64
	// MaxRuns bounds the sorted runs merged at once; 0 means DefaultMaxRuns.
	MaxRuns int
}

// SeqRange is the inclusive range of sequences From..To.
type SeqRange struct {
	From uint64 `json:"from"`
	To   uint64 `json:"to"`
}

// MergeReport says what a merge read, wrote, folded and found missing.
type MergeReport struct {
	Sources []string `json:"sources"`
	Files   int      `json:"files"`
	Lines   uint64   `json:"lines"` // non-empty lines read
	// Records is how many records were written: one per stream sequence, plus the
	// unsequenced ones.
	Records uint64 `json:"records"`
	// Duplicates are records of a sequence already written, with the same content: the
	// redeliveries a killed daemon left behind. They are folded (not written).
	Duplicates uint64 `json:"duplicates_folded"`
	// Conflicts are records of a sequence already written with different content: the
	// stream was recreated (sequences start again) or a trail was altered. Not written.
	Conflicts   uint64 `json:"conflicts"`
	Unsequenced uint64 `json:"unsequenced"` // records without a sequence (core NATS), written last
	Damaged     uint64 `json:"damaged"`     // lines that are not audit records (skipped)
	FirstSeq    uint64 `json:"first_seq"`
	LastSeq     uint64 `json:"last_seq"`
	Runs        int    `json:"runs"`
	// Missing counts the sequences absent between FirstSeq and LastSeq (widened by
	// MergeOptions.First and Last); MissingRanges lists the first ones.
	Missing       uint64     `json:"missing"`
	MissingRanges []SeqRange `json:"missing_ranges"`
	// DamagedAt names the first damaged lines (file:line), for the operator to look at.
	DamagedAt []string `json:"damaged_at,omitempty"`

	lo, hi uint64 // MergeOptions.First and Last: no gap outside them counts
}

// Complete reports whether the trail holds every sequence, without conflict or damage.
func (r *MergeReport) Complete() bool {
	return r.Missing == 0 && r.Conflicts == 0 && r.Damaged == 0
}

// trailSource is one argument of Merge: an audit directory or a single trail file.
type trailSource struct {
	name  string
	files []string // in the order they were written
}

// openTrailSources resolves each path: a directory is read as an audit trail (day files,
// oldest first; a day's plain file is skipped when its complete .gz exists), a file as one
// trail (.gz read through gzip), so that a merged trail can be merged or verified again.
func openTrailSources(paths []string) ([]trailSource, error) {
	var sources []trailSource
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		if !info.IsDir() {
			sources = append(sources, trailSource{name: p, files: []string{p}})
			continue
		}
		days, err := listDayFiles(p)
		if err != nil {
			return nil, err
		}
		src := trailSource{name: p}
		for i, f := range days {
			if f.tmp {
				continue // an unfinished compression; its plain file is still there
			}
			if !f.gz && i+1 < len(days) && days[i+1].day == f.day && days[i+1].gz {
				continue // a crash between rename and removal: the .gz is complete
			}
			src.files = append(src.files, f.path)
		}
		if len(src.files) == 0 {
			return nil, fmt.Errorf("audit: %s holds no audit day files (audit-YYYY-MM-DD.jsonl[.gz])", p)
		}
		sources = append(sources, src)
	}
	return sources, nil
}

// position is where a record starts: a file of a source, and a byte offset into its
// (decompressed) content.
type position struct {
	file   int
	offset int64
	line   int64 // 1-based, for messages
}

// lineReader reads the lines of a source's files in order, and knows where each starts.
type lineReader struct {
	files []string
	fi    int
	f     *os.File
	zr    *gzip.Reader
	r     *bufio.Reader
	pos   position // where the next line starts
	buf   []byte
	bufSz int
}

func newLineReader(files []string, bufSize int) *lineReader {
	return &lineReader{files: files, fi: -1, bufSz: bufSize}
}

// seek positions the reader at p (a position it returned before).
func (lr *lineReader) seek(p position) error {
	if err := lr.open(p.file); err != nil {
		return err
	}
	if p.offset > 0 {
		if lr.zr == nil {
			if _, err := lr.f.Seek(p.offset, io.SeekStart); err != nil {
				return fmt.Errorf("audit: seek %s: %w", lr.files[p.file], err)
			}
			lr.r.Reset(lr.f)
		} else if _, err := io.CopyN(io.Discard, lr.r, p.offset); err != nil {
			return fmt.Errorf("audit: skip to offset %d of %s: %w", p.offset, lr.files[p.file], err)
		}
	}
	lr.pos = p
	return nil
}

func (lr *lineReader) open(fi int) error {
	lr.close()
	lr.fi = fi
	lr.pos = position{file: fi, line: 1}
	if fi >= len(lr.files) {
		return nil
	}
	path := lr.files[fi]
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	lr.f = f
	var in io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		if lr.zr, err = gzip.NewReader(f); err != nil {
			return fmt.Errorf("audit: gzip header of %s: %w", path, err)
		}
		in = lr.zr
	}
	if lr.r == nil {
		lr.r = bufio.NewReaderSize(in, lr.bufSz)
	} else {
		lr.r.Reset(in)
	}
	return nil
}

func (lr *lineReader) close() {
	if lr.f != nil {
		_ = lr.f.Close()
		lr.f, lr.zr = nil, nil
	}
}

// next returns the next non-empty line (without '\n') and where it starts; io.EOF after the
// last file. A line longer than maxLineBytes comes back as tooLong with its start, its
// content dropped. The slice is valid until the next call.
func (lr *lineReader) next() (line []byte, at position, tooLong bool, err error) {
	if lr.fi < 0 {
		if err := lr.open(0); err != nil {
			return nil, position{}, false, err
		}
	}
	for lr.fi < len(lr.files) {
		at = lr.pos
		lr.buf = lr.buf[:0]
		long := false
		for {
			chunk, err := lr.r.ReadSlice('\n')
			if !long {
				if len(lr.buf)+len(chunk) > maxLineBytes {
					long, lr.buf = true, lr.buf[:0]
				} else {
					lr.buf = append(lr.buf, chunk...)
				}
			}
			lr.pos.offset += int64(len(chunk))
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if err == io.EOF {
				if len(lr.buf) == 0 && !long {
					if err := lr.open(lr.fi + 1); err != nil {
						return nil, at, false, err
					}
					break // next file
				}
			} else if err != nil {
				return nil, at, false, fmt.Errorf("audit: read %s: %w", lr.files[lr.fi], err)
			}
			lr.pos.line++
			if long {
				return nil, at, true, nil
			}
			line = bytes.TrimSuffix(lr.buf, []byte{'\n'})
			if len(bytes.TrimSpace(line)) == 0 {
				at = lr.pos
				lr.buf = lr.buf[:0]
				continue
			}
			return line, at, false, nil
		}
	}
	return nil, lr.pos, false, io.EOF
}

// recordParser reads the stream sequence and the content of audit record lines.
type recordParser struct{ p fastjson.Parser }

// parse returns the record's stream sequence (0: none) and its content without the receive
// time, which differs between the deliveries of one message. A line that is not an object
// with an "event" string and a "received" string is not a record.
func (rp *recordParser) parse(line []byte) (seq uint64, content []byte, err error) {
	v, err := rp.p.ParseBytes(line)
	if err != nil {
		return 0, nil, fmt.Errorf("not JSON: %w", err)
	}
	if v.Type() != fastjson.TypeObject {
		return 0, nil, errors.New("not a JSON object")
	}
	if ev := v.Get("event"); ev == nil || ev.Type() != fastjson.TypeString {
		return 0, nil, errors.New(`no "event" string`)
	}
	if r := v.Get("received"); r == nil || r.Type() != fastjson.TypeString {
		return 0, nil, errors.New(`no "received" string`)
	}
	if s := v.Get("seq"); s != nil {
		if seq, err = s.Uint64(); err != nil || seq == 0 {
			return 0, nil, errors.New(`"seq" is not a positive integer`)
		}
	}
	return seq, contentOf(line), nil
}

// contentOf drops the leading "received" field that the writer puts first; a line in another
// shape is its own content.
func contentOf(line []byte) []byte {
	const head = `{"received":"`
	if !bytes.HasPrefix(line, []byte(head)) {
		return line
	}
	end := bytes.IndexByte(line[len(head):], '"')
	if end < 0 {
		return line
	}
	rest := line[len(head)+end+1:]
	if len(rest) > 0 && rest[0] == ',' {
		rest = rest[1:]
	}
	return rest
}

// run is one sorted stretch of a source: from start, records in non-decreasing sequence
// order until the sequence drops (where the next run starts) or the source ends.
type run struct {
	source int
	start  position
}

// Merge reads the trails at paths (audit directories or trail files) and writes to out (nil:
// nowhere, to verify only) one line per stream sequence in increasing order, then the records
// without a sequence in input order. The first record of a sequence is kept; later ones with
// the same content are folded as duplicates, with other content counted as conflicts.
func Merge(paths []string, out io.Writer, opts MergeOptions) (*MergeReport, error) {
	if opts.MaxRuns <= 0 {
		opts.MaxRuns = DefaultMaxRuns
	}
	sources, err := openTrailSources(paths)
	if err != nil {
		return nil, err
	}
	rep := &MergeReport{lo: opts.First, hi: opts.Last}
	for _, s := range sources {
		rep.Sources = append(rep.Sources, s.name)
		rep.Files += len(s.files)
	}
	runs, err := findRuns(sources, opts.MaxRuns, rep)
	if err != nil {
		return nil, err
	}
	rep.Runs = len(runs)
	var w *bufio.Writer
	if out != nil {
		w = bufio.NewWriterSize(out, 256<<10)
	}
	if err := mergeRuns(sources, runs, w, opts, rep); err != nil {
		return nil, err
	}
	if rep.Unsequenced > 0 && w != nil {
		if err := writeUnsequenced(sources, w); err != nil {
			return nil, err
		}
	}
	if w != nil {
		if err := w.Flush(); err != nil {
			return nil, fmt.Errorf("audit: write merged trail: %w", err)
		}
	}
	return rep, nil
}

// findRuns reads every source once, counting lines, damage and unsequenced records, and
// returns where each sorted run starts.
func findRuns(sources []trailSource, maxRuns int, rep *MergeReport) ([]run, error) {
	var rp recordParser
	var runs []run
	for si, src := range sources {
		lr := newLineReader(src.files, runBufferBytes)
		var prev uint64
		started := false
		for {
			line, at, tooLong, err := lr.next()
			if err == io.EOF {
				break
			}
			if err != nil {
				lr.close()
				return nil, err
			}
			rep.Lines++
			if tooLong {
				rep.noteDamaged(src.files[at.file], at.line)
				continue
			}
			seq, _, perr := rp.parse(line)
			switch {
			case perr != nil:
				rep.noteDamaged(src.files[at.file], at.line)
				continue
			case seq == 0:
				rep.Unsequenced++
				continue
			}
			if !started || seq < prev {
				if len(runs) == maxRuns {
					lr.close()
					return nil, fmt.Errorf("audit: more than %d sorted runs (a run ends where a trail's sequence goes down, at each redelivery; %s at line %d of %s): raise --max-runs (each costs about %d KiB of memory while merging)",
						maxRuns, src.name, at.line, src.files[at.file], 2*runBufferBytes>>10)
				}
				runs = append(runs, run{source: si, start: at})
				started = true
			}
			prev = seq
		}
		lr.close()
	}
	return runs, nil
}

func (r *MergeReport) noteDamaged(file string, line int64) {
	r.Damaged++
	if len(r.DamagedAt) < 10 {
		r.DamagedAt = append(r.DamagedAt, fmt.Sprintf("%s:%d", file, line))
	}
}

// cursor reads one run.
type cursor struct {
	lr    *lineReader
	order int // the run's index: ties between runs go to the earlier one
	seq   uint64
	line  []byte
	rp    recordParser
}

// advance moves to the next sequenced record of the run; false at the run's end.
func (c *cursor) advance() (bool, error) {
	for {
		line, _, tooLong, err := c.lr.next()
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if tooLong {
			continue
		}
		seq, _, perr := c.rp.parse(line)
		if perr != nil || seq == 0 {
			continue // counted by findRuns
		}
		if seq < c.seq {
			return false, nil // the next run starts here
		}
		c.seq, c.line = seq, line
		return true, nil
	}
}

type cursorHeap []*cursor

func (h cursorHeap) Len() int { return len(h) }
func (h cursorHeap) Less(i, j int) bool {
	if h[i].seq != h[j].seq {
		return h[i].seq < h[j].seq
	}
	return h[i].order < h[j].order
}
func (h cursorHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *cursorHeap) Push(x any)   { *h = append(*h, x.(*cursor)) }
func (h *cursorHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}

func mergeRuns(sources []trailSource, runs []run, w *bufio.Writer, opts MergeOptions, rep *MergeReport) error {
	h := make(cursorHeap, 0, len(runs))
	defer func() {
		for _, c := range h {
			c.lr.close()
		}
	}()
	for i, r := range runs {
		c := &cursor{lr: newLineReader(sources[r.source].files, runBufferBytes), order: i}
		if err := c.lr.seek(r.start); err != nil {
			c.lr.close()
			return err
		}
		ok, err := c.advance()
		if err != nil {
			c.lr.close()
			return err
		}
		if !ok {
			c.lr.close()
			continue
		}
		h = append(h, c)
	}
	heap.Init(&h)
	var last uint64
	var lastContent []byte
	var rp recordParser
	for h.Len() > 0 {
		c := h[0]
		seq := c.seq
		_, content, _ := rp.parse(c.line) // parsed before: cannot fail
		if rep.FirstSeq != 0 && seq == last {
			if bytes.Equal(content, lastContent) {
				rep.Duplicates++
			} else {
				rep.Conflicts++
			}
		} else {
			if rep.FirstSeq == 0 {
				rep.FirstSeq = seq
			} else if seq > last+1 {
				rep.noteMissing(last+1, seq-1)
			}
			last = seq
			lastContent = append(lastContent[:0], content...)
			rep.LastSeq = seq
			rep.Records++
			if w != nil {
				if _, err := w.Write(c.line); err != nil {
					return fmt.Errorf("audit: write merged trail: %w", err)
				}
				if err := w.WriteByte('\n'); err != nil {
					return fmt.Errorf("audit: write merged trail: %w", err)
				}
			}
		}
		ok, err := c.advance()
		if err != nil {
			return err
		}
		if ok {
			heap.Fix(&h, 0)
		} else {
			c.lr.close()
			heap.Pop(&h)
		}
	}
	// The ends the caller says the trail must reach.
	switch {
	case rep.FirstSeq == 0:
		if opts.First != 0 && opts.Last >= opts.First {
			rep.noteMissing(opts.First, opts.Last)
		}
	default:
		if opts.First != 0 && opts.First < rep.FirstSeq {
			rep.noteMissingFront(opts.First, rep.FirstSeq-1)
		}
		if opts.Last > rep.LastSeq {
			rep.noteMissing(rep.LastSeq+1, opts.Last)
		}
	}
	rep.Records += rep.Unsequenced
	return nil
}

func (r *MergeReport) noteMissing(from, to uint64) {
	if r.lo != 0 && from < r.lo {
		from = r.lo
	}
	if r.hi != 0 && to > r.hi {
		to = r.hi
	}
	if from > to {
		return
	}
	r.Missing += to - from + 1
	if len(r.MissingRanges) < maxMissingRanges {
		r.MissingRanges = append(r.MissingRanges, SeqRange{From: from, To: to})
	}
}

// noteMissingFront adds the range before every other, keeping the list in order.
func (r *MergeReport) noteMissingFront(from, to uint64) {
	r.Missing += to - from + 1
	r.MissingRanges = append([]SeqRange{{From: from, To: to}}, r.MissingRanges...)
	if len(r.MissingRanges) > maxMissingRanges {
		r.MissingRanges = r.MissingRanges[:maxMissingRanges]
	}
}

// writeUnsequenced appends the records without a sequence, source by source in input order:
// core NATS gives nothing to order or de-duplicate them by.
func writeUnsequenced(sources []trailSource, w *bufio.Writer) error {
	var rp recordParser
	for _, src := range sources {
		lr := newLineReader(src.files, runBufferBytes)
		for {
			line, _, tooLong, err := lr.next()
			if err == io.EOF {
				break
			}
			if err != nil {
				lr.close()
				return err
			}
			if tooLong {
				continue
			}
			if seq, _, perr := rp.parse(line); perr != nil || seq != 0 {
				continue
			}
			if _, err := w.Write(line); err != nil {
				lr.close()
				return fmt.Errorf("audit: write merged trail: %w", err)
			}
			if err := w.WriteByte('\n'); err != nil {
				lr.close()
				return fmt.Errorf("audit: write merged trail: %w", err)
			}
		}
		lr.close()
	}
	return nil
}

// MergeToFile merges into path atomically: a temporary file next to it, fsynced, renamed.
func MergeToFile(paths []string, path string, opts MergeOptions) (*MergeReport, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("audit: create %s: %w", path, err)
	}
	rep, err := Merge(paths, tmp, opts)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return nil, fmt.Errorf("audit: merge into %s: %w", path, err)
	}
	return rep, syncDir(filepath.Dir(path))
}
