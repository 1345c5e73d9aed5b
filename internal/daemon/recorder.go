package daemon

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/nsai/ingot-top/internal/feed"
	"github.com/nsai/ingot-top/internal/record"
)

// RecordConfig keeps the raw stream on disk for `ingot-top replay` (--record.dir): files
// rotated at MaxFileSize or every hour, removed after Retention.
type RecordConfig struct {
	Dir         string // "" = off
	MaxFileSize int64
	Retention   time.Duration
}

// recordTick is how often the recording is synced and marked: a crash loses at most this.
const recordTick = time.Second

// streamRecorder writes every message on the telemetry subject, raw, into the rotating
// recording directory. It has a core NATS subscription of its own on a connection of its
// own: the feed hands on decoded events, and a recording must keep the bytes as they came,
// invalid ones too. In durable mode it records what is published while the daemon runs,
// not the stream's backlog.
type streamRecorder struct {
	cfg    RecordConfig
	opts   feed.Options
	clock  Clock
	watch  *sinkWatch
	state  *sinkState
	writes prometheus.Counter
	lostW  prometheus.Counter // write_failed
	lostS  prometheus.Counter // slow_consumer
	files  prometheus.Counter // removed by retention

	mu      sync.Mutex
	rot     *record.Rotator
	msg     record.Message
	hdr     []record.HeaderField
	drops   uint64 // cumulative slow-consumer drops seen on the subscription
	removed int
}

func newStreamRecorder(cfg RecordConfig, opts feed.Options, version string, clock Clock, watch *sinkWatch, reg prometheus.Registerer) (*streamRecorder, error) {
	rot, err := record.NewRotator(record.RotatorConfig{
		Dir: cfg.Dir, MaxFileSize: cfg.MaxFileSize, Retention: cfg.Retention,
		Subject: opts.Subject, Source: feed.RedactURLs(opts.Server), Writer: "ingot-top daemon " + version, Now: clock.Now,
	})
	if err != nil {
		return nil, err
	}
	lost := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ingot_top_record_messages_lost_total",
		Help: "Telemetry messages missing from the --record.dir recording, by reason: write_failed (the file refused them: full disk), slow_consumer (the recorder's subscription fell behind and the NATS client dropped them).",
	}, []string{"reason"})
	r := &streamRecorder{
		cfg: cfg, opts: opts, clock: clock, watch: watch, rot: rot,
		writes: prometheus.NewCounter(prometheus.CounterOpts{Name: "ingot_top_record_messages_total", Help: "Telemetry messages written to the --record.dir recording."}),
		lostW:  lost.WithLabelValues("write_failed"),
		lostS:  lost.WithLabelValues("slow_consumer"),
		files:  prometheus.NewCounter(prometheus.CounterOpts{Name: "ingot_top_record_files_removed_total", Help: "Recording files removed by --record.retention."}),
	}
	for _, c := range []prometheus.Collector{r.writes, lost, r.files} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering recorder metrics: %w", err)
		}
	}
	r.state = watch.add(sinkSpec{
		name: "record", title: "Recording", detail: cfg.Dir,
		countKey: "messages_lost", countText: "messages missing from the recording",
		hint:    fmt.Sprintf("free space on the file system of %s (df -h %s) or lower --record.retention; ingestion, metrics and the audit trail are not affected", cfg.Dir, cfg.Dir),
		counter: r.lostW,
	})
	return r, nil
}

// run subscribes and records until ctx ends, then closes the file with a stop mark.
func (r *streamRecorder) run(ctx context.Context, logger interface{ Error(string, ...any) }) {
	nc, err := feed.Dial(r.opts, feed.DefaultClientName+"-record")
	if err != nil {
		logger.Error("Recording disabled: cannot connect", "error", err.Error())
		r.mu.Lock()
		_ = r.rot.Close("never connected")
		r.mu.Unlock()
		return
	}
	defer nc.Close()
	sub, err := nc.Subscribe(r.opts.Subject, r.write)
	if err == nil {
		err = sub.SetPendingLimits(feed.DefaultPendingMsgs, feed.DefaultPendingBytes)
	}
	if err != nil {
		logger.Error("Recording disabled: cannot subscribe", "subject", r.opts.Subject, "error", err.Error())
		return
	}
	for {
		select {
		case <-ctx.Done():
			// What the client holds was on the subject before the stop: write it, briefly.
			_ = sub.Drain()
			deadline := time.Now().Add(time.Second)
			for sub.IsValid() && time.Now().Before(deadline) {
				<-time.After(10 * time.Millisecond)
			}
			r.mu.Lock()
			r.noteDrops(sub)
			_ = r.rot.Close("daemon stopped")
			r.mu.Unlock()
			return
		case <-r.clock.After(recordTick):
		}
		r.mu.Lock()
		r.noteDrops(sub)
		err := r.rot.Tick(r.drops)
		if n := r.rot.Removed(); n > r.removed {
			r.files.Add(float64(n - r.removed))
			r.removed = n
		}
		r.mu.Unlock()
		if err != nil {
			r.watch.failed(r.state, err, 0)
		} else {
			r.watch.ok(r.state)
		}
	}
}

func (r *streamRecorder) noteDrops(sub *nats.Subscription) {
	if n, err := sub.Dropped(); err == nil && uint64(n) > r.drops {
		r.lostS.Add(float64(uint64(n) - r.drops))
		r.drops = uint64(n)
	}
}

// write is the subscription's handler: one message into the file.
func (r *streamRecorder) write(msg *nats.Msg) {
	r.mu.Lock()
	m := &r.msg
	m.Received = r.clock.Now()
	m.Subject, m.Data, m.Size = msg.Subject, msg.Data, len(msg.Data)
	m.StreamSeq = 0
	if strings.HasPrefix(msg.Reply, "$JS.ACK.") {
		if md, err := msg.Metadata(); err == nil {
			m.StreamSeq = md.Sequence.Stream
		}
	}
	r.hdr = record.HeaderFields(msg.Header, r.hdr)
	m.Header = r.hdr
	err := r.rot.Write(m)
	r.mu.Unlock()
	if err != nil {
		r.watch.failed(r.state, err, 1)
		return
	}
	r.writes.Inc()
	r.watch.ok(r.state)
}
