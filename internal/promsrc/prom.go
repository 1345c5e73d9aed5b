package promsrc

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/nsai/ingot-top/internal/alerts"
	"github.com/nsai/ingot-top/internal/wire"
)

// Bounds. A fleet can have many queues, but the dashboard shows tens; a Prometheus answer
// larger than this is cut (by label value) rather than let memory follow the server.
const (
	MaxSeries        = 500 // rows per query result
	MaxAlerts        = 200
	MaxHistoryPoints = 720 // per series
	historyPoints    = 360 // points aimed at by the history step
	maxLabelRunes    = 200
	maxAlertLabels   = 32
)

// promPoller queries one Prometheus server.
type promPoller struct {
	client   *apiClient
	url      string
	queries  map[string]string
	timeout  time.Duration
	history  time.Duration
	step     time.Duration
	clock    func() time.Time
	interval time.Duration
	// defaultRate is set when queue_rate is the default query, whose window is rateWindow.
	defaultRate bool

	mu       sync.Mutex
	status   SourceStatus
	figures  promFigures
	loaded   bool // query_range history loaded
	hasFigs  bool
	inFlight time.Time // start of the outstanding round, zero when idle
	started  time.Time // creation, the age of a source that never answered
}

// promFigures is one complete round of answers, replaced as a whole.
type promFigures struct {
	at     time.Time
	queues []QueueFleet
	ops    []OpFleet
	alerts []alerts.Alert
}

func newPromPoller(f Flags, queries map[string]string, clock func() time.Time) (*promPoller, error) {
	u, err := checkURL("prometheus", f.Prometheus)
	if err != nil {
		return nil, err
	}
	hc, err := f.newHTTPClient()
	if err != nil {
		return nil, err
	}
	step := (f.PrometheusHistory / historyPoints).Truncate(time.Second)
	step = max(step, time.Second)
	return &promPoller{
		client: &apiClient{hc: hc, base: u}, url: displayURL(u), queries: queries,
		timeout: f.PrometheusTimeout, history: f.PrometheusHistory, step: step, clock: clock,
		interval: f.PrometheusInterval, started: clock(), defaultRate: queries[QueueRate] == DefaultQueries()[QueueRate],
		status: SourceStatus{Name: "prometheus", Kind: KindPrometheus, URL: displayURL(u)},
	}, nil
}

// poll runs one round: every query at one evaluation time, concurrently, the whole round
// bounded by the timeout. The first successful round (and any round until it succeeds)
// also loads history with query_range. The previous figures stay until a round succeeds.
func (p *promPoller) poll(ctx context.Context) (err error) {
	start := p.clock()
	defer func() {
		// Answers are untrusted input: a decoding bug must cost this source a round, not
		// take the dashboard down.
		if r := recover(); r != nil {
			err = p.fail(start, panicError(r))
		}
	}()
	p.mu.Lock()
	p.inFlight = start
	needHistory := !p.loaded
	prev := p.figures
	p.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	// Prometheus evaluates at millisecond resolution; rounding here makes FiguresAt the
	// exact evaluation time, so anyone can rerun a query by hand and get the same number.
	figs, loadedHistory, err := p.round(ctx, start.Truncate(time.Millisecond), needHistory, prev)
	end := p.clock()

	p.mu.Lock()
	defer p.mu.Unlock()
	p.inFlight = time.Time{}
	p.status.Duration = end.Sub(start)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("no answer within %s (--prometheus.timeout): %w", p.timeout, err)
		}
		p.status.failed(err, end)
		return err
	}
	p.status.OK = true
	p.status.LastSuccess = end
	p.figures, p.hasFigs = figs, true
	p.loaded = p.loaded || loadedHistory
	return nil
}

// fail records err as the outcome of the round started at start.
func (p *promPoller) fail(start time.Time, err error) error {
	end := p.clock()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inFlight = time.Time{}
	p.status.Duration = end.Sub(start)
	p.status.failed(err, end)
	return err
}

// panicError turns a recovered panic into an error for the source's status, naming where
// it happened (nothing goes to stderr: the dashboard owns the terminal). Call it from the
// deferred function that recovered, while the panicking stack is still there.
func panicError(r any) error {
	where := ""
	pcs := make([]uintptr, 32)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(1, pcs)])
	inPanic := false
	for {
		f, more := frames.Next()
		switch {
		case f.Function == "runtime.gopanic":
			inPanic = true
		case inPanic && !strings.HasPrefix(f.Function, "runtime."):
			where = fmt.Sprintf(" at %s (%s:%d)", f.Function[strings.LastIndex(f.Function, "/")+1:], filepath.Base(f.File), f.Line)
			more = false
		}
		if !more {
			break
		}
	}
	return fmt.Errorf("internal error reading the answer (a bug, please report): %v%s", r, where)
}

