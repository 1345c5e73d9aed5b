package daemon

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"gopkg.in/natefinch/lumberjack.v2"
)

// LogConfig configures the structured log. Zero values are not defaults: the CLI supplies them.
type LogConfig struct {
	Level  slog.Level
	Format string // "json" (ELK/Loki, the design's shape) or "logfmt"
	// File is the log file; "" writes to the process's stderr without rotation.
	File       string
	MaxSizeMB  int  // rotate when the file reaches this size
	MaxAgeDays int  // delete rotated files older than this; 0 keeps them
	MaxBackups int  // keep at most this many rotated files; 0 keeps all (subject to MaxAgeDays)
	Compress   bool // gzip rotated files
	// SampleRate is the fraction of ordinary telemetry events written to the log (the design's
	// "Sample 10%"); events with result = "error" are always written.
	SampleRate float64
}

// Log formats.
const (
	LogFormatJSON   = "json"
	LogFormatLogfmt = "logfmt"
)

func (c LogConfig) validate() error {
	switch c.Format {
	case LogFormatJSON, LogFormatLogfmt:
	default:
		return fmt.Errorf("--log.format %q: want json or logfmt", c.Format)
	}
	if c.SampleRate < 0 || c.SampleRate > 1 {
		return fmt.Errorf("--log.sample-rate %v: want a fraction between 0 and 1", c.SampleRate)
	}
	if c.File != "" && c.MaxSizeMB <= 0 {
		return fmt.Errorf("--log.max-size %d: want a positive number of megabytes", c.MaxSizeMB)
	}
	if c.MaxAgeDays < 0 || c.MaxBackups < 0 {
		return fmt.Errorf("--log.max-age and --log.max-backups must not be negative")
	}
	return nil
}

// logSink is where log lines go: stderr, or a rotating file that can be reopened (SIGHUP,
// after an external logrotate moved it) and rotated (local midnight, size).
type logSink struct {
	file   *lumberjack.Logger // nil when writing to stderr
	writer io.Writer
}

func openLogSink(cfg LogConfig, stderr io.Writer) (*logSink, error) {
	if cfg.File == "" {
		return &logSink{writer: stderr}, nil
	}
	lj := &lumberjack.Logger{
		Filename:   cfg.File,
		MaxSize:    cfg.MaxSizeMB,
		MaxAge:     cfg.MaxAgeDays,
		MaxBackups: cfg.MaxBackups,
		LocalTime:  true,
		Compress:   cfg.Compress,
	}
	// Open now so that an unwritable path is a start-up error, not a silent loss later.
	if _, err := lj.Write(nil); err != nil {
		return nil, fmt.Errorf("open --log.file %s: %w", cfg.File, err)
	}
	return &logSink{file: lj, writer: lj}, nil
}

// Reopen closes the file so that the next line opens whatever is at the configured path now:
// after an external rotation that is a fresh file. Writing to stderr makes this a no-op.
func (s *logSink) Reopen() error {
	if s.file == nil {
		return nil
	}
	return s.file.Close()
}

// Rotate starts a new file now, keeping the old one as a (possibly compressed) backup.
func (s *logSink) Rotate() error {
	if s.file == nil {
		return nil
	}
	return s.file.Rotate()
}

// Close flushes and closes the file. Lines are written unbuffered, so nothing is pending.
func (s *logSink) Close() error {
	if s.file == nil {
		return nil
	}
	return s.file.Close()
}

// newLogger builds the slog logger in the design's shape:
// {"level":"info","message":"Label submitted",...,"timestamp":"2025-12-01T10:30:45.123Z"}.
func newLogger(w io.Writer, cfg LogConfig) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.Level, ReplaceAttr: designAttrNames}
	if cfg.Format == LogFormatLogfmt {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// designAttrNames renames slog's built-in keys to the ADR's: message, timestamp (UTC,
// milliseconds) and a lower-case level.
func designAttrNames(groups []string, a slog.Attr) slog.Attr {
	if len(groups) > 0 {
		return a
	}
	switch a.Key {
	case slog.TimeKey:
		if t, ok := a.Value.Any().(time.Time); ok {
			return slog.String("timestamp", t.UTC().Format("2006-01-02T15:04:05.000Z07:00"))
		}
		a.Key = "timestamp"
	case slog.MessageKey:
		a.Key = "message"
	case slog.LevelKey:
		if l, ok := a.Value.Any().(slog.Level); ok {
			return slog.String("level", strings.ToLower(l.String()))
		}
	}
	return a
}

// nextLocalMidnight is the first local midnight strictly after now.
func nextLocalMidnight(now time.Time) time.Time {
	y, m, d := now.Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, now.Location())
}

// Clock is the time source of the daemon's schedules (daily rotation, republishing), injected
// so tests drive them without sleeping.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// rotateDaily rotates the log file at every local midnight until ctx ends: the design asks
// for daily files, and size-based rotation alone would leave a quiet day's lines in
// yesterday's file.
func rotateDaily(ctx context.Context, clock Clock, rotate func() error, logger *slog.Logger) {
	for {
		now := clock.Now()
		select {
		case <-ctx.Done():
			return
		case <-clock.After(nextLocalMidnight(now).Sub(now)):
			if err := rotate(); err != nil {
				logger.Error("Daily log rotation failed", "error", err.Error())
			}
		}
	}
}
