package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/nsai/ingot-top/internal/buildinfo"
	"github.com/nsai/ingot-top/internal/feed"
	"github.com/nsai/ingot-top/internal/record"
)

// RecordCmd writes every message on the subject, raw, to a recording file for `replay`.
type RecordCmd struct {
	feed.Options `embed:""`

	Output   string        `short:"o" required:"" type:"path" placeholder:"FILE" help:"Recording file to write; an existing file is refused unless --append."`
	Append   bool          `help:"Add a new session to an existing recording (an incomplete last frame left by a crash is cut off first)."`
	Duration time.Duration `short:"d" help:"Stop after this long (default: until Ctrl-C or SIGTERM)."`
	Count    int64         `short:"n" placeholder:"N" help:"Stop after this many messages."`
	MaxSize  string        `name:"max-size" default:"1GiB" placeholder:"SIZE" help:"Stop when the file reaches this size, e.g. 500MB or 2GiB (0: no cap). The last frame may pass it by up to 256 KiB."`
	Quiet    bool          `short:"q" help:"Do not print progress to stderr."`
}

// Help is shown under the command's usage.
func (RecordCmd) Help() string {
	return `Subscribes to the telemetry subject and writes every message, valid or not, with its
receive time, subject and headers to FILE, for 'ingot-top replay'. The file is zstd-compressed in self-contained
frames flushed every second: a recorder killed or stopped by a full disk leaves a file that
replays up to its last whole frame. Format: docs/recording.md.

Ctrl-C or SIGTERM finishes the frame, fsyncs and exits 0.

Exit status: 0 recorded; 1 messages were lost (a write error such as a full disk, or
slow-consumer drops); 2 bad flags or FILE exists; 3 never connected to NATS.

Examples:
  ingot-top record -s nats://nats.prod:4222 -o incident.itr
  ingot-top record -o sample.itr --count 100000 --max-size 200MB`
}

// recordTick is how often the recorder closes a frame, fsyncs, notes its state in a mark and
// prints progress: a crash loses at most this much.
const recordTick = time.Second

// recordDrainBudget bounds how long messages the client already buffered are still written
// after a stop.
const recordDrainBudget = time.Second

// Run records until a limit, a signal or a write error.
func (c *RecordCmd) Run(env *Env) error {
	switch {
	case c.Duration < 0:
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("record: --duration must be >= 0, got %s", c.Duration)}
	case c.Count < 0:
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("record: --count must be >= 0, got %d", c.Count)}
	case c.Subject == "":
		return &ExitError{Code: ExitUsage, Err: errors.New("record: --subject is empty")}
	}
	maxSize, err := parseSize(c.MaxSize)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("record: --max-size %q: %w", c.MaxSize, err)}
	}
	servers, natsOpts, err := c.Options.NATSOptions("ingot-top record")
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("record: %w", err)}
	}
	server := feed.RedactURLs(servers)
	mode := record.CreateNew
	if c.Append {
		mode = record.Append
	}
	file, err := record.Create(c.Output, record.Header{
		Created: time.Now(), Subject: c.Subject, Source: server, Writer: "ingot-top " + buildinfo.Version(),
	}, mode, record.WriterOptions{})
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	if file.Repaired > 0 {
		fmt.Fprintf(env.Stderr, "record: cut an incomplete frame of %d bytes off the end of %s before appending\n", file.Repaired, c.Output)
	}

	r := &recorder{cmd: c, env: env, file: file, maxSize: maxSize, server: server}
	nc, err := nats.Connect(servers, append(natsOpts,
		// A sync subscription buffers in a channel of this length: the client's 64k default
		// would drop during a slow fsync at a few thousand messages a second.
		nats.SyncQueueLen(feed.DefaultPendingMsgs),
		nats.ConnectHandler(func(*nats.Conn) { r.connected.Store(true) }),
		nats.ReconnectHandler(func(*nats.Conn) { r.connected.Store(true) }),
		nats.DisconnectErrHandler(func(*nats.Conn, error) { r.connected.Store(false) }),
	)...)
	if err != nil {
		file.Close()
		return &ExitError{Code: ExitNoConnect, Err: fmt.Errorf("record: connecting to %s: %w", server, err)}
	}
	defer nc.Close()
	if nc.IsConnected() {
		r.connected.Store(true)
	}
	return r.run(env.Ctx, nc)
}

