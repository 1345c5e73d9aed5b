package feed

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Settings of the stream and consumer this feed creates when Config.CreateStream is set.
// The stream is bounded so that an unattended emitter cannot fill the server's disk.
const (
	createdStreamMaxAge   = 24 * time.Hour
	createdStreamMaxBytes = 1 << 30
	// fetchWait bounds one pull request, so that cancellation and floor refreshes happen
	// promptly even when nothing arrives.
	fetchWait = time.Second
	// floorRefresh is how often the server's ack floor is folded into the de-dup tracker.
	floorRefresh = 5 * time.Second
)

// pendingAck is a message whose event is in the current batch.
type pendingAck struct {
	msg jetstream.Msg
	seq uint64
}

// runJetStream consumes a durable pull consumer. Events reach the sinks in stream order from
// this goroutine; a message is acknowledged only after every sink accepted its batch. It
// returns when ctx is done or when nc was closed (Run then dials again).
func (f *Feed) runJetStream(ctx context.Context, nc *nats.Conn) {
	js, err := f.jetStream(nc)
	if err != nil {
		// Only invalid options fail here.
		f.setError("jetstream", err)
		<-ctx.Done()
		return
	}
	// While the connection is down, every JetStream call fails for that reason: the
	// connection's own error (an authorization violation, a refused dial) says more than
	// "connection closed" or a timeout, so it is left in the state.
	noteErr := func(prefix string, err error) {
		if nc.IsConnected() {
			f.setError(prefix, err)
		}
	}
	var acks []pendingAck
	for attempt := 0; ctx.Err() == nil && !nc.IsClosed(); attempt++ {
		cons, info, err := f.bindConsumer(ctx, js)
		if err != nil {
			noteErr("jetstream", err)
			if !sleepCtx(ctx, reconnectDelay(attempt)) {
				break
			}
			continue
		}
		attempt = 0
		tracker := f.trackerFor(info)
		lastRefresh := time.Now()
		for ctx.Err() == nil && !nc.IsClosed() {
			if err := f.fetchOnce(ctx, cons, tracker, &acks); err != nil {
				noteErr("jetstream fetch", err)
				if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
					break // bind again (or create again)
				}
				if !sleepCtx(ctx, reconnectDelay(2)) {
					break
				}
			}
			if time.Since(lastRefresh) >= floorRefresh {
				lastRefresh = time.Now()
				infoCtx, cancel := context.WithTimeout(ctx, fetchWait)
				if info, err := cons.Info(infoCtx); err == nil {
					tracker.raiseFloor(info.AckFloor.Stream)
				}
				cancel()
			}
		}
	}
	// Acks are asynchronous publishes: push them out before the connection closes.
	if nc.IsConnected() {
		_ = nc.FlushTimeout(shutdownBudget)
	}
}

// jetStream reaches the JetStream API of the domain named by --js-domain or the context's
// jetstream_domain (a leaf node's hub, say), else by the context's jetstream_api_prefix,
// else the account's own.
func (f *Feed) jetStream(nc *nats.Conn) (jetstream.JetStream, error) {
	switch {
	case f.jsDomain != "":
		return jetstream.NewWithDomain(nc, f.jsDomain)
	case f.jsAPI != "":
		return jetstream.NewWithAPIPrefix(nc, f.jsAPI)
	}
	return jetstream.New(nc)
}

// trackerFor returns the de-dup tracker for the consumer just bound. The same consumer as
// before (on this connection or an earlier one) keeps its tracker: the acks lost with a
// closed connection come back as redeliveries that the sinks already accepted. A consumer
// created anew (or on a new stream) starts afresh from its ack floor.
func (f *Feed) trackerFor(info *jetstream.ConsumerInfo) *seqTracker {
	if f.tracker != nil && info.Stream == f.trackerStream && info.Created.Equal(f.trackerCreated) {
		f.tracker.raiseFloor(info.AckFloor.Stream)
		return f.tracker
	}
	f.tracker = newSeqTracker(info.AckFloor.Stream)
	f.trackerStream, f.trackerCreated = info.Stream, info.Created
	return f.tracker
}

