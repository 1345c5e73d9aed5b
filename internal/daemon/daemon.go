// Package daemon owns ingot-top's headless service, the export work ADR-008 gives
// Ingot.TelemetryHandler: it runs the feed with the compliance audit trail, the Prometheus
// exporter, the structured (sampled) event log and the throttled error/snapshot
// republishing as sinks; serves /metrics, /health, /-/healthy and /-/ready over
// exporter-toolkit (TLS and basic auth from --web.config.file); probes Forge and Anvil; and
// owns the lifecycle: SIGHUP reopens log files, cancellation drains and flushes within a
// bounded time.
//
// Decisions an operator should know:
//   - Listen address default :9464 (the OpenTelemetry-exporter port, which SREs already
//     allow-list for scrapes); change it when an OTel collector runs on the same host.
//   - /health: forge and anvil come from probing --forge-health/--anvil-health. A service
//     whose URL is not configured is {"status":"unknown","reason":"not configured"} and does
//     not make /health fail (a metrics-only deployment must pass its load-balancer check); a
//     configured service before its first finished probe is "unknown" and does count as not
//     healthy. pubsub is the NATS feed: healthy only while connected and consuming.
//   - /-/ready is 200 only while connected and consuming (durable mode: the consumer
//     exists); /-/healthy is 200 whenever the process serves HTTP, NATS or not.
//   - /health also reports the daemon's own sinks, "audit" (the trail) and "log" (the log
//     file): a sink whose writes fail (full disk) is unhealthy with the error and what was
//     lost, and makes /health degraded (503). Readiness policy while a sink fails: core mode
//     stays ready, because ingestion and metrics still work and taking the daemon out of
//     rotation frees no disk; durable mode is not ready while the audit trail refuses
//     writes, because every batch is then NAKed and nothing is consumed (nothing is lost
//     either: the messages stay in the stream). A failing log file never affects readiness.
//   - Sink failures, their recovery, and a durable consumer that cannot be used (no
//     JetStream, no stream, no consumer: with the command that fixes it) are written to the
//     log and, when the log is a file, to stderr too: the log file is usually on the disk
//     that filled up. A failure is told at once and then once a minute while it lasts.
//   - Audit trail default directory: /var/lib/ingot-top/audit as root, otherwise
//     $XDG_STATE_HOME/ingot-top/audit or ~/.local/state/ingot-top/audit; retention 30 days
//     (ADR-008's log retention), --audit.retention=0 keeps files forever.
//   - The event log samples ordinary events (default 10%, the design's "Sample 10%");
//     result=error events are always logged; metrics are never sampled by the daemon (the
//     exporter's own INGOT_METRICS_SAMPLE_RATE still applies).
//   - Republished subjects must not match the telemetry subscription, or the daemon would
//     consume its own output.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/nsai/ingot-top/internal/audit"
	"github.com/nsai/ingot-top/internal/buildinfo"
	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/feed"
	"github.com/nsai/ingot-top/internal/health"
	"github.com/nsai/ingot-top/internal/ingest"
	"github.com/nsai/ingot-top/internal/metrics"
)

// DefaultShutdownTimeout bounds draining and flushing after a stop signal.
const DefaultShutdownTimeout = 10 * time.Second

// WebConfig is the HTTP side, named as exporter-toolkit names its flags.
type WebConfig struct {
	ListenAddresses []string
	ConfigFile      string // TLS and basic auth, exporter-toolkit web-config format; "" = plain HTTP
	SystemdSocket   bool
}

// AuditConfig is the compliance trail; Disabled turns it off (for throw-away deployments).
type AuditConfig struct {
	Disabled      bool
	Dir           string
	RetentionDays int
	Fsync         audit.FsyncPolicy
	Compress      bool
}