// guarded runs f, turning a panic into an error result.
func guarded(name string, f func() vecResult) (res vecResult) {
	defer func() {
		if r := recover(); r != nil {
			res = vecResult{name: name, err: panicError(r)}
		}
	}()
	return f()
}

type vecResult struct {
	name string
	q    int // quantile index for op_latency
	vec  model.Vector
	mat  model.Matrix
	al   []v1.Alert
	err  error
}

func (p *promPoller) round(ctx context.Context, at time.Time, needHistory bool, prev promFigures) (promFigures, bool, error) {
	var wg sync.WaitGroup
	results := make(chan vecResult, 16)
	instant := func(name string, qi int, q string) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results <- guarded(name, func() vecResult {
				v, err := p.instant(ctx, q, at)
				return vecResult{name: name, q: qi, vec: v, err: err}
			})
		}()
	}
	for _, name := range []string{QueueRate, QueueTotal, QueuePending, QueueP50, OpRate, OpErrorRatio} {
		if q := p.queries[name]; q != "" {
			instant(name, 0, q)
		}
	}
	if q := p.queries[OpLatency]; q != "" {
		for i, quant := range quantiles {
			instant(OpLatency, i, withQuantile(q, quant))
		}
		instant(opNative, 0, opNativeQuery)
		instant(opBuckets, 0, opBucketsQuery)
	}
	if needHistory {
		for _, name := range []string{QueueRate, QueueP50} {
			if q := p.queries[name]; q != "" {
				wg.Add(1)
				go func() {
					defer wg.Done()
					results <- guarded(name+"@range", func() vecResult {
						m, err := p.rangeQuery(ctx, q, at)
						return vecResult{name: name + "@range", mat: m, err: err}
					})
				}()
			}
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		results <- guarded("alerts", func() vecResult {
			al, err := p.alerts(ctx)
			return vecResult{name: "alerts", al: al, err: err}
		})
	}()
	go func() { wg.Wait(); close(results) }()

	var (
		errs   []error
		byName = map[string]model.Vector{}
		lat    [3]model.Vector
		ranges = map[string]model.Matrix{}
		al     []v1.Alert
	)
	for r := range results {
		switch {
		case r.err != nil:
			errs = append(errs, r.err)
		case r.name == OpLatency:
			lat[r.q] = r.vec
		case r.name == "alerts":
			al = r.al
		case r.mat != nil:
			ranges[r.name] = r.mat
		default:
			byName[r.name] = r.vec
		}
	}
	if len(errs) > 0 {
		// One line for the status bar: the first failure, and how many others (a down
		// server fails every query the same way).
		err := errs[0]
		if len(errs) > 1 {
			err = fmt.Errorf("%w (and %d more failed requests)", errs[0], len(errs)-1)
		}
		return promFigures{}, false, err
	}
	figs := promFigures{at: at, alerts: convertAlerts(al)}
	figs.queues = p.queueRows(at, byName, ranges, prev, !needHistory)
	figs.ops = opRows(byName, lat)
	markTopBucket(figs.ops, byName[opNative], byName[opBuckets])
	return figs, needHistory, nil
}

func (p *promPoller) instant(ctx context.Context, q string, at time.Time) (model.Vector, error) {
	data, err := p.client.call(ctx, "query", url.Values{"query": {q}, "time": {formatTime(at)}}, maxInstantBytes)
	if err == nil {
		var vec model.Vector
		if vec, err = decodeInstant(data); err == nil {
			return vec, nil
		}
	}
	// The reason first: the Health pane and the status bar have room for one clause.
	return nil, fmt.Errorf("%w (query %s)", err, shorten(q))
}

func (p *promPoller) rangeQuery(ctx context.Context, q string, at time.Time) (model.Matrix, error) {
	end := at.Truncate(p.step)
	data, err := p.client.call(ctx, "query_range", url.Values{"query": {q},
		"start": {formatTime(end.Add(-p.history))}, "end": {formatTime(end)},
		"step": {strconv.FormatFloat(p.step.Seconds(), 'f', -1, 64)}}, maxRangeBytes)
	if err == nil {
		var m model.Matrix
		if m, err = decodeRange(data); err == nil {
			if m == nil {
				m = model.Matrix{}
			}
			return m, nil
		}
	}
	return nil, fmt.Errorf("%w (query_range %s)", err, shorten(q))
}

