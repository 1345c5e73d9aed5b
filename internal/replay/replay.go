// Package replay owns playing recordings (package record) back: every recorded message goes
// through the same wire decoder as on the live feed, in recorded order, to the same feed
// sinks (the engine), while the caller's clock follows the recorded receive times. What the
// engine then shows is what it showed live, down to the event.
package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/nsai/ingot-top/internal/feed"
	"github.com/nsai/ingot-top/internal/ingest"
	"github.com/nsai/ingot-top/internal/record"
	"github.com/nsai/ingot-top/internal/wire"
)

// excerptRunes is how much of a bad payload an Invalid shows; the live feed shows as much.
const excerptRunes = 120

// Info is a recording file and the header of its first session.
type Info struct {
	Path   string
	Header record.Header
}

// Scan reads the header of every file and orders the files by when their recording started
// (rotated files given as a glob come back in time order whatever their names).
func Scan(paths []string) ([]Info, error) {
	if len(paths) == 0 {
		return nil, errors.New("replay: no recording files given")
	}
	infos := make([]Info, 0, len(paths))
	for _, p := range paths {
		r, err := record.Open(p)
		if err != nil {
			return nil, err
		}
		infos = append(infos, Info{Path: p, Header: r.Header()})
		r.Close()
	}
	slices.SortStableFunc(infos, func(a, b Info) int { return a.Header.Created.Compare(b.Header.Created) })
	return infos, nil
}

// Options control a replay.
type Options struct {
	// At ends the replay at this recorded time: nothing received after it is fed. Zero: the
	// whole recording.
	At time.Time
	// BatchSize is the most events handed to the sinks at once (default feed.DefaultBatchSize).
	BatchSize int
	// SetClock is called with the recorded time before each batch, invalid message and mark is
	// handed on, never with a time earlier than a previous call. The engine's clock follows it.
	SetClock func(time.Time)
	// Pace, when set, is called with the recorded time before each batch, invalid message
	// and mark is handed on, and may block to play at a chosen speed (or stay paused); an
	// error stops the replay. Nil: as fast as possible.
	Pace func(ctx context.Context, recorded time.Time) error
}

// FileResult is how one file was read.
type FileResult struct {
	Path     string
	Messages uint64
	Stop     record.Stop
	// Unfinished counts sessions without a stop mark: the recorder was killed, crashed or
	// lost power, so the session ends at its last whole frame.
	Unfinished int
}

// Result is what a replay fed.
type Result struct {
	Files    []FileResult
	Messages uint64 // messages fed, valid or not
	Events   uint64
	Invalid  uint64
	Sessions int
	// Start is when the first session's recorder subscribed; End is the last recorded time
	// fed (a message or a mark), or At when given.
	Start, End time.Time
	// Subject is the first session's subscription subject.
	Subject string
	// Drops are the messages the recorder itself lost as a slow consumer, per its marks: they
	// were on the stream but are not in the files.
	Drops uint64
	// ReachedAt is true when the replay stopped at Options.At before the recording ended.
	ReachedAt bool
}

// Damaged counts frames skipped as damaged in all files.
func (r *Result) Damaged() (frames int, bytes int64) {
	for _, f := range r.Files {
		frames += f.Stop.CorruptFrames
		bytes += f.Stop.SkippedBytes
	}
	return frames, bytes
}

// Run replays the files in the order given (see Scan) into sinks. It returns when the files
// are done, At is reached, ctx ends (with ctx's error) or a sink fails.
func Run(ctx context.Context, files []Info, opts Options, sinks ...ingest.Sink) (Result, error) {
	if opts.BatchSize <= 0 {
		opts.BatchSize = feed.DefaultBatchSize
	}
	p := &player{opts: opts, sinks: sinks, batch: make([]wire.Event, 0, opts.BatchSize)}
	if len(files) > 0 {
		p.res.Start = files[0].Header.Created
		p.res.Subject = files[0].Header.Subject
	}
	var err error
	for _, f := range files {
		if err = p.file(ctx, f.Path); err != nil || p.res.ReachedAt {
			break
		}
	}
	if err == nil {
		err = p.flush(ctx)
	}
	p.res.Drops += p.sessionDrops
	if !opts.At.IsZero() {
		p.res.End = opts.At
		p.setClock(opts.At)
	}
	return p.res, err
}

type player struct {
	opts  Options
	sinks []ingest.Sink
	dec   *wire.Decoder
	batch []wire.Event
	res   Result
	clock time.Time
	// sessionDrops is the latest cumulative drop count of the session being read;
	// sessionStopped says whether it has its stop mark.
	sessionDrops   uint64
	sessionStopped bool
	unfinished     int
	n              int // records since the last context check
}

