package history

import (
	"math"
	"slices"
	"time"

	"github.com/nsai/ingot-top/internal/alerts"
	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/health"
	"github.com/nsai/ingot-top/internal/promsrc"
)

// Record stores in's figures for the second of in.At. A second recorded twice keeps the
// later figures; an input older than the newest second is ignored (the ring only moves
// forward, as the frames do).
func (r *Ring) Record(in Input) {
	if in.At.IsZero() {
		return
	}
	sec := in.At.Unix()
	r.mu.Lock()
	defer r.mu.Unlock()
	if sec < r.last {
		return
	}
	if r.last == 0 {
		r.first = sec
	}
	r.last = sec
	r.first = max(r.first, sec-int64(r.cfg.Seconds)+1)
	r.latest = in
	if in.Stream != nil && r.started.IsZero() {
		r.started = in.Stream.Started
	}

	st := &r.status[int(sec%int64(r.cfg.Seconds))]
	*st = statusRow{sec: sec}
	r.recordConn(st, in)
	if s := in.Stream; s != nil {
		r.recordStream(st, sec, s)
	}
	r.recordOps(st, sec, in.Stream, in.Prom)
	r.recordQueues(st, sec, in.Stream, in.Prom)
	r.recordProbes(st, sec, in.Health)
	r.recordAlerts(sec, in.Alerts)
	if in.Prom != nil && !in.Prom.FiguresAt.IsZero() {
		st.figuresAt = in.Prom.FiguresAt.UnixMilli()
	}
}

func (r *Ring) recordConn(st *statusRow, in Input) {
	c := in.Conn
	st.phase = phaseCode(string(c.Phase))
	st.received, st.reconnects, st.drops = c.Received, c.Reconnects, c.SlowConsumerDrops
	if !c.Since.IsZero() {
		st.connSince = c.Since.UnixMilli()
	}
}

var phases = []string{"", "connecting", "connected", "reconnecting", "disconnected"}

func phaseCode(p string) uint8 {
	if i := slices.Index(phases, p); i > 0 {
		return uint8(i)
	}
	return 0
}

func (r *Ring) recordStream(st *statusRow, sec int64, s *engine.Snapshot) {
	t := s.Totals
	st.events, st.invalid, st.unknown, st.errors, st.folded = t.Events, t.Invalid, t.Unknown, t.Errors, t.FoldedIDs
	st.rate = float32(t.RatePerSec)
	st.perSec = float32(lastWhole(s.EventsPerSec))
	for w := range nw {
		l := s.Lag[w]
		st.lag[w] = [3]float32{float32(l.P50), float32(l.P95), float32(l.P99)}
		st.lagCount[w] = sat32(l.Count)
	}
	st.impact = impactOf(&s.Impact)
	for _, a := range s.Activity {
		for i, name := range activityNames {
			if a.Name != name {
				continue
			}
			r := &st.activity[i]
			r.seen, r.last = true, float32(a.LastScore)
			if !a.LastAt.IsZero() {
				r.lastAt = a.LastAt.UnixMilli()
			}
			for w := range nw {
				r.count[w], r.scored[w] = sat32(a.Count[w]), sat32(a.Scored[w])
				r.perMin[w], r.mean[w] = float32(a.PerMin[w]), float32(a.MeanScore[w])
			}
		}
	}
	for _, sv := range s.Services {
		i := 0
		if sv.Service == "forge" {
			i = 1
		} else if sv.Service != "anvil" {
			continue
		}
		for w := range nw {
			st.svcCalls[i][w], st.svcErrs[i][w] = sat32(sv.Calls[w]), sat32(sv.Errors[w])
		}
	}
	for _, rc := range s.Invalid {
		if i := r.reasons.slot(rc.Reason, sec); i >= 0 {
			*r.reasons.put(i, sec) = countRow{sec: sec, count: rc.Count}
		}
	}
	for _, u := range s.Unknown {
		if i := r.unknown.slot(u.Name, sec); i >= 0 {
			*r.unknown.put(i, sec) = countRow{sec: sec, count: u.Count}
		}
	}
	for gi := range s.ErrorGroups {
		g := &s.ErrorGroups[gi]
		i := r.groups.slot(groupKey(g), sec)
		if i < 0 {
			st.grpsLeft++
			continue
		}
		row := r.groups.put(i, sec)
		*row = groupRow{sec: sec, total: sat32(g.Total), last: g.Last.UnixMilli()}
		for w := range nw {
			row.count[w] = sat32(g.Count[w])
		}
		meta := &r.groupMeta[i]
		if groupKey(meta) != groupKey(g) || !g.Latest.Received.Before(meta.Latest.Received) {
			*meta = *g
			meta.Latest.IDs = slices.Clone(g.Latest.IDs)
			meta.Latest.Metadata = slices.Clone(g.Latest.Metadata)
		}
	}
}