type recorder struct {
	cmd     *RecordCmd
	env     *Env
	file    *record.File
	maxSize int64
	server  string

	connected     atomic.Bool
	everConnected bool

	received uint64
	drops    uint64
	hdr      []record.HeaderField
	msg      record.Message
}

func (r *recorder) run(ctx context.Context, nc *nats.Conn) error {
	c := r.cmd
	sub, err := nc.SubscribeSync(c.Subject)
	if err != nil {
		r.file.Close()
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("record: subscribing to %q: %w", c.Subject, err)}
	}
	if err := sub.SetPendingLimits(feed.DefaultPendingMsgs, feed.DefaultPendingBytes); err != nil {
		r.file.Close()
		return &ExitError{Code: ExitInternal, Err: fmt.Errorf("record: %w", err)}
	}
	start := time.Now()
	_ = r.file.WriteMark(record.Mark{Time: start, Kind: record.MarkStart, Note: "subscribed to " + c.Subject + " on " + r.server})
	if !c.Quiet {
		fmt.Fprintf(r.env.Stderr, "recording %s from %s to %s...\n", c.Subject, r.server, c.Output)
	}
	var deadline <-chan time.Time
	if c.Duration > 0 {
		t := time.NewTimer(c.Duration)
		defer t.Stop()
		deadline = t.C
	}
	// The receive loop waits in NextMsgWithContext; each tick gets a context of its own
	// that ends at the tick, on a signal, or at --duration.
	stopCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		select {
		case <-deadline:
			stop()
		case <-stopCtx.Done():
		}
	}()
	why := ""
	var lastReceived uint64
	lastTick := start
	for why == "" {
		tickEnd := lastTick.Add(recordTick)
		tickCtx, cancelTick := context.WithDeadline(stopCtx, tickEnd)
		for why == "" {
			msg, err := sub.NextMsgWithContext(tickCtx)
			if err != nil {
				if errors.Is(err, nats.ErrSlowConsumer) {
					continue
				}
				if tickCtx.Err() != nil {
					break
				}
				why = "subscription closed: " + err.Error()
				break
			}
			why = r.write(msg)
		}
		cancelTick()
		now := time.Now()
		r.noteDrops(sub)
		if r.connected.Load() {
			r.everConnected = true
		}
		if why == "" && stopCtx.Err() != nil {
			why = "interrupted"
			if ctx.Err() == nil {
				why = "--duration reached"
			}
		}
		if why == "" || r.file.Err() == nil {
			_ = r.file.WriteMark(record.Mark{Time: now, Kind: record.MarkHeartbeat, Drops: r.drops})
			if err := r.file.Sync(); err != nil && why == "" {
				why = "write error"
			}
			if why == "" && r.maxSize > 0 && r.file.Size() >= r.maxSize {
				why = "--max-size reached"
			}
		}
		if !c.Quiet && why == "" {
			rate := float64(r.received-lastReceived) / now.Sub(lastTick).Seconds()
			fmt.Fprintf(r.env.Stderr, "record: %s  %d messages (%.0f/s), %s on disk, %s, %d dropped\n",
				now.Sub(start).Round(time.Second), r.received, rate, formatBytes(r.file.Size()), r.connText(), r.drops)
		}
		lastReceived, lastTick = r.received, now
	}
	if why == "interrupted" || why == "--duration reached" {
		r.drain(nc, sub)
	}
	_ = sub.Unsubscribe()
	r.noteDrops(sub)
	_ = r.file.WriteMark(record.Mark{Time: time.Now(), Kind: record.MarkStop, Drops: r.drops, Note: why})
	closeErr := r.file.Close()
	written := r.file.MessagesWritten()
	if closeErr != nil || r.file.Err() != nil {
		if closeErr == nil {
			closeErr = r.file.Err()
		}
		return &ExitError{Code: ExitProblem, Err: fmt.Errorf("record: %w; %d of %d messages received were not written (%s holds %d, up to its last whole frame)",
			closeErr, r.received-written, r.received, c.Output, written)}
	}
	if !c.Quiet {
		fmt.Fprintf(r.env.Stderr, "record: stopped (%s): %d messages, %s in %s\n", why, written, formatBytes(r.file.Size()), c.Output)
	}
	if !r.everConnected && r.received == 0 {
		msg := "record: never connected to " + r.server
		if err := nc.LastError(); err != nil {
			msg += ": " + err.Error()
		}
		return &ExitError{Code: ExitNoConnect, Err: errors.New(msg)}
	}
	if r.drops > 0 {
		return &ExitError{Code: ExitProblem, Err: fmt.Errorf("record: %d messages dropped as a slow consumer are missing from %s", r.drops, c.Output)}
	}
	return nil
}

