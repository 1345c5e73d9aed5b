// Package view owns the dashboard's view-model: one joined, immutable Frame per refresh,
// built once by Build from the session's sources (the live stream or the daemons'
// aggregate, Prometheus and scraped /metrics, health probes, the alert evaluator, the
// per-second history), so that the panes only draw it. Rows whose figures can come from
// more than one source are joined here, once, and every such figure carries the tag of the
// source it came from (L live, P Prometheus, S scrape, D daemons).
//
// A built Frame is shared: internal/app sends the same value to every viewer (one terminal,
// or many SSH sessions), so nothing may change it, or anything it points at, after Build.
package view

import (
	"net/url"
	"sort"
	"time"

	"github.com/nsai/ingot-top/internal/alerts"
	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/health"
	"github.com/nsai/ingot-top/internal/history"
	"github.com/nsai/ingot-top/internal/ingest"
	"github.com/nsai/ingot-top/internal/promsrc"
)

// Source is where a figure comes from, as the one-letter tag the panes print.
type Source string

// The sources a figure can come from.
const (
	Live       Source = "L" // this session's own NATS stream
	Prometheus Source = "P" // a Prometheus server's API (5m rates, all nodes)
	Scrape     Source = "S" // scraped /metrics endpoints
	Daemon     Source = "D" // the aggregate daemons republish (--from-daemon)
)

// sourceOf is the tag of a fleet snapshot's kind.
func sourceOf(k promsrc.Kind) Source {
	if k == promsrc.KindPrometheus {
		return Prometheus
	}
	return Scrape
}

// SourceInfo is one data source ("stream", "prometheus", "scrape host:port", ...) and how
// fresh its data is; shown in the status bar and the Health pane.
type SourceInfo struct {
	Name   string
	Age    time.Duration
	Stale  bool
	Detail string
	// Never is true while the source has not answered once: Age is then time since start,
	// and "stale <10s" or "data <10s old" would claim data that never came.
	Never bool
}

// DaemonSourcePrefix starts the name of a source that stands for one daemon of a
// --from-daemon view ("daemon <producer id>"); Stale says it is left out of the merge.
const DaemonSourcePrefix = "daemon "

// Frame is everything the dashboard shows at one instant. The caller fills the parts (At
// through Left) and Build joins them; the panes read the joined fields.
type Frame struct {
	At time.Time
	// Stream is the stream's snapshot: this session's engine, or the daemons' merged
	// aggregate (StreamSrc says which). Parts only the stream has (errors, lineage,
	// counted activity, services) are drawn from it directly.
	Stream *engine.Snapshot
	// StreamSrc tags the stream's figures: Live, or Daemon with --from-daemon. Zero means Live.
	StreamSrc Source
	// Daemons is how many daemons' aggregates the stream merges (StreamSrc Daemon); the
	// panes name it in their titles so that figures are visibly the daemons'.
	Daemons int
	Conn    ingest.ConnState
	Health  []health.Status
	// Alerts is the one alert list, from alerts.Evaluator (which has merged Prometheus'
	// alerts under its own identity); Build does not add to it.
	Alerts  alerts.State
	Sources []SourceInfo
	// Prom is the fleet-wide data from Prometheus and --scrape endpoints, nil without them.
	Prom *promsrc.Snapshot
	// History is the session's per-second record (nil without one): trends and charts read
	// it, and look-back rebuilds past frames from it through Build.
	History *history.Ring
	// Past is set on a frame rebuilt from History: every pane and the status bar mark it.
	Past bool
	// Left counts rows a past frame lacks because history's caps left them out.
	Left history.Left
	// Replay is set when the frame comes from a recording played back (ingot-top replay)
	// or from the past read off a stream (--since): At is then the recorded time, and the
	// status bar says REPLAY.
	Replay *ReplayStatus

	// Joined is set by Build; the fields below are valid only then.
	Joined bool
	// Queues are the queue rows: the stream's, joined with the fleet's.
	Queues []QueueRow
	// Ops are the latency rows: the stream's, joined with the fleet's, by name.
	Ops []OpRow
	// Fleet describes the fleet source behind the fleet figures; Fleet.Source is "" without one.
	Fleet FleetInfo
	// Impact is the overall client error rate and who it hits, for the status line.
	Impact Impact
	// ErrorOrder is, per window, the order of Stream.ErrorGroups (indexes) on display, set
	// by a Holder on live frames; nil otherwise, and the Errors pane then sorts by count.
	ErrorOrder [engine.NumWindows][]int
}

// ReplayStatus is how a replay is playing.
type ReplayStatus struct {
	Speed  float64 // 0: as fast as possible
	Paused bool
	Ended  bool // the whole recording was played; the last moment stays on screen
	// Recording is set when the events come from files, not from NATS: there is then no
	// NATS connection to show.
	Recording bool
}