// Config is everything the daemon runs with.
type Config struct {
	Feed   feed.Options
	Ingest feed.Config // core NATS, or JetStream durable when Ingest.Durable is set
	Web    WebConfig

	// ForgeHealthURL and AnvilHealthURL are probed for /health; "" means not configured.
	ForgeHealthURL string
	AnvilHealthURL string
	Health         health.Config

	Metrics   metrics.Config
	Log       LogConfig
	Audit     AuditConfig
	Republish RepublishConfig
	Record    RecordConfig

	// ShutdownTimeout bounds the drain after ctx ends; 0 means DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	Version         string
}

// Deps are the daemon's collaborators that are not configuration.
type Deps struct {
	// Stderr receives the log when Log.File is empty, and start-up failures.
	Stderr io.Writer
	// Hangup delivers SIGHUP (or anything meaning "reopen your files"); nil means none.
	Hangup <-chan os.Signal
	// Snapshots, when set, is republished once a second on Republish.SnapshotSubject.
	Snapshots SnapshotSource
	// Clock drives daily log rotation and republishing; nil means the real clock.
	Clock Clock
	// HealthClient is the HTTP client of the Forge/Anvil probes; nil means the prober's own.
	HealthClient *http.Client
	// SSH, when set, starts the dashboards served over SSH (sshserve.DaemonService) with the
	// daemon's logger; they run on the daemon's own engine, feed state and probes.
	SSH func(logger *slog.Logger) (Service, error)
}

// UsageError is a start-up failure caused by the configuration (bad listen address,
// unreadable web config, unwritable log file, ...); the CLI exits with its usage code.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

