package record

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"time"

	"github.com/klauspost/compress/zstd"
)

// Kind is what Reader.Next found.
type Kind uint8

const (
	KindMessage Kind = iota + 1 // Reader.Message holds it
	KindMark                    // Reader.Mark holds it
	KindSession                 // a later session was appended; Reader.Header holds its header
)

// Stop says how a read ended: cleanly at the end of the last frame, or where and why not.
type Stop struct {
	// Complete is true when the file ended on a frame boundary and nothing was damaged.
	Complete bool
	// Offset is the end of the last whole frame read: everything before it was replayed.
	Offset int64
	// Tail counts the bytes after the last whole frame that did not make a whole frame: a
	// file cut by a crash, a kill or a full disk.
	Tail int64
	// LastTime is the latest receive or mark time read.
	LastTime time.Time
	// CorruptFrames counts frames skipped as damaged (bad checksum, bad zstd data, bad
	// records), SkippedBytes the bytes skipped for them or while looking for the next frame.
	CorruptFrames int
	SkippedBytes  int64
	// Problem describes the first damage or the cut; "" when Complete.
	Problem string
}

// String says where the read stopped, for a person.
func (s Stop) String() string {
	if s.Complete {
		return fmt.Sprintf("complete (%d bytes)", s.Offset)
	}
	msg := s.Problem
	if s.Tail > 0 {
		msg = fmt.Sprintf("cut mid-frame: replayed up to byte %d, %d bytes after it are an incomplete frame", s.Offset, s.Tail)
		if s.Problem != "" && s.CorruptFrames > 0 {
			msg += "; " + s.Problem
		}
	}
	if !s.LastTime.IsZero() {
		msg += "; last recorded time " + s.LastTime.UTC().Format(time.RFC3339Nano)
	}
	if s.CorruptFrames > 0 {
		msg += fmt.Sprintf("; %d damaged frames skipped (%d bytes)", s.CorruptFrames, s.SkippedBytes)
	}
	return msg
}

// Reader reads a recording record by record. It never panics on a damaged or hostile file and
// never allocates more than about MaxChunkBytes at once: damage is counted in Stop and
// skipped; a cut ends the read at the last whole frame. Not safe for concurrent use.
type Reader struct {
	name   string
	br     *bufio.Reader
	closer io.Closer
	off    int64 // offset of the next unread byte
	dec    *zstd.Decoder

	hdr   Header
	comp  bytes.Buffer
	chunk []byte
	pos   int
	stop  Stop
	done  bool

	msg      Message
	mark     Mark
	subjects map[string]string
}

// maxInterned bounds the subject strings the reader keeps to hand out without allocating.
const maxInterned = 4096

// Open opens a recording file and reads its header.
func Open(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	r, err := NewReader(f, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	r.closer = f
	return r, nil
}

// NewReader reads the header from rd and returns a reader for the records; name is used in
// messages.
func NewReader(rd io.Reader, name string) (*Reader, error) {
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(MaxChunkBytes),
		zstd.WithDecodeAllCapLimit(true))
	if err != nil {
		return nil, fmt.Errorf("record: zstd decoder: %w", err)
	}
	r := &Reader{name: name, br: bufio.NewReaderSize(rd, 64<<10), dec: dec, subjects: make(map[string]string)}
	b, _ := r.br.Peek(8)
	if len(b) < 8 || getU32(b) != headerMagic {
		dec.Close()
		return nil, fmt.Errorf("record: %s: %w (no recording header at the start)", name, ErrNotRecording)
	}
	h, err := r.readHeader()
	if err != nil {
		dec.Close()
		return nil, fmt.Errorf("record: %s: %w", name, err)
	}
	r.hdr = h
	r.stop.Offset = r.off
	return r, nil
}

// Name is the name the reader was opened with.
func (r *Reader) Name() string { return r.name }

// Header is the header of the session being read.
func (r *Reader) Header() Header { return r.hdr }

// Message is the message Next returned; it and its slices are valid until the next call.
func (r *Reader) Message() *Message { return &r.msg }

// Mark is the mark Next returned.
func (r *Reader) Mark() Mark { return r.mark }

// Stop tells how the read ended; it is final once Next has returned io.EOF.
func (r *Reader) Stop() Stop { return r.stop }