// FleetInfo is what the panes say about the fleet source in headers and legends.
type FleetInfo struct {
	Source Source
	Kind   promsrc.Kind
	// Stale is set when the figures are older than the source's poll allows: the column
	// headers then carry a "!".
	Stale bool
	// LeastCovered is the shortest part of the 5m rate window a queue's fleet rate covers,
	// -1 when every rate covers all of it.
	LeastCovered time.Duration
}

// Tag is the fleet column's header tag: "P", "S", or "P!" when stale.
func (f FleetInfo) Tag() string {
	if f.Stale {
		return string(f.Source) + "!"
	}
	return string(f.Source)
}

// QueueRow is one queue. Its figures are the stream's, or, for a queue the stream has no
// velocity for, the fleet's (Src says which); FleetRate is the fleet's own figure beside it.
type QueueRow struct {
	engine.QueueStats
	// Src is the source of the row's figures (velocity, p50, pending, ETA).
	Src Source
	// FleetRate is the fleet's labels/min of the queue (5m, all nodes), -1 when unknown;
	// FleetSrc is its source, "" without a fleet.
	FleetRate float64
	FleetSrc  Source
	// Fleet is the fleet's row of the queue (its history, coverage), nil when it has none.
	Fleet *promsrc.QueueFleet
	// Trend is the stream's labels/min in TrendCell buckets over the last TrendCells of
	// them, oldest first (see trendOf); nil without live history.
	Trend []float64
}

// FromFleet reports a row whose figures are the fleet's, not the stream's.
func (r *QueueRow) FromFleet() bool { return r.Src == Prometheus || r.Src == Scrape }

// OpRow is one timed operation. In each window its quantiles and error rate are the
// stream's, or the fleet's where the stream has no calls in that window (Src says which).
type OpRow struct {
	engine.OpStats
	Src [engine.NumWindows]Source
	// FleetP95 is the fleet's p95 (ms), -1 when unknown; FleetSrc its source.
	FleetP95 float64
	FleetSrc Source
	// Fleet is the fleet's row of the operation (clamped quantiles, bounds), nil without.
	Fleet *promsrc.OpFleet
}

// FromFleet reports whether the row's figures in window w are the fleet's.
func (r *OpRow) FromFleet(w engine.Window) bool {
	return r.Src[w] == Prometheus || r.Src[w] == Scrape
}

// Impact is the overall client error rate and who it hits. When the stream cannot tell the
// users and queues (Known false), Calls and Errors are the sum over services.
type Impact struct {
	engine.Impact
	Src Source
}

// Build joins a frame's parts into the rows the panes draw. It never modifies what the
// parts point at: the stream snapshot and the fleet snapshot are shared with history and
// other viewers.
func Build(f Frame) Frame {
	if f.StreamSrc == "" {
		f.StreamSrc = Live
	}
	f.Sources = withFleetSources(f.Sources, f.Prom)
	f.Fleet = fleetInfo(f.Prom)
	var liveQueues []engine.QueueStats
	var liveOps []engine.OpStats
	if f.Stream != nil {
		liveQueues, liveOps = f.Stream.Queues, f.Stream.Ops
	}
	f.Queues = JoinQueues(liveQueues, f.StreamSrc, f.Prom)
	if f.Stream != nil {
		for i := range f.Queues {
			f.Queues[i].Trend = trendOf(f.Queues[i].History, f.Stream.At, f.Stream.Started)
		}
	}
	f.Ops = JoinOps(liveOps, f.StreamSrc, f.Prom)
	f.Impact = impactOf(f.Stream, f.StreamSrc)
	f.Joined = true
	return f
}

// FromMoment rebuilds a past frame from a history moment through Build. What history does
// not keep per second (the source list, the ring itself, where the stream came from) comes
// from the newest frame.
func FromMoment(mo history.Moment, latest Frame) Frame {
	return Build(Frame{At: mo.At, Stream: mo.Stream, StreamSrc: latest.StreamSrc, Daemons: latest.Daemons, Conn: mo.Conn,
		Health: mo.Health, Alerts: mo.Alerts, Sources: rawSources(latest), Prom: mo.Prom,
		History: latest.History, Past: true, Left: mo.Left})
}

// rawSources are a frame's sources without the fleet's, which Build adds from the frame's
// own fleet snapshot.
func rawSources(f Frame) []SourceInfo {
	names := map[string]bool{}
	if f.Prom != nil {
		for _, st := range f.Prom.Sources {
			names[SourceName(st)] = true
		}
	}
	out := make([]SourceInfo, 0, len(f.Sources))
	for _, s := range f.Sources {
		if !names[s.Name] {
			out = append(out, s)
		}
	}
	return out
}