// lastWhole is the last whole second of a per-second series whose final value is the second
// still filling.
func lastWhole(perSec []float64) float64 {
	if len(perSec) < 2 {
		return 0
	}
	return perSec[len(perSec)-2]
}

func groupKey(g *engine.ErrorGroup) string {
	return g.Service + "\x00" + g.Event + "\x00" + g.Signature
}

var services = []string{"", "ingot", "forge", "anvil"}

func (r *Ring) recordOps(st *statusRow, sec int64, s *engine.Snapshot, p *promsrc.Snapshot) {
	var ops []engine.OpStats
	if s != nil {
		ops = s.Ops
	}
	for k := range ops {
		op := &ops[k]
		i := r.ops.slot(op.Name, sec)
		if i < 0 {
			st.opsLeft++
			continue
		}
		row := r.ops.put(i, sec)
		*row = opRow{sec: sec, flags: hasLive}
		if j := slices.Index(services, op.Service); j > 0 {
			row.service = uint8(j)
		}
		for w := range nw {
			q := op.Latency[w]
			row.lat[w] = quant{count: sat32(q.Count), p50: float32(q.P50), p95: float32(q.P95), p99: float32(q.P99)}
			row.errs[w] = sat32(op.Errors[w])
		}
	}
	if p == nil {
		return
	}
	for k := range p.Ops {
		fo := &p.Ops[k]
		i := r.ops.slot(fo.Name, sec)
		if i < 0 {
			st.opsLeft++
			continue
		}
		row := r.ops.put(i, sec)
		if row.sec != sec {
			*row = opRow{sec: sec}
		}
		row.flags |= hasFleet
		row.fleetP50, row.fleetP95, row.fleet99 = float32(fo.P50), float32(fo.P95), float32(fo.P99)
		row.fleetErr, row.fleetRate, row.fleetTop = float32(fo.ErrorRatio), float32(fo.PerSec), float32(fo.TopBound)
		for k, at := range fo.AtTop {
			if at {
				row.fleetAtTop |= 1 << k
			}
		}
	}
}

func (r *Ring) recordQueues(st *statusRow, sec int64, s *engine.Snapshot, p *promsrc.Snapshot) {
	var qs []engine.QueueStats
	if s != nil {
		qs = s.Queues
	}
	for k := range qs {
		q := &qs[k]
		i := r.queues.slot(q.ID, sec)
		if i < 0 {
			st.queuesLeft++
			continue
		}
		row := r.queues.put(i, sec)
		*row = queueRow{sec: sec, flags: hasLive, perSec: float32(lastWhole(q.Spark)),
			pending: float32(q.Pending), inProgress: float32(q.InProgress), completed: float32(q.Completed),
			active: uint32(max(q.ActiveLabelers, 0)), folded: uint32(max(q.Folded, 0))}
		if q.HasStats {
			row.flags |= hasStats
			row.statsAgeSec = int32(max(min(sec-q.StatsAt.Unix(), math.MaxInt32), 0))
		}
		if q.EtaKnown {
			row.flags |= etaKnown
			row.etaSec = int32(min(q.BacklogETA/time.Second, math.MaxInt32))
		}
		for w := range nw {
			row.lpm[w] = float32(q.LabelsPerMin[w])
			t := q.TimePerSample[w]
			row.tps[w] = quant{count: sat32(t.Count), p50: float32(t.P50), p95: float32(t.P95), p99: float32(t.P99)}
			row.aband[w] = float32(q.Abandonment[w])
			row.methods[w] = shares(q.Methods[w])
			row.calls[w], row.cerrs[w] = sat32(q.Calls[w]), sat32(q.Errors[w])
		}
	}
	if p == nil {
		return
	}
	for k := range p.Queues {
		fq := &p.Queues[k]
		i := r.queues.slot(fq.ID, sec)
		if i < 0 {
			st.queuesLeft++
			continue
		}
		row := r.queues.put(i, sec)
		if row.sec != sec {
			*row = queueRow{sec: sec}
		}
		row.flags |= hasFleet
		row.fleetLPM, row.fleetTotal, row.fleetPending, row.fleetP50 = float32(fq.LabelsPerMin), float32(fq.Total), float32(fq.Pending), float32(fq.P50MS)
		row.coveredSec = uint16(min(fq.Covered/time.Second, math.MaxUint16))
		if fq.Partial {
			row.flags |= fleetPartial
		}
	}
}

