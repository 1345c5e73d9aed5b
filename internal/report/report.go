// Package report owns the human and machine renderings of a moment of ingot-top state:
// the `snapshot` command's text, JSON and Markdown output and the dashboard's incident report.
// Everything it prints comes from already-sanitised snapshot strings; it adds no I/O of its
// own beyond the writer it is given.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/nsai/ingot-top/internal/alerts"
	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/health"
	"github.com/nsai/ingot-top/internal/ingest"
)

// Format is an output format.
type Format string

const (
	FormatText     Format = "text"
	FormatJSON     Format = "json"
	FormatMarkdown Format = "markdown"
)

// Input is everything a report may show. Stream is required; the rest may be empty.
type Input struct {
	Title     string
	At        time.Time
	Collected time.Duration // how long the stream was observed
	Window    engine.Window
	Conn      ingest.ConnState
	Stream    *engine.Snapshot
	Health    []health.Status
	Alerts    alerts.State
	TopQueues int // 0 = 10
	MaxErrors int // recent errors listed; 0 = 10
	// FirstBatch and LastBatch are when the collector handed its first and last batch of
	// events on; zero when unknown. They give the consumer's own throughput (bench-e2e.sh).
	FirstBatch, LastBatch time.Time
	// MaxErrorRate is the client error rate above which the verdict says DEGRADED when no
	// alert is active; 0 means 0.05, the runbook's.
	MaxErrorRate float64
	// Daemons, for a report merged from daemons (snapshot --from-daemon), are the daemons
	// heard: those whose aggregates the totals hold, and the stale ones (silent too long),
	// left out of every figure; nil when the report read the stream itself.
	Daemons []engine.ProducerStatus
}

// Write renders in to w in the given format.
func Write(w io.Writer, format Format, in Input) error {
	if in.Stream == nil {
		return fmt.Errorf("report: no stream snapshot to render")
	}
	if in.TopQueues <= 0 {
		in.TopQueues = 10
	}
	if in.MaxErrors <= 0 {
		in.MaxErrors = 10
	}
	doc := build(in)
	switch format {
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(doc); err != nil {
			return fmt.Errorf("report: encoding json: %w", err)
		}
		return nil
	case FormatMarkdown:
		return writeMarkdown(w, doc)
	case FormatText, "":
		return writeText(w, doc)
	}
	return fmt.Errorf("report: unknown format %q (want text, json or markdown)", format)
}

// Document is the JSON shape of a report; its field names are a stable interface for scripts.
type Document struct {
	// Verdict is one line: OK, DEGRADED, PENDING, RESOLVING or FIRING, what and since when,
	// and how bad (error rate, users and queues hit).
	Verdict    string      `json:"verdict"`
	Title      string      `json:"title"`
	At         time.Time   `json:"at"`
	CollectedS float64     `json:"collected_seconds"`
	Window     string      `json:"window"`
	Connection Connection  `json:"connection"`
	Totals     Totals      `json:"totals"`
	Queues     []Queue     `json:"queues"`
	Operations []Operation `json:"operations"`
	Services   []Service   `json:"services"`
	Errors     []Error     `json:"recent_errors"`
	ErrorSigs  []ErrorSig  `json:"error_signatures"`
	Invalid    []Count     `json:"invalid_by_reason"`
	Unknown    []Count     `json:"unknown_events"`
	Lag        Quantiles   `json:"stream_lag_ms"`
	Health     []HealthRow `json:"health,omitempty"`
	Alerts     []Alert     `json:"alerts,omitempty"`
	// Resolved are the alerts resolved before the report, newest first.
	Resolved   []Alert  `json:"resolved_alerts,omitempty"`
	Impact     *Impact  `json:"impact,omitempty"`
	ErrorCount uint64   `json:"error_events_in_window"`
	CallCount  uint64   `json:"client_calls_in_window"`
	ErrorRate  float64  `json:"client_error_rate_in_window"`
	QueueCount int      `json:"queues_tracked"`
	Arrival    *Arrival `json:"arrival,omitempty"`
	// Daemons are the daemons of a --from-daemon report, merged or stale.
	Daemons []Daemon `json:"daemons,omitempty"`
	// Timeline is the incident in time order: alert onsets, firings, stops and resolutions,
	// and the first error of each signature.
	Timeline []TimelineEntry `json:"timeline,omitempty"`
}

