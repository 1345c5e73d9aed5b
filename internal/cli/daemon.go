package cli

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/nsai/ingot-top/internal/audit"
	"github.com/nsai/ingot-top/internal/buildinfo"
	"github.com/nsai/ingot-top/internal/daemon"
	"github.com/nsai/ingot-top/internal/feed"
	"github.com/nsai/ingot-top/internal/health"
	"github.com/nsai/ingot-top/internal/metrics"
	"github.com/nsai/ingot-top/internal/sshserve"
)

// DaemonCmd runs the headless service SREs deploy next to Prometheus.
type DaemonCmd struct {
	feed.Options `embed:""`

	Durable string `name:"durable" help:"JetStream durable consumer name. Enables durable mode: at-least-once delivery, a message is acknowledged only after the audit trail, metrics and logs took it." placeholder:"NAME"`
	Stream  string `name:"stream" default:"TELEMETRY" help:"JetStream stream to consume from in durable mode (created on --subject with --create)." placeholder:"STREAM"`
	Create  bool   `name:"create" help:"In durable mode, create the stream and the consumer when missing."`

	// Scale-out (docs/scale-out.md): daemons of one group share the stream.
	Group string `name:"group" env:"INGOT_TOP_GROUP" help:"Share the stream with every daemon started with the same group: each message goes to one of them, each exports its share on /metrics (sum over instance in Prometheus) and republishes its partial aggregate (viewers merge them). Core mode: a NATS queue subscription in this queue group. Durable mode: the group is the durable consumer every member pulls, so --durable, when given too, must be the same name. Letters, digits, '-' and '_'." placeholder:"NAME"`
	// The feed's default batch (256) suits the dashboard; the daemon fsyncs the audit trail
	// once per batch, so under load a bigger batch is what keeps fsync off the per-event bill.
	BatchSize int `name:"batch-size" default:"4096" help:"Most events handed to the sinks at once (one audit fsync and, in durable mode, one fetch per batch); batches are smaller when traffic is light."`

	WebListenAddress []string `name:"web.listen-address" default:":9464" help:"Addresses to serve /metrics, /health, /-/healthy and /-/ready on (repeatable)." placeholder:"ADDR"`
	WebConfigFile    string   `name:"web.config.file" type:"path" help:"exporter-toolkit web config file for TLS and basic auth (https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md)." placeholder:"FILE"`
	WebSystemdSocket bool     `name:"web.systemd-socket" help:"Use systemd socket activation listeners instead of --web.listen-address."`

	ForgeHealth    string        `name:"forge-health" env:"INGOT_FORGE_HEALTH_URL" help:"Forge /health URL probed for /health (unset: reported as unknown, not configured, and not counted against health)." placeholder:"URL"`
	AnvilHealth    string        `name:"anvil-health" env:"INGOT_ANVIL_HEALTH_URL" help:"Anvil /health URL probed for /health (unset: reported as unknown, not configured, and not counted against health)." placeholder:"URL"`
	HealthInterval time.Duration `name:"health.interval" default:"5s" help:"Time between probes of one service."`
	HealthTimeout  time.Duration `name:"health.timeout" default:"2s" help:"A probe not answered by then is unhealthy."`

	LogLevel      string  `name:"log.level" enum:"debug,info,warn,error" default:"info" help:"Least level written (debug, info, warn, error)."`
	LogFormat     string  `name:"log.format" enum:"json,logfmt" default:"json" help:"Log line format: json (ELK/Loki) or logfmt."`
	LogFile       string  `name:"log.file" type:"path" help:"Log file, rotated at local midnight and by size; empty writes to stderr." placeholder:"FILE"`
	LogMaxSize    int     `name:"log.max-size" default:"100" help:"Rotate the log file at this many megabytes."`
	LogMaxAge     int     `name:"log.max-age" default:"30" help:"Delete rotated log files older than this many days (0 keeps them)."`
	LogMaxBackups int     `name:"log.max-backups" default:"0" help:"Keep at most this many rotated log files (0: no count limit)."`
	LogCompress   bool    `name:"log.compress" default:"true" negatable:"" help:"Gzip rotated log files."`
	LogSampleRate float64 `name:"log.sample-rate" env:"INGOT_LOG_SAMPLE_RATE" default:"0.1" help:"Fraction of ordinary telemetry events written to the log; result=error events are always written."`

	// ADR-008's sampling knob: "Sample 10% of events for metrics, 100% for errors.
	// Configurable via ENV var." It keeps that variable, and is a flag and config key too.
	MetricsSampleRate float64 `name:"metrics.sample-rate" env:"INGOT_METRICS_SAMPLE_RATE" default:"1" help:"Fraction (0..1] of successful events observed into /metrics histograms; errors and state events are always observed, and counters are scaled back to totals."`

	AuditDir       string `name:"audit.dir" type:"path" help:"Audit trail directory (default: /var/lib/ingot-top/audit as root, else $XDG_STATE_HOME/ingot-top/audit or ~/.local/state/ingot-top/audit)." placeholder:"DIR"`
	AuditRetention int    `name:"audit.retention" default:"30" help:"Keep audit day files this many days after their day (0: forever)."`
	AuditFsync     string `name:"audit.fsync" enum:"batch,always,interval" default:"batch" help:"When audit records are fsynced: batch (before acknowledging), always (per record), interval (every second; may lose acknowledged records on power loss)."`
	AuditCompress  bool   `name:"audit.compress" default:"true" negatable:"" help:"Gzip closed audit day files."`
	AuditDisable   bool   `name:"audit.disable" help:"Run without an audit trail."`

	RecordDir         string        `name:"record.dir" env:"INGOT_RECORD_DIR" type:"path" help:"Keep the raw telemetry stream on disk in this directory for 'ingot-top replay DIR/*.itr' (empty: off). Files rotate at --record.max-file-size or every hour and are removed after --record.retention, so the last hours are always there for a postmortem." placeholder:"DIR"`
	RecordMaxFileSize string        `name:"record.max-file-size" env:"INGOT_RECORD_MAX_FILE_SIZE" default:"256MiB" help:"Start a new recording file at this size (e.g. 100MB, 1GiB)." placeholder:"SIZE"`
	RecordRetention   time.Duration `name:"record.retention" env:"INGOT_RECORD_RETENTION" default:"24h" help:"Remove recording files last written longer ago than this (0: keep them all; mind the disk). At 2,000 events/s a recording takes about 0.4 GB an hour."`

	RepublishErrorsSubject   string  `name:"republish.errors-subject" default:"ingot_top.errors" help:"Subject of the throttled error fan-out (empty disables it); must not be under --subject." placeholder:"SUBJECT"`
	RepublishErrorsRate      float64 `name:"republish.errors-rate" default:"1" help:"At most this many error messages per second; errors in between are batched."`
	RepublishErrorsMaxBatch  int     `name:"republish.errors-max-batch" default:"100" help:"Error records per message; more are only counted (coalesced)."`
	RepublishSnapshotSubject string  `name:"republish.snapshot-subject" default:"ingot_top.snapshot" help:"Subject of the 1 Hz aggregated snapshot (empty disables it); must not be under --subject." placeholder:"SUBJECT"`

	SSHListenAddress  string        `name:"ssh.listen-address" env:"INGOT_SSH_LISTEN_ADDRESS" help:"Serve the dashboard over SSH on this address (e.g. :2222; empty: off). Engineers connect with 'ssh -p 2222 -t HOST' and need nothing installed; every session shows the daemon's own data, so viewers add no load on NATS." placeholder:"ADDR"`
	SSHAuthorizedKeys string        `name:"ssh.authorized-keys" env:"INGOT_SSH_AUTHORIZED_KEYS" type:"path" help:"OpenSSH authorized_keys file of the public keys allowed in (required with --ssh.listen-address; the only way in: no passwords). Reloaded on SIGHUP." placeholder:"FILE"`
	SSHHostKey        string        `name:"ssh.host-key" env:"INGOT_SSH_HOST_KEY" type:"path" help:"The server's private host key; an ed25519 key is created there (mode 0600) when missing, and its fingerprint logged (default: ssh_host_ed25519_key in the directory above --audit.dir, /var/lib/ingot-top under systemd)." placeholder:"FILE"`
	SSHMaxSessions    int           `name:"ssh.max-sessions" env:"INGOT_SSH_MAX_SESSIONS" default:"32" help:"Most dashboards served at once; one more is refused with a message."`
	SSHIdleTimeout    time.Duration `name:"ssh.idle-timeout" env:"INGOT_SSH_IDLE_TIMEOUT" default:"30m" help:"Close a session when no key was pressed for this long (0: never)."`
	SSHRateLimit      int           `name:"ssh.rate-limit" env:"INGOT_SSH_RATE_LIMIT" default:"30" help:"Most new SSH connections per minute from one IP address (0: no limit); the rest are closed before the handshake."`
	SSHWriteTimeout   time.Duration `name:"ssh.write-timeout" env:"INGOT_SSH_WRITE_TIMEOUT" default:"10s" help:"Disconnect a client that has not taken a frame within this time, so a stalled client holds nothing but its own connection."`
	SSHRefresh        time.Duration `name:"ssh.refresh" env:"INGOT_SSH_REFRESH" default:"1s" help:"How often the frame every SSH session shows is built (once for all sessions)."`
	// The dashboard's alert rules: the SSH sessions evaluate them, and the republished
	// aggregate carries the daemon's evaluation for --from-daemon viewers. Same keys.
	AlertFlags `embed:""`

	ShutdownTimeout time.Duration `name:"shutdown-timeout" default:"10s" help:"Bound on draining and flushing after SIGTERM/SIGINT."`
}