// withFleetSources lists the fleet's sources like any other, replacing one of the same
// name the caller put there. It returns a new slice.
func withFleetSources(srcs []SourceInfo, p *promsrc.Snapshot) []SourceInfo {
	if p == nil {
		return srcs
	}
	infos := make([]SourceInfo, 0, len(p.Sources))
	names := map[string]bool{}
	for _, st := range p.Sources {
		info := SourceInfo{Name: SourceName(st), Age: st.Age, Stale: st.Stale, Detail: st.URL, Never: st.LastSuccess.IsZero()}
		if st.Stale && st.LastError != "" {
			info.Detail = st.LastError // what is wrong matters more than where, when space is short
		}
		infos = append(infos, info)
		names[info.Name] = true
	}
	out := make([]SourceInfo, 0, len(srcs)+len(infos))
	for _, s := range srcs {
		if !names[s.Name] {
			out = append(out, s)
		}
	}
	return append(out, infos...)
}

// SourceName is "prometheus", or "scrape <host:port>" for a scrape endpoint.
func SourceName(st promsrc.SourceStatus) string {
	if st.Kind == promsrc.KindPrometheus {
		return "prometheus"
	}
	if u, err := url.Parse(st.URL); err == nil && u.Host != "" {
		return "scrape " + u.Host
	}
	return "scrape"
}

func fleetInfo(p *promsrc.Snapshot) FleetInfo {
	if p == nil {
		return FleetInfo{LeastCovered: -1}
	}
	fi := FleetInfo{Source: sourceOf(p.Kind), Kind: p.Kind, Stale: p.FiguresStale(), LeastCovered: -1}
	for i := range p.Queues {
		if q := &p.Queues[i]; q.Partial && (fi.LeastCovered < 0 || q.Covered < fi.LeastCovered) {
			fi.LeastCovered = q.Covered
		}
	}
	return fi
}

func impactOf(s *engine.Snapshot, src Source) Impact {
	if s == nil {
		return Impact{Src: src}
	}
	im := Impact{Impact: s.Impact, Src: src}
	if !im.Known {
		// a merged aggregate without per-call impact still has the per-service counts
		for w := range im.Calls {
			im.Calls[w], im.Errors[w] = 0, 0
			for _, sv := range s.Services {
				im.Calls[w] += sv.Calls[w]
				im.Errors[w] += sv.Errors[w]
			}
			if im.Calls[w] > 0 {
				im.ErrorRate[w] = float64(im.Errors[w]) / float64(im.Calls[w])
			}
		}
	}
	return im
}

// JoinQueues returns the queue rows: the stream's, with rows that have no live velocity in
// any window filled from the fleet, plus fleet-only queues, then the stream's folded
// "other" row. live is not modified.
func JoinQueues(live []engine.QueueStats, liveSrc Source, fleet *promsrc.Snapshot) []QueueRow {
	var fleetSrc Source
	var nFleet int
	if fleet != nil {
		fleetSrc, nFleet = sourceOf(fleet.Kind), len(fleet.Queues)
	}
	out := make([]QueueRow, 0, len(live)+nFleet)
	seen := make(map[string]bool, len(live))
	var other *engine.QueueStats
	for i := range live {
		q := &live[i]
		seen[q.ID] = true
		if q.ID == engine.OtherID {
			other = q
			continue
		}
		row := QueueRow{QueueStats: *q, Src: liveSrc, FleetRate: -1, FleetSrc: fleetSrc}
		if fq, ok := fleet.Queue(q.ID); ok {
			row.Fleet, row.FleetRate = fq, fq.LabelsPerMin
			if !hasLiveVelocity(q) {
				fillFromFleet(&row.QueueStats, fq)
				row.Src = fleetSrc
			}
		}
		out = append(out, row)
	}
	if fleet != nil {
		for i := range fleet.Queues {
			fq := &fleet.Queues[i]
			if seen[fq.ID] || fq.ID == engine.OtherID {
				continue
			}
			row := QueueRow{QueueStats: engine.QueueStats{ID: fq.ID, Folded: 1}, Src: fleetSrc,
				FleetRate: fq.LabelsPerMin, FleetSrc: fleetSrc, Fleet: fq}
			fillFromFleet(&row.QueueStats, fq)
			out = append(out, row)
		}
	}
	if other != nil {
		out = append(out, QueueRow{QueueStats: *other, Src: liveSrc, FleetRate: -1, FleetSrc: fleetSrc})
	}
	return out
}

func hasLiveVelocity(q *engine.QueueStats) bool {
	for _, v := range q.LabelsPerMin {
		if v > 0 {
			return true
		}
	}
	return false
}