// write records one message and says why recording must stop, or "".
func (r *recorder) write(msg *nats.Msg) string {
	r.received++
	m := &r.msg
	m.Received = time.Now()
	m.Subject = msg.Subject
	m.Data = msg.Data
	m.Size = len(msg.Data)
	m.StreamSeq = 0
	if strings.HasPrefix(msg.Reply, "$JS.ACK.") {
		// A JetStream delivery (a subject that a push consumer delivers to): keep the stream
		// sequence the reply subject carries. Recording from a durable, as the daemon reads,
		// is still to come; the format has the field for it.
		if md, err := msg.Metadata(); err == nil {
			m.StreamSeq = md.Sequence.Stream
		}
	}
	r.hdr = record.HeaderFields(msg.Header, r.hdr)
	m.Header = r.hdr
	if err := r.file.WriteMessage(m); err != nil {
		return "write error"
	}
	switch {
	case r.cmd.Count > 0 && int64(r.received) >= r.cmd.Count:
		return "--count reached"
	case r.maxSize > 0 && r.file.Size() >= r.maxSize:
		return "--max-size reached"
	}
	return ""
}

// drain writes what the client had already received when the recording was stopped, for at
// most recordDrainBudget: those messages were on the subject before the stop.
func (r *recorder) drain(nc *nats.Conn, sub *nats.Subscription) {
	deadline := time.Now().Add(recordDrainBudget)
	if nc.IsConnected() {
		_ = nc.FlushTimeout(recordDrainBudget / 2)
	}
	for time.Now().Before(deadline) {
		if n, _, err := sub.Pending(); err != nil || n == 0 {
			return
		}
		msg, err := sub.NextMsg(10 * time.Millisecond)
		if err != nil {
			if errors.Is(err, nats.ErrSlowConsumer) {
				continue
			}
			return
		}
		if r.write(msg) != "" {
			return
		}
	}
}

func (r *recorder) noteDrops(sub *nats.Subscription) {
	if n, err := sub.Dropped(); err == nil && n > 0 && uint64(n) > r.drops {
		r.drops = uint64(n)
	}
}

func (r *recorder) connText() string {
	if r.connected.Load() {
		return "connected to " + r.server
	}
	return "waiting for " + r.server
}

// parseSize reads a byte size: a number with an optional unit (B, KB, MB, GB, TB in powers
// of 1000; KiB, MiB, GiB, TiB in powers of 1024). 0 is no cap.
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   float64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}}
	mult := 1.0
	for _, u := range units {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(v), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 || v*mult > 1<<62 {
		return 0, errors.New("want a size like 500MB, 2GiB or 0")
	}
	if v > 0 && v*mult < 64<<10 {
		return 0, errors.New("below 64KiB: a recording needs room for at least one frame")
	}
	return int64(v * mult), nil
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