func usage(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// auditTrail is what the daemon needs of the audit writer.
type auditTrail interface {
	ingest.Sink
	Reopen() error
	Close() error
}

// Daemon is one configured, bound, not yet running service. Create it with New, run it once.
type Daemon struct {
	cfg   Config
	deps  Deps
	clock Clock

	logs   *logSink
	logger *slog.Logger
	// watch reports the audit trail and the log file failing (full disk) in /health, in
	// counters and on stderr; logState and auditState are nil when not watched.
	watch      *sinkWatch
	logState   *sinkState
	auditState *sinkState

	registry  *prometheus.Registry
	exporter  *metrics.Exporter
	eventLog  *EventLogger
	errorsOut *ErrorRepublisher
	snapshots *snapshotPublisher
	aggregate *AggregateSource // the default SnapshotSource, see aggregate.go
	audit     auditTrail
	recorder  *streamRecorder // nil without --record.dir
	feed      *feed.Feed
	prober    *health.Prober
	ssh       Service // nil without --ssh.listen-address
	sshEngine *engine.Engine
	ownEngine bool // sshEngine is not the republisher's: the daemon runs it

	listeners []net.Listener
	server    *http.Server

	pubConn atomic.Pointer[nats.Conn]
}

// New validates cfg, opens the log and the audit trail, builds the feed and binds the HTTP
// listeners, so that every configuration mistake surfaces here, as a *UsageError, before
// anything runs. NATS being down is not a mistake: the feed retries forever once running.
func New(cfg Config, deps Deps) (_ *Daemon, err error) {
	if deps.Stderr == nil {
		deps.Stderr = os.Stderr
	}
	clock := deps.Clock
	if clock == nil {
		clock = realClock{}
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	if err := validate(cfg); err != nil {
		return nil, err
	}
	d := &Daemon{cfg: cfg, deps: deps, clock: clock}
	// Undo whatever was opened when a later step fails.
	defer func() {
		if err != nil {
			d.closeStartup()
		}
	}()

	d.registry = prometheus.NewRegistry()
	d.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildinfo.NewCollector(),
	)
	sinkCounts, err := newSinkCounters(d.registry)
	if err != nil {
		return nil, fmt.Errorf("registering sink counters: %w", err)
	}
	d.watch = newSinkWatch(clock, sinkNoticeEvery, sinkRecoverySettle)

	if d.logs, err = openLogSink(cfg.Log, deps.Stderr); err != nil {
		return nil, &UsageError{Err: err}
	}
	if d.logs.file != nil {
		d.logState = d.watch.add(logSpec(cfg.Log.File, sinkCounts))
		d.logs.writer = &watchedWriter{out: d.logs.file, watch: d.watch, state: d.logState}
		// The log file is usually on the disk that fills up; sink failures are also told here.
		d.watch.stderr = newLogger(deps.Stderr, cfg.Log)
	}
	d.logger = newLogger(d.logs.writer, cfg.Log)
	d.watch.logger = d.logger
	if d.exporter, err = metrics.New(d.registry, cfg.Metrics); err != nil {
		return nil, usage("metrics: %w", err)
	}
	if d.eventLog, err = NewEventLogger(d.logs.writer, cfg.Log, d.registry); err != nil {
		return nil, fmt.Errorf("event log: %w", err)
	}

	sinks := []ingest.Sink{}
	if !cfg.Audit.Disabled {
		w, err := audit.New(audit.Config{
			Dir:           cfg.Audit.Dir,
			RetentionDays: cfg.Audit.RetentionDays,
			Fsync:         cfg.Audit.Fsync,
			Compress:      cfg.Audit.Compress,
			Logger:        d.logger.With("component", "audit"),
		})
		if err != nil {
			return nil, usage("audit trail in --audit.dir %s: %w", cfg.Audit.Dir, err)
		}
		d.audit = w
		d.registerAuditStats(w)
		durable := cfg.Ingest.Durable != ""
		d.auditState = d.watch.add(auditSpec(cfg.Audit.Dir, durable, sinkCounts))
		// The trail goes first: in JetStream mode nothing is acknowledged before it is durable,
		// and a failed append stops the batch before the metrics count it.
		sinks = append(sinks, &watchedAudit{trail: w, watch: d.watch, state: d.auditState, durable: durable})
	}
	sinks = append(sinks, d.exporter, d.eventLog)

	publisher := PublisherFunc(d.publisher)
	if cfg.Republish.ErrorsSubject != "" {
		if d.errorsOut, err = NewErrorRepublisher(cfg.Republish, publisher, clock, d.registry); err != nil {
			return nil, fmt.Errorf("error republishing: %w", err)
		}
		sinks = append(sinks, d.errorsOut)
	}
	if cfg.Republish.SnapshotSubject != "" && deps.Snapshots == nil {
		d.aggregate = NewAggregateSource(clock, d.logger.With("component", "republish"))
		deps.Snapshots = d.aggregate
		sinks = append(sinks, d.aggregate)
	}
	if cfg.Republish.SnapshotSubject != "" && deps.Snapshots != nil {
		if d.snapshots, err = newSnapshotPublisher(cfg.Republish.SnapshotSubject, deps.Snapshots, publisher, clock, d.registry); err != nil {
			return nil, fmt.Errorf("snapshot republishing: %w", err)
		}
	}

	if cfg.Record.Dir != "" {
		if d.recorder, err = newStreamRecorder(cfg.Record, cfg.Feed, cfg.Version, clock, d.watch, d.registry); err != nil {
			return nil, usage("--record.dir %s: %w", cfg.Record.Dir, err)
		}
	}
	if deps.SSH != nil {
		svc, err := deps.SSH(d.logger)
		if err != nil {
			return nil, &UsageError{Err: err}
		}
		d.ssh = svc
		d.sshEngine, d.ownEngine = d.viewEngine()
		if d.ownEngine {
			sinks = append(sinks, d.sshEngine)
		}
	}

	if d.feed, err = feed.New(cfg.Feed, cfg.Ingest, sinks...); err != nil {
		return nil, usage("feed: %w", err)
	}
	d.exporter.WatchFeed(d.feed.State)

	var targets []health.Target
	if cfg.ForgeHealthURL != "" {
		targets = append(targets, health.Target{Name: "forge", URL: cfg.ForgeHealthURL, Kind: health.KindService})
	}
	if cfg.AnvilHealthURL != "" {
		targets = append(targets, health.Target{Name: "anvil", URL: cfg.AnvilHealthURL, Kind: health.KindService})
	}
	probed := map[string]bool{}
	var statuses HealthStatuser
	if len(targets) > 0 {
		d.prober = health.New(targets, cfg.Health, nil, deps.HealthClient)
		statuses = d.prober
		if d.aggregate != nil {
			d.aggregate.SetProbes(d.prober)
		}
		if err := d.registry.Register(newServiceUpCollector(d.prober)); err != nil {
			return nil, fmt.Errorf("registering ingot_top_service_up: %w", err)
		}
		for _, t := range targets {
			probed[t.Name] = true
		}
	}

	endpoints := &healthEndpoints{feed: d.feed, probes: statuses, probed: probed, now: clock.Now, local: d.localHealth}
	if cfg.Ingest.Durable != "" {
		endpoints.consuming = d.checkConsumer
		if d.auditState != nil {
			endpoints.stalled = d.auditStall
		}
	}
	mux, err := newMux(d.registry, endpoints, cfg.Version, promhttpLogger{d.logger})
	if err != nil {
		return nil, err
	}
	d.server = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(d.logger.Handler(), slog.LevelWarn),
	}
	if !cfg.Web.SystemdSocket {
		for _, addr := range cfg.Web.ListenAddresses {
			l, err := net.Listen("tcp", addr)
			if err != nil {
				return nil, usage("--web.listen-address %s: %w", addr, err)
			}
			d.listeners = append(d.listeners, l)
		}
	}
	return d, nil
}

