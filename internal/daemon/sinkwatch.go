package daemon

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nsai/ingot-top/internal/audit"
	"github.com/nsai/ingot-top/internal/ingest"
	"github.com/nsai/ingot-top/internal/wire"
)

// sinkNoticeEvery is the longest a failing sink goes unmentioned on stderr: a full disk fails
// every batch, and a line per batch would bury everything else (and fill whatever disk
// stderr goes to), so after the first line a failure is repeated once a minute.
const sinkNoticeEvery = time.Minute

// sinkRecoverySettle is how long a sink must keep writing before its outage is declared
// over. A disk at its limit takes a small batch into the last free page and refuses the
// next one; without the wait every such flap would print a recovery and a failure, and the
// last line an operator read could say "writing again" while it is not.
const sinkRecoverySettle = 5 * time.Second

// sinkSpec describes one local sink the daemon writes to: the audit trail or the log file.
type sinkSpec struct {
	name      string // /health service name and the "sink" attribute of notices
	title     string // how notices start: "Audit trail", "Log file"
	detail    string // where it writes, shown in /health
	countKey  string // log attribute of the loss: records_lost, acks_held_back, lines_lost
	countText string // the same in words for /health
	hint      string // what the operator does; in every failure notice
	counter   prometheus.Counter
}

// sinkState is one sink's health. All fields are guarded by sinkWatch.mu.
//
// An outage runs from the first failed write to the moment the sink has written for
// sinkRecoverySettle without failing again; a failure while settling continues the outage.
type sinkState struct {
	spec sinkSpec
	// failing: the last write failed. outage: an outage is open (failing or settling).
	failing, outage bool
	since           time.Time // start of the open outage, or of the healthy period
	okSince         time.Time // while settling: since when writes succeed
	lastErr         string
	count           uint64    // units lost or held back in the open outage
	noticed         bool      // the open outage was announced
	lastNotice      time.Time // last failure notice of the open outage
}

// sinkWatch turns sink failures into /health entries, counters and rate-limited notices.
// Notices go to the daemon log and, when the log is a file, to stderr too: a full disk
// usually takes the log file down with the audit trail, and a notice written only there
// reaches nobody.
type sinkWatch struct {
	clock  Clock
	logger *slog.Logger // the daemon log
	stderr *slog.Logger // nil when the daemon log already is stderr
	every  time.Duration
	settle time.Duration
	wake   chan struct{}

	mu    sync.Mutex
	sinks []*sinkState
}

func newSinkWatch(clock Clock, every, settle time.Duration) *sinkWatch {
	return &sinkWatch{clock: clock, every: every, settle: settle, wake: make(chan struct{}, 1), logger: slog.New(slog.DiscardHandler)}
}

func (w *sinkWatch) add(spec sinkSpec) *sinkState {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := &sinkState{spec: spec, since: w.clock.Now()}
	w.sinks = append(w.sinks, s)
	return s
}

func (w *sinkWatch) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// failed records that s refused n units (records, messages, lines) with err. Only a change
// of state wakes the notifier; every later failure is folded into the counts.
func (w *sinkWatch) failed(s *sinkState, err error, n uint64) {
	s.spec.counter.Add(float64(n))
	now := w.clock.Now()
	w.mu.Lock()
	s.lastErr = wire.SafeString(err.Error(), wire.MaxReasonRunes)
	changed := !s.failing
	if !s.outage {
		s.outage, s.since, s.count, s.noticed = true, now, 0, false
	}
	s.failing = true
	s.count += n
	w.mu.Unlock()
	if changed {
		w.poke()
	}
}

// ok records that s wrote again.
func (w *sinkWatch) ok(s *sinkState) {
	w.mu.Lock()
	changed := s.failing
	if changed {
		s.failing, s.okSince = false, w.clock.Now()
	}
	w.mu.Unlock()
	if changed {
		w.poke()
	}
}

// notice is one line for the log and stderr.
type notice struct {
	level slog.Level
	msg   string
	attrs []slog.Attr
}

