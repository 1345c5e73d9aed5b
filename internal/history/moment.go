package history

import (
	"cmp"
	"slices"
	"sort"
	"time"

	"github.com/nsai/ingot-top/internal/alerts"
	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/health"
	"github.com/nsai/ingot-top/internal/ingest"
	"github.com/nsai/ingot-top/internal/promsrc"
)

// Moment is a past second rebuilt as the dashboard showed it. Figures come from the
// per-second rows; what is not stored per second is taken from the newest input and cut to
// the moment: error log entries, invalid samples, probe checks and resolved alerts after
// it are left out, and the trace lineage is the newest one.
type Moment struct {
	At     time.Time
	Stream *engine.Snapshot
	Conn   ingest.ConnState
	Health []health.Status
	Alerts alerts.State
	Prom   *promsrc.Snapshot
	// Left counts the rows the caps left out of that second.
	Left Left
	// LogFrom is the receive time of the oldest entry still in the error log: a moment
	// before it shows fewer entries than it had then.
	LogFrom time.Time
}

// Left counts rows past the ring's caps.
type Left struct{ Ops, Queues, Probes, Groups int }

// Step returns the recorded second n seconds away from t (back when n < 0), clamped to what
// the ring holds; seconds that were not recorded (a slow refresh, a stall) are skipped.
func (r *Ring) Step(t time.Time, n int) (time.Time, bool) {
	if r == nil {
		return time.Time{}, false
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.last == 0 {
		return time.Time{}, false
	}
	target := min(max(t.Unix()+int64(n), r.first), r.last)
	dir := int64(-1)
	if n > 0 {
		dir = 1
	}
	for s := target; s >= r.first && s <= r.last; s += dir {
		if r.status[r.idx(s)].sec == s {
			return r.timeOf(s), true
		}
	}
	// nothing that way: the nearest recorded second the other way
	for s := target; s >= r.first && s <= r.last; s -= dir {
		if r.status[r.idx(s)].sec == s {
			return r.timeOf(s), true
		}
	}
	return time.Time{}, false
}

func (r *Ring) idx(sec int64) int { return int(sec % int64(r.cfg.Seconds)) }

// Moment rebuilds the recorded second at or before t.
func (r *Ring) Moment(t time.Time) (Moment, bool) {
	if r == nil {
		return Moment{}, false
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	sec := min(t.Unix(), r.last)
	for ; sec >= r.first && sec > 0; sec-- {
		if r.status[r.idx(sec)].sec == sec {
			break
		}
	}
	if sec < r.first || sec <= 0 {
		return Moment{}, false
	}
	st := &r.status[r.idx(sec)]
	at := r.timeOf(sec)
	end := at.Add(time.Second) // what arrived before the end of that second was on screen
	m := Moment{At: at, Left: Left{Ops: int(st.opsLeft), Queues: int(st.queuesLeft), Probes: int(st.probesLeft), Groups: int(st.grpsLeft)}}
	m.Conn = r.conn(st, end)
	if r.latest.Stream != nil {
		m.Stream = r.stream(st, sec, at, end)
		if n := len(r.latest.Stream.Errors); n > 0 {
			m.LogFrom = r.latest.Stream.Errors[n-1].Received
		}
	}
	m.Health = r.health(sec, end)
	m.Alerts = r.alertsAt(sec, at, end)
	if r.latest.Prom != nil {
		m.Prom = r.prom(st, sec, at)
	}
	return m, true
}

func (r *Ring) conn(st *statusRow, end time.Time) ingest.ConnState {
	c := r.latest.Conn
	c.Phase = ingest.Phase(phases[st.phase])
	c.Received, c.Reconnects, c.SlowConsumerDrops = st.received, st.reconnects, st.drops
	c.Since = time.Time{}
	if st.connSince != 0 {
		c.Since = time.UnixMilli(st.connSince).In(end.Location())
	}
	if !c.LastErrorAt.Before(end) {
		c.LastError, c.LastErrorAt = "", time.Time{}
	}
	return c
}

func f64(v float32) float64 { return float64(v) }

func (r *Ring) stream(st *statusRow, sec int64, at, end time.Time) *engine.Snapshot {
	latest := r.latest.Stream
	s := &engine.Snapshot{At: at, Started: r.started}
	s.Totals = engine.Totals{Events: st.events, Invalid: st.invalid, Unknown: st.unknown, Errors: st.errors,
		FoldedIDs: st.folded, RatePerSec: f64(st.rate)}
	for w := range nw {
		l := st.lag[w]
		s.Lag[w] = engine.Quantiles{Count: uint64(st.lagCount[w]), P50: f64(l[0]), P95: f64(l[1]), P99: f64(l[2])}
	}
	s.EventsPerSec = make([]float64, 60)
	for k := range s.EventsPerSec {
		if row := &r.status[r.idx(sec-59+int64(k))]; row.sec == sec-59+int64(k) {
			s.EventsPerSec[k] = f64(row.perSec)
		}
	}
	// The engine's EventsPerSec ends with the second still filling; the stored figure is
	// the last whole second, so the rebuilt series gains one as the engine's had.
	s.EventsPerSec = append(s.EventsPerSec[1:], 0)
	for i, name := range [2]string{"anvil", "forge"} {
		sv := engine.ServiceStats{Service: name}
		for w := range nw {
			sv.Calls[w], sv.Errors[w] = uint64(st.svcCalls[i][w]), uint64(st.svcErrs[i][w])
			if sv.Calls[w] > 0 {
				sv.ErrorRate[w] = float64(sv.Errors[w]) / float64(sv.Calls[w])
			}
		}
		s.Services = append(s.Services, sv)
	}
	s.Impact = st.impact.engine()
	for i, r := range st.activity {
		if !r.seen {
			continue
		}
		a := engine.ActivityStats{Name: activityNames[i], LastScore: f64(r.last)}
		if i == 1 {
			a.ScoreKey = "score"
		}
		if r.lastAt != 0 {
			a.LastAt = time.UnixMilli(r.lastAt).In(at.Location())
		}
		for w := range nw {
			a.Count[w], a.Scored[w] = uint64(r.count[w]), uint64(r.scored[w])
			a.PerMin[w], a.MeanScore[w] = f64(r.perMin[w]), f64(r.mean[w])
		}
		s.Activity = append(s.Activity, a)
	}
	s.Ops = r.ops0(sec)
	s.Queues = r.queues0(sec, at)
	s.Errors = cutEntries(latest.Errors, end)
	s.Lineage = latest.Lineage
	s.ErrorGroups = r.groupsAt(sec, end, s.Errors)
	s.InvalidSamples = slices.DeleteFunc(slices.Clone(latest.InvalidSamples), func(b engine.BadSample) bool { return !b.Received.Before(end) })
	for i, name := range r.reasons.names {
		if row, ok := r.reasons.at(i, sec); ok && name != "" {
			s.Invalid = append(s.Invalid, engine.ReasonCount{Reason: name, Count: row.count})
		}
	}
	sort.Slice(s.Invalid, func(i, j int) bool { return s.Invalid[i].Reason < s.Invalid[j].Reason })
	for i, name := range r.unknown.names {
		if row, ok := r.unknown.at(i, sec); ok && name != "" {
			s.Unknown = append(s.Unknown, engine.NameCount{Name: name, Count: row.count})
		}
	}
	slices.SortStableFunc(s.Unknown, func(a, b engine.NameCount) int { return cmp.Compare(b.Count, a.Count) })
	return s
}

// cutEntries is the log as it was at end: newest first, without what arrived after.
func cutEntries(log []engine.ErrorEntry, end time.Time) []engine.ErrorEntry {
	out := make([]engine.ErrorEntry, 0, len(log))
	for i := range log {
		if log[i].Received.Before(end) {
			out = append(out, log[i])
		}
	}
	return out
}

func (r *Ring) ops0(sec int64) []engine.OpStats {
	var out []engine.OpStats
	for i, name := range r.ops.names {
		row, ok := r.ops.at(i, sec)
		if !ok || name == "" || row.flags&hasLive == 0 {
			continue
		}
		op := engine.OpStats{Name: name, Service: services[row.service]}
		for w := range nw {
			q := row.lat[w]
			op.Latency[w] = engine.Quantiles{Count: uint64(q.count), P50: f64(q.p50), P95: f64(q.p95), P99: f64(q.p99)}
			op.Errors[w] = uint64(row.errs[w])
			if q.count > 0 {
				op.ErrorRate[w] = float64(row.errs[w]) / float64(q.count)
			}
		}
		out = append(out, op)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// chartPoints is how many 10 s points a queue's History and LatencyHistory carry (15 min).
const chartPoints = 90

func (r *Ring) queues0(sec int64, at time.Time) []engine.QueueStats {
	var out []engine.QueueStats
	for i, name := range r.queues.names {
		row, ok := r.queues.at(i, sec)
		if !ok || name == "" || row.flags&hasLive == 0 {
			continue
		}
		q := engine.QueueStats{ID: name, Folded: int(row.folded), ActiveLabelers: int(row.active),
			Pending: f64(row.pending), InProgress: f64(row.inProgress), Completed: f64(row.completed)}
		q.HasStats = row.flags&hasStats != 0
		if q.HasStats {
			q.StatsAt = at.Add(-time.Duration(row.statsAgeSec) * time.Second)
		}
		q.EtaKnown = row.flags&etaKnown != 0
		q.BacklogETA = time.Duration(row.etaSec) * time.Second
		for w := range nw {
			q.LabelsPerMin[w] = f64(row.lpm[w])
			t := row.tps[w]
			q.TimePerSample[w] = engine.Quantiles{Count: uint64(t.count), P50: f64(t.p50), P95: f64(t.p95), P99: f64(t.p99)}
			q.Abandonment[w] = f64(row.aband[w])
			q.Calls[w], q.Errors[w] = uint64(row.calls[w]), uint64(row.cerrs[w])
			if row.calls[w] > 0 {
				q.ErrorRate[w] = float64(row.cerrs[w]) / float64(row.calls[w])
			}
			// the split as shares of 10000: the pane prints percents, and a share is all it needs
			if m := row.methods[w]; m != [3]uint16{} {
				q.Methods[w] = engine.MethodShare{Keyboard: uint64(m[0]), Mouse: uint64(m[1]), API: uint64(m[2]),
					Other: uint64(max(10000-int(m[0])-int(m[1])-int(m[2]), 0))}
			}
		}
		q.Spark = make([]float64, 60)
		for k := range q.Spark {
			if rw, ok := r.queues.at(i, sec-59+int64(k)); ok {
				q.Spark[k] = f64(rw.perSec)
			}
		}
		q.Spark = append(q.Spark[1:], 0) // as EventsPerSec: the last second was still filling
		// 10 s points back to the oldest second the ring holds, oldest first
		n := min(int((sec-r.first)/10)+1, chartPoints)
		q.History, q.LatencyHistory = make([]float64, n), make([]float64, n)
		for k := 0; k < n; k++ {
			s := sec - int64(n-1-k)*10
			if rw, ok := r.queues.at(i, s); ok {
				q.History[k], q.LatencyHistory[k] = f64(rw.lpm[0]), f64(rw.tps[0].p50)
			}
		}
		out = append(out, q)
	}
	// the engine's order: by 1m velocity, the folded row last
	slices.SortStableFunc(out, func(a, b engine.QueueStats) int {
		if (a.ID == engine.OtherID) != (b.ID == engine.OtherID) {
			if a.ID == engine.OtherID {
				return 1
			}
			return -1
		}
		if c := cmp.Compare(b.LabelsPerMin[0], a.LabelsPerMin[0]); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out
}

func (r *Ring) groupsAt(sec int64, end time.Time, log []engine.ErrorEntry) []engine.ErrorGroup {
	var out []engine.ErrorGroup
	for i := range r.groups.names {
		row, ok := r.groups.at(i, sec)
		if !ok || r.groups.names[i] == "" {
			continue
		}
		g := r.groupMeta[i] // a copy: the template stays as recorded
		g.Total = uint64(row.total)
		for w := range nw {
			g.Count[w] = uint64(row.count[w])
		}
		g.Last = time.UnixMilli(row.last).In(end.Location())
		if !g.Latest.Received.Before(end) {
			// the newest occurrence came later: the newest one the log had by then
			g.Latest = engine.ErrorEntry{Event: g.Event, Service: g.Service, Operation: g.Operation, Reason: g.Signature, Time: g.Last, Received: g.Last}
			for k := range log {
				if log[k].Event == g.Event && log[k].Service == g.Service {
					g.Latest = log[k]
					break
				}
			}
		}
		out = append(out, g)
	}
	engine.SortErrorGroups(out, engine.Window5m)
	return out
}

func (r *Ring) health(sec int64, end time.Time) []health.Status {
	tmpl := r.latest.Health
	out := make([]health.Status, 0, len(tmpl))
	for _, h := range tmpl {
		i, ok := r.probes.index[h.Name]
		if !ok {
			continue
		}
		row, ok := r.probes.at(i, sec)
		if !ok {
			continue
		}
		h.State = probeStates[row.state]
		h.Since = time.Time{}
		if row.since != 0 {
			h.Since = time.UnixMilli(row.since).In(end.Location())
		}
		h.Latency = time.Duration(row.latencyUS) * time.Microsecond
		h.Uptime = [3]float64{f64(row.uptime[0]), f64(row.uptime[1]), f64(row.uptime[2])}
		if !h.LastErrorAt.Before(end) {
			h.LastError, h.LastErrorAt = "", time.Time{}
		}
		if len(h.Recent) > 0 && h.Recent[len(h.Recent)-1].State != h.State {
			h.Detail = "" // what the body said belongs to another state
		}
		h.Recent, h.LatencyHistory = r.checks(i, sec, max(len(h.Recent), 1))
		out = append(out, h)
	}
	return out
}

// checks rebuilds a target's last n probe checks up to sec, oldest first, from the rows:
// each check is recorded in the seconds after it finished, until the next one.
func (r *Ring) checks(slot int, sec int64, n int) ([]health.Check, []float64) {
	var checks []health.Check
	var lat []float64
	seen := int64(0)
	for s := sec; s >= r.first && len(checks) < n; s-- {
		row, ok := r.probes.at(slot, s)
		if !ok || row.checkAt == 0 || row.checkAt == seen {
			continue
		}
		seen = row.checkAt
		d := time.Duration(row.latencyUS) * time.Microsecond
		checks = append(checks, health.Check{At: time.UnixMilli(row.checkAt).In(r.latest.At.Location()),
			State: probeStates[row.state], Latency: d, Code: int(row.code)})
		lat = append(lat, float64(d)/float64(time.Millisecond))
	}
	slices.Reverse(checks)
	slices.Reverse(lat)
	return checks, lat
}

func (r *Ring) alertsAt(sec int64, at, end time.Time) alerts.State {
	s := alerts.State{At: at}
	for k := r.alertN - 1; k >= 0; k-- {
		c := &r.alertLog[(r.alertHead+k)%len(r.alertLog)]
		if c.sec <= sec {
			s.Active = slices.Clone(c.active)
			break
		}
	}
	for _, a := range r.latest.Alerts.History {
		if !a.ResolvedAt.IsZero() && a.ResolvedAt.Before(end) {
			s.History = append(s.History, a)
		}
	}
	return s
}

func (r *Ring) prom(st *statusRow, sec int64, at time.Time) *promsrc.Snapshot {
	p := *r.latest.Prom
	p.At, p.Alerts, p.Ops, p.Queues = at, nil, nil, nil
	p.FiguresAt = time.Time{}
	if st.figuresAt != 0 {
		p.FiguresAt = time.UnixMilli(st.figuresAt).In(at.Location())
	}
	for i, name := range r.ops.names {
		row, ok := r.ops.at(i, sec)
		if !ok || name == "" || row.flags&hasFleet == 0 {
			continue
		}
		fo := promsrc.OpFleet{Name: name, P50: f64(row.fleetP50), P95: f64(row.fleetP95), P99: f64(row.fleet99),
			PerSec: f64(row.fleetRate), ErrorRatio: f64(row.fleetErr), TopBound: f64(row.fleetTop)}
		for k := range fo.AtTop {
			fo.AtTop[k] = row.fleetAtTop&(1<<k) != 0
		}
		p.Ops = append(p.Ops, fo)
	}
	sort.Slice(p.Ops, func(i, j int) bool { return p.Ops[i].Name < p.Ops[j].Name })
	for i, name := range r.queues.names {
		row, ok := r.queues.at(i, sec)
		if !ok || name == "" || row.flags&hasFleet == 0 {
			continue
		}
		q := promsrc.QueueFleet{ID: name, LabelsPerMin: f64(row.fleetLPM), Total: f64(row.fleetTotal),
			Pending: f64(row.fleetPending), P50MS: f64(row.fleetP50),
			Covered: time.Duration(row.coveredSec) * time.Second, Partial: row.flags&fleetPartial != 0}
		if lq, ok := r.latest.Prom.Queue(name); ok {
			q.History, q.P50History = cutSeries(lq.History, at), cutSeries(lq.P50History, at)
		}
		p.Queues = append(p.Queues, q)
	}
	sort.Slice(p.Queues, func(i, j int) bool { return p.Queues[i].ID < p.Queues[j].ID })
	return &p
}

// cutSeries is the part of s up to at, sharing its backing array (series are immutable).
func cutSeries(s promsrc.Series, at time.Time) promsrc.Series {
	if s.Step <= 0 || len(s.Values) == 0 {
		return s
	}
	if at.Before(s.Start) {
		return promsrc.Series{Start: s.Start, Step: s.Step}
	}
	n := min(int(at.Sub(s.Start)/s.Step)+1, len(s.Values))
	s.Values = s.Values[:n:n]
	return s
}

func (r impactRow) engine() engine.Impact {
	im := engine.Impact{Known: r.known, UsersEstimated: r.usersEst}
	for w := range nw {
		im.Calls[w], im.Errors[w], im.AffectedUsers[w] = uint64(r.calls[w]), uint64(r.errors[w]), uint64(r.users[w])
		im.ErrorsNoUser[w], im.ErrorsNoQueue[w] = uint64(r.noUser[w]), uint64(r.noQueue[w])
		im.AffectedQueues[w], im.QueuesLowerBound[w] = int(r.queues[w]), r.queuesLB[w]
		if r.calls[w] > 0 {
			im.ErrorRate[w] = float64(r.errors[w]) / float64(r.calls[w])
		}
	}
	return im
}
