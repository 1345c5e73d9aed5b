// Package record owns the recording file format of `ingot-top record` and `replay`: every
// message taken off the telemetry subject (valid or not) with its receive time, subject,
// headers and JetStream sequence, in zstd frames that each stand alone, so a file cut by a
// crash or a full disk reads back up to its last whole frame. docs/recording.md is the
// specification; this package is its only reader and writer.
package record

import (
	"encoding/binary"
	"time"

	"github.com/nsai/ingot-top/internal/wire"
)

// Version is the format version written in every file header. A reader refuses a file with
// a higher version; within a version, record kinds it does not know are skipped.
const Version = 1

// Skippable zstd frames (magic 0x184D2A50..5F) carry the file header and each chunk's index:
// `zstd -dc FILE` ignores them and prints the records, and the reader learns a chunk's
// length before reading it, so it never decompresses past a cut.
const (
	headerMagic uint32 = 0x184D2A50
	indexMagic  uint32 = 0x184D2A51
	zstdMagic   uint32 = 0xFD2FB528
)

// fileTag starts the header's user data; indexTag starts an index's.
const (
	fileTag  = "INGOTREC"
	indexTag = "IRC1"
)

// indexSize is the user data of an index frame: tag, compressed length, uncompressed
// length, records, first and last time (unix ns), CRC-32C of the compressed bytes.
const indexSize = 4 + 4 + 4 + 4 + 8 + 8 + 4

// Bounds the reader enforces, so that a hostile or damaged file cannot make it allocate more
// than a few MiB at once.
const (
	// MaxChunkBytes is the largest decompressed chunk. The writer flushes at ChunkBytes
	// (far below) plus at most one record.
	MaxChunkBytes = 8 << 20
	// maxCompressed bounds a chunk's compressed length (zstd can expand incompressible data
	// a little).
	maxCompressed = MaxChunkBytes + MaxChunkBytes/8
	maxHeaderSize = 4096
	// MaxSubjectBytes is the longest subject kept (nats-server's default control line is 4 KiB).
	MaxSubjectBytes = 4096
	// MaxStoredPayload is the most payload bytes kept per message: one more than the
	// contract allows, so a replay still finds the message too large; Message.Size keeps the
	// original length.
	MaxStoredPayload = wire.MaxPayloadBytes + 1
	// MaxHeaderFields and MaxHeaderBytes bound the NATS headers kept per message.
	MaxHeaderFields = 32
	MaxHeaderBytes  = 16 << 10
	maxNoteBytes    = 1024
	// maxRecordBytes is the longest single record.
	maxRecordBytes = 64 + MaxSubjectBytes + MaxHeaderBytes + 4*MaxHeaderFields + MaxStoredPayload
)

// Record kinds (the byte after each record's length).
const (
	kindMessage byte = 1
	kindMark    byte = 2
)

// Header is the start of a recording session: the first frame of a file, and again wherever
// a later session was appended (record --append).
type Header struct {
	Version int
	Created time.Time // when the recorder subscribed
	Subject string    // the subscription subject, e.g. "telemetry.>"
	Source  string    // the server, credentials redacted
	Writer  string    // the program and version that wrote it
}

// HeaderField is one NATS header value.
type HeaderField struct {
	Key, Value string
}

// Message is one message as the recorder took it off the subscription.
type Message struct {
	Received  time.Time
	Subject   string
	StreamSeq uint64 // JetStream stream sequence; 0 for core NATS
	Header    []HeaderField
	// Data is the payload, at most MaxStoredPayload bytes; Size is its length on the wire.
	Data []byte
	Size int
}

// Get returns the first value of a header key (case-sensitive, as nats.Header.Get).
func (m *Message) Get(key string) string {
	for _, h := range m.Header {
		if h.Key == key {
			return h.Value
		}
	}
	return ""
}

// Truncated reports whether the payload was longer than what the file keeps.
func (m *Message) Truncated() bool { return m.Size > len(m.Data) }

// MarkKind says what a Mark notes.
type MarkKind uint8

const (
	MarkStart     MarkKind = 1 // subscribed
	MarkHeartbeat MarkKind = 2 // still recording (written about once a second)
	MarkStop      MarkKind = 3 // stopped; Note says why
)

func (k MarkKind) String() string {
	switch k {
	case MarkStart:
		return "start"
	case MarkHeartbeat:
		return "heartbeat"
	case MarkStop:
		return "stop"
	}
	return "unknown"
}

// Mark is the recorder's own state at a moment: it lets a replay follow the recorded clock
// through quiet periods, know when the recording ended, and report what the recorder lost.
type Mark struct {
	Time time.Time
	Kind MarkKind
	// Drops is the recorder's cumulative slow-consumer drop count: messages the NATS client
	// discarded because the recorder fell behind, so they are not in the file.
	Drops uint64
	Note  string
}

func putU32(b []byte, v uint32) { binary.LittleEndian.PutUint32(b, v) }
func getU32(b []byte) uint32    { return binary.LittleEndian.Uint32(b) }
