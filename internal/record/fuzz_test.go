package record

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"
)

// FuzzReadRecording feeds arbitrary bytes to the reader: it must not panic, must end, must
// keep every record within the format's bounds, and must not allocate far beyond one
// chunk whatever sizes the bytes claim.
func FuzzReadRecording(f *testing.F) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, testHeader(), WriterOptions{})
	if err != nil {
		f.Fatal(err)
	}
	msgs := testMessages(12)
	for i := range msgs {
		if err := w.WriteMessage(&msgs[i]); err != nil {
			f.Fatal(err)
		}
		if i%4 == 3 {
			if err := w.Flush(); err != nil {
				f.Fatal(err)
			}
		}
	}
	if err := w.WriteMark(Mark{Time: t0, Kind: MarkStop, Note: "done"}); err != nil {
		f.Fatal(err)
	}
	if err := w.Close(); err != nil {
		f.Fatal(err)
	}
	valid := buf.Bytes()
	f.Add(valid)
	f.Add(valid[:len(valid)/2])
	f.Add(appendHeaderFrame(nil, testHeader()))
	// An index claiming huge sizes right after the header.
	huge := appendHeaderFrame(nil, testHeader())
	huge = append(huge, 0x51, 0x2A, 0x4D, 0x18, indexSize, 0, 0, 0, 'I', 'R', 'C', '1', 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0x7f, 1, 0, 0, 0)
	huge = append(huge, make([]byte, 20)...)
	f.Add(huge)

	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader(bytes.NewReader(data), "fuzz")
		if err != nil {
			return
		}
		defer r.Close()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		for n := 0; ; n++ {
			if n > len(data)+10 {
				t.Fatalf("%d records from %d bytes: the reader does not end", n, len(data))
			}
			kind, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("Next on an in-memory file: %v", err)
			}
			if kind == KindMessage {
				m := r.Message()
				if len(m.Data) > MaxStoredPayload || len(m.Subject) > MaxSubjectBytes || len(m.Header) > MaxHeaderFields || m.Size < len(m.Data) {
					t.Fatalf("record out of bounds: %d data, %d subject, %d headers, size %d", len(m.Data), len(m.Subject), len(m.Header), m.Size)
				}
			}
		}
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		if grown := after.TotalAlloc - before.TotalAlloc; grown > 4*MaxChunkBytes+uint64(64*len(data)) {
			t.Fatalf("reading %d bytes allocated %d bytes", len(data), grown)
		}
		s := r.Stop()
		if s.Offset > int64(len(data)) || s.Tail < 0 || s.Offset+s.Tail > int64(len(data)) {
			t.Fatalf("stop %+v for %d bytes", s, len(data))
		}
	})
}
