package promsrc

import (
	"sort"
	"time"

	"github.com/nsai/ingot-top/internal/alerts"
	"github.com/nsai/ingot-top/internal/wire"
)

// Kind says where a figure came from.
type Kind string

const (
	KindPrometheus Kind = "prometheus" // a Prometheus server's API
	KindScrape     Kind = "scrape"     // /metrics endpoints read directly, from scrape deltas
)

// Tag is the one-letter marker the dashboard prints beside a figure ("P" or "S").
func (k Kind) Tag() string {
	if k == KindPrometheus {
		return "P"
	}
	return "S"
}

// Snapshot is an immutable view of every configured source at one instant. Readers must
// not modify it; Source.Snapshot returns a fresh one (sharing the immutable parts) per call.
type Snapshot struct {
	At time.Time // the clock when Snapshot was called; ages are relative to it
	// Sources has the Prometheus server first (if configured), then each scrape URL in
	// flag order.
	Sources []SourceStatus
	// Kind is where Queues and Ops come from: Prometheus when it has answered at least
	// once, otherwise the scrape endpoints (summed across them).
	Kind Kind
	// FiguresAt is when Queues and Ops were computed (the query evaluation time).
	FiguresAt time.Time
	// Queues is one row per queue_id, sorted by id, at most MaxSeries.
	Queues []QueueFleet
	// Ops is one row per operation, named like the live stream's operations, sorted by Name.
	Ops []OpFleet
	// Alerts are the Prometheus alerts firing or pending, firing first, Source "prometheus".
	Alerts []alerts.Alert
}

// SourceStatus is the health of one source.
type SourceStatus struct {
	Name string // "prometheus" or "scrape"
	Kind Kind
	URL  string // without password
	// OK is true when the last attempt succeeded.
	OK          bool
	LastSuccess time.Time // zero until the first success
	LastError   string    // the last failure, kept after a later success for context
	LastErrorAt time.Time
	// Age is how old the data is: Snapshot.At minus LastSuccess (since start when never).
	Age time.Duration
	// Stale is true when the last attempt failed or no success is recent (a hanging
	// server is stale while its request is still outstanding).
	Stale bool
	// Duration is how long the last attempt took.
	Duration time.Duration
}

// failed marks the source failing with err's text, sanitised and bounded; the caller holds
// the lock that guards the status.
func (st *SourceStatus) failed(err error, at time.Time) {
	st.OK = false
	st.LastError = wire.SafeString(err.Error(), 300)
	st.LastErrorAt = at
}

// QueueFleet is one queue's fleet-wide figures.
type QueueFleet struct {
	ID           string
	LabelsPerMin float64 // -1 when unknown
	// Total is labels submitted since the counters started (summed across nodes or
	// endpoints); -1 unknown.
	Total   float64
	Pending float64 // -1 when unknown
	P50MS   float64 // median time per sample in ms; 0 when unknown
	// History is labels/min at a fixed step, oldest first, ending near FiguresAt; loaded
	// with query_range at start, then appended on each poll. Bounded.
	History Series
	// P50History is the median time per sample in ms, same layout as History.
	P50History Series
	// Covered is how much of the default queue_rate's 5-minute window Prometheus has data
	// for, as the history shows it; 0 when unknown (an overridden query, no history).
	// Partial is set when it is less than the window: rate() then reads low (over its first
	// minute a rate over 5m reads about a fifth of the true one).
	Covered time.Duration
	Partial bool
}

// Series is a fixed-step series. Values hold NaN where there was no data.
type Series struct {
	Start  time.Time // time of Values[0]
	Step   time.Duration
	Values []float64
}

// End is the time of the last value.
func (s Series) End() time.Time {
	if len(s.Values) == 0 {
		return s.Start
	}
	return s.Start.Add(time.Duration(len(s.Values)-1) * s.Step)
}

// OpFleet is one operation's fleet-wide latency, in milliseconds.
type OpFleet struct {
	Name          string
	P50, P95, P99 float64 // ms; 0 when unknown
	PerSec        float64 // calls per second; -1 when unknown
	ErrorRatio    float64 // 0..1; -1 when unknown
	// TopBound is the highest finite bucket bound of the operation's classic histogram, in
	// ms; 0 when its figures come from a native histogram or no buckets were seen.
	TopBound float64
	// AtTop says which quantile (p50, p95, p99) fell in the +Inf bucket: a classic
	// histogram_quantile then returns TopBound, a floor ("≥ 2.00s"), not a reading.
	AtTop [3]bool
}

// Source returns the status of the named source URL, if configured.
func (s *Snapshot) Source(url string) (SourceStatus, bool) {
	if s == nil {
		return SourceStatus{}, false
	}
	for _, st := range s.Sources {
		if st.URL == url {
			return st, true
		}
	}
	return SourceStatus{}, false
}

// Queue returns the fleet row of a queue (binary search: Queues is sorted by ID).
func (s *Snapshot) Queue(id string) (*QueueFleet, bool) {
	if s == nil {
		return nil, false
	}
	i := sort.Search(len(s.Queues), func(i int) bool { return s.Queues[i].ID >= id })
	if i < len(s.Queues) && s.Queues[i].ID == id {
		return &s.Queues[i], true
	}
	return nil, false
}

// Op returns the fleet row of an operation (binary search: Ops is sorted by Name).
func (s *Snapshot) Op(name string) (*OpFleet, bool) {
	if s == nil {
		return nil, false
	}
	i := sort.Search(len(s.Ops), func(i int) bool { return s.Ops[i].Name >= name })
	if i < len(s.Ops) && s.Ops[i].Name == name {
		return &s.Ops[i], true
	}
	return nil, false
}

// FiguresStale reports whether the source behind Queues and Ops is stale.
func (s *Snapshot) FiguresStale() bool {
	if s == nil {
		return true
	}
	seen := false
	for _, st := range s.Sources {
		if st.Kind == s.Kind {
			seen = true
			if !st.Stale {
				return false
			}
		}
	}
	return seen
}