// Validate runs at parse time, for the daemon and for `ingot-top config`, so a bad value in
// the config file or environment is a usage error before anything starts.
func (c *DaemonCmd) Validate() error {
	if err := metrics.CheckSampleRate(c.MetricsSampleRate); err != nil {
		return fmt.Errorf("--metrics.sample-rate: %w", err)
	}
	if math.IsNaN(c.LogSampleRate) || c.LogSampleRate < 0 || c.LogSampleRate > 1 {
		return fmt.Errorf("--log.sample-rate %v: want a fraction between 0 and 1", c.LogSampleRate)
	}
	if c.BatchSize < 1 {
		return fmt.Errorf("--batch-size %d: want at least 1", c.BatchSize)
	}
	if _, err := parseSize(c.RecordMaxFileSize); err != nil {
		return fmt.Errorf("--record.max-file-size %q: %w", c.RecordMaxFileSize, err)
	}
	if c.RecordRetention < 0 {
		return fmt.Errorf("--record.retention %s: want 0 (keep all) or more", c.RecordRetention)
	}
	if c.SSHRefresh <= 0 {
		return fmt.Errorf("--ssh.refresh %s: want a positive duration", c.SSHRefresh)
	}
	ssh := c.sshConfig("")
	if ssh.HostKey == "" {
		ssh.HostKey = "default" // resolved at run time; only its presence matters here
	}
	if err := ssh.Validate(); err != nil {
		return err
	}
	if err := c.validateGroup(); err != nil {
		return err
	}
	return nil
}