// fillFromFleet puts a fleet row's figures in the windows the stream has none for. The
// fleet figure is a 5-minute rate whatever window is selected; the row's tag says so.
func fillFromFleet(q *engine.QueueStats, fq *promsrc.QueueFleet) {
	for w := range q.LabelsPerMin {
		if fq.LabelsPerMin >= 0 {
			q.LabelsPerMin[w] = fq.LabelsPerMin
		}
		if q.TimePerSample[w].Count == 0 && fq.P50MS > 0 {
			q.TimePerSample[w] = engine.Quantiles{Count: 1, P50: fq.P50MS}
		}
		if q.Abandonment[w] == 0 {
			q.Abandonment[w] = -1 // not in the fleet queries: unknown, not zero
		}
	}
	if !q.HasStats && fq.Pending >= 0 {
		q.HasStats, q.Pending = true, fq.Pending
		if v := q.LabelsPerMin[engine.Window5m]; v > 0 {
			q.BacklogETA, q.EtaKnown = time.Duration(q.Pending/v*float64(time.Minute)), true
		}
	}
}

// JoinOps returns the latency rows: the stream's, with each window that has no live calls
// filled from the fleet, plus fleet-only operations, sorted by name. live is not modified.
func JoinOps(live []engine.OpStats, liveSrc Source, fleet *promsrc.Snapshot) []OpRow {
	var fleetSrc Source
	var nFleet int
	if fleet != nil {
		fleetSrc, nFleet = sourceOf(fleet.Kind), len(fleet.Ops)
	}
	out := make([]OpRow, 0, len(live)+nFleet)
	seen := make(map[string]bool, len(live))
	for i := range live {
		row := OpRow{OpStats: live[i], FleetP95: -1, FleetSrc: fleetSrc}
		for w := range row.Src {
			row.Src[w] = liveSrc
		}
		seen[row.Name] = true
		if fo, ok := fleet.Op(row.Name); ok {
			row.Fleet = fo
			if fo.P95 > 0 {
				row.FleetP95 = fo.P95
				for w := range row.Src {
					if row.Latency[w].Count == 0 {
						fillOpFromFleet(&row.OpStats, fo, engine.Window(w))
						row.Src[w] = fleetSrc
					}
				}
			}
		}
		out = append(out, row)
	}
	added := false
	if fleet != nil {
		for i := range fleet.Ops {
			fo := &fleet.Ops[i]
			if seen[fo.Name] || fo.P95 <= 0 {
				continue
			}
			row := OpRow{OpStats: engine.OpStats{Name: fo.Name}, FleetP95: fo.P95, FleetSrc: fleetSrc, Fleet: fo}
			for w := range row.Src {
				fillOpFromFleet(&row.OpStats, fo, engine.Window(w))
				row.Src[w] = fleetSrc
			}
			out = append(out, row)
			added = true
		}
	}
	if added {
		sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	}
	return out
}

func fillOpFromFleet(op *engine.OpStats, fo *promsrc.OpFleet, w engine.Window) {
	op.Latency[w] = engine.Quantiles{Count: 1, P50: fo.P50, P95: fo.P95, P99: fo.P99}
	op.ErrorRate[w] = fo.ErrorRatio // -1 (unknown) prints as "—"
}

// The Queues pane's trend: TrendCells buckets of TrendCell, the last 6 minutes. A trend of
// the last minute in 5 s buckets shifted every 5 s and rewrote its 12 cells on every row,
// about 80 B/s at 12 queues; in 30 s buckets it shifts every 30 s, and the newest bucket,
// the mean of its complete 10 s slices so far, changes its glyph at most every 10 s. The
// slice still filling is left out: a third of a slice is not a rate.
const (
	TrendCell  = 30 * time.Second
	TrendCells = 12
)

// historyStep is the step of engine.QueueStats.History.
const historyStep = 10 * time.Second

// trendOf buckets a queue's History (labels/min per 10 s slice, the last one the slice
// holding at) into TrendCell buckets aligned to the wall clock, the newest possibly
// partial; slices not wholly after started are not data and are left out.
func trendOf(hist []float64, at, started time.Time) []float64 {
	if len(hist) < 2 {
		return nil
	}
	lastStart := at.Truncate(historyStep)
	var out []float64
	sum, n := 0.0, 0
	bucket := int64(-1)
	for i := 0; i < len(hist)-1; i++ { // the slice still filling is left out
		start := lastStart.Add(-time.Duration(len(hist)-1-i) * historyStep)
		if start.Before(started) {
			continue // before the engine started, or the slice it started in: not whole
		}
		b := start.UnixNano() / int64(TrendCell)
		if b != bucket && n > 0 {
			out = append(out, sum/float64(n))
			sum, n = 0, 0
		}
		bucket = b
		sum += hist[i]
		n++
	}
	if n > 0 {
		out = append(out, sum/float64(n))
	}
	if len(out) > TrendCells {
		out = out[len(out)-TrendCells:]
	}
	return out
}