// Offset is the end of the last whole frame read, for seeking and progress.
func (r *Reader) Offset() int64 { return r.stop.Offset }

// Close releases the decoder and the file (when opened with Open).
func (r *Reader) Close() error {
	r.dec.Close()
	if r.closer != nil {
		return r.closer.Close()
	}
	return nil
}

// Next reads the next record and says its kind. At the end of the file, whole or cut, it
// returns io.EOF; Stop then says which. Other errors are read errors of the underlying file.
func (r *Reader) Next() (Kind, error) {
	for {
		if r.pos < len(r.chunk) {
			kind, ok := r.record()
			if ok {
				return kind, nil
			}
			continue
		}
		if r.done {
			return 0, io.EOF
		}
		session, err := r.nextFrame()
		if err != nil {
			return 0, err
		}
		if session {
			return KindSession, nil
		}
	}
}

func (r *Reader) discard(n int) {
	d, _ := r.br.Discard(n)
	r.off += int64(d)
}

// finish ends the read; tail counts unread bytes that did not make a whole frame.
func (r *Reader) finish(tail int64) {
	r.done = true
	r.stop.Tail = tail
	r.stop.Complete = tail == 0 && r.stop.CorruptFrames == 0 && r.stop.Problem == ""
	if tail > 0 && r.stop.Problem == "" {
		r.stop.Problem = fmt.Sprintf("the file ends %d bytes into an incomplete frame", tail)
	}
}

func (r *Reader) problem(format string, args ...any) {
	if r.stop.Problem == "" {
		r.stop.Problem = fmt.Sprintf(format, args...)
	}
}

// nextFrame reads the frame at the current offset: a chunk (its records become pending) or a
// session header (reported as true).
func (r *Reader) nextFrame() (session bool, err error) {
	b, perr := r.br.Peek(8)
	if len(b) < 8 {
		if perr != nil && !errors.Is(perr, io.EOF) {
			return false, fmt.Errorf("record: reading %s: %w", r.name, perr)
		}
		r.finish(int64(len(b)))
		return false, nil
	}
	magic, size := getU32(b), getU32(b[4:])
	switch magic {
	case indexMagic:
		if size < indexSize || size > 256 {
			r.resync("an index frame of %d bytes at offset %d", size, r.off)
			return false, nil
		}
		return false, r.readChunk(int(size))
	case headerMagic:
		if size > maxHeaderSize {
			r.resync("a header frame of %d bytes at offset %d", size, r.off)
			return false, nil
		}
		start := r.off
		h, err := r.readHeader()
		if errors.Is(err, io.ErrUnexpectedEOF) {
			r.finish(r.buffered())
			return false, nil
		}
		if errors.Is(err, ErrNotRecording) {
			r.resync("a damaged header frame at offset %d", start)
			return false, nil
		}
		if err != nil {
			// A newer format follows: what came before is good; stop here.
			r.problem("session at offset %d: %v", start, err)
			r.finish(0)
			return false, nil
		}
		r.hdr = h
		r.stop.Offset = r.off
		return true, nil
	}
	r.resync("unknown frame magic %#08x at offset %d", magic, r.off)
	return false, nil
}

// buffered is how many bytes are left in the file, when the reader has reached its end.
func (r *Reader) buffered() int64 {
	b, _ := r.br.Peek(r.br.Size())
	return int64(len(b))
}

func (r *Reader) readHeader() (Header, error) {
	b, _ := r.br.Peek(8)
	size := int(getU32(b[4:]))
	if size > maxHeaderSize {
		return Header{}, fmt.Errorf("header frame of %d bytes (max %d)", size, maxHeaderSize)
	}
	full, _ := r.br.Peek(8 + size)
	if len(full) < 8+size {
		return Header{}, io.ErrUnexpectedEOF
	}
	data := full[8:]
	if len(data) < len(fileTag)+12 || string(data[:len(fileTag)]) != fileTag {
		return Header{}, ErrNotRecording
	}
	p := data[len(fileTag):]
	h := Header{Version: int(binary.LittleEndian.Uint16(p))}
	if h.Version > Version || h.Version < 1 {
		return Header{}, fmt.Errorf("format version %d, this ingot-top reads version %d: upgrade ingot-top", h.Version, Version)
	}
	h.Created = time.Unix(0, int64(binary.LittleEndian.Uint64(p[4:])))
	p = p[12:]
	var strs [3]string
	for i := range strs {
		if len(p) < 2 {
			break // older or shorter headers: missing strings are empty
		}
		n := int(binary.LittleEndian.Uint16(p))
		p = p[2:]
		if n > len(p) {
			n = len(p)
		}
		strs[i] = string(p[:n])
		p = p[n:]
	}
	h.Subject, h.Source, h.Writer = strs[0], strs[1], strs[2]
	r.discard(8 + size)
	return h, nil
}

