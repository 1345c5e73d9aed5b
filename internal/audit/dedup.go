package audit

import (
	"log/slog"

	"github.com/valyala/fastjson"
)

// seqWindow remembers which of the DedupWindow stream sequences up to hi are on the trail:
// 8 KiB whatever the stream's length.
type seqWindow struct {
	hi   uint64
	bits []uint64
}

func newSeqWindow() seqWindow { return seqWindow{bits: make([]uint64, DedupWindow/64)} }

func (s *seqWindow) bit(seq uint64) (word int, mask uint64) {
	i := seq % DedupWindow
	return int(i / 64), 1 << (i % 64)
}

func (s *seqWindow) tooOld(seq uint64) bool { return seq < s.hi && s.hi-seq >= DedupWindow }

// has reports whether seq is on the trail. A sequence too old for the window is not: the
// writer takes it as a stream reset (see the package doc).
func (s *seqWindow) has(seq uint64) bool {
	if seq > s.hi || s.tooOld(seq) {
		return false
	}
	w, m := s.bit(seq)
	return s.bits[w]&m != 0
}

// add records a written sequence; it reports a stream reset when seq was too old for the
// window, which then restarts from seq.
func (s *seqWindow) add(seq uint64) (reset bool) {
	if s.tooOld(seq) {
		clear(s.bits)
		s.hi = seq
		reset = true
	}
	s.advance(seq)
	w, m := s.bit(seq)
	s.bits[w] |= m
	return reset
}

// advance moves hi up to seq, forgetting the sequences that fall out of the window.
func (s *seqWindow) advance(seq uint64) {
	if seq <= s.hi {
		return
	}
	if seq-s.hi >= DedupWindow {
		clear(s.bits)
	} else {
		for q := s.hi + 1; q <= seq; q++ {
			w, m := s.bit(q)
			s.bits[w] &^= m
		}
	}
	s.hi = seq
}

// maxRecoveryLines bounds how much of the trail a start reads back, also when records carry
// no sequence (core NATS) and the window can never be "covered".
const maxRecoveryLines = 2 * DedupWindow

// rebuildWindow reads the newest records, newest first, into s. The newest sequence found
// becomes hi if it is above the current one (a write that failed after reaching the disk);
// older ones fill the window, and sequences above that first one are history from before a
// stream reset and are ignored. It stops once the window is covered.
func rebuildWindow(s *seqWindow, files []dayFile, log *slog.Logger) error {
	var parser fastjson.Parser
	seqOf := func(line []byte) uint64 {
		v, err := parser.ParseBytes(line)
		if err != nil {
			return 0 // a damaged line cannot be de-duplicated; it was never acknowledged whole
		}
		return v.GetUint64("seq")
	}
	lines := 0
	first := true
	done := false
	visit := func(seq uint64) bool {
		lines++
		if seq != 0 {
			switch {
			case first:
				first = false
				s.advance(seq)
				if !s.tooOld(seq) {
					w, m := s.bit(seq)
					s.bits[w] |= m
				}
			case seq > s.hi || s.tooOld(seq):
				// history from before a stream reset, or outside the window
			default:
				w, m := s.bit(seq)
				s.bits[w] |= m
			}
			if s.hi-seq >= DedupWindow-1 {
				done = true
			}
		}
		if lines >= maxRecoveryLines {
			done = true
		}
		return !done
	}
	for i := len(files) - 1; i >= 0 && !done; i-- {
		f := files[i]
		switch {
		case f.tmp:
			continue
		case f.gz:
			// A gzip stream reads forward only: keep the sequences of its last lines in a
			// bounded ring and visit them newest first.
			ring := make([]uint64, 0, 1024)
			head := 0
			err := eachLineOfGzip(f.path, func(line []byte) {
				seq := seqOf(line)
				if len(ring) < maxRecoveryLines {
					ring = append(ring, seq)
					return
				}
				ring[head] = seq
				head = (head + 1) % maxRecoveryLines
			})
			if err != nil {
				// An older, compressed day cannot be appended to; a damaged one must not stop
				// the trail. Only de-duplication against it is lost.
				log.Warn("audit: could not read a compressed day file for de-duplication", "file", f.path, "err", err)
			}
			for k := len(ring) - 1; k >= 0 && !done; k-- {
				visit(ring[(head+k)%len(ring)])
			}
		default:
			err := eachLineBackward(f.path, func(line []byte) bool { return visit(seqOf(line)) })
			if err != nil {
				return err
			}
		}
	}
	return nil
}