// Daemon is one daemon a --from-daemon report heard.
type Daemon struct {
	Producer string    `json:"producer"` // host:pid:random, unique per daemon process
	Host     string    `json:"host"`
	At       time.Time `json:"aggregate_at"` // the daemon's time of its latest aggregate
	// AgeS is how long ago, on the viewer's clock, that aggregate arrived.
	AgeS float64 `json:"heard_seconds_ago"`
	// State is "merged" (in the totals) or "stale" (silent for 5 s, left out of them).
	State string `json:"state"`
}

// Daemon states.
const (
	DaemonMerged = "merged"
	DaemonStale  = "stale"
)

// ErrorSig is one error signature (service, event, reason with numbers masked) and how often
// it occurred in the report's window.
type ErrorSig struct {
	Service     string    `json:"service"`
	Event       string    `json:"event"`
	Signature   string    `json:"signature"`
	Count       uint64    `json:"count_in_window"`
	Last        time.Time `json:"last_seen"`
	LastTraceID string    `json:"last_trace_id,omitempty"`
}

// Arrival is the span over which the collector took messages off the subscription, and the
// rate over that span: received ÷ (last − first), the consumer's own view of throughput.
type Arrival struct {
	First        time.Time `json:"first_batch_at"`
	Last         time.Time `json:"last_batch_at"`
	SpanS        float64   `json:"span_seconds"`
	ReceivedRate float64   `json:"received_per_second"`
}

// Connection is the NATS connection as the report saw it.
type Connection struct {
	State             string    `json:"state"`
	Server            string    `json:"server"`
	Subject           string    `json:"subject"`
	Since             time.Time `json:"since"`
	LastError         string    `json:"last_error,omitempty"`
	Reconnects        uint64    `json:"reconnects"`
	Received          uint64    `json:"messages_received"`
	SlowConsumerDrops uint64    `json:"slow_consumer_drops"`
	Abandoned         uint64    `json:"abandoned_at_shutdown"`
}

// Totals are counts since the collector started.
type Totals struct {
	Events     uint64  `json:"events"`
	Invalid    uint64  `json:"invalid"`
	Unknown    uint64  `json:"unknown"`
	Errors     uint64  `json:"errors"`
	FoldedIDs  uint64  `json:"folded_ids"`
	RatePerSec float64 `json:"events_per_second"`
}

// Queue is one queue row.
type Queue struct {
	ID               string   `json:"queue_id"`
	Folded           int      `json:"folded,omitempty"`
	Labels           uint64   `json:"labels"`
	LabelsPerMin     float64  `json:"labels_per_minute"`
	TimePerSampleP50 float64  `json:"time_per_sample_p50_ms"`
	Abandonment      float64  `json:"abandonment_rate"`
	Keyboard         uint64   `json:"method_keyboard"`
	Mouse            uint64   `json:"method_mouse"`
	API              uint64   `json:"method_api"`
	ActiveLabelers   int      `json:"active_labelers"`
	Pending          *float64 `json:"pending,omitempty"`
	BacklogETA       string   `json:"backlog_eta,omitempty"`
	ClientCalls      uint64   `json:"client_calls"`
	ClientErrors     uint64   `json:"client_errors"`
}

// Operation is one latency row.
type Operation struct {
	Name      string  `json:"operation"`
	Service   string  `json:"service"`
	Count     uint64  `json:"count"`
	Errors    uint64  `json:"errors"`
	ErrorRate float64 `json:"error_rate"`
	P50       float64 `json:"p50_ms"`
	P90       float64 `json:"p90_ms"`
	P95       float64 `json:"p95_ms"`
	P99       float64 `json:"p99_ms"`
	Max       float64 `json:"max_ms"`
}

