package daemon

import (
	"context"
	"time"

	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/health"
	"github.com/nsai/ingot-top/internal/ingest"
)

// FrameSources are the daemon's own sources, from which the dashboards it serves over SSH
// build their frames: its engine, its feed's connection state and its probes (nil without).
type FrameSources struct {
	Engine *engine.Engine
	State  func() ingest.ConnState
	Health func() []health.Status
}

// Service is something the daemon runs beside its own work on its own sources: the SSH
// dashboards (package sshserve, which builds on packages that depend on this one, so the
// CLI injects it through Deps.SSH).
type Service interface {
	// Run serves until ctx ends; the daemon stops it first when it shuts down.
	Run(ctx context.Context, src FrameSources) error
	// Reload is called on SIGHUP (the SSH authorized keys).
	Reload() error
	// Close releases what the service bound when the daemon does not start after all.
	Close() error
}

// viewEngine is the engine the service reads: the republisher's when there is one, else a
// new one that the feed feeds as one more sink.
func (d *Daemon) viewEngine() (eng *engine.Engine, own bool) {
	if d.aggregate != nil {
		return d.aggregate.Engine(), false
	}
	cfg := engine.DefaultConfig()
	// Frames ask for a fresh build every refresh; periodic builds would be wasted work.
	cfg.SnapshotEvery = time.Hour
	return engine.New(cfg, d.clock), true
}