func validate(cfg Config) error {
	if err := cfg.Log.validate(); err != nil {
		return &UsageError{Err: err}
	}
	if err := cfg.Republish.validate(cfg.Feed.Subject); err != nil {
		return &UsageError{Err: err}
	}
	if !cfg.Web.SystemdSocket && len(cfg.Web.ListenAddresses) == 0 {
		return usage("--web.listen-address: at least one address is needed")
	}
	if cfg.Web.ConfigFile != "" {
		// Validate reads and parses the file now; the toolkit would otherwise only fail on
		// the first connection, long after start-up looked fine.
		if err := web.Validate(cfg.Web.ConfigFile); err != nil {
			return usage("--web.config.file %s: %w", cfg.Web.ConfigFile, err)
		}
	}
	if !cfg.Audit.Disabled && cfg.Audit.Dir == "" {
		return usage("--audit.dir is empty (use --audit.disable to run without an audit trail)")
	}
	for flag, raw := range map[string]string{"--forge-health": cfg.ForgeHealthURL, "--anvil-health": cfg.AnvilHealthURL} {
		if raw == "" {
			continue
		}
		if !strings.HasPrefix(raw, "http://") && !strings.HasPrefix(raw, "https://") {
			return usage("%s %q: want an http:// or https:// URL", flag, raw)
		}
	}
	return nil
}

// publisher is the republishing connection while it is connected. Republishing has its own
// connection rather than borrowing the feed's: the feed closes its connection when it has
// drained, and the last error batch is flushed after that.
func (d *Daemon) publisher() Publisher {
	nc := d.pubConn.Load()
	if nc == nil || nc.Status() != nats.CONNECTED {
		return nil
	}
	return nc
}

// dialRepublishing opens the republishing connection; like the feed's, it keeps retrying in
// the background when NATS is down.
func (d *Daemon) dialRepublishing() {
	if d.errorsOut == nil && d.snapshots == nil {
		return
	}
	nc, err := feed.Dial(d.cfg.Feed, feed.DefaultClientName+"-republish")
	if err != nil {
		d.logger.Error("Republishing disabled: cannot connect", "error", err.Error())
		return
	}
	d.pubConn.Store(nc)
}

func (d *Daemon) closeRepublishing() error {
	nc := d.pubConn.Swap(nil)
	if nc == nil {
		return nil
	}
	defer nc.Close()
	if nc.IsConnected() {
		return nc.FlushTimeout(2 * time.Second)
	}
	return nil
}

// Addrs are the bound HTTP addresses (useful with port 0).
func (d *Daemon) Addrs() []net.Addr {
	out := make([]net.Addr, 0, len(d.listeners))
	for _, l := range d.listeners {
		out = append(out, l.Addr())
	}
	return out
}