// Service is the client error rate seen for one service.
type Service struct {
	Name      string  `json:"service"`
	Calls     uint64  `json:"calls"`
	Errors    uint64  `json:"errors"`
	ErrorRate float64 `json:"error_rate"`
}

// Error is one recent error.
type Error struct {
	Time    time.Time `json:"time"`
	Event   string    `json:"event"`
	Service string    `json:"service"`
	Reason  string    `json:"reason"`
	TraceID string    `json:"trace_id,omitempty"`
	IDs     string    `json:"ids,omitempty"`
}

// Count is a named count.
type Count struct {
	Name  string `json:"name"`
	Count uint64 `json:"count"`
}

// Quantiles in milliseconds.
type Quantiles struct {
	Count uint64  `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P95   float64 `json:"p95"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

// HealthRow is one probed service.
type HealthRow struct {
	Name      string    `json:"name"`
	State     string    `json:"state"`
	LatencyMS float64   `json:"latency_ms"`
	Since     time.Time `json:"since"`
	LastError string    `json:"last_error,omitempty"`
}

// Alert is one active or resolved alert.
type Alert struct {
	Name     string            `json:"name"`
	State    string            `json:"state"`
	Severity string            `json:"severity,omitempty"`
	Source   string            `json:"source"`
	Summary  string            `json:"summary"`
	Labels   map[string]string `json:"labels,omitempty"`
	// Group is the service whose fault explains the alert (alerts.GroupAlerts), "" alone.
	Group string `json:"group,omitempty"`
	// Onset is when the condition began (per-second data, probe state change); OnsetApprox
	// says it is a bound (the condition may have held earlier).
	Onset       time.Time `json:"onset"`
	OnsetApprox bool      `json:"onset_approx,omitempty"`
	// Since is when the condition started to hold over the rule's window (pending);
	// FiredAt when it fired; StoppedAt when it stopped holding; ResolvedAt when resolved.
	Since      time.Time  `json:"since"`
	FiredAt    *time.Time `json:"fired_at,omitempty"`
	StoppedAt  *time.Time `json:"stopped_at,omitempty"`
	ResolvedAt *time.Time `json:"resolved_at,omitempty"`
	// Runbook is the alert's RUNBOOK.md section.
	Runbook string `json:"runbook,omitempty"`
}

// Impact is who the client errors hit over the report's window (engine.Impact). Counts
// marked lower_bound may be higher: some failed calls could not be tied to a user or queue.
type Impact struct {
	AffectedUsers      uint64 `json:"affected_users"`
	UsersLowerBound    bool   `json:"affected_users_lower_bound,omitempty"`
	UsersEstimated     bool   `json:"affected_users_estimated,omitempty"`
	AffectedQueues     int    `json:"affected_queues"`
	QueuesLowerBound   bool   `json:"affected_queues_lower_bound,omitempty"`
	ErrorsWithoutUser  uint64 `json:"errors_without_user"`
	ErrorsWithoutQueue uint64 `json:"errors_without_queue"`
}

func build(in Input) Document {
	s := in.Stream
	w := in.Window
	doc := Document{
		Title:      in.Title,
		At:         in.At.UTC(),
		CollectedS: math.Round(in.Collected.Seconds()*10) / 10,
		Window:     w.String(),
		Connection: Connection{
			State: string(in.Conn.Phase), Server: in.Conn.Server, Subject: in.Conn.Subject,
			Since: in.Conn.Since.UTC(), LastError: in.Conn.LastError, Reconnects: in.Conn.Reconnects,
			Received: in.Conn.Received, SlowConsumerDrops: in.Conn.SlowConsumerDrops, Abandoned: in.Conn.AbandonedAtShutdown,
		},
		Totals: Totals{
			Events: s.Totals.Events, Invalid: s.Totals.Invalid, Unknown: s.Totals.Unknown,
			Errors: s.Totals.Errors, FoldedIDs: s.Totals.FoldedIDs, RatePerSec: round2(s.Totals.RatePerSec),
		},
		QueueCount: len(s.Queues),
	}
	if !in.FirstBatch.IsZero() && in.LastBatch.After(in.FirstBatch) {
		span := in.LastBatch.Sub(in.FirstBatch)
		doc.Arrival = &Arrival{
			First: in.FirstBatch.UTC(), Last: in.LastBatch.UTC(), SpanS: math.Round(span.Seconds()*1e6) / 1e6,
			ReceivedRate: math.Round(float64(in.Conn.Received) / span.Seconds()),
		}
	}
	if doc.Title == "" {
		doc.Title = "ingot-top snapshot"
	}
	for _, p := range in.Daemons {
		state := DaemonMerged
		if p.Stale {
			state = DaemonStale
		}
		doc.Daemons = append(doc.Daemons, Daemon{Producer: p.Producer, Host: p.Host, At: p.At.UTC(), AgeS: round2(p.Silent.Seconds()), State: state})
	}
	doc.Queues = buildQueues(s.Queues, w, in.TopQueues)
	for _, op := range s.Ops {
		l := op.Latency[w]
		if l.Count == 0 && op.Errors[w] == 0 {
			continue
		}
		doc.Operations = append(doc.Operations, Operation{
			Name: op.Name, Service: op.Service, Count: l.Count, Errors: op.Errors[w], ErrorRate: round4(op.ErrorRate[w]),
			P50: round2(l.P50), P90: round2(l.P90), P95: round2(l.P95), P99: round2(l.P99), Max: round2(l.Max),
		})
	}
	for _, sv := range s.Services {
		doc.Services = append(doc.Services, Service{Name: sv.Service, Calls: sv.Calls[w], Errors: sv.Errors[w], ErrorRate: round4(sv.ErrorRate[w])})
		doc.CallCount += sv.Calls[w]
		doc.ErrorCount += sv.Errors[w]
	}
	if doc.CallCount > 0 {
		doc.ErrorRate = round4(float64(doc.ErrorCount) / float64(doc.CallCount))
	}
	for i, e := range s.Errors {
		if i >= in.MaxErrors {
			break
		}
		ids := make([]string, 0, len(e.IDs))
		for _, kv := range e.IDs {
			ids = append(ids, kv.Key+"="+kv.Value)
		}
		doc.Errors = append(doc.Errors, Error{Time: e.Time.UTC(), Event: e.Event, Service: e.Service, Reason: e.Reason, TraceID: e.TraceID, IDs: strings.Join(ids, " ")})
	}
	doc.ErrorSigs = []ErrorSig{}
	groups := slices.Clone(s.ErrorGroups)
	engine.SortErrorGroups(groups, w)
	for _, g := range groups {
		if len(doc.ErrorSigs) >= in.MaxErrors || g.Count[w] == 0 {
			break
		}
		doc.ErrorSigs = append(doc.ErrorSigs, ErrorSig{Service: g.Service, Event: g.Event, Signature: g.Signature,
			Count: g.Count[w], Last: g.Last.UTC(), LastTraceID: g.Latest.TraceID})
	}
	for _, r := range s.Invalid {
		if r.Count > 0 {
			doc.Invalid = append(doc.Invalid, Count{Name: r.Reason, Count: r.Count})
		}
	}
	for _, u := range s.Unknown {
		doc.Unknown = append(doc.Unknown, Count{Name: u.Name, Count: u.Count})
	}
	lag := s.Lag[w]
	doc.Lag = Quantiles{Count: lag.Count, P50: round2(lag.P50), P90: round2(lag.P90), P95: round2(lag.P95), P99: round2(lag.P99), Max: round2(lag.Max)}
	for _, h := range in.Health {
		doc.Health = append(doc.Health, HealthRow{Name: h.Name, State: string(h.State), LatencyMS: round2(float64(h.Latency) / float64(time.Millisecond)), Since: h.Since.UTC(), LastError: h.LastError})
	}
	alertGroups := alerts.GroupAlerts(in.Alerts.Active)
	for _, g := range alertGroups {
		for _, a := range g.Alerts() {
			doc.Alerts = append(doc.Alerts, reportAlert(a, g.Service))
		}
	}
	for _, a := range in.Alerts.History {
		doc.Resolved = append(doc.Resolved, reportAlert(a, ""))
	}
	if s.Impact.Known {
		im := s.Impact
		doc.Impact = &Impact{
			AffectedUsers: im.AffectedUsers[w], UsersLowerBound: im.ErrorsNoUser[w] > 0, UsersEstimated: im.UsersEstimated && im.AffectedUsers[w] > 0,
			AffectedQueues: im.AffectedQueues[w], QueuesLowerBound: im.QueuesLowerBound[w] || im.ErrorsNoQueue[w] > 0,
			ErrorsWithoutUser: im.ErrorsNoUser[w], ErrorsWithoutQueue: im.ErrorsNoQueue[w],
		}
	}
	doc.Timeline = buildTimeline(in.Alerts, s.ErrorGroups)
	doc.Verdict = verdict(doc, alertGroups, in.MaxErrorRate)
	if doc.Queues == nil {
		doc.Queues = []Queue{}
	}
	if doc.Services == nil {
		doc.Services = []Service{}
	}
	if doc.Invalid == nil {
		doc.Invalid = []Count{}
	}
	if doc.Unknown == nil {
		doc.Unknown = []Count{}
	}
	if doc.Operations == nil {
		doc.Operations = []Operation{}
	}
	if doc.Errors == nil {
		doc.Errors = []Error{}
	}
	return doc
}

func reportAlert(a alerts.Alert, group string) Alert {
	stamp := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		u := t.UTC()
		return &u
	}
	onset, approx := a.Onset, a.OnsetApprox
	if onset.IsZero() {
		onset, approx = a.ActiveAt, true
	}
	return Alert{
		Name: a.Name, State: string(a.State), Severity: a.Severity, Source: string(a.Source), Summary: a.Summary,
		Labels: a.Labels, Group: group, Onset: onset.UTC(), OnsetApprox: approx, Since: a.ActiveAt.UTC(),
		FiredAt: stamp(a.FiredAt), StoppedAt: stamp(a.ResolvingAt), ResolvedAt: stamp(a.ResolvedAt), Runbook: a.Runbook,
	}
}

