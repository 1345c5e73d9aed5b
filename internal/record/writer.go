package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"

	"github.com/klauspost/compress/zstd"
)

// DefaultChunkBytes is how many uncompressed record bytes the writer gathers before it
// compresses them into a frame. A cut file loses at most what was gathered since the last
// frame; callers also flush on a timer (record flushes every second).
const DefaultChunkBytes = 256 << 10

// WriterOptions tune a Writer; zero values take the defaults.
type WriterOptions struct {
	ChunkBytes int // flush once this many uncompressed bytes are pending (max MaxChunkBytes/2)
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Writer appends a recording to an io.Writer: the header frame at once, then one index frame
// and one zstd frame per Flush. Each frame is handed to the underlying writer in a single
// Write, and nothing written is ever rewritten, so the output is a valid recording up to its
// last whole frame at every moment. Not safe for concurrent use.
type Writer struct {
	w    io.Writer
	enc  *zstd.Encoder
	opts WriterOptions

	buf         []byte // records not yet in a frame
	pendingMsgs int
	pendingRecs int
	first, last int64
	out         []byte

	written     int64  // bytes of whole frames accepted by w
	msgsWritten uint64 // messages in those frames
	err         error  // sticky: after a failed write nothing more is written
}

// NewWriter writes the header frame and returns a writer for the records.
func NewWriter(w io.Writer, h Header, opts WriterOptions) (*Writer, error) {
	if opts.ChunkBytes <= 0 {
		opts.ChunkBytes = DefaultChunkBytes
	}
	opts.ChunkBytes = min(opts.ChunkBytes, MaxChunkBytes/2)
	// One encoder goroutine: frames are small and the recorder runs beside other work.
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(true))
	if err != nil {
		return nil, fmt.Errorf("record: zstd encoder: %w", err)
	}
	rw := &Writer{w: w, enc: enc, opts: opts, buf: make([]byte, 0, opts.ChunkBytes+4096)}
	frame := appendHeaderFrame(nil, h)
	if _, err := w.Write(frame); err != nil {
		rw.err = fmt.Errorf("record: writing the file header: %w", err)
		return nil, rw.err
	}
	rw.written = int64(len(frame))
	return rw, nil
}

func appendHeaderFrame(b []byte, h Header) []byte {
	var data []byte
	data = append(data, fileTag...)
	data = binary.LittleEndian.AppendUint16(data, Version)
	data = binary.LittleEndian.AppendUint16(data, 0) // flags, none defined
	data = binary.LittleEndian.AppendUint64(data, uint64(h.Created.UnixNano()))
	for _, s := range []struct {
		v   string
		max int
	}{{h.Subject, 1024}, {h.Source, 1024}, {h.Writer, 256}} {
		v := s.v[:min(len(s.v), s.max)]
		data = binary.LittleEndian.AppendUint16(data, uint16(len(v)))
		data = append(data, v...)
	}
	b = binary.LittleEndian.AppendUint32(b, headerMagic)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	return append(b, data...)
}

// WriteMessage adds one message; it flushes a frame when ChunkBytes are pending. The message
// is copied: the caller may reuse it. Fields past the format's bounds are cut (see
// MaxSubjectBytes, MaxStoredPayload, MaxHeaderFields); Size keeps the payload's real length.
func (w *Writer) WriteMessage(m *Message) error {
	if w.err != nil {
		w.pendingMsgs++ // counted as not written
		return w.err
	}
	start := len(w.buf)
	w.buf = append(w.buf, 0, 0, 0) // room for the length; fixed up below
	body := len(w.buf)
	w.buf = append(w.buf, kindMessage)
	w.buf = binary.LittleEndian.AppendUint64(w.buf, uint64(m.Received.UnixNano()))
	w.buf = binary.AppendUvarint(w.buf, m.StreamSeq)
	subject := m.Subject[:min(len(m.Subject), MaxSubjectBytes)]
	w.buf = appendBytes(w.buf, subject)
	w.buf = appendHeaderFields(w.buf, m.Header)
	size := max(m.Size, len(m.Data))
	w.buf = binary.AppendUvarint(w.buf, uint64(size))
	w.buf = appendBytes(w.buf, m.Data[:min(len(m.Data), MaxStoredPayload)])
	w.buf = fixLength(w.buf, start, body)
	w.pendingMsgs++
	w.note(m.Received.UnixNano())
	if len(w.buf) >= w.opts.ChunkBytes {
		return w.Flush()
	}
	return nil
}

// WriteMark adds a mark (start, heartbeat, stop) of the recorder's own state.
func (w *Writer) WriteMark(m Mark) error {
	if w.err != nil {
		return w.err
	}
	start := len(w.buf)
	w.buf = append(w.buf, 0, 0, 0)
	body := len(w.buf)
	w.buf = append(w.buf, kindMark)
	w.buf = binary.LittleEndian.AppendUint64(w.buf, uint64(m.Time.UnixNano()))
	w.buf = append(w.buf, byte(m.Kind))
	w.buf = binary.AppendUvarint(w.buf, m.Drops)
	w.buf = appendBytes(w.buf, m.Note[:min(len(m.Note), maxNoteBytes)])
	w.buf = fixLength(w.buf, start, body)
	w.note(m.Time.UnixNano())
	if len(w.buf) >= w.opts.ChunkBytes {
		return w.Flush()
	}
	return nil
}

