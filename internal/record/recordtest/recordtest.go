// Package recordtest owns building recordings of simulated incidents for tests: the file
// `ingot-top record` would have written off a stream carrying the simulator's traffic, made
// without a server and in the past, so minutes of recorded time cost a fraction of a second.
package recordtest

import (
	"fmt"
	"time"

	"github.com/nsai/ingot-top/internal/record"
	"github.com/nsai/ingot-top/internal/sim"
)

// Segment is a stretch of one scenario.
type Segment struct {
	Scenario sim.Scenario
	Span     time.Duration
	// ErrorRate is the simulator's base error rate (0: its default; negative: none).
	ErrorRate float64
}

// Write records the segments one after another from start at rate events/s into a new file
// at path, with the recorder's start mark, a heartbeat mark every second and its stop mark.
// Each message is received at its event time. It returns the number of messages.
func Write(path string, start time.Time, rate float64, seed int64, segments ...Segment) (int, error) {
	f, err := record.Create(path, record.Header{Created: start, Subject: "telemetry.>", Source: "nats://recordtest", Writer: "recordtest"}, record.CreateNew, record.WriterOptions{})
	if err != nil {
		return 0, err
	}
	n, err := write(f, start, rate, seed, segments)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return n, err
}

func write(f *record.File, start time.Time, rate float64, seed int64, segments []Segment) (int, error) {
	if err := f.WriteMark(record.Mark{Time: start, Kind: record.MarkStart}); err != nil {
		return 0, err
	}
	step := time.Duration(float64(time.Second) / rate)
	nextMark := start.Add(time.Second)
	from := start
	var hdr []record.HeaderField
	total := 0
	for i, seg := range segments {
		cfg := sim.DefaultConfig()
		cfg.Rate = rate
		cfg.Seed = seed + int64(i)
		cfg.Scenario = seg.Scenario
		if seg.ErrorRate != 0 {
			cfg.ErrorRate = seg.ErrorRate
		}
		msgs, err := sim.PregenerateAt(cfg, from, int(seg.Span.Seconds()*rate))
		if err != nil {
			return total, fmt.Errorf("recordtest: %w", err)
		}
		for j := range msgs {
			at := from.Add(time.Duration(j) * step)
			for !nextMark.After(at) {
				if err := f.WriteMark(record.Mark{Time: nextMark, Kind: record.MarkHeartbeat}); err != nil {
					return total, err
				}
				nextMark = nextMark.Add(time.Second)
			}
			hdr = record.HeaderFields(msgs[j].Header, hdr[:0])
			m := record.Message{Received: at, Subject: msgs[j].Subject, Header: hdr, Data: msgs[j].Data, Size: len(msgs[j].Data)}
			if err := f.WriteMessage(&m); err != nil {
				return total, err
			}
			total++
		}
		from = from.Add(seg.Span)
	}
	return total, f.WriteMark(record.Mark{Time: from, Kind: record.MarkStop, Note: "recordtest"})
}