// verdict is the report's first line: the most urgent fault, since when, and how bad.
func verdict(d Document, groups []alerts.Group, maxErrorRate float64) string {
	if maxErrorRate <= 0 {
		maxErrorRate = 0.05
	}
	var b strings.Builder
	switch {
	case len(groups) > 0:
		g := groups[0]
		what := g.Service
		if what == "" {
			what = g.Lead.Name
		}
		b.WriteString(strings.ToUpper(string(g.State)) + ": " + what)
		if g.Service != "" {
			var facts []string
			for _, a := range g.Alerts() {
				switch {
				case a.Name == alerts.NameServiceUnhealthy && a.Labels["service"] == g.Service:
					facts = append(facts, "down")
				case a.Name == alerts.NameHighErrorRate && a.Labels["operation"] != "":
					facts = append(facts, a.Labels["operation"]+" "+pct(a.Value)+" errors")
				}
			}
			if len(facts) > 0 {
				b.WriteString(" " + strings.Join(facts, ", "))
			}
		}
		approx := ""
		if g.OnsetApprox {
			approx = "~"
		}
		b.WriteString(" since " + approx + g.Onset.UTC().Format("15:04:05") + "Z")
		if g.State == alerts.StateResolving {
			b.WriteString(" (stopped " + g.ResolvingAt.UTC().Format("15:04:05") + "Z)")
		}
		if len(groups) > 1 {
			b.WriteString(fmt.Sprintf(" (+%d more)", len(groups)-1))
		}
		b.WriteString("; ")
	case d.CallCount > 0 && d.ErrorRate > maxErrorRate:
		b.WriteString("DEGRADED: no alert yet; ")
	default:
		b.WriteString("OK: no alert; ")
	}
	if d.CallCount == 0 {
		b.WriteString("no client calls in " + d.Window)
	} else {
		b.WriteString(fmt.Sprintf("%s of %d client calls failed (%s)", pct(d.ErrorRate), d.CallCount, d.Window))
	}
	if im := d.Impact; im != nil && d.ErrorCount > 0 {
		b.WriteString(fmt.Sprintf(", hitting %s and %s", countWord(im.AffectedUsers, im.UsersLowerBound, im.UsersEstimated, "user"),
			countWord(uint64(im.AffectedQueues), im.QueuesLowerBound, false, "queue")))
	}
	return b.String()
}