var probeStates = []health.State{"", health.StateUnknown, health.StateHealthy, health.StateUnhealthy}

func (r *Ring) recordProbes(st *statusRow, sec int64, hs []health.Status) {
	for k := range hs {
		h := &hs[k]
		i := r.probes.slot(h.Name, sec)
		if i < 0 {
			st.probesLeft++
			continue
		}
		row := r.probes.put(i, sec)
		*row = probeRow{sec: sec, latencyUS: uint32(min(h.Latency/time.Microsecond, math.MaxUint32)),
			uptime: [3]float32{float32(h.Uptime[0]), float32(h.Uptime[1]), float32(h.Uptime[2])}}
		if j := slices.Index(probeStates, h.State); j > 0 {
			row.state = uint8(j)
		}
		if !h.Since.IsZero() {
			row.since = h.Since.UnixMilli()
		}
		if n := len(h.Recent); n > 0 {
			row.checkAt = h.Recent[n-1].At.UnixMilli()
			row.code = uint16(max(min(h.Recent[n-1].Code, math.MaxUint16), 0))
		}
	}
}

// recordAlerts appends the active set when it differs from the last one kept: alerts change
// far less often than every second.
func (r *Ring) recordAlerts(sec int64, s alerts.State) {
	active := s.Active
	if len(active) > r.cfg.MaxActiveAlerts {
		active = active[:r.cfg.MaxActiveAlerts]
	}
	if r.alertN > 0 {
		prev := &r.alertLog[(r.alertHead+r.alertN-1)%len(r.alertLog)]
		if sameAlerts(prev.active, active) {
			return
		}
	}
	var slot *alertChange
	if r.alertN < len(r.alertLog) {
		slot = &r.alertLog[(r.alertHead+r.alertN)%len(r.alertLog)]
		r.alertN++
	} else {
		slot = &r.alertLog[r.alertHead]
		r.alertHead = (r.alertHead + 1) % len(r.alertLog)
	}
	slot.sec = sec
	slot.active = slot.active[:0]
	for _, a := range active {
		a.Labels = cloneLabels(a.Labels)
		slot.active = append(slot.active, a)
	}
}

func cloneLabels(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// sameAlerts compares which alerts are active, in what state, since when. The summary is
// left out: it carries the current value, and would make a change of every second; a past
// moment shows the summary as of the last change of the set.
func sameAlerts(a, b []alerts.Alert) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := &a[i], &b[i]
		if x.Name != y.Name || x.State != y.State || x.Source != y.Source ||
			!x.ActiveAt.Equal(y.ActiveAt) || !x.FiredAt.Equal(y.FiredAt) {
			return false
		}
	}
	return true
}

// shares keeps the input-method split as the pane prints it (whole percents): in 1/10000.
func shares(m engine.MethodShare) [3]uint16 {
	total := float64(m.Keyboard) + float64(m.Mouse) + float64(m.API) + float64(m.Other)
	if total == 0 {
		return [3]uint16{}
	}
	f := func(v uint64) uint16 { return uint16(math.Round(float64(v) / total * 10000)) }
	return [3]uint16{f(m.Keyboard), f(m.Mouse), f(m.API)}
}

func impactOf(im *engine.Impact) impactRow {
	r := impactRow{known: im.Known, usersEst: im.UsersEstimated}
	for w := range nw {
		r.calls[w], r.errors[w], r.users[w] = sat32(im.Calls[w]), sat32(im.Errors[w]), sat32(im.AffectedUsers[w])
		r.noUser[w], r.noQueue[w] = sat32(im.ErrorsNoUser[w]), sat32(im.ErrorsNoQueue[w])
		r.queues[w] = uint16(min(max(im.AffectedQueues[w], 0), math.MaxUint16))
		r.queuesLB[w] = im.QueuesLowerBound[w]
	}
	return r
}
