package feed

import (
	"fmt"
	"net/url"
	"strings"
)

// Validate checks the server URLs the way nats.go will read them, so that a typo such as
// `nats://[::1` is a usage error (exit 2) at start, not a connection failure (exit 3) after
// the connect timeout. kong calls it for every command that embeds Options.
func (o Options) Validate() error {
	if o.PendingMsgs < 0 || o.PendingMsgs > MaxPendingMsgs {
		return fmt.Errorf("--nats.pending-msgs %d: want 0 (the default) to %d", o.PendingMsgs, MaxPendingMsgs)
	}
	for _, raw := range strings.Split(o.Server, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		u := raw
		if !strings.Contains(u, "://") { // nats.go takes host:port and adds nats://
			u = "nats://" + u
		}
		parsed, err := url.Parse(u)
		if err != nil {
			return fmt.Errorf("--server %q: %w", raw, err)
		}
		switch parsed.Scheme {
		case "nats", "tls", "ws", "wss":
		default:
			return fmt.Errorf("--server %q: scheme %q is not one of nats, tls, ws, wss", raw, parsed.Scheme)
		}
		if parsed.Hostname() == "" {
			return fmt.Errorf("--server %q: no host", raw)
		}
	}
	return nil
}
