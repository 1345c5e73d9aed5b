package ui

import (
	"math"
	"net/url"
	"sort"
	"time"

	"github.com/nsai/ingot-top/internal/alerts"
	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/promsrc"
)

// Fleet figures (Prometheus or --scrape) are shown beside the live stream's. Every row says
// where its main figures come from in a one-letter "src" column: L for the live stream, P
// for Prometheus, S for scraped /metrics; a row the stream has no data for in the window
// shows the fleet figures instead, tagged P or S. The "fleet" column always holds the fleet
// figure, and its header carries the source's tag; the status bar gives every source's age.

// srcLive is the tag of figures from the live stream.
const srcLive = "L"

// withFleet folds the fleet snapshot's sources and alerts into the frame, so that the status
// bar, the Health pane and the alert views show them like any other: each source becomes a
// SourceInfo (replacing one of the same name the caller put there), and Prometheus alerts
// join the alert state unless the caller already merged them (alerts.Input.PromAlerts).
func withFleet(f Frame) Frame {
	p := f.Prom
	if p == nil {
		return f
	}
	infos := make([]SourceInfo, 0, len(p.Sources))
	names := map[string]bool{}
	for _, st := range p.Sources {
		info := SourceInfo{Name: sourceName(st), Age: st.Age, Stale: st.Stale, Detail: st.URL, Never: st.LastSuccess.IsZero()}
		if st.Stale && st.LastError != "" {
			info.Detail = st.LastError // what is wrong matters more than where, when space is short
		}
		infos = append(infos, info)
		names[info.Name] = true
	}
	srcs := make([]SourceInfo, 0, len(f.Sources)+len(infos))
	for _, s := range f.Sources {
		if !names[s.Name] {
			srcs = append(srcs, s)
		}
	}
	f.Sources = append(srcs, infos...)

	if len(p.Alerts) > 0 {
		have := map[string]bool{}
		for _, a := range f.Alerts.Active {
			if a.Source == alerts.SourcePrometheus {
				have[alertKey(a)] = true
			}
		}
		var extra []alerts.Alert
		for _, a := range p.Alerts {
			if !have[alertKey(a)] {
				extra = append(extra, a)
			}
		}
		if len(extra) > 0 {
			active := make([]alerts.Alert, 0, len(f.Alerts.Active)+len(extra))
			active = append(append(active, f.Alerts.Active...), extra...)
			// firing first, then pending, each by ActiveAt, as alerts.State promises
			sort.SliceStable(active, func(i, j int) bool {
				fi, fj := active[i].State == alerts.StateFiring, active[j].State == alerts.StateFiring
				if fi != fj {
					return fi
				}
				return active[i].ActiveAt.Before(active[j].ActiveAt)
			})
			f.Alerts.Active = active
		}
	}
	return f
}

func alertKey(a alerts.Alert) string { return a.Name + "|" + string(a.State) }

// sourceName is "prometheus", or "scrape <host:port>" for a scrape endpoint.
func sourceName(st promsrc.SourceStatus) string {
	if st.Kind == promsrc.KindPrometheus {
		return "prometheus"
	}
	if u, err := url.Parse(st.URL); err == nil && u.Host != "" {
		return "scrape " + u.Host
	}
	return "scrape"
}

// fleetTag is the header tag of the fleet column: "P", "S", or "P!" when stale.
func fleetTag(p *promsrc.Snapshot) string {
	t := p.Kind.Tag()
	if p.FiguresStale() {
		t += "!"
	}
	return t
}

// lastValues returns the last n values of a fleet series with gaps as 0, for sparklines
// and charts, which draw no gaps.
func lastValues(s promsrc.Series, n int) []float64 {
	v := s.Values
	if len(v) > n {
		v = v[len(v)-n:]
	}
	out := make([]float64, len(v))
	for i, x := range v {
		if !math.IsNaN(x) && x > 0 {
			out[i] = x
		}
	}
	return out
}

// liveSpan is how long the stream has been aggregating: shorter than a chart's span, the
// fleet history draws it instead.
func liveSpan(s *engine.Snapshot) time.Duration {
	if s == nil || s.Started.IsZero() {
		return 0
	}
	return s.At.Sub(s.Started)
}

// mergeQueues returns the queue rows to show: the stream's, with rows that have no live
// velocity in any window filled from the fleet, plus fleet-only queues (before the folded
// "other" row); src maps the ids whose figures came from the fleet to its tag. It never
// modifies live; the rows are appended to buf[:0], which a pane reuses frame after frame.
func mergeQueues(live []engine.QueueStats, fleet *promsrc.Snapshot, src map[string]string, buf []engine.QueueStats) []engine.QueueStats {
	clear(src)
	if fleet == nil || len(fleet.Queues) == 0 {
		return live
	}
	tag := fleet.Kind.Tag()
	seen := make(map[string]bool, len(live))
	out := buf[:0]
	var other *engine.QueueStats
	for i := range live {
		q := live[i]
		seen[q.ID] = true
		if q.ID == engine.OtherID {
			other = &live[i]
			continue
		}
		if fq, ok := fleet.Queue(q.ID); ok && !hasLiveVelocity(&q) {
			fillFromFleet(&q, fq)
			src[q.ID] = tag
		}
		out = append(out, q)
	}
	for i := range fleet.Queues {
		fq := &fleet.Queues[i]
		if seen[fq.ID] || fq.ID == engine.OtherID {
			continue
		}
		q := engine.QueueStats{ID: fq.ID, Folded: 1}
		fillFromFleet(&q, fq)
		src[q.ID] = tag
		out = append(out, q)
	}
	if other != nil {
		out = append(out, *other)
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
// fleet figure is a 5-minute rate whatever window is selected; the "src" tag says so.
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

// mergeOps returns the latency rows: the stream's, with rows that have no live data in
// window w replaced by the fleet's figures, plus fleet-only operations, sorted by name.
func mergeOps(live []engine.OpStats, fleet *promsrc.Snapshot, w engine.Window, src map[string]string, buf []engine.OpStats) []engine.OpStats {
	clear(src)
	if fleet == nil || len(fleet.Ops) == 0 {
		return live
	}
	tag := fleet.Kind.Tag()
	seen := make(map[string]bool, len(live))
	out := buf[:0]
	for i := range live {
		op := live[i]
		seen[op.Name] = true
		if fo, ok := fleet.Op(op.Name); ok && op.Latency[w].Count == 0 && fo.P95 > 0 {
			fillOpFromFleet(&op, fo, w)
			src[op.Name] = tag
		}
		out = append(out, op)
	}
	added := false
	for i := range fleet.Ops {
		fo := &fleet.Ops[i]
		if seen[fo.Name] || fo.P95 <= 0 {
			continue
		}
		op := engine.OpStats{Name: fo.Name}
		fillOpFromFleet(&op, fo, w)
		src[op.Name] = tag
		out = append(out, op)
		added = true
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