func (p *promPoller) alerts(ctx context.Context) ([]v1.Alert, error) {
	data, err := p.client.call(ctx, "alerts", nil, maxAlertsBytes)
	if err == nil {
		var al []v1.Alert
		if al, err = decodeAlerts(data); err == nil {
			return al, nil
		}
	}
	return nil, fmt.Errorf("%w (alerts)", err)
}

// formatTime is the API's time parameter: Unix seconds with the fraction.
func formatTime(t time.Time) string {
	return strconv.FormatFloat(float64(t.Unix())+float64(t.Nanosecond())/1e9, 'f', -1, 64)
}

func shorten(q string) string { return wire.SafeString(q, 60) }

// byLabel maps a vector onto label value → value, bounded, NaN dropped.
func byLabel(v model.Vector, label model.LabelName) map[string]float64 {
	out := make(map[string]float64, min(len(v), MaxSeries))
	for _, s := range v {
		if len(out) >= MaxSeries {
			break
		}
		f := float64(s.Value)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		out[wire.SafeString(string(s.Metric[label]), maxLabelRunes)] = f
	}
	return out
}

// queueRows builds the queue rows: instant figures, history from query_range on the first
// round, then the previous history with this round's value appended once a step has passed.
func (p *promPoller) queueRows(at time.Time, vecs map[string]model.Vector, ranges map[string]model.Matrix, prev promFigures, loaded bool) []QueueFleet {
	rate := byLabel(vecs[QueueRate], "queue_id")
	total := byLabel(vecs[QueueTotal], "queue_id")
	pending := byLabel(vecs[QueuePending], "queue_id")
	p50 := byLabel(vecs[QueueP50], "queue_id")
	hist := p.histories(ranges[QueueRate+"@range"], prev, func(q *QueueFleet) Series { return q.History }, 1)
	// how much of the window a rate covers can be told from the history once query_range
	// has answered, and only for the default query (an override may use any window)
	coverageKnown := (loaded || ranges[QueueRate+"@range"] != nil) && p.defaultRate
	// P50 history: seconds to ms
	p50Hist := p.histories(ranges[QueueP50+"@range"], prev, func(q *QueueFleet) Series { return q.P50History }, 1000)

	ids := map[string]bool{}
	for _, m := range []map[string]float64{rate, total, pending} {
		for id := range m {
			ids[id] = true
		}
	}
	// Queues only in the history (idle now) are listed from the query_range answer, so a
	// fresh dashboard shows them; afterwards a queue leaves once the instant queries drop it.
	if ranges[QueueRate+"@range"] != nil {
		for id := range hist {
			ids[id] = true
		}
	}
	sorted := make([]string, 0, len(ids))
	for id := range ids {
		sorted = append(sorted, id)
	}
	sort.Strings(sorted)
	if len(sorted) > MaxSeries {
		sorted = sorted[:MaxSeries]
	}
	rows := make([]QueueFleet, 0, len(sorted))
	for _, id := range sorted {
		q := QueueFleet{ID: id, LabelsPerMin: known(rate, id), Total: known(total, id), Pending: known(pending, id)}
		if v, ok := p50[id]; ok {
			q.P50MS = v * 1000
		}
		q.History = appendPoint(hist[id], p.step, at, q.LabelsPerMin)
		p50v := math.NaN()
		if q.P50MS > 0 {
			p50v = q.P50MS
		}
		q.P50History = appendPoint(p50Hist[id], p.step, at, p50v)
		if coverageKnown {
			q.Covered, q.Partial = coverage(q.History, at)
		}
		rows = append(rows, q)
	}
	return rows
}

// rateWindow is the default queries' rate() window as a duration.
const rateWindow = 5 * time.Minute

// coverage is how much of the rate window the series has data for at `at`: since its first
// point in the history, capped at the window. The history is only trusted once query_range
// has loaded it: before that, a queue's first point is when this dashboard first asked.
func coverage(h Series, at time.Time) (time.Duration, bool) {
	first := leadingNaN(h.Values)
	if first == len(h.Values) || h.Step <= 0 {
		return 0, false
	}
	// a rate's first point needs two scrapes: the series began up to a step before it
	since := h.Start.Add(time.Duration(first-1) * h.Step)
	covered := min(max(at.Sub(since), 0), rateWindow)
	return covered, covered < rateWindow
}