func (p *player) file(ctx context.Context, path string) error {
	r, err := record.Open(path)
	if err != nil {
		return err
	}
	defer r.Close()
	fr := FileResult{Path: path}
	p.unfinished = 0
	p.session(r.Header())
	for {
		if p.n++; p.n&1023 == 0 && ctx.Err() != nil {
			fr.Stop = r.Stop()
			p.res.Files = append(p.res.Files, fr)
			return ctx.Err()
		}
		kind, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		switch kind {
		case record.KindSession:
			if err := p.flush(ctx); err != nil {
				return err
			}
			p.session(r.Header())
		case record.KindMark:
			m := r.Mark()
			if p.past(m.Time) {
				break
			}
			p.sessionDrops = max(p.sessionDrops, m.Drops)
			p.sessionStopped = p.sessionStopped || m.Kind == record.MarkStop
			// Marks come about once a second: handing the batch on at each keeps the sinks
			// within a second of the recorded clock, as the live feed is.
			if err := p.flush(ctx); err != nil {
				return err
			}
			// Paced at marks too, so a quiet stretch of the recording passes on the clock.
			if err := p.pace(ctx, m.Time); err != nil {
				return err
			}
			p.setClock(m.Time)
		case record.KindMessage:
			m := r.Message()
			if p.past(m.Received) {
				break
			}
			fr.Messages++
			if err := p.message(ctx, m); err != nil {
				return err
			}
		}
		if p.res.ReachedAt {
			break
		}
	}
	if !p.sessionStopped && !p.res.ReachedAt {
		p.unfinished++
	}
	p.sessionStopped = true // counted: the next file's first session must not count it again
	fr.Stop = r.Stop()
	fr.Unfinished = p.unfinished
	p.res.Files = append(p.res.Files, fr)
	return nil
}

func (p *player) session(h record.Header) {
	if p.res.Sessions > 0 && !p.sessionStopped {
		p.unfinished++
	}
	p.sessionStopped = false
	p.res.Sessions++
	p.res.Drops += p.sessionDrops // each session counts its drops from zero
	p.sessionDrops = 0
	prefix := feed.SubjectPrefix(h.Subject)
	if p.dec == nil || p.dec.Prefix() != prefix {
		p.dec = wire.NewDecoder(prefix)
	}
}

// past reports whether t is after At, and then ends the replay.
func (p *player) past(t time.Time) bool {
	if p.opts.At.IsZero() || !t.After(p.opts.At) {
		return false
	}
	p.res.ReachedAt = true
	return true
}

func (p *player) setClock(t time.Time) {
	if t.After(p.res.End) {
		p.res.End = t
	}
	if t.After(p.clock) {
		p.clock = t
		if p.opts.SetClock != nil {
			p.opts.SetClock(t)
		}
	}
}

func (p *player) message(ctx context.Context, m *record.Message) error {
	p.res.Messages++
	var ev wire.Event
	var decErr *wire.DecodeError
	if m.Truncated() {
		// The file keeps one byte more than the contract allows; the detail names the size
		// that was on the wire, as the live decoder did.
		decErr = &wire.DecodeError{Reason: wire.ReasonTooLarge,
			Detail: "payload is " + strconv.Itoa(m.Size) + " bytes, limit " + strconv.Itoa(wire.MaxPayloadBytes)}
	} else {
		ev, decErr = p.dec.Decode(m.Subject, m.Data, m.Get("traceparent"), m.Received)
	}
	if decErr != nil {
		// Keep arrival order: events before the bad message reach the sinks first.
		if err := p.flush(ctx); err != nil {
			return err
		}
		if err := p.pace(ctx, m.Received); err != nil {
			return err
		}
		p.res.Invalid++
		p.setClock(m.Received)
		bad := ingest.Invalid{
			Received: m.Received, Subject: wire.SafeString(m.Subject, wire.MaxValueRunes),
			Reason: decErr.Reason, Detail: decErr.Detail, Excerpt: wire.Excerpt(m.Data, excerptRunes),
			StreamSeq: m.StreamSeq,
		}
		for _, s := range p.sinks {
			if err := s.HandleInvalid(bad); err != nil {
				return fmt.Errorf("replay: %w", err)
			}
		}
		return nil
	}
	ev.StreamSeq = m.StreamSeq
	p.batch = append(p.batch, ev)
	p.res.Events++
	if len(p.batch) >= p.opts.BatchSize {
		return p.flush(ctx)
	}
	return nil
}

func (p *player) pace(ctx context.Context, t time.Time) error {
	if p.opts.Pace == nil {
		return nil
	}
	return p.opts.Pace(ctx, t)
}

func (p *player) flush(ctx context.Context) error {
	if len(p.batch) == 0 {
		return nil
	}
	last := p.batch[len(p.batch)-1].Received
	if err := p.pace(ctx, last); err != nil {
		return err
	}
	p.setClock(last)
	for _, s := range p.sinks {
		if err := s.HandleBatch(p.batch); err != nil {
			return fmt.Errorf("replay: %w", err)
		}
	}
	clear(p.batch)
	p.batch = p.batch[:0]
	return nil
}