// validateGroup checks --group against what NATS accepts as a queue group and JetStream as a
// consumer name, and against --durable: in durable mode one consumer is the group.
func (c *DaemonCmd) validateGroup() error {
	if c.Group == "" {
		return nil
	}
	for _, r := range c.Group {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return fmt.Errorf("--group %q: %q is not allowed (a group is also a JetStream consumer name: letters, digits, '-' and '_')", c.Group, r)
		}
	}
	if c.Durable != "" && c.Durable != c.Group {
		return fmt.Errorf("--group %q and --durable %q: in durable mode the group is the one durable consumer its daemons pull; give the same name to both, or only --durable", c.Group, c.Durable)
	}
	return nil
}

func (c *DaemonCmd) sshConfig(hostKey string) sshserve.Config {
	if c.SSHHostKey != "" {
		hostKey = c.SSHHostKey
	}
	return sshserve.Config{
		ListenAddress:  strings.TrimSpace(c.SSHListenAddress),
		AuthorizedKeys: c.SSHAuthorizedKeys,
		HostKey:        hostKey,
		MaxSessions:    c.SSHMaxSessions,
		IdleTimeout:    c.SSHIdleTimeout,
		RatePerMinute:  c.SSHRateLimit,
		WriteTimeout:   c.SSHWriteTimeout,
	}
}

// Run runs the daemon until SIGTERM/SIGINT (env.Ctx ends); SIGHUP reopens log files.
func (c *DaemonCmd) Run(env *Env) error {
	cfg, err := c.config(env.Getenv)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("daemon: %w", err)}
	}
	defer shedCodePages()()
	hangup := make(chan os.Signal, 1)
	signal.Notify(hangup, syscall.SIGHUP)
	defer signal.Stop(hangup)

	deps := daemon.Deps{Stderr: env.Stderr, Hangup: hangup}
	if ssh := c.sshConfig(defaultHostKey(cfg.Audit.Dir)); ssh.Enabled() {
		rules, err := c.AlertFlags.Rules()
		if err != nil {
			return &ExitError{Code: ExitUsage, Err: fmt.Errorf("daemon: %w", err)}
		}
		svc := sshserve.DaemonConfig{Server: ssh, Refresh: c.SSHRefresh, Rules: rules, Target: feed.RedactURLs(c.Server)}
		if !cfg.Audit.Disabled {
			svc.AuditDir = cfg.Audit.Dir
		}
		deps.SSH = func(logger *slog.Logger) (daemon.Service, error) { return sshserve.NewDaemonService(svc, logger) }
	}
	d, err := daemon.New(cfg, deps)
	if err != nil {
		var usageErr *daemon.UsageError
		if errors.As(err, &usageErr) {
			return &ExitError{Code: ExitUsage, Err: fmt.Errorf("daemon: %w", err)}
		}
		return &ExitError{Code: ExitInternal, Err: fmt.Errorf("daemon: %w", err)}
	}
	if err := d.Run(env.Ctx); err != nil {
		return &ExitError{Code: ExitInternal, Err: fmt.Errorf("daemon: %w", err)}
	}
	return nil
}

