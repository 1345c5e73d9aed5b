package feed

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// runCore consumes a core NATS subscription from this goroutine, so that every sink call
// comes from one goroutine in arrival order. It returns when ctx is done or when nc was
// closed (Run then dials again); a non-nil error says why it gave up on a live nc.
func (f *Feed) runCore(ctx context.Context, nc *nats.Conn) error {
	var sub *nats.Subscription
	var err error
	if f.cfg.Group != "" {
		sub, err = nc.QueueSubscribeSync(f.opts.Subject, f.cfg.Group)
	} else {
		sub, err = nc.SubscribeSync(f.opts.Subject)
	}
	if err != nil {
		if nc.IsClosed() {
			return nil
		}
		// A subject the server will never accept: retrying cannot help.
		f.setError("subscribing", err)
		<-ctx.Done()
		return nil
	}
	// Drops on earlier connections' subscriptions stay counted.
	f.dropsBase.Store(f.drops.Load())
	f.coreSub.Store(sub)
	defer f.coreSub.Store(nil)
	if err := sub.SetPendingLimits(f.cfg.PendingMsgs, f.cfg.PendingBytes); err != nil {
		f.setError("setting pending limits", err)
	}
	var batchStarted time.Time
	var gone error
	// The first events of a connection go to the sinks as soon as the client's buffer is
	// drained, not after FlushDelay: a viewer draws its first data (at start, after a
	// reconnect) when it arrives.
	first := true
	for {
		var msg *nats.Msg
		var err error
		if len(f.batch) > 0 {
			// Hold a started batch for up to FlushDelay: at a few thousand events a second a
			// flush per message would wake every sink (and fsync the audit trail) per message.
			msg, err = sub.NextMsg(max(f.cfg.FlushDelay-time.Since(batchStarted), time.Microsecond))
			if errors.Is(err, nats.ErrTimeout) {
				f.flush()
				f.noteDrops(sub)
				if ctx.Err() != nil {
					break
				}
				continue
			}
		} else {
			msg, err = sub.NextMsgWithContext(ctx)
		}
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if errors.Is(err, nats.ErrSlowConsumer) {
				f.noteDrops(sub)
				continue
			}
			if nc.IsClosed() || errors.Is(err, nats.ErrConnectionClosed) {
				// Run says why and dials again; "connection closed" would hide the reason.
				break
			}
			// The subscription alone is gone: a new connection subscribes again.
			gone = fmt.Errorf("subscription: %w", err)
			break
		}
		if len(f.batch) == 0 {
			batchStarted = time.Now()
		}
		f.handleCore(msg)
		if len(f.batch) >= f.cfg.BatchSize || ((f.cfg.FlushDelay <= 0 || first) && !hasPending(sub)) {
			f.flush()
			f.noteDrops(sub)
			first = false
		}
		if ctx.Err() != nil {
			break
		}
	}
	f.drainCore(nc, sub)
	return gone
}

// drainCore handles what the client had already buffered, within shutdownBudget, then
// flushes the last batch.
func (f *Feed) drainCore(nc *nats.Conn, sub *nats.Subscription) {
	deadline := time.Now().Add(shutdownBudget)
	// A round trip first: whatever the server sent before answering it is then in the
	// subscription's buffer, so stopping does not lose messages still on the wire.
	if nc.IsConnected() {
		_ = nc.FlushTimeout(shutdownBudget / 2)
	}
	for hasPending(sub) && time.Now().Before(deadline) {
		msg, err := sub.NextMsg(10 * time.Millisecond)
		if err != nil {
			if errors.Is(err, nats.ErrSlowConsumer) {
				continue
			}
			break
		}
		f.handleCore(msg)
		if len(f.batch) >= f.cfg.BatchSize {
			f.flush()
		}
	}
	f.flush()
	f.noteDrops(sub)
	if n, _, err := sub.Pending(); err == nil && n > 0 {
		// Never silent: say how many were left behind.
		f.abandoned.Add(uint64(n))
		f.setError("shutdown", fmt.Errorf("%d buffered messages not processed within the %s shutdown budget", n, shutdownBudget))
	}
	_ = sub.Unsubscribe()
}

func hasPending(sub *nats.Subscription) bool {
	n, _, err := sub.Pending()
	return err == nil && n > 0
}

func (f *Feed) handleCore(msg *nats.Msg) {
	f.received.Add(1)
	now := f.cfg.Clock()
	// The client gives every message a payload of its own that nothing writes again
	// (nats.go Conn.processMsg copies it out of its read buffer): the event may read it in
	// place.
	ev, decErr := f.decoder.DecodeOwned(msg.Subject, msg.Data, msg.Header.Get("traceparent"), now)
	if decErr != nil {
		// Keep arrival order: events before the bad message reach the sinks first.
		f.flush()
		f.deliverInvalid(f.invalid(msg.Subject, msg.Data, now, decErr, 0))
		return
	}
	f.batch = append(f.batch, ev)
}