func (w *Writer) note(t int64) {
	if w.pendingRecs == 0 || t < w.first {
		w.first = t
	}
	if w.pendingRecs == 0 || t > w.last {
		w.last = t
	}
	w.pendingRecs++
}

// fixLength writes the record's length as a uvarint in front of its body. Three bytes were
// reserved, enough for maxRecordBytes; a shorter uvarint moves the body down.
func fixLength(b []byte, start, body int) []byte {
	n := len(b) - body
	var lenBuf [binary.MaxVarintLen64]byte
	l := binary.PutUvarint(lenBuf[:], uint64(n))
	if l == 3 {
		copy(b[start:], lenBuf[:3])
		return b
	}
	copy(b[start+l:], b[body:])
	copy(b[start:], lenBuf[:l])
	return b[:start+l+n]
}

func appendBytes[T string | []byte](b []byte, s T) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendHeaderFields writes at most MaxHeaderFields fields within MaxHeaderBytes, the
// decoder's traceparent first so that it survives the cut.
func appendHeaderFields(b []byte, hs []HeaderField) []byte {
	kept := 0
	total := 0
	fits := func(h HeaderField) bool {
		n := len(h.Key) + len(h.Value)
		if kept >= MaxHeaderFields || total+n > MaxHeaderBytes {
			return false
		}
		kept++
		total += n
		return true
	}
	var keep [MaxHeaderFields]int
	for pass := 0; pass < 2; pass++ {
		for i, h := range hs {
			if (h.Key == "traceparent") != (pass == 0) {
				continue
			}
			if fits(h) {
				keep[kept-1] = i
			}
		}
	}
	b = binary.AppendUvarint(b, uint64(kept))
	for _, i := range keep[:kept] {
		b = appendBytes(b, hs[i].Key)
		b = appendBytes(b, hs[i].Value)
	}
	return b
}

// HeaderFields turns a NATS header (a nats.Header) into fields, keys sorted so that equal
// messages record equally, reusing dst.
func HeaderFields(h map[string][]string, dst []HeaderField) []HeaderField {
	dst = dst[:0]
	for k, vs := range h {
		for _, v := range vs {
			dst = append(dst, HeaderField{Key: k, Value: v})
		}
	}
	slices.SortStableFunc(dst, func(a, b HeaderField) int {
		switch {
		case a.Key < b.Key:
			return -1
		case a.Key > b.Key:
			return 1
		}
		return 0
	})
	return dst
}

// Flush compresses what is pending into one frame and writes it. On a write error nothing
// more is written and the error stays; Pending says how many messages it cost.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	if w.pendingRecs == 0 {
		return nil
	}
	w.out = w.out[:0]
	w.out = binary.LittleEndian.AppendUint32(w.out, indexMagic)
	w.out = binary.LittleEndian.AppendUint32(w.out, indexSize)
	idx := len(w.out)
	w.out = append(w.out, make([]byte, indexSize)...)
	w.out = w.enc.EncodeAll(w.buf, w.out)
	comp := w.out[idx+indexSize:]
	ix := w.out[idx : idx+indexSize]
	copy(ix, indexTag)
	putU32(ix[4:], uint32(len(comp)))
	putU32(ix[8:], uint32(len(w.buf)))
	putU32(ix[12:], uint32(w.pendingRecs))
	binary.LittleEndian.PutUint64(ix[16:], uint64(w.first))
	binary.LittleEndian.PutUint64(ix[24:], uint64(w.last))
	putU32(ix[32:], crc32.Checksum(comp, castagnoli))
	n, err := w.w.Write(w.out)
	if err != nil {
		w.err = fmt.Errorf("record: writing a frame (%d bytes, %d messages): %w", len(w.out), w.pendingMsgs, err)
		return w.err
	}
	if n != len(w.out) {
		w.err = fmt.Errorf("record: short write of a frame: %w", io.ErrShortWrite)
		return w.err
	}
	w.written += int64(len(w.out))
	w.msgsWritten += uint64(w.pendingMsgs)
	w.buf = w.buf[:0]
	w.pendingMsgs, w.pendingRecs = 0, 0
	if cap(w.out) > MaxChunkBytes {
		w.out = nil // one huge frame must not pin its buffer
	}
	return nil
}

// Written is the size of the whole frames written so far, header included.
func (w *Writer) Written() int64 { return w.written }

// MessagesWritten counts the messages in whole frames written so far.
func (w *Writer) MessagesWritten() uint64 { return w.msgsWritten }

// Pending counts messages not in a written frame: buffered, or lost to a write error.
func (w *Writer) Pending() int { return w.pendingMsgs }

// PendingBytes is the size of the records buffered for the next frame.
func (w *Writer) PendingBytes() int { return len(w.buf) }

// Err is the write error that stopped the writer, if any.
func (w *Writer) Err() error { return w.err }

// Close flushes and releases the encoder; it does not close the underlying writer.
func (w *Writer) Close() error {
	err := w.Flush()
	if cerr := w.enc.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("record: closing the encoder: %w", cerr)
	}
	return err
}

// ErrNotRecording is returned for a file that does not start with a recording header.
var ErrNotRecording = errors.New("not an ingot-top recording")
