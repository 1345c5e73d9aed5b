package feed

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DefaultHistoryReadAhead is how many stream messages a Since read holds in the client at
// most: the pull requests ask for no more, so an hour of history costs the memory of this
// many messages on top of the engine's bounded aggregates, however long the hour.
const DefaultHistoryReadAhead = 4096

// historyIdle is how long a Since read waits for a message before it hands on what it has
// (and, with nothing pending on the stream, declares itself caught up).
const historyIdle = 250 * time.Millisecond

// runHistory reads Config.Stream from Config.Since with an ordered consumer (no acks, no
// server-side state to clean up), then stays on it for the live traffic: history and live
// are one sequence of stream messages, so nothing is lost or counted twice at the seam. Each
// message's receive time is the time the stream stored it, and OnHistory moves the reader's
// clock along before each batch is handed on. A new connection resumes after the last
// stream sequence handed on.
func (f *Feed) runHistory(ctx context.Context, nc *nats.Conn) {
	js, err := f.jetStream(nc)
	if err != nil {
		f.setError("jetstream", err)
		<-ctx.Done()
		return
	}
	for attempt := 0; ctx.Err() == nil && !nc.IsClosed(); attempt++ {
		err := f.readHistory(ctx, js)
		if err == nil || ctx.Err() != nil {
			return
		}
		if nc.IsConnected() {
			f.setError("jetstream history", err)
		}
		if !sleepCtx(ctx, reconnectDelay(attempt)) {
			return
		}
	}
}

func (f *Feed) readHistory(ctx context.Context, js jetstream.JetStream) error {
	cfg := jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{f.opts.Subject},
		DeliverPolicy:  jetstream.DeliverByStartTimePolicy,
		OptStartTime:   &f.cfg.Since,
	}
	if f.histSeq > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq, cfg.OptStartTime = jetstream.DeliverByStartSequencePolicy, f.histSeq+1, nil
	}
	setupCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	cons, err := js.OrderedConsumer(setupCtx, f.cfg.Stream, cfg)
	cancel()
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("stream %s: %w: reading the past needs the telemetry kept in a JetStream stream (the daemon's --durable NAME --create makes one; or name it with --stream)", f.cfg.Stream, err)
	}
	if err != nil {
		return fmt.Errorf("stream %s: %w", f.cfg.Stream, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(f.cfg.HistoryReadAhead))
	if err != nil {
		return fmt.Errorf("stream %s: %w", f.cfg.Stream, err)
	}
	defer it.Stop()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	for ctx.Err() == nil {
		msg, err := it.Next(jetstream.NextMaxWait(historyIdle))
		switch {
		case errors.Is(err, nats.ErrTimeout):
			f.flushHistory(true)
			continue
		case err != nil:
			f.flushHistory(false)
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		f.handleHistory(msg)
	}
	return nil
}

func (f *Feed) handleHistory(msg jetstream.Msg) {
	f.received.Add(1)
	at, seq, pending := f.cfg.Clock(), uint64(0), uint64(0)
	if md, err := msg.Metadata(); err == nil {
		at, seq, pending = md.Timestamp, md.Sequence.Stream, md.NumPending
	}
	f.histSeq = max(f.histSeq, seq)
	// The payload is the event's to keep, as in handleCore.
	ev, decErr := f.decoder.DecodeOwned(msg.Subject(), msg.Data(), msg.Headers().Get("traceparent"), at)
	if decErr != nil {
		f.flushHistory(false)
		f.histAt = at
		f.noteHistory(pending == 0)
		f.deliverInvalid(f.invalid(msg.Subject(), msg.Data(), at, decErr, seq))
		return
	}
	ev.StreamSeq = seq
	f.batch = append(f.batch, ev)
	f.histAt = at
	// Nothing more stored yet: the live edge, where waiting for a full batch would only
	// make the events late.
	if len(f.batch) >= f.cfg.BatchSize || pending == 0 {
		f.flushHistory(pending == 0)
	}
}

// flushHistory hands the batch on after moving the reader's clock to its last message;
// idle says nothing was pending, so the read has caught up with the stream.
func (f *Feed) flushHistory(idle bool) {
	f.noteHistory(idle)
	f.flush()
}

func (f *Feed) noteHistory(caughtUp bool) {
	f.histCaughtUp = f.histCaughtUp || caughtUp
	if f.cfg.OnHistory != nil {
		f.cfg.OnHistory(f.histAt, f.histCaughtUp)
	}
}
