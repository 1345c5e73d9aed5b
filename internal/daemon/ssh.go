package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/nsai/ingot-top/internal/alerts"
	"github.com/nsai/ingot-top/internal/health"
	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/feed"
	"github.com/nsai/ingot-top/internal/sshserve"
	"github.com/nsai/ingot-top/internal/ui"
)

// SSHConfig is the dashboard the daemon serves over SSH (package sshserve); off unless
// Server.ListenAddress is set.
type SSHConfig struct {
	Server sshserve.Config
	// Refresh is how often the one frame all sessions share is built.
	Refresh time.Duration
	// Rules are the alerts the served dashboards evaluate; the zero value means
	// alerts.DefaultRules().
	Rules *alerts.Rules
}

// FrameSources are the daemon's own sources, from which the served dashboards' frames are
// built: its engine, its feed's connection state and its probes (nil without probes).
type FrameSources struct {
	Engine *engine.Engine
	State  func() feed.ConnState
	Health func() []health.Status
}

// FrameBuilder starts building one frame per refresh from src until ctx ends. Package app
// builds frames and depends on this package (through the fleet source), so the CLI injects
// it (Deps.SSHFrames). trace finds a trace's spans; wait returns when the builder stopped.
type FrameBuilder func(ctx context.Context, src FrameSources, refresh time.Duration, rules alerts.Rules) (
	frames <-chan ui.Frame, trace func(traceID string) ([]engine.TraceSpan, bool), wait func() error, err error)

// sshAuditFile is the session audit file in --audit.dir: one JSON line per session start,
// end and refusal, rotated by size (sessions are few; the cap is against a runaway).
const sshAuditFile = "ssh-sessions.jsonl"

// sshDashboards is the daemon's side of the SSH dashboards: one frame builder (an app
// session attached to the daemon's own engine, feed state and probes, so that no viewer
// opens a NATS connection) and the broadcaster that hands each frame to every session.
type sshDashboards struct {
	cfg     SSHConfig
	engine  *engine.Engine
	ownsEng bool // the engine is not the republisher's: the daemon must run it
	frames  *sshserve.Broadcaster[ui.Frame]
	server  *sshserve.Server
	auditMu sync.Mutex
	auditW  *lumberjack.Logger
	// trace is the frame builder's trace lookup, set once run has started it.
	trace atomic.Pointer[func(string) ([]engine.TraceSpan, bool)]
}

// newSSHDashboards binds the listener; the engine is the republisher's when there is one,
// else a new one that the caller adds to the feed's sinks.
func (d *Daemon) newSSHDashboards(cfg SSHConfig) (*sshDashboards, error) {
	if d.deps.SSHFrames == nil {
		return nil, errors.New("SSH dashboards: no frame builder (Deps.SSHFrames)")
	}
	s := &sshDashboards{cfg: cfg, frames: sshserve.NewBroadcaster[ui.Frame]()}
	if s.cfg.Refresh <= 0 {
		s.cfg.Refresh = time.Second
	}
	if d.aggregate != nil {
		s.engine = d.aggregate.Engine()
	} else {
		ec := engine.DefaultConfig()
		// Frames ask for a fresh build every refresh; periodic builds would be wasted.
		ec.SnapshotEvery = time.Hour
		s.engine, s.ownsEng = engine.New(ec, d.clock), true
	}
	if !d.cfg.Audit.Disabled {
		s.auditW = &lumberjack.Logger{Filename: filepath.Join(d.cfg.Audit.Dir, sshAuditFile), MaxSize: 10, MaxBackups: 10}
	}
	rules := alerts.DefaultRules()
	if cfg.Rules != nil {
		rules = *cfg.Rules
	}
	srv, err := sshserve.New(cfg.Server, sshserve.Deps{
		Frames: s.frames,
		View: ui.Options{
			Refresh:     s.cfg.Refresh,
			Rules:       &rules,
			Target:      feed.RedactURLs(d.cfg.Feed.Server),
			ErrorGroups: true,
			Actions: ui.Actions{Trace: func(traceID string) ([]engine.TraceSpan, bool) {
				if trace := s.trace.Load(); trace != nil {
					return (*trace)(traceID)
				}
				return nil, false
			}},
		},
		MaxErrorRate: rules.ErrorRate.Threshold,
		Logger:       d.logger.With("component", "ssh"),
		Audit:        s.audit,
		Clock:        d.clock.Now,
	})
	if err != nil {
		return nil, usage("%w", err)
	}
	s.server = srv
	return s, nil
}

// audit appends one session record; a failure is logged, never fatal to the session.
func (s *sshDashboards) audit(r sshserve.SessionRecord) {
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
	_, _ = s.auditW.Write(append(line, '\n'))
}

// run builds frames from the daemon's sources and serves SSH until ctx ends.
func (s *sshDashboards) run(ctx context.Context, d *Daemon) error {
	src := FrameSources{Engine: s.engine, State: d.feed.State}
	if d.prober != nil {
		src.Health = d.prober.Statuses
	}
	rules := alerts.DefaultRules()
	if s.cfg.Rules != nil {
		rules = *s.cfg.Rules
	}
	frameCtx, stopFrames := context.WithCancel(ctx)
	defer stopFrames()
	frames, trace, wait, err := d.deps.SSHFrames(frameCtx, src, s.cfg.Refresh, rules)
	if err != nil {
		return fmt.Errorf("SSH dashboards: %w", err)
	}
	s.trace.Store(&trace)
	go s.frames.Run(frameCtx, frames)
	err = s.server.Serve(ctx)
	stopFrames()
	_ = wait()
	if s.auditW != nil {
		s.auditMu.Lock()
		_ = s.auditW.Close()
		s.auditMu.Unlock()
	}
	return err
}

// SSHAddr is the SSH listener's address, nil without one.
func (d *Daemon) SSHAddr() net.Addr {
	if d.ssh == nil {
		return nil
	}
	return d.ssh.server.Addr()
}
