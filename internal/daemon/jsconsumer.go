package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nsai/ingot-top/internal/feed"
	"github.com/nsai/ingot-top/internal/ingest"
)

// consumerCheckEvery is how often a durable daemon asks JetStream whether its consumer is
// there. The feed retries binding on its own; this check is what tells the operator.
const consumerCheckEvery = 2 * time.Second

// Why a durable daemon cannot consume; each is also the message of its log line.
const (
	problemNoJetStream = "JetStream is not enabled on the NATS server"
	problemNoStream    = "JetStream stream does not exist"
	problemNoConsumer  = "JetStream consumer does not exist"
	problemUnavailable = "JetStream consumer not available"
)

// consumerProblem is why the durable consumer cannot be used, and what fixes it.
type consumerProblem struct {
	what     string // one of the problem* messages
	stream   string
	consumer string
	fix      string // "" when there is nothing specific to do (a timeout)
	err      error
}

func (p *consumerProblem) Error() string {
	msg := fmt.Sprintf("%s (consumer %s on stream %s: %v)", p.what, p.consumer, p.stream, p.err)
	if p.fix != "" {
		msg += "; to fix: " + p.fix
	}
	return msg
}

func (p *consumerProblem) Unwrap() error { return p.err }

// shellQuote quotes a subject for the commands in a fix: subjects hold '>' and '*'.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// diagnoseConsumer names err, as returned by looking the consumer up, with the fix. The
// commands create what --create would: a pull consumer with explicit acks from the start of
// the stream, filtered on --subject, with the ack-pending bound the audit de-duplication
// relies on.
func (d *Daemon) diagnoseConsumer(err error) *consumerProblem {
	stream := d.streamName()
	batch := d.cfg.Ingest.BatchSize
	if batch <= 0 {
		batch = feed.DefaultBatchSize
	}
	durable := d.cfg.Ingest.Durable
	subject := shellQuote(d.cfg.Feed.Subject)
	consumerAdd := fmt.Sprintf("nats consumer add %s %s --pull --ack explicit --deliver all --filter %s --max-pending %d --defaults",
		stream, durable, subject, 4*batch)
	p := &consumerProblem{stream: stream, consumer: durable, err: err}
	switch {
	// Looking a consumer up on a server without JetStream gets no answer at all: nothing
	// listens on the API subject.
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount),
		errors.Is(err, nats.ErrNoResponders):
		p.what = problemNoJetStream
		p.fix = "enable JetStream on the server (nats-server -js, or a jetstream {} block in its configuration; for an account, enable it in the account), or run the daemon without --durable for a core subscription (which cannot redeliver)"
	case errors.Is(err, jetstream.ErrStreamNotFound):
		p.what = problemNoStream
		p.fix = fmt.Sprintf("start the daemon once with --create (creates stream %s on %s and consumer %s), or: nats stream add %s --subjects %s --defaults && %s",
			stream, subject, durable, stream, subject, consumerAdd)
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		p.what = problemNoConsumer
		p.fix = fmt.Sprintf("start the daemon with --create, or: %s", consumerAdd)
	default:
		p.what = problemUnavailable
	}
	return p
}

// checkConsumer asks JetStream whether the durable consumer exists: in durable mode a live
// connection is not enough to be consuming (the stream may be missing and not to be created,
// and the feed then retries binding forever). The error is a *consumerProblem.
func (d *Daemon) checkConsumer(ctx context.Context) error {
	nc := d.feed.Conn()
	if nc == nil {
		return errors.New("NATS connection not made yet")
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return d.diagnoseConsumer(fmt.Errorf("jetstream: %w", err))
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if _, err := js.Consumer(ctx, d.streamName(), d.cfg.Ingest.Durable); err != nil {
		return d.diagnoseConsumer(err)
	}
	return nil
}

// consumerFlukes is how many checks in a row may fail for an unnamed reason (a timeout
// under load) before it is told: one slow answer is not a fault worth a line on stderr.
const consumerFlukes = 3

// watchConsumer tells the operator, in the log and on stderr, why a durable daemon does not
// consume (no JetStream, no stream, no consumer) and what fixes it: at once, again when the
// reason changes, and once a minute while it lasts; and says when it consumes. Without it
// the only sign was /-/ready answering 503.
func (d *Daemon) watchConsumer(ctx context.Context, every time.Duration) {
	told := ""           // the problem last told; "" when none is
	var toldAt time.Time // when it was told
	consuming := false   // the last check found the consumer
	unnamed := 0         // checks in a row that failed for an unnamed reason
	for {
		if d.feed.State().Phase == ingest.PhaseConnected {
			err := d.checkConsumer(ctx)
			if ctx.Err() != nil {
				return
			}
			now := d.clock.Now()
			var p *consumerProblem
			switch {
			case err == nil:
				unnamed = 0
				if consuming {
					break
				}
				attrs := []slog.Attr{slog.String("consumer", d.cfg.Ingest.Durable), slog.String("stream", d.streamName())}
				if told != "" {
					// The operator was told of the problem on stderr; the fix goes there too.
					d.watch.emit([]notice{{slog.LevelInfo, "JetStream consumer found: consuming", attrs}})
				} else {
					d.logger.LogAttrs(ctx, slog.LevelInfo, "JetStream consumer found: consuming", attrs...)
				}
				told, consuming = "", true
			case errors.As(err, &p):
				consuming = false
				if p.what == problemUnavailable {
					if unnamed++; unnamed < consumerFlukes {
						break
					}
				} else {
					unnamed = 0
				}
				if p.what == told && now.Sub(toldAt) < sinkNoticeEvery {
					break
				}
				attrs := []slog.Attr{
					slog.String("consumer", p.consumer), slog.String("stream", p.stream),
					slog.String("server", d.feed.State().Server), slog.String("error", p.err.Error()),
				}
				if p.fix != "" {
					attrs = append(attrs, slog.String("fix", p.fix))
				}
				d.watch.emit([]notice{{slog.LevelError, p.what, attrs}})
				told, toldAt = p.what, now
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-d.clock.After(every):
		}
	}
}

func (d *Daemon) streamName() string {
	if d.cfg.Ingest.Stream == "" {
		return feed.DefaultStream
	}
	return d.cfg.Ingest.Stream
}
