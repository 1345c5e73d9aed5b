package app

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/daemon"
	"github.com/nsai/ingot-top/internal/feed"
)

// startRepublishingDaemon runs a real daemon on natsURL that republishes its aggregate on
// fleet.snap every second, with what tweak changes in its config (probes, alert rules), and
// stops it when the test ends: the --from-daemon tests' producer.
func startRepublishingDaemon(t *testing.T, natsURL string, tweak func(*daemon.Config)) {
	t.Helper()
	cfg := daemon.Config{
		Feed:            feed.Options{Server: natsURL, Subject: "telemetry.>", ConnectTimeout: 2 * time.Second},
		Web:             daemon.WebConfig{ListenAddresses: []string{"127.0.0.1:0"}},
		Log:             daemon.LogConfig{Level: slog.LevelWarn, Format: daemon.LogFormatJSON, File: filepath.Join(t.TempDir(), "daemon.log"), MaxSizeMB: 10, SampleRate: 0.1},
		Audit:           daemon.AuditConfig{Disabled: true},
		ShutdownTimeout: 10 * time.Second,
		Version:         "test",
		Republish:       daemon.RepublishConfig{SnapshotSubject: "fleet.snap"},
	}
	if tweak != nil {
		tweak(&cfg)
	}
	d, err := daemon.New(cfg, daemon.Deps{Stderr: io.Discard})
	if err != nil {
		t.Fatalf("daemon.New: %v", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() { stop(); <-done })
}