func (c *DaemonCmd) config(getenv func(string) string) (daemon.Config, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return daemon.Config{}, fmt.Errorf("--log.level %q: %w", c.LogLevel, err)
	}
	fsync, err := audit.ParseFsyncPolicy(c.AuditFsync)
	if err != nil {
		return daemon.Config{}, fmt.Errorf("--audit.fsync: %w", err)
	}
	auditDir := c.AuditDir
	if auditDir == "" {
		auditDir = daemon.DefaultAuditDir(getenv, os.Geteuid())
	}
	rules, err := c.AlertFlags.Rules()
	if err != nil {
		return daemon.Config{}, fmt.Errorf("alert rules: %w", err)
	}
	recordFileSize, err := parseSize(c.RecordMaxFileSize)
	if err != nil {
		return daemon.Config{}, fmt.Errorf("--record.max-file-size %q: %w", c.RecordMaxFileSize, err)
	}
	var listen []string
	for _, a := range c.WebListenAddress {
		if a = strings.TrimSpace(a); a != "" {
			listen = append(listen, a)
		}
	}
	return daemon.Config{
		Feed: c.Options,
		Ingest: feed.Config{
			Durable:      c.Durable,
			Group:        c.Group,
			Stream:       c.Stream,
			CreateStream: c.Create,
			BatchSize:    c.BatchSize,
			// As the viewers do, on the daemon's budget (feed.DaemonFlushDelay): larger
			// batches, and a steady stream read in a few larger reads instead of one per TCP
			// segment (core mode only; full reads are never delayed).
			FlushDelay:   feed.DaemonFlushDelay,
			ReadCoalesce: feed.DaemonFlushDelay / 2,
		},
		Web: daemon.WebConfig{
			ListenAddresses: listen,
			ConfigFile:      c.WebConfigFile,
			SystemdSocket:   c.WebSystemdSocket,
		},
		ForgeHealthURL: c.ForgeHealth,
		AnvilHealthURL: c.AnvilHealth,
		Health:         health.Config{Interval: c.HealthInterval, Timeout: c.HealthTimeout},
		Metrics:        metrics.Config{SampleRate: c.MetricsSampleRate},
		Log: daemon.LogConfig{
			Level:      level,
			Format:     c.LogFormat,
			File:       c.LogFile,
			MaxSizeMB:  c.LogMaxSize,
			MaxAgeDays: c.LogMaxAge,
			MaxBackups: c.LogMaxBackups,
			Compress:   c.LogCompress,
			SampleRate: c.LogSampleRate,
		},
		Audit: daemon.AuditConfig{
			Disabled:      c.AuditDisable,
			Dir:           auditDir,
			RetentionDays: auditRetention(c.AuditRetention),
			Fsync:         fsync,
			Compress:      c.AuditCompress,
		},
		AlertRules: &rules,
		Republish: daemon.RepublishConfig{
			ErrorsSubject:       c.RepublishErrorsSubject,
			ErrorsPerSecond:     c.RepublishErrorsRate,
			MaxErrorsPerMessage: c.RepublishErrorsMaxBatch,
			SnapshotSubject:     c.RepublishSnapshotSubject,
		},
		Record:          daemon.RecordConfig{Dir: c.RecordDir, MaxFileSize: recordFileSize, Retention: c.RecordRetention},
		ShutdownTimeout: c.ShutdownTimeout,
		Version:         buildinfo.Version(),
	}, nil
}

// auditRetention maps the flag to audit.Config, where 0 would mean the package default. For
// a compliance trail the safe reading of "0" is "never delete", which the writer spells -1.
func auditRetention(days int) int {
	if days <= 0 {
		return -1
	}
	return days
}

// defaultHostKey is ssh_host_ed25519_key in the directory above the audit trail: the
// daemon's state directory (/var/lib/ingot-top as a service).
func defaultHostKey(auditDir string) string {
	return filepath.Join(filepath.Dir(auditDir), "ssh_host_ed25519_key")
}
