package cli

import (
	"os"
	"runtime/debug"
	"time"
)

// dashboardMemoryLimit is the dashboard's soft memory limit (runtime/debug.SetMemoryLimit). It
// is a safeguard, not what keeps the dashboard small (bounded engine state does that): with
// the Go default the heap may grow to twice the live heap before a collection, and the process
// keeps what it reached; near the limit the collector runs earlier instead. A live heap above
// it is not refused, only collected more often (the runtime caps that at about half a core).
// GOMEMLIMIT in the environment overrides it, as for any Go program.
const dashboardMemoryLimit = 48 << 20

// codePagesSettle is how long after start the executable's pages are released a second time:
// by then the start-up path (connecting, the first frames) has run, and what it alone used
// goes too. A page still in use comes back on its next fault.
const codePagesSettle = 10 * time.Second

// shedStartupMemory releases the code pages that package initialisation mapped, now and once
// more after codePagesSettle (see releaseCodePages).
func shedStartupMemory() {
	releaseCodePages()
	time.AfterFunc(codePagesSettle, func() { releaseCodePages() })
}

func setDashboardMemoryLimit() {
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(dashboardMemoryLimit)
	}
}