// due collects the notices due at now and says when the next one falls due (zero: none is
// pending). It only decides; emit writes, outside the lock, because writing a notice can
// fail the log sink and come back here.
func (w *sinkWatch) due(now time.Time) ([]notice, time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []notice
	var next time.Time
	later := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for _, s := range w.sinks {
		switch {
		case !s.outage:
		case s.failing && (!s.noticed || !now.Before(s.lastNotice.Add(w.every))):
			msg := s.spec.title + " write failed"
			if s.noticed {
				msg = s.spec.title + " still failing"
			}
			out = append(out, notice{slog.LevelError, msg, []slog.Attr{
				slog.String("sink", s.spec.name),
				slog.String("error", s.lastErr),
				slog.Uint64(s.spec.countKey, s.count),
				slog.String("failing_since", s.since.UTC().Format(time.RFC3339)),
				slog.String("action", s.spec.hint),
			}})
			s.noticed, s.lastNotice = true, now
			later(now.Add(w.every))
		case s.failing:
			later(s.lastNotice.Add(w.every))
		case now.Before(s.okSince.Add(w.settle)):
			later(s.okSince.Add(w.settle))
		default:
			// Written without a failure for the settle time: the outage is over.
			if s.noticed {
				out = append(out, notice{slog.LevelWarn, s.spec.title + " writing again", []slog.Attr{
					slog.String("sink", s.spec.name),
					slog.Duration("failed_for", s.okSince.Sub(s.since)),
					slog.Uint64(s.spec.countKey, s.count),
					slog.String("failing_since", s.since.UTC().Format(time.RFC3339)),
				}})
			}
			s.outage, s.since, s.count = false, s.okSince, 0
		}
	}
	return out, next
}

func (w *sinkWatch) emit(notices []notice) {
	ctx := context.Background()
	for _, n := range notices {
		w.logger.LogAttrs(ctx, n.level, n.msg, n.attrs...)
		if w.stderr != nil {
			w.stderr.LogAttrs(ctx, n.level, n.msg, n.attrs...)
		}
	}
}

// run writes notices as they fall due until ctx ends: at once when a sink starts failing,
// once every w.every while it keeps failing, and once when it has written again for
// w.settle.
func (w *sinkWatch) run(ctx context.Context) {
	var timer <-chan time.Time
	var timerAt time.Time
	for {
		now := w.clock.Now()
		notices, next := w.due(now)
		w.emit(notices)
		if !next.IsZero() && (timer == nil || next.Before(timerAt)) {
			timer, timerAt = w.clock.After(next.Sub(now)), next
		}
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		case <-timer:
			timer = nil
		}
	}
}

// health is s as a /health entry: unhealthy with the error and the loss while failing.
func (w *sinkWatch) health(s *sinkState) ServiceHealth {
	w.mu.Lock()
	defer w.mu.Unlock()
	since := s.since.UTC()
	out := ServiceHealth{Status: serviceHealthy, Detail: s.spec.detail, Since: &since}
	switch {
	case s.failing:
		out.Status = serviceUnhealthy
		out.Reason = fmt.Sprintf("%s; %d %s since %s", s.lastErr, s.count, s.spec.countText, since.Format(time.RFC3339))
	case s.outage:
		// Writing again, not yet for long enough to call the outage over.
		okSince := s.okSince.UTC()
		out.Since = &okSince
		out.Detail = fmt.Sprintf("%s; writing again after %d %s since %s", s.spec.detail, s.count, s.spec.countText, since.Format(time.RFC3339))
	}
	return out
}

// failure is s's /health reason while it fails, "" otherwise.
func (w *sinkWatch) failure(s *sinkState) string {
	if h := w.health(s); h.Status != serviceHealthy {
		return h.Reason
	}
	return ""
}

// watchedAudit is the audit trail as the feed sees it: every refused batch is counted in
// records (core NATS: lost for good) or in held-back acknowledgements (JetStream: the batch
// is NAKed and comes back), and a batch whose records reached the trail ends an outage.
type watchedAudit struct {
	trail   *audit.Writer
	watch   *sinkWatch
	state   *sinkState
	durable bool
}

var _ ingest.Sink = (*watchedAudit)(nil)

