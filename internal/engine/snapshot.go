package engine

import "time"

// Window indexes the three aggregation windows every snapshot carries, so that a viewer can
// switch windows without asking the engine for anything.
type Window int

const (
	Window1m Window = iota
	Window5m
	Window15m
	NumWindows
)

// WindowDurations maps a Window to its length.
var WindowDurations = [NumWindows]time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute}

func (w Window) String() string {
	switch w {
	case Window1m:
		return "1m"
	case Window5m:
		return "5m"
	case Window15m:
		return "15m"
	}
	return "?"
}

// OtherID is the id that capped dimensions (queues, labelers, ids) fold into.
const OtherID = "other"

// Snapshot is an immutable view of the engine state at one instant. The engine never
// touches a Snapshot after handing it out, and readers must not modify it.
type Snapshot struct {
	At      time.Time // engine clock when the snapshot was built
	Started time.Time // engine start

	Totals Totals

	// Queues is sorted by 1m velocity, descending; the folded OtherID row, if any, is last.
	Queues []QueueStats
	// Ops is one row per operation, sorted by Name.
	Ops []OpStats
	// Activity counts the catalogued events without a duration that the design names as
	// figures (Forge's sample creation, Anvil's agreement calculation), in catalogue order;
	// only those seen.
	Activity []ActivityStats
	// Services holds the client error rate seen in the stream per service
	// ("forge" from ingot.forge_client.*, "anvil" from ingot.anvil_client.*).
	Services []ServiceStats
	// Impact is the overall client error rate and who it hits: users and queues.
	Impact Impact

	// Errors is the rolling error log, newest first, at most the configured length.
	Errors []ErrorEntry
	// Lineage maps each trace_id referenced by Errors to the events of that request seen
	// within the trace horizon, oldest first.
	Lineage map[string][]TraceSpan
	// ErrorGroups counts errors by signature over each window, most frequent in 5m first;
	// at most Config.MaxErrorGroups plus an OtherID group.
	ErrorGroups []ErrorGroup

	Invalid        []ReasonCount // by reason, sorted by reason
	InvalidSamples []BadSample   // most recent few, newest first, already safe to print
	Unknown        []NameCount   // unknown event names, by count desc

	// Lag is stream lag (receive time − event time) per window, in milliseconds.
	Lag [NumWindows]Quantiles

	// EventsPerSec holds events received per second over the last 60 s, oldest first.
	EventsPerSec []float64
}

// Totals are counters since the engine started.
type Totals struct {
	Events     uint64  // valid events aggregated
	Invalid    uint64  // messages that broke the contract
	Unknown    uint64  // valid events with names outside the catalogue
	Errors     uint64  // events with result = "error"
	FoldedIDs  uint64  // distinct ids folded into OtherID because of caps
	RatePerSec float64 // events/s over the last 10 s
}

// Quantiles are latency-like figures in milliseconds. Count 0 means no data and the other
// fields are zero.
type Quantiles struct {
	Count uint64
	P50   float64
	P90   float64
	P95   float64
	P99   float64
	Max   float64
}

// QueueStats is one queue row.
type QueueStats struct {
	ID string
	// Folded is how many distinct queues this row stands for (only the OtherID row has > 1).
	Folded int

	// LabelsPerMin is labeling velocity per window (ingot.label.submit + anvil.label.submitted,
	// counted once per assignment where both arrive).
	LabelsPerMin [NumWindows]float64
	// Labels is the exact number of labels counted in each window (the numerator of
	// LabelsPerMin), for scripts that check totals.
	Labels [NumWindows]uint64
	// Spark is labels per second over the last 60 s, oldest first.
	Spark []float64
	// History is labels per minute at 10 s resolution over the last 15 min, oldest first.
	History []float64
	// LatencyHistory is time-per-sample p50 in ms at 10 s resolution over 15 min (0 = no data).
	LatencyHistory []float64

	TimePerSample [NumWindows]Quantiles // ingot.label.submit duration_ms
	Abandonment   [NumWindows]float64   // abandoned / (abandoned + submitted), 0..1
	Methods       [NumWindows]MethodShare

	ActiveLabelers int // distinct labelers seen in the last 5 min, or the latest stats_updated figure

	// Latest anvil.queue.stats_updated figures; HasStats false until one arrives.
	HasStats   bool
	Pending    float64
	InProgress float64
	Completed  float64
	StatsAt    time.Time
	// BacklogETA is Pending / 5m velocity; 0 with EtaKnown false when velocity is 0.
	BacklogETA time.Duration
	EtaKnown   bool

	Labelers []LabelerStats // per-labeler breakdown, top N by labels in 15m, then OtherID

	// Calls and Errors are client calls (ingot.forge_client.*, ingot.anvil_client.*) tied
	// to the queue, by their queue_id or through their trace, and the failed ones;
	// ErrorRate is their ratio (0..1).
	Calls     [NumWindows]uint64
	Errors    [NumWindows]uint64
	ErrorRate [NumWindows]float64
}