// countWord is "31 users", "31+ users" (a lower bound) or "~31 users" (an estimate).
func countWord(n uint64, lowerBound, estimated bool, noun string) string {
	s := fmt.Sprintf("%d", n)
	switch {
	case estimated:
		s = "~" + s
	case lowerBound:
		s += "+"
	}
	if n != 1 {
		noun += "s"
	}
	return s + " " + noun
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }
func round4(f float64) float64 { return math.Round(f*10000) / 10000 }

// FormatDuration prints a backlog ETA or an age compactly: 45s, 12m, 3h20m, 2d4h.
func FormatDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "-" + FormatDuration(-d)
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}

// FormatMS prints a millisecond figure with sensible precision: 0.42ms, 12.3ms, 245ms, 2.31s.
func FormatMS(ms float64) string {
	switch {
	case ms <= 0:
		return "-"
	case ms < 10:
		return fmt.Sprintf("%.2fms", ms)
	case ms < 100:
		return fmt.Sprintf("%.1fms", ms)
	case ms < 1000:
		return fmt.Sprintf("%.0fms", ms)
	}
	return fmt.Sprintf("%.2fs", ms/1000)
}

// buildQueues lists the top queues by the shown window's velocity and sums the rest, with the
// engine's own folded row, into one "other" row, so the counts still add up to the total.
func buildQueues(queues []engine.QueueStats, w engine.Window, top int) []Queue {
	sorted := make([]*engine.QueueStats, 0, len(queues))
	var folded *engine.QueueStats
	for i := range queues {
		if queues[i].ID == engine.OtherID {
			folded = &queues[i]
			continue
		}
		sorted = append(sorted, &queues[i])
	}
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].LabelsPerMin[w] > sorted[j].LabelsPerMin[w] })
	var out []Queue
	var other *Queue
	addOther := func(q *engine.QueueStats) {
		if other == nil {
			other = &Queue{ID: engine.OtherID}
		}
		other.Folded += max(q.Folded, 1)
		other.Labels += q.Labels[w]
		other.LabelsPerMin = round2(other.LabelsPerMin + q.LabelsPerMin[w])
		other.Keyboard += q.Methods[w].Keyboard
		other.Mouse += q.Methods[w].Mouse
		other.API += q.Methods[w].API
		other.ActiveLabelers += q.ActiveLabelers
		other.ClientCalls += q.Calls[w]
		other.ClientErrors += q.Errors[w]
		if q.HasStats {
			p := q.Pending
			if other.Pending != nil {
				p += *other.Pending
			}
			other.Pending = &p
		}
	}
	for i, q := range sorted {
		if i >= top {
			addOther(q)
			continue
		}
		row := Queue{
			ID: q.ID, Labels: q.Labels[w], LabelsPerMin: round2(q.LabelsPerMin[w]), TimePerSampleP50: round2(q.TimePerSample[w].P50),
			Abandonment: round4(q.Abandonment[w]), Keyboard: q.Methods[w].Keyboard, Mouse: q.Methods[w].Mouse,
			API: q.Methods[w].API, ActiveLabelers: q.ActiveLabelers, ClientCalls: q.Calls[w], ClientErrors: q.Errors[w],
		}
		if q.HasStats {
			p := q.Pending
			row.Pending = &p
			if q.EtaKnown {
				row.BacklogETA = FormatDuration(q.BacklogETA)
			}
		}
		out = append(out, row)
	}
	if folded != nil {
		addOther(folded)
	}
	if other != nil {
		out = append(out, *other)
	}
	return out
}