func leadingNaN(v []float64) int {
	for i, x := range v {
		if !math.IsNaN(x) {
			return i
		}
	}
	return len(v)
}

func known(m map[string]float64, k string) float64 {
	if v, ok := m[k]; ok {
		return v
	}
	return -1
}

// histories returns per-queue series: from a query_range answer when there is one (the
// first round), else the previous round's.
func (p *promPoller) histories(m model.Matrix, prev promFigures, pick func(*QueueFleet) Series, scale float64) map[string]Series {
	out := map[string]Series{}
	if m == nil {
		for i := range prev.queues {
			out[prev.queues[i].ID] = pick(&prev.queues[i])
		}
		return out
	}
	stepMS := p.step.Milliseconds()
	for _, ss := range m {
		if len(out) >= MaxSeries || len(ss.Values) == 0 {
			continue
		}
		// The newest point ends the series and only the last MaxHistoryPoints steps are
		// kept: the timestamps of an answer (far apart, unsorted) never size the slice.
		first, last := ss.Values[0].Timestamp, ss.Values[0].Timestamp
		for _, sp := range ss.Values {
			first, last = min(first, sp.Timestamp), max(last, sp.Timestamp)
		}
		if int64(last) < math.MinInt64/2 {
			continue // no real time; the window arithmetic below would overflow
		}
		startMS := max(int64(first), int64(last)-int64(MaxHistoryPoints-1)*stepMS)
		n := int((int64(last)-startMS)/stepMS) + 1
		vals := make([]float64, n)
		for i := range vals {
			vals[i] = math.NaN()
		}
		for _, sp := range ss.Values {
			if d := int64(sp.Timestamp) - startMS; d >= 0 && d/stepMS < int64(n) {
				vals[d/stepMS] = float64(sp.Value) * scale
			}
		}
		start := model.Time(startMS).Time()
		out[wire.SafeString(string(ss.Metric["queue_id"]), maxLabelRunes)] = Series{Start: start, Step: p.step, Values: vals}
	}
	return out
}

// appendPoint adds v at time at when a full step has passed since the last point (gaps
// filled with NaN), never modifying s's backing array (older snapshots share it).
func appendPoint(s Series, step time.Duration, at time.Time, v float64) Series {
	if v < 0 {
		v = math.NaN()
	}
	if len(s.Values) == 0 {
		return Series{Start: at, Step: step, Values: []float64{v}}
	}
	gap := int(at.Sub(s.End()) / step)
	if gap <= 0 {
		return s
	}
	gap = min(gap, MaxHistoryPoints)
	n := len(s.Values) + gap
	drop := max(n-MaxHistoryPoints, 0)
	vals := make([]float64, 0, n-drop)
	if drop < len(s.Values) {
		vals = append(vals, s.Values[drop:]...)
	}
	for i := 0; i < gap-1 && len(vals) < n-drop-1; i++ {
		vals = append(vals, math.NaN())
	}
	vals = append(vals, v)
	end := s.End().Add(time.Duration(gap) * step)
	return Series{Start: end.Add(-time.Duration(len(vals)-1) * step), Step: step, Values: vals}
}