// Registry is the daemon's private registry (what /metrics serves).
func (d *Daemon) Registry() *prometheus.Registry { return d.registry }

// Logger is the daemon's structured logger.
func (d *Daemon) Logger() *slog.Logger { return d.logger }

// Reopen reopens the log file and the audit day file, for SIGHUP after an external tool
// (logrotate) moved them.
func (d *Daemon) Reopen() error {
	var errs []error
	if err := d.logs.Reopen(); err != nil {
		errs = append(errs, fmt.Errorf("reopen log file: %w", err))
	}
	if d.audit != nil {
		if err := d.audit.Reopen(); err != nil {
			errs = append(errs, fmt.Errorf("reopen audit file: %w", err))
		}
	}
	err := errors.Join(errs...)
	if err != nil {
		d.logger.Error("Reopening files failed", "error", err.Error())
	} else {
		d.logger.Info("Reopened log and audit files")
	}
	return err
}

// Run serves until ctx ends, then drains the subscription, flushes the audit trail and the
// logs and stops HTTP, within ShutdownTimeout. It returns nil after a clean stop, and an
// error naming what did not finish otherwise, or when HTTP could not be served at all.
func (d *Daemon) Run(ctx context.Context) error {
	mode := "core"
	if d.cfg.Ingest.Durable != "" {
		mode = "jetstream"
	}
	d.logger.Info("ingot-top daemon starting",
		"version", d.cfg.Version, "mode", mode, "subject", d.cfg.Feed.Subject,
		"listen", addrStrings(d.Addrs()), "audit_dir", d.auditDirForLog(), "log_sample_rate", d.cfg.Log.SampleRate)

	feedCtx, stopFeed := context.WithCancel(context.WithoutCancel(ctx))
	defer stopFeed()
	sideCtx, stopSide := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSide()

	d.dialRepublishing()
	feedDone := make(chan error, 1)
	go func() { feedDone <- d.feed.Run(feedCtx) }()

	httpDone := make(chan error, 1)
	go func() { httpDone <- d.serveHTTP() }()

	var side sync.WaitGroup
	if d.prober != nil {
		side.Go(func() { _ = d.prober.Run(sideCtx) })
	}
	if d.snapshots != nil {
		side.Go(func() { d.snapshots.Run(sideCtx) })
	}
	if d.aggregate != nil {
		// Stopped with the side tasks, after the feed has drained into it.
		side.Go(func() { _ = d.aggregate.Run(sideCtx) })
	}
	if d.logs.file != nil {
		side.Go(func() { rotateDaily(sideCtx, d.clock, d.logs.Rotate, d.logger) })
	}
	side.Go(func() { d.watch.run(sideCtx) })
	if d.recorder != nil {
		side.Go(func() { d.recorder.run(sideCtx, d.logger.With("component", "record")) })
	}
	initial := d.feed.State()
	side.Go(func() { logConnChanges(sideCtx, initial, d.feed.State, d.logger, time.Second) })
	if d.cfg.Ingest.Durable != "" {
		side.Go(func() { d.watchConsumer(sideCtx, consumerCheckEvery) })
	}
	if d.deps.Hangup != nil {
		side.Go(func() {
			for {
				select {
				case <-sideCtx.Done():
					return
				case <-d.deps.Hangup:
					_ = d.Reopen()
					if d.ssh != nil {
						_ = d.ssh.Reload()
					}
				}
			}
		})
	}
	sshCtx, stopSSH := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSSH()
	sshDone := make(chan error, 1)
	if d.ssh != nil {
		if d.ownEngine {
			side.Go(func() { _ = d.sshEngine.Run(sideCtx) })
		}
		src := FrameSources{Engine: d.sshEngine, State: d.feed.State}
		if d.prober != nil {
			src.Health = d.prober.Statuses
		}
		go func() {
			err := d.ssh.Run(sshCtx, src)
			if err != nil && sshCtx.Err() == nil {
				// The rest of the daemon goes on: dashboards are a convenience, metrics
				// and the audit trail are its job.
				d.logger.Error("SSH dashboards stopped", "error", err.Error())
			}
			sshDone <- err
		}()
	} else {
		sshDone <- nil
	}
	republishCtx, stopRepublish := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRepublish()
	republishDone := make(chan struct{})
	if d.errorsOut != nil {
		go func() { d.errorsOut.Run(republishCtx); close(republishDone) }()
	} else {
		close(republishDone)
	}

	var runErr error
	feedFinished := false
	select {
	case <-ctx.Done():
		d.logger.Info("Stop requested: draining", "timeout", d.cfg.ShutdownTimeout.String())
	case err := <-httpDone:
		httpDone <- err // shutdown below waits on it again
		runErr = fmt.Errorf("http server stopped: %w", err)
		d.logger.Error("HTTP server failed", "error", err.Error())
	case err := <-feedDone:
		feedFinished = true
		runErr = fmt.Errorf("feed stopped: %w", err)
		if err == nil {
			runErr = errors.New("feed stopped unexpectedly")
		}
		d.logger.Error("Feed stopped", "error", runErr.Error())
	}

	steps := []shutdownStep{
		// First, so that every served dashboard says why it closes while the data is live.
		{"close SSH sessions", func() error {
			stopSSH()
			return <-sshDone
		}},
		{"drain NATS subscription", func() error {
			stopFeed()
			if feedFinished {
				return nil
			}
			if err := <-feedDone; err != nil && !errors.Is(err, context.Canceled) {
				return err
			}
			return nil
		}},
		{"flush event log", func() error { d.eventLog.Close(); return nil }},
		{"flush error republishing", func() error { stopRepublish(); <-republishDone; return nil }},
		{"stop probes and schedules", func() error { stopSide(); side.Wait(); return nil }},
		{"close republishing connection", d.closeRepublishing},
		{"flush and close audit trail", func() error {
			if d.audit == nil {
				return nil
			}
			return d.audit.Close()
		}},
		{"stop HTTP server", func() error {
			shutdownCtx, cancel := context.WithTimeout(context.Background(), d.cfg.ShutdownTimeout)
			defer cancel()
			if err := d.server.Shutdown(shutdownCtx); err != nil {
				return err
			}
			if err := <-httpDone; err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		}},
	}
	if err := runShutdown(steps, d.cfg.ShutdownTimeout, d.logger); err != nil {
		runErr = errors.Join(runErr, err)
	}
	if runErr == nil {
		d.logger.Info("ingot-top daemon stopped")
	}
	if err := d.logs.Close(); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("close log file: %w", err))
	}
	return runErr
}

