package engine

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"time"
)

// A daemon republishes the /health probes it runs (--forge-health, --anvil-health) inside
// its aggregate, so that a viewer with --from-daemon, which probes nothing itself, shows what
// the daemon's /health says instead of "unknown".

// AggregateProbe is one probe of the producer, as its last check left it.
type AggregateProbe struct {
	Name        string    `json:"name"`
	State       string    `json:"state"` // "healthy", "unhealthy" or "unknown"
	Since       time.Time `json:"since,omitzero"`
	CheckedAt   time.Time `json:"checked_at,omitzero"`
	LatencyMS   float64   `json:"latency_ms,omitempty"`
	Code        int       `json:"code,omitempty"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	Detail      string    `json:"detail,omitempty"`
	// Uptime is the healthy share of checks over 1m, 5m and 15m; -1 when none.
	Uptime [NumWindows]float64 `json:"uptime"`
}

// maxAggregateProbes caps the probes an aggregate may carry.
const maxAggregateProbes = 64

var probeStates = []string{"healthy", "unhealthy", "unknown"}

func (x *Aggregate) sanitizeProbes() {
	for i := range x.Health {
		p := &x.Health[i]
		safe(&p.Name, maxIDRunes)
		safe(&p.LastError, maxTextRunes)
		safe(&p.Detail, maxTextRunes)
	}
}

// checkProbes is parseAggregate's part for the probes.
func (x *Aggregate) checkProbes(bad func(string, ...any) error) error {
	if len(x.Health) > maxAggregateProbes {
		return bad("%d probes, at most %d", len(x.Health), maxAggregateProbes)
	}
	for i := range x.Health {
		p := &x.Health[i]
		if p.Name == "" || !slices.Contains(probeStates, p.State) {
			return bad("probe %d: name %q state %q", i, p.Name, p.State)
		}
		if math.IsNaN(p.LatencyMS) || math.IsInf(p.LatencyMS, 0) || p.LatencyMS < 0 || p.Code < 0 || p.Code > 999 {
			return bad("probe %q: latency %v code %d", p.Name, p.LatencyMS, p.Code)
		}
		for _, u := range p.Uptime {
			if math.IsNaN(u) || u < -1 || u > 1 {
				return bad("probe %q: uptime %v", p.Name, u)
			}
		}
	}
	return nil
}

// Health merges the live producers' probes: per name, the one checked last (two daemons
// probing one service report the newer verdict), by name.
func (m *Merger) Health() []AggregateProbe {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expire(m.cfg.Now())
	byName := map[string]AggregateProbe{}
	for _, e := range m.producers {
		if e.p == nil {
			continue // stale
		}
		for _, p := range e.p.x.Health {
			if old, ok := byName[p.Name]; !ok || p.CheckedAt.After(old.CheckedAt) {
				byName[p.Name] = p
			}
		}
	}
	out := make([]AggregateProbe, 0, len(byName))
	for _, p := range byName {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b AggregateProbe) int { return cmp.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)) })
	return out
}