func opRows(vecs map[string]model.Vector, lat [3]model.Vector) []OpFleet {
	var q [3]map[string]float64
	for i := range lat {
		q[i] = byLabel(lat[i], "op")
	}
	rate := byLabel(vecs[OpRate], "op")
	errRatio := byLabel(vecs[OpErrorRatio], "op")
	names := map[string]bool{}
	for _, m := range []map[string]float64{q[0], q[1], q[2], rate} {
		for n := range m {
			names[n] = true
		}
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	ops := make([]OpFleet, 0, len(sorted))
	for _, n := range sorted {
		ops = append(ops, OpFleet{Name: n, P50: q[0][n] * 1000, P95: q[1][n] * 1000, P99: q[2][n] * 1000,
			PerSec: known(rate, n), ErrorRatio: known(errRatio, n)})
	}
	return ops
}

// Names of the internal queries' results.
const (
	opNative  = "op_native"
	opBuckets = "op_buckets"
)

// markTopBucket flags the quantiles that a classic histogram_quantile clamped: an operation
// without a native histogram whose quantile equals (or, summed across families, passes) its
// top finite bucket bound. The bound comes from the le labels of its _bucket series.
func markTopBucket(ops []OpFleet, native, buckets model.Vector) {
	hasNative := byLabel(native, "op")
	top := map[string]float64{}
	for _, s := range buckets {
		op := wire.SafeString(string(s.Metric["op"]), maxLabelRunes)
		le, err := strconv.ParseFloat(string(s.Metric["le"]), 64)
		if err != nil || math.IsInf(le, 0) || math.IsNaN(le) || le <= 0 {
			continue
		}
		if le > top[op] && len(top) < MaxSeries {
			top[op] = le
		}
	}
	for i := range ops {
		op := &ops[i]
		bound, ok := top[op.Name]
		if _, nat := hasNative[op.Name]; nat || !ok {
			continue
		}
		op.TopBound = bound * 1000
		for k, v := range [3]float64{op.P50, op.P95, op.P99} {
			// the clamp returns the bound itself; the float64 of "2" in seconds times 1000
			op.AtTop[k] = v > 0 && v >= op.TopBound*(1-1e-9)
		}
	}
}

// convertAlerts turns the alerts API answer into alerts.Alert, firing first, bounded, with
// every string sanitised (alert labels and annotations are free text from rule authors).
func convertAlerts(in []v1.Alert) []alerts.Alert {
	out := make([]alerts.Alert, 0, min(len(in), MaxAlerts))
	for _, a := range in {
		var state alerts.AlertState
		switch a.State {
		case v1.AlertStateFiring:
			state = alerts.StateFiring
		case v1.AlertStatePending:
			state = alerts.StatePending
		default:
			continue
		}
		labels := make(map[string]string, min(len(a.Labels), maxAlertLabels))
		for k, v := range a.Labels {
			if len(labels) >= maxAlertLabels {
				break
			}
			labels[wire.SafeString(string(k), 64)] = wire.SafeString(string(v), maxLabelRunes)
		}
		summary := string(a.Annotations["summary"])
		if summary == "" {
			summary = string(a.Annotations["description"])
		}
		value, err := strconv.ParseFloat(a.Value, 64)
		if err != nil {
			value = math.NaN()
		}
		al := alerts.Alert{
			Name:     wire.SafeString(string(a.Labels[model.AlertNameLabel]), maxLabelRunes),
			Source:   alerts.SourcePrometheus,
			State:    state,
			Severity: wire.SafeString(string(a.Labels["severity"]), 32),
			Summary:  wire.SafeString(summary, 300),
			Labels:   labels,
			Value:    value,
			ActiveAt: a.ActiveAt,
		}
		out = append(out, al)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if (out[i].State == alerts.StateFiring) != (out[j].State == alerts.StateFiring) {
			return out[i].State == alerts.StateFiring
		}
		if !out[i].ActiveAt.Equal(out[j].ActiveAt) {
			return out[i].ActiveAt.Before(out[j].ActiveAt)
		}
		return out[i].Name < out[j].Name
	})
	if len(out) > MaxAlerts {
		out = out[:MaxAlerts]
	}
	return out
}

// state returns the source status as of now: a round outstanding for longer than the
// timeout, or no success within the staleness horizon, is stale.
func (p *promPoller) state(now time.Time) (SourceStatus, promFigures, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.status
	return finishStatus(st, now, p.inFlight, p.interval, p.timeout, p.started), p.figures, p.hasFigs
}

// finishStatus sets Age and Stale at now. Stale: the last attempt failed, nothing ever
// succeeded, an attempt has been outstanding past the timeout, or the last success is older
// than two intervals plus the timeout (the poll loop itself is stuck).
func finishStatus(st SourceStatus, now, inFlight time.Time, interval, timeout time.Duration, started time.Time) SourceStatus {
	if st.LastSuccess.IsZero() {
		st.Age = max(now.Sub(started), 0)
	} else {
		st.Age = max(now.Sub(st.LastSuccess), 0)
	}
	st.Stale = !st.OK || st.LastSuccess.IsZero() ||
		(!inFlight.IsZero() && now.Sub(inFlight) > timeout) ||
		st.Age > 2*interval+timeout
	if !inFlight.IsZero() && now.Sub(inFlight) > timeout {
		// no running duration in the text: it would repaint the screen on every frame
		st.LastError = fmt.Sprintf("no answer yet, past the %s timeout", timeout)
	}
	return st
}
