package sshserve

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/nsai/ingot-top/internal/alerts"
	"github.com/nsai/ingot-top/internal/app"
	"github.com/nsai/ingot-top/internal/daemon"
	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/ui"
)

// DaemonConfig is the dashboard the daemon serves over SSH.
type DaemonConfig struct {
	Server Config
	// Refresh is how often the one frame all sessions share is built.
	Refresh time.Duration
	// Rules are the alerts the served dashboards evaluate.
	Rules alerts.Rules
	// AuditDir receives the session audit file; "" means none (--audit.disable).
	AuditDir string
	// Target is the NATS server the daemon consumes, for the dashboard's empty state.
	Target string
}

// sshAuditFile is the session audit file in --audit.dir: one JSON line per session start,
// end and refusal, rotated by size (sessions are few; the cap is against a runaway).
const sshAuditFile = "ssh-sessions.jsonl"

// DaemonService is the daemon's SSH dashboards (daemon.Deps.SSH): one frame builder (an app
// session attached to the daemon's own engine, feed state and probes, so that no viewer
// opens a NATS connection), the broadcaster that hands each frame to every session, the
// listener, and the session audit file.
type DaemonService struct {
	cfg     DaemonConfig
	frames  *Broadcaster[ui.Frame]
	server  *Server
	auditMu sync.Mutex
	auditW  *lumberjack.Logger
	// trace is the frame builder's trace lookup, set once Run has started it.
	trace atomic.Pointer[func(string) ([]engine.TraceSpan, bool)]
}

var _ daemon.Service = (*DaemonService)(nil)

// NewDaemonService binds the listener (a bad address, key file or host key is a start-up
// error); logger is the daemon's structured log.
func NewDaemonService(cfg DaemonConfig, logger *slog.Logger) (*DaemonService, error) {
	s := &DaemonService{cfg: cfg, frames: NewBroadcaster[ui.Frame]()}
	if s.cfg.Refresh <= 0 {
		s.cfg.Refresh = time.Second
	}
	if cfg.AuditDir != "" {
		s.auditW = &lumberjack.Logger{Filename: filepath.Join(cfg.AuditDir, sshAuditFile), MaxSize: 10, MaxBackups: 10}
	}
	rules := cfg.Rules
	srv, err := New(cfg.Server, Deps{
		Frames: s.frames,
		View: ui.Options{
			Refresh:     s.cfg.Refresh,
			Rules:       &rules,
			Target:      cfg.Target,
			ErrorGroups: true,
			Actions: ui.Actions{Trace: func(traceID string) ([]engine.TraceSpan, bool) {
				if trace := s.trace.Load(); trace != nil {
					return (*trace)(traceID)
				}
				return nil, false
			}},
		},
		MaxErrorRate: rules.ErrorRate.Threshold,
		Logger:       logger.With("component", "ssh"),
		Audit:        s.audit,
	})
	if err != nil {
		return nil, err
	}
	s.server = srv
	return s, nil
}

// Server is the listener (for its address and session counters).
func (s *DaemonService) Server() *Server { return s.server }

// Reload rereads the authorized keys (SIGHUP).
func (s *DaemonService) Reload() error { return s.server.Reload() }

// Close releases the listener when the daemon does not start after all.
func (s *DaemonService) Close() error { return s.server.Close() }

// Run builds one frame per refresh from the daemon's sources and serves SSH until ctx ends.
func (s *DaemonService) Run(ctx context.Context, src daemon.FrameSources) error {
	frameCtx, stopFrames := context.WithCancel(ctx)
	defer stopFrames()
	sess, err := app.Start(frameCtx, app.Config{
		Attached: &app.Attached{Engine: src.Engine, State: src.State, Health: src.Health},
		Rules:    s.cfg.Rules,
		Refresh:  s.cfg.Refresh,
	})
	if err != nil {
		return fmt.Errorf("SSH dashboards: %w", err)
	}
	trace := sess.Trace
	s.trace.Store(&trace)
	go s.frames.Run(frameCtx, sess.Frames())
	err = s.server.Serve(ctx)
	stopFrames()
	_ = sess.Wait()
	if s.auditW != nil {
		s.auditMu.Lock()
		_ = s.auditW.Close()
		s.auditMu.Unlock()
	}
	return err
}

// audit appends one session record; a failure is logged, never fatal to the session.
func (s *DaemonService) audit(r SessionRecord) {
	if s.auditW == nil {
		return
	}
	line, err := json.Marshal(struct {
		Time        time.Time `json:"time"`
		Phase       string    `json:"phase"`
		Session     string    `json:"session,omitempty"`
		User        string    `json:"user,omitempty"`
		Fingerprint string    `json:"fingerprint,omitempty"`
		KeyComment  string    `json:"key_comment,omitempty"`
		Remote      string    `json:"remote"`
		DurationS   float64   `json:"duration_s,omitempty"`
		Reason      string    `json:"reason,omitempty"`
		BytesSent   int64     `json:"bytes_sent,omitempty"`
	}{r.At.UTC(), r.Phase, r.ID, r.User, r.Fingerprint, r.KeyComment, r.Remote, r.Duration.Seconds(), r.Reason, r.BytesSent})
	if err != nil {
		return
	}
	s.auditMu.Lock()
	defer s.auditMu.Unlock()
	if _, err := s.auditW.Write(append(line, '\n')); err != nil {
		s.server.log.Error("SSH session audit record not written", "error", err.Error(), "phase", r.Phase, "fingerprint", r.Fingerprint)
	}
}
