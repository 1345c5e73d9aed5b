// Package health owns the HTTP health probes of Forge, Anvil and Ingot (contract section
// "Health endpoints"): one goroutine per target, a timeout per check, a bounded history of
// checks, and the time of the last state change. Probe results never block a viewer.
package health

import "time"

// State is a probe's verdict.
type State string

const (
	StateUnknown   State = "unknown" // no check finished yet
	StateHealthy   State = "healthy"
	StateUnhealthy State = "unhealthy"
)

// Check is one finished probe.
type Check struct {
	At      time.Time
	State   State
	Latency time.Duration
	Code    int    // HTTP status, 0 when no response
	Error   string // sanitised; "" when healthy
}

// Status is one row of the Health pane: a probed service (forge, anvil, ingot, or a service
// broken out of Ingot's /health body such as "ingot/pubsub").
type Status struct {
	Name        string // "forge", "anvil", "ingot", "ingot/forge", "ingot/pubsub", ...
	URL         string // redacted of credentials
	State       State
	Since       time.Time     // last state change
	Latency     time.Duration // of the last check
	LastError   string        // sanitised, last non-empty error
	LastErrorAt time.Time
	// Detail is what a JSON body said beyond status (e.g. "status=degraded db=slow"), sanitised.
	Detail string
	// Recent is the last checks, oldest first, at most the configured history length.
	Recent []Check
	// Uptime is the healthy fraction of checks over each window (1m, 5m, 15m), -1 if none.
	Uptime [3]float64
	// LatencyHistory is probe latency in ms for Recent, oldest first (for a sparkline).
	LatencyHistory []float64
}