func (a *watchedAudit) HandleBatch(events []wire.Event) error {
	written, failed := a.trail.Totals()
	err := a.trail.HandleBatch(events)
	nowWritten, nowFailed := a.trail.Totals()
	if err != nil {
		n := nowFailed - failed
		if a.durable {
			// The feed NAKs the whole batch: none of its messages is acknowledged.
			n = uint64(len(events))
		}
		a.watch.failed(a.state, err, n)
		return err
	}
	// A batch without audit events proves nothing about the disk.
	if nowWritten > written {
		a.watch.ok(a.state)
	}
	return nil
}

func (a *watchedAudit) HandleInvalid(bad ingest.Invalid) error { return a.trail.HandleInvalid(bad) }

// watchedWriter is the log file as the loggers see it: a failed write counts the lines it
// lost and a successful one ends an outage. It returns the error as it came: slog and the
// event log have no better place to report it.
type watchedWriter struct {
	out   io.Writer
	watch *sinkWatch
	state *sinkState

	// mu orders writes so that torn is exact; the loggers write from several goroutines.
	mu sync.Mutex
	// torn: a write cut short by the full disk left a line without its newline. The next
	// write ends it first, or the next line would be glued to it and both lost to a parser.
	torn bool
}

func (l *watchedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.torn {
		if _, err := l.out.Write([]byte{'\n'}); err != nil {
			l.watch.failed(l.state, err, uint64(max(bytes.Count(p, []byte{'\n'}), 1)))
			return 0, err
		}
		l.torn = false
	}
	n, err := l.out.Write(p)
	if err != nil {
		lost := uint64(bytes.Count(p[n:], []byte{'\n'}))
		if lost == 0 && n < len(p) {
			lost = 1
		}
		l.torn = n > 0 && p[n-1] != '\n'
		l.watch.failed(l.state, err, lost)
		return n, err
	}
	l.watch.ok(l.state)
	return n, nil
}

// sinkCounters are the daemon's counts of what its local sinks could not take.
type sinkCounters struct {
	auditLost, auditHeld, logLost prometheus.Counter
}

func newSinkCounters(reg prometheus.Registerer) (sinkCounters, error) {
	c := sinkCounters{
		auditLost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ingot_top_audit_records_lost_total",
			Help: "Audit records that could not be written to the trail and are gone (core NATS cannot redeliver them).",
		}),
		auditHeld: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ingot_top_audit_acks_held_back_total",
			Help: "Telemetry messages left unacknowledged because the audit trail refused their batch (JetStream mode: they stay in the stream and are redelivered; a message refused again counts again).",
		}),
		logLost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ingot_top_log_lines_lost_total",
			Help: "Log lines that could not be written to --log.file.",
		}),
	}
	for _, col := range []prometheus.Collector{c.auditLost, c.auditHeld, c.logLost} {
		if err := reg.Register(col); err != nil {
			return sinkCounters{}, err
		}
	}
	return c, nil
}

// auditSpec is the audit trail in dir; durable says JetStream redelivers what it refuses.
func auditSpec(dir string, durable bool, c sinkCounters) sinkSpec {
	if durable {
		return sinkSpec{
			name: "audit", title: "Audit trail", detail: dir,
			countKey: "acks_held_back", countText: "deliveries refused and left unacknowledged (JetStream redelivers them; nothing is lost)",
			hint:    fmt.Sprintf("free space on the file system of %s (df -h %s); nothing is lost: the messages stay in the stream and are written when the trail can write again", dir, dir),
			counter: c.auditHeld,
		}
	}
	return sinkSpec{
		name: "audit", title: "Audit trail", detail: dir,
		countKey: "records_lost", countText: "records lost",
		hint:    fmt.Sprintf("free space on the file system of %s (df -h %s); core NATS cannot redeliver, so the records lost (ingot_top_audit_records_lost_total) are gone; run the daemon with --durable where the trail must be complete", dir, dir),
		counter: c.auditLost,
	}
}

// logSpec is the log file at path.
func logSpec(path string, c sinkCounters) sinkSpec {
	return sinkSpec{
		name: "log", title: "Log file", detail: path,
		countKey: "lines_lost", countText: "log lines lost",
		hint:    fmt.Sprintf("free space on the file system of %s (df -h %s)", path, path),
		counter: c.logLost,
	}
}
