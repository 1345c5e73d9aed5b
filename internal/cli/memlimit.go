package cli

import (
	"os"
	"runtime/debug"
)

// dashboardMemoryLimit is the dashboard's soft memory limit (runtime/debug.SetMemoryLimit). It
// is a safeguard, not what keeps the dashboard small (bounded engine state does that): with
// the Go default the heap may grow to twice the live heap before a collection, and the process
// keeps what it reached; near the limit the collector runs earlier instead. A live heap above
// it is not refused, only collected more often (the runtime caps that at about half a core).
// GOMEMLIMIT in the environment overrides it, as for any Go program.
const dashboardMemoryLimit = 48 << 20

func setDashboardMemoryLimit() {
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(dashboardMemoryLimit)
	}
}
