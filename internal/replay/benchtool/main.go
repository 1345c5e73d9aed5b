// Command benchtool is the harness of scripts/bench-replay.sh: it writes a recording of
// simulated traffic straight from the simulator's pre-generated messages through the
// recording writer, as `ingot-top record` would have written it, without a NATS server.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/nsai/ingot-top/internal/record"
	"github.com/nsai/ingot-top/internal/sim"
)

func main() {
	out := flag.String("o", "", "recording file to create")
	n := flag.Int("n", 1_000_000, "messages")
	seed := flag.Int64("seed", 1, "simulator seed")
	rate := flag.Float64("rate", 2000, "recorded events per second (spaces the receive times)")
	invalidEvery := flag.Int("invalid-every", 500, "make every Nth message invalid (0: none)")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "benchtool: -o FILE is required")
		os.Exit(2)
	}
	if err := run(*out, *n, *seed, *rate, *invalidEvery); err != nil {
		fmt.Fprintln(os.Stderr, "benchtool:", err)
		os.Exit(1)
	}
}

func run(out string, n int, seed int64, rate float64, invalidEvery int) error {
	cfg := sim.DefaultConfig()
	cfg.Seed, cfg.Rate = seed, rate
	msgs, err := sim.Pregenerate(cfg, n)
	if err != nil {
		return err
	}
	// The simulator stamps events from the time it started; receiving a millisecond later
	// gives every event a small, realistic stream lag.
	start := time.Now()
	step := time.Duration(float64(time.Second) / rate)
	f, err := record.Create(out, record.Header{Created: start, Subject: "telemetry.>", Source: "benchtool", Writer: "ingot-top benchtool"}, record.CreateNew, record.WriterOptions{})
	if err != nil {
		return err
	}
	if err := f.WriteMark(record.Mark{Time: start, Kind: record.MarkStart}); err != nil {
		return err
	}
	var hdr []record.HeaderField
	nextMark := start.Add(time.Second)
	bad := []byte("not json")
	for i := range msgs {
		at := start.Add(time.Duration(i)*step + time.Millisecond)
		for !at.Before(nextMark) {
			if err := f.WriteMark(record.Mark{Time: nextMark, Kind: record.MarkHeartbeat}); err != nil {
				return err
			}
			if err := f.Flush(); err != nil { // the recorder closes a frame every second
				return err
			}
			nextMark = nextMark.Add(time.Second)
		}
		hdr = record.HeaderFields(msgs[i].Header, hdr)
		m := record.Message{Received: at, Subject: msgs[i].Subject, Header: hdr, Data: msgs[i].Data, Size: len(msgs[i].Data)}
		if invalidEvery > 0 && i%invalidEvery == invalidEvery-1 {
			m.Data, m.Size = bad, len(bad)
		}
		if err := f.WriteMessage(&m); err != nil {
			return err
		}
	}
	if err := f.WriteMark(record.Mark{Time: start.Add(time.Duration(len(msgs)) * step), Kind: record.MarkStop, Note: "benchtool"}); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Printf("wrote %d messages to %s (%d bytes)\n", len(msgs), out, f.Size())
	return nil
}