func (f *Feed) bindConsumer(ctx context.Context, js jetstream.JetStream) (jetstream.Consumer, *jetstream.ConsumerInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	stream, err := js.Stream(ctx, f.cfg.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) && f.cfg.CreateStream {
		stream, err = js.CreateStream(ctx, jetstream.StreamConfig{
			Name:     f.cfg.Stream,
			Subjects: []string{f.opts.Subject},
			MaxAge:   createdStreamMaxAge,
			MaxBytes: createdStreamMaxBytes,
			Discard:  jetstream.DiscardOld,
		})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			stream, err = js.Stream(ctx, f.cfg.Stream)
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("stream %s: %w", f.cfg.Stream, err)
	}
	var cons jetstream.Consumer
	if f.cfg.CreateStream {
		cons, err = stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
			Durable:       f.cfg.Durable,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       f.cfg.AckWait,
			DeliverPolicy: jetstream.DeliverAllPolicy,
			FilterSubject: f.opts.Subject,
			MaxAckPending: 4 * f.cfg.BatchSize,
		})
	} else {
		cons, err = stream.Consumer(ctx, f.cfg.Durable)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("consumer %s on stream %s: %w", f.cfg.Durable, f.cfg.Stream, err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("consumer %s info: %w", f.cfg.Durable, err)
	}
	return cons, info, nil
}

// fetchOnce pulls up to one batch and hands it to the sinks, flushing early whenever nothing
// more is waiting so latency stays low at low rates.
func (f *Feed) fetchOnce(ctx context.Context, cons jetstream.Consumer, tracker *seqTracker, acks *[]pendingAck) error {
	fetchCtx, cancel := context.WithTimeout(ctx, fetchWait)
	defer cancel()
	batch, err := cons.Fetch(f.cfg.BatchSize, jetstream.FetchContext(fetchCtx))
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
			return nil
		}
		return err
	}
	msgs := batch.Messages()
	for msg := range msgs {
		f.handleJetStream(msg, tracker, acks)
		if len(f.batch) >= f.cfg.BatchSize || len(msgs) == 0 {
			f.flushJetStream(tracker, acks)
		}
	}
	f.flushJetStream(tracker, acks)
	if err := batch.Error(); err != nil && ctx.Err() == nil &&
		!errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
		return err
	}
	return nil
}

func (f *Feed) handleJetStream(msg jetstream.Msg, tracker *seqTracker, acks *[]pendingAck) {
	f.received.Add(1)
	var seq uint64
	if md, err := msg.Metadata(); err == nil {
		seq = md.Sequence.Stream
	}
	if seq != 0 && tracker.done(seq) {
		// A redelivery of something the sinks already accepted: only the ack was lost.
		_ = msg.Ack()
		return
	}
	now := f.cfg.Clock()
	// The payload is the event's to keep, as in handleCore.
	ev, decErr := f.decoder.DecodeOwned(msg.Subject(), msg.Data(), msg.Headers().Get("traceparent"), now)
	if decErr != nil {
		f.flushJetStream(tracker, acks)
		if f.deliverInvalid(f.invalid(msg.Subject(), msg.Data(), now, decErr, seq)) {
			// A bad message stays bad: terminate it rather than have it redelivered forever.
			_ = msg.TermWithReason(string(decErr.Reason))
			tracker.mark(seq)
		} else {
			_ = msg.NakWithDelay(f.cfg.NakDelay)
		}
		return
	}
	ev.StreamSeq = seq
	f.batch = append(f.batch, ev)
	*acks = append(*acks, pendingAck{msg: msg, seq: seq})
}

func (f *Feed) flushJetStream(tracker *seqTracker, acks *[]pendingAck) {
	if len(f.batch) == 0 {
		return
	}
	ok := f.flush()
	for i, a := range *acks {
		if ok {
			_ = a.msg.Ack()
			tracker.mark(a.seq)
		} else {
			_ = a.msg.NakWithDelay(f.cfg.NakDelay)
		}
		(*acks)[i] = pendingAck{}
	}
	*acks = (*acks)[:0]
}

// sleepCtx waits d or until ctx is done; it reports whether ctx is still live.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