// readChunk reads an index frame and the zstd frame it describes.
func (r *Reader) readChunk(size int) error {
	start := r.off
	full, _ := r.br.Peek(8 + size)
	if len(full) < 8+size {
		r.finish(int64(len(full)))
		return nil
	}
	ix := full[8 : 8+indexSize]
	if string(ix[:4]) != indexTag {
		r.resync("a damaged index frame at offset %d", start)
		return nil
	}
	compLen, rawLen, recs := int(getU32(ix[4:])), int(getU32(ix[8:])), getU32(ix[12:])
	crc := getU32(ix[32:])
	if compLen <= 0 || compLen > maxCompressed || rawLen > MaxChunkBytes || recs == 0 {
		r.resync("an index frame at offset %d with impossible sizes (%d compressed, %d raw)", start, compLen, rawLen)
		return nil
	}
	r.discard(8 + size)
	// Grown as the bytes arrive: a cut or hostile file claiming a large frame costs only
	// what it holds.
	r.comp.Reset()
	n, err := io.CopyN(&r.comp, r.br, int64(compLen))
	r.off += n
	if err != nil {
		if errors.Is(err, io.EOF) {
			r.finish(int64(8+size) + n)
			return nil
		}
		return fmt.Errorf("record: reading %s: %w", r.name, err)
	}
	comp := r.comp.Bytes()
	if crc32.Checksum(comp, castagnoli) != crc {
		r.corrupt(start, "checksum mismatch in the frame at offset %d", start)
		return nil
	}
	if cap(r.chunk) < rawLen {
		r.chunk = make([]byte, 0, rawLen)
	}
	out, err := r.dec.DecodeAll(comp, r.chunk[:0:rawLen])
	if err != nil || len(out) != rawLen {
		r.corrupt(start, "undecodable zstd data in the frame at offset %d", start)
		return nil
	}
	r.chunk, r.pos = out, 0
	r.stop.Offset = r.off
	if r.comp.Cap() > MaxChunkBytes/2 {
		r.comp = bytes.Buffer{} // one huge frame must not pin its buffer
	}
	return nil
}

func (r *Reader) corrupt(start int64, format string, args ...any) {
	r.stop.CorruptFrames++
	r.stop.SkippedBytes += r.off - start
	r.problem(format, args...)
	r.chunk, r.pos = r.chunk[:0], 0
	r.stop.Offset = r.off
}

// resync skips damaged bytes up to the next plausible frame start (a header or index magic
// followed by its tag); every candidate is still checked in full, so a false match only
// costs another resync.
func (r *Reader) resync(format string, args ...any) {
	r.stop.CorruptFrames++
	r.problem(format, args...)
	start := r.off
	r.discard(1)
	for {
		buf, err := r.br.Peek(r.br.Size())
		if i := findFrame(buf); i >= 0 {
			r.discard(i)
			break
		}
		if len(buf) < 16 && err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
				r.problem("read error while skipping damage: %v", err)
			}
			r.discard(len(buf))
			r.stop.SkippedBytes += r.off - start
			r.stop.Offset = r.off
			r.finish(0)
			return
		}
		// Keep the last bytes: a frame start may straddle the buffer's end.
		r.discard(max(len(buf)-15, 1))
	}
	r.stop.SkippedBytes += r.off - start
	r.stop.Offset = r.off
}

// findFrame returns the position of the first frame start in buf whose tag is visible.
func findFrame(buf []byte) int {
	from := 0
	for {
		i := bytes.Index(buf[from:], []byte{0x2A, 0x4D, 0x18})
		if i < 0 {
			return -1
		}
		at := from + i - 1
		from += i + 1
		if at < 0 || at+16 > len(buf) {
			if at >= 0 && at+16 > len(buf) {
				return -1 // undecidable yet: read more first
			}
			continue
		}
		switch buf[at] {
		case 0x50:
			if string(buf[at+8:at+16]) == fileTag {
				return at
			}
		case 0x51:
			if getU32(buf[at+4:]) == indexSize && string(buf[at+8:at+12]) == indexTag {
				return at
			}
		}
	}
}

