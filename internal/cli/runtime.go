package cli

import (
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"time"
)

// dashboardMemoryLimit is the dashboard's soft memory limit (runtime/debug.SetMemoryLimit). It
// is a safeguard, not what keeps the dashboard small (bounded engine state does that): with
// the Go default the heap may grow to twice the live heap before a collection, and the process
// keeps what it reached; near the limit the collector runs earlier instead. A live heap above
// it is not refused, only collected more often (the runtime caps that at about half a core).
// GOMEMLIMIT in the environment overrides it, as for any Go program.
const dashboardMemoryLimit = 48 << 20

// codePagesSettle is how long after start the executable's pages are released a second time,
// and its unmapped page cache dropped: by then the start-up path (connecting, the first
// frames) has run, and what it alone used goes too. codePagesEvery repeats the release: the
// kernel maps a file's pages 64 KiB around each fault, so code run once in a while (a key's
// view, a reconnect) otherwise stays resident with its neighbours, and the file-backed part
// of the RSS crept from 12 to 16 MB in 8 minutes. A page still in use comes back on its next fault, from the page cache: a few
// hundred minor faults a minute.
const (
	codePagesSettle = 10 * time.Second
	codePagesEvery  = time.Minute
)

// shedCodePages releases the code pages that package initialisation mapped, now, after
// codePagesSettle and then every codePagesEvery, until stop is called (see releaseCodePages).
func shedCodePages() (stop func()) {
	releaseCodePages(false)
	done := make(chan struct{})
	go func() {
		wait := time.NewTimer(codePagesSettle)
		defer wait.Stop()
		for settled := false; ; settled = true {
			select {
			case <-done:
				return
			case <-wait.C:
				// the cache is dropped once, after start-up: see releaseCodePages
				releaseCodePages(!settled)
				wait.Reset(codePagesEvery)
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done) }) }
}

// dashboardGCPercent is the dashboard's GOGC. With Go's 100 the heap grows to twice what is
// live before a collection, and a process keeps, resident, what its heap reached. The live
// heap is about 22 MB after 15 minutes at 2,000 events/s (15-minute windows, look-back,
// traces), so 100 meant 45 MB of heap where 50 means 33; the collector then runs about twice
// as often, on a heap that allocates ~3 MB/s, which costs well under a tenth of the
// dashboard's CPU. It scales with the live heap, as a fixed limit would not: a dashboard on
// 1,000 queues is not starved. GOGC in the environment overrides it.
const dashboardGCPercent = 50

// setLiveViewerProcs runs a live dashboard on one P (GOMAXPROCS=1). Its steady work is a few
// per cent of one core, in short bursts handed from goroutine to goroutine (NATS read loop,
// feed, engine, frames, renderer); with a second P the runtime wakes a second thread for
// those hand-offs and runs GC mark workers on the idle P, which cost more than they save:
// 2.55-2.58 % of a core against 2.81 % at 2,000 events/s (two dashboards on one stream,
// alternated). Reading the past (--since, --at) is a backlog to get through as fast as the
// machine allows, so it keeps every core, as do the demo (which runs a NATS server and the
// simulators in the same process) and replay. GOMAXPROCS in the environment wins.
func setLiveViewerProcs(past PastFlags) {
	if _, set := os.LookupEnv("GOMAXPROCS"); set || past.Since > 0 || past.At != "" {
		return
	}
	runtime.GOMAXPROCS(1)
}

func setDashboardGC() {
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(dashboardMemoryLimit)
	}
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(dashboardGCPercent)
	}
}

// batchGCPercent is the GOGC of snapshot, a batch command that collects for --duration and
// exits: its heap is what the collection holds (the engine's state, and the client's buffer
// of messages not yet decoded when the stream outruns it), and the process's lifetime is
// short, so it trades memory for CPU where the dashboard trades CPU for memory. Against
// Go's 100, 400 cut the consumer's CPU for 1M events (scripts/bench-e2e.sh, unpaced
// publisher on the same 2 cores) from 3.1-3.2 s to 2.9 s, and raised its peak RSS, which is
// mostly that buffer, by about a sixth. GOGC in the environment overrides it.
const batchGCPercent = 400

// batchMemoryBase and batchMemoryPerPending set snapshot's soft memory limit from the
// client buffer the user allowed (--nats.pending-bytes): a buffered message costs about three
// times its bytes at peak (RUNBOOK "Bursts"), and the engine and the rest fit in the base.
// With the default 8 MiB buffer that is 88 MiB, where Go's own memory stayed with GOGC=100 in
// an unpaced burst (peak RSS 96-107 MB, binary pages included; 102-104 MB with this
// limit, 169 MB with a 152 MiB one), so the larger GOGC only trades memory that a larger
// buffer, asked for on purpose, already allows. GOMEMLIMIT in the environment overrides it.
const (
	batchMemoryBase       = 64 << 20
	batchMemoryPerPending = 3
)

func setBatchGC(pendingBytes int64) {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(batchGCPercent)
	}
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(batchMemoryBase + batchMemoryPerPending*max(pendingBytes, 0))
	}
}
