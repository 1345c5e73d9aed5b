package daemon

import (
	"context"
	"log/slog"
	"time"

	"github.com/nsai/ingot-top/internal/ingest"
)

// logConnChanges writes one log line per NATS connection change (lost, back, retrying),
// so an operator reading the daemon's log sees an outage and its end, not only a gap in
// the events. Polling the feed's state keeps the feed free of logging concerns.
// prev is the state to compare the first poll against, taken by the caller.
//
// While NATS is down the phase does not change from one attempt to the next, yet the reason
// can (a server that was down now refuses the credentials): each new reason is logged once
// per outage, with the server's words, and a reason that keeps coming back is not repeated.
func logConnChanges(ctx context.Context, prev ingest.ConnState, state func() ingest.ConnState, logger *slog.Logger, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	// Reasons logged during this outage; bounded, as reasons come from servers.
	logged := map[string]bool{}
	const maxLogged = 16
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cur := state()
		if cur.Phase == prev.Phase && cur.Reconnects == prev.Reconnects {
			if cur.Phase == ingest.PhaseConnected || cur.LastError == "" || logged[cur.LastError] || len(logged) >= maxLogged {
				continue
			}
		}
		if cur.Phase == ingest.PhaseConnected {
			clear(logged)
		} else {
			logged[cur.LastError] = true
		}
		attrs := []any{
			slog.String("server", cur.Server),
			slog.String("phase", string(cur.Phase)),
			slog.Uint64("reconnects", cur.Reconnects),
		}
		switch {
		case cur.Phase == ingest.PhaseConnected:
			logger.Info("NATS connected", append(attrs, slog.Duration("down_for", cur.Since.Sub(prev.Since)))...)
		case prev.Phase == ingest.PhaseConnected:
			logger.Warn("NATS connection lost", append(attrs, slog.String("error", cur.LastError))...)
		default:
			logger.Warn("NATS still unreachable", append(attrs, slog.String("error", cur.LastError))...)
		}
		prev = cur
	}
}