func (d *Daemon) serveHTTP() error {
	listen := d.cfg.Web.ListenAddresses
	flags := &web.FlagConfig{
		WebListenAddresses: &listen,
		WebSystemdSocket:   &d.cfg.Web.SystemdSocket,
		WebConfigFile:      &d.cfg.Web.ConfigFile,
	}
	logger := d.logger.With("component", "web")
	if d.cfg.Web.SystemdSocket {
		return web.ListenAndServe(d.server, flags, logger)
	}
	// The listeners were bound in New, so a bad address was a start-up error and port 0
	// works; the toolkit still does TLS, basic auth and the web-config reload.
	return web.ServeMultiple(d.listeners, d.server, flags, logger)
}

func (d *Daemon) auditDirForLog() string {
	if d.audit == nil {
		return "disabled"
	}
	return d.cfg.Audit.Dir
}

// closeStartup releases what New opened when a later step failed.
func (d *Daemon) closeStartup() {
	if d.ssh != nil {
		_ = d.ssh.Close()
	}
	for _, l := range d.listeners {
		_ = l.Close()
	}
	if d.eventLog != nil {
		d.eventLog.Close()
	}
	if d.audit != nil {
		_ = d.audit.Close()
	}
	if d.logs != nil {
		_ = d.logs.Close()
	}
}