// MethodShare counts ingot.label.submit by input method.
type MethodShare struct {
	Keyboard, Mouse, API, Other uint64
}

// LabelerStats is one labeler within a queue.
type LabelerStats struct {
	ID            string
	Labels        [NumWindows]uint64
	TimePerSample Quantiles // 15m
	LastSeen      time.Time
	// Calls and Errors are the labeler's client calls on the queue and the failed ones.
	Calls  [NumWindows]uint64
	Errors [NumWindows]uint64
}

// OpStats is one operation row: ingot.live_view.mount, ingot.label.submit,
// ingot.forge_client.<op>, ingot.anvil_client.<op>, ingot.component.render_sample,
// forge.pipeline.executed, and any other catalogued event with duration_ms.
type OpStats struct {
	Name    string // full event name
	Service string // "ingot", "forge" or "anvil": who is being timed (forge_client → forge)
	Latency [NumWindows]Quantiles
	Errors  [NumWindows]uint64
	// ErrorRate is Errors / Latency.Count per window (0..1).
	ErrorRate [NumWindows]float64
	// Recent is the last RecentSeconds seconds, one by one; nil where not known (merged
	// snapshots).
	Recent *Recent `json:"-"`
}

// ServiceStats is the error rate seen in client events for one service.
type ServiceStats struct {
	Service   string
	Calls     [NumWindows]uint64
	Errors    [NumWindows]uint64
	ErrorRate [NumWindows]float64
}

// ErrorEntry is one event with result = "error" (or a pipeline failure).
type ErrorEntry struct {
	Time       time.Time // event time
	Received   time.Time
	Event      string // full event name
	Operation  string // last segment, e.g. "submit_label"
	Service    string // "forge", "anvil" or "ingot"
	Reason     string // sanitised free text
	IDs        []KVPair
	Metadata   []KVPair // full metadata, sanitised
	TraceID    string
	SpanID     string
	Node       string
	DurationMS float64
	StreamSeq  uint64
	// Queue is the queue the failed call belongs to, from its own queue_id or, for calls
	// that carry none (a Forge call), from its trace; QueueVia says which ("" if unknown).
	Queue    string
	QueueVia string
}

// Where an ErrorEntry's Queue came from.
const (
	QueueViaEvent = "event"
	QueueViaTrace = "trace"
)

// KVPair mirrors wire.KV so that snapshot readers need not import wire.
type KVPair struct {
	Key, Value string
}

// TraceSpan is one event of a request's lineage.
type TraceSpan struct {
	Time         time.Time
	Event        string
	Service      string
	SpanID       string
	ParentSpanID string
	DurationMS   float64
	Result       string
	Reason       string
}

// ReasonCount is an invalid-message count.
type ReasonCount struct {
	Reason string
	Count  uint64
}

// NameCount is an unknown-event count.
type NameCount struct {
	Name  string
	Count uint64
}

// BadSample is a recent invalid message, made safe for display.
type BadSample struct {
	Received time.Time
	Subject  string
	Reason   string
	Detail   string
	Excerpt  string // first bytes of the payload, escaped
}