// record parses the record at r.pos. A malformed record makes the rest of its chunk
// untrustworthy: the chunk is dropped and counted.
func (r *Reader) record() (Kind, bool) {
	l, n := binary.Uvarint(r.chunk[r.pos:])
	if n <= 0 || l == 0 || l > maxRecordBytes || uint64(len(r.chunk)-r.pos-n) < l {
		r.badRecord()
		return 0, false
	}
	body := r.chunk[r.pos+n : r.pos+n+int(l)]
	r.pos += n + int(l)
	switch body[0] {
	case kindMessage:
		if !r.parseMessage(body[1:]) {
			r.badRecord()
			return 0, false
		}
		return KindMessage, true
	case kindMark:
		if !r.parseMark(body[1:]) {
			r.badRecord()
			return 0, false
		}
		return KindMark, true
	}
	return 0, false // a kind from a later version 1 writer: skipped
}

func (r *Reader) badRecord() {
	r.stop.CorruptFrames++
	r.problem("a malformed record in the frame ending at offset %d", r.stop.Offset)
	r.chunk, r.pos = r.chunk[:0], 0
}

func (r *Reader) seen(t time.Time) {
	if t.After(r.stop.LastTime) {
		r.stop.LastTime = t
	}
}

// cursor reads the fields of one record, failing once anything is out of bounds.
type cursor struct {
	b  []byte
	ok bool
}

func (c *cursor) u64() uint64 {
	if len(c.b) < 8 {
		c.ok = false
		return 0
	}
	v := binary.LittleEndian.Uint64(c.b)
	c.b = c.b[8:]
	return v
}

func (c *cursor) uvarint() uint64 {
	v, n := binary.Uvarint(c.b)
	if n <= 0 {
		c.ok = false
		return 0
	}
	c.b = c.b[n:]
	return v
}

func (c *cursor) bytes(limit int) []byte {
	n := c.uvarint()
	if !c.ok || n > uint64(limit) || n > uint64(len(c.b)) {
		c.ok = false
		return nil
	}
	v := c.b[:n]
	c.b = c.b[n:]
	return v
}

func (r *Reader) parseMessage(b []byte) bool {
	c := cursor{b: b, ok: true}
	m := &r.msg
	m.Received = time.Unix(0, int64(c.u64()))
	m.StreamSeq = c.uvarint()
	subject := c.bytes(MaxSubjectBytes)
	nh := c.uvarint()
	if !c.ok || nh > MaxHeaderFields {
		return false
	}
	m.Header = m.Header[:0]
	total := 0
	for range nh {
		k := c.bytes(MaxHeaderBytes)
		v := c.bytes(MaxHeaderBytes)
		total += len(k) + len(v)
		if !c.ok || total > MaxHeaderBytes {
			return false
		}
		m.Header = append(m.Header, HeaderField{Key: r.intern(k), Value: string(v)})
	}
	size := c.uvarint()
	m.Data = c.bytes(MaxStoredPayload)
	if !c.ok || size < uint64(len(m.Data)) || size > 1<<40 {
		return false
	}
	m.Size = int(size)
	m.Subject = r.intern(subject)
	r.seen(m.Received)
	return true
}

func (r *Reader) parseMark(b []byte) bool {
	c := cursor{b: b, ok: true}
	t := time.Unix(0, int64(c.u64()))
	if !c.ok || len(c.b) < 1 {
		return false
	}
	kind := MarkKind(c.b[0])
	c.b = c.b[1:]
	drops := c.uvarint()
	note := c.bytes(maxNoteBytes)
	if !c.ok {
		return false
	}
	r.mark = Mark{Time: t, Kind: kind, Drops: drops, Note: string(note)}
	r.seen(t)
	return true
}

// intern returns a shared string for a subject or header key: they repeat on nearly every
// message. The table is bounded; past it, strings are allocated per message.
func (r *Reader) intern(b []byte) string {
	if s, ok := r.subjects[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(r.subjects) < maxInterned && len(b) <= 256 {
		r.subjects[s] = s
	}
	return s
}