func (d *Daemon) registerAuditStats(w *audit.Writer) {
	counter := func(name, help string, value func(audit.Stats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(value(w.Stats())) })
	}
	d.registry.MustRegister(
		counter("ingot_top_audit_records_total", "Audit records appended to the trail and synced.", func(s audit.Stats) uint64 { return s.Records }),
		counter("ingot_top_audit_duplicates_total", "Audit records skipped as JetStream redeliveries already on the trail.", func(s audit.Stats) uint64 { return s.Duplicates }),
		counter("ingot_top_audit_write_errors_total", "Failed audit writes or syncs, each refusing a whole batch (ingot_top_audit_records_lost_total and ingot_top_audit_acks_held_back_total count what was in them).", func(s audit.Stats) uint64 { return s.WriteErrors }),
	)
}

// localHealth is the /health entries of the daemon's own sinks: the audit trail and the log.
func (d *Daemon) localHealth() map[string]ServiceHealth {
	out := map[string]ServiceHealth{}
	if d.auditState != nil {
		out["audit"] = d.watch.health(d.auditState)
	} else {
		out["audit"] = ServiceHealth{Status: serviceUnknown, Reason: reasonNotConfigured, Detail: "--audit.disable"}
	}
	if d.recorder != nil {
		out["record"] = d.watch.health(d.recorder.state)
	}
	if d.logState != nil {
		out["log"] = d.watch.health(d.logState)
	} else {
		out["log"] = ServiceHealth{Status: serviceHealthy, Detail: "stderr"}
	}
	return out
}

// auditStall says why a durable daemon is not consuming although the consumer is there: the
// trail refuses every batch, so every batch is NAKed and nothing moves.
func (d *Daemon) auditStall() string {
	reason := d.watch.failure(d.auditState)
	if reason == "" {
		return ""
	}
	return "audit trail refuses writes, messages stay in the stream unacknowledged until it can write: " + reason
}

// shutdownStep is one named part of the drain, so that a timeout can say what is stuck.
type shutdownStep struct {
	name string
	run  func() error
}

// runShutdown runs steps in order and gives up after timeout, naming the step that was
// running and those not started. Steps left running are abandoned: the process is exiting.
func runShutdown(steps []shutdownStep, timeout time.Duration, logger *slog.Logger) error {
	var mu sync.Mutex
	current := -1
	var errs []error
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i, s := range steps {
			mu.Lock()
			current = i
			mu.Unlock()
			start := time.Now()
			if err := s.run(); err != nil {
				logger.Error("Shutdown step failed", "step", s.name, "error", err.Error())
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", s.name, err))
				mu.Unlock()
			}
			logger.Debug("Shutdown step done", "step", s.name, "duration_ms", float64(time.Since(start).Microseconds())/1000)
		}
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-done:
		return errors.Join(errs...)
	case <-timer.C:
	}
	mu.Lock()
	defer mu.Unlock()
	var unfinished []string
	for i := current; i < len(steps); i++ {
		unfinished = append(unfinished, steps[i].name)
	}
	logger.Error("Shutdown timed out", "timeout", timeout.String(), "unfinished", unfinished)
	errs = append(errs, fmt.Errorf("shutdown did not finish within %s: unfinished: %s", timeout, strings.Join(unfinished, ", ")))
	return errors.Join(errs...)
}

func addrStrings(addrs []net.Addr) []string {
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = a.String()
	}
	return out
}

// DefaultAuditDir is where the audit trail goes when --audit.dir is not given: the system
// state directory for root (a service), the XDG state directory for anyone else (an
// operator trying the daemon out), never the current directory, which for a service is
// often / and for a person is wherever they happened to be.
func DefaultAuditDir(getenv func(string) string, euid int) string {
	if euid == 0 {
		return "/var/lib/ingot-top/audit"
	}
	if state := getenv("XDG_STATE_HOME"); state != "" && filepath.IsAbs(state) {
		return filepath.Join(state, "ingot-top", "audit")
	}
	if home := getenv("HOME"); home != "" {
		return filepath.Join(home, ".local", "state", "ingot-top", "audit")
	}
	return filepath.Join(os.TempDir(), "ingot-top", "audit")
}
