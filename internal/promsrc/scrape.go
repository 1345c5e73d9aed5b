package promsrc

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/nsai/ingot-top/internal/wire"
)

// Bounds of one /metrics body: an endpoint that streams more is an error, not an
// out-of-memory. Only the dashboard's own metric families are parsed (a few thousand
// samples for a big Ingot deployment), so the parsed form stays small whatever else an
// endpoint exports.
const (
	maxScrapeBytes   = 16 << 20
	maxScrapeLine    = 64 << 10
	maxScrapeSamples = 100_000
)

// scrapeWindow is the span of deltas rates and quantiles are computed over: the same as
// the default queries' rate(...[5m]).
const scrapeWindow = 5 * time.Minute

// hist is a classic histogram summed over series: cumulative counts by upper bound.
type hist struct {
	buckets   map[float64]float64
	count     float64
	errors    float64 // count of the series with result="error"
	hasResult bool    // the family has a result label, so errors means something
}

// add folds one series in. weight scales its counts: the daemon observes only a sample of
// successful calls (INGOT_METRICS_SAMPLE_RATE) but every error, so successes are weighted by
// 1/ratio to stand for all of them, as the shipped alert rules do.
func (h *hist) add(m *dto.Histogram, isError bool, weight float64) {
	if h.buckets == nil {
		h.buckets = map[float64]float64{}
	}
	sawInf := false
	for _, b := range m.GetBucket() {
		if math.IsNaN(b.GetUpperBound()) {
			continue // not a bound; as a map key every NaN would be a new bucket
		}
		h.buckets[b.GetUpperBound()] += float64(b.GetCumulativeCount()) * weight
		sawInf = sawInf || math.IsInf(b.GetUpperBound(), +1)
	}
	if !sawInf {
		h.buckets[math.Inf(+1)] += float64(m.GetSampleCount()) * weight
	}
	h.count += float64(m.GetSampleCount()) * weight
	if isError {
		h.errors += float64(m.GetSampleCount())
	}
}

// delta is cur − prev, Prometheus-style: a count that went down means the process
// restarted (a counter reset), and the whole current value is the increase.
func counterDelta(cur, prev float64) float64 {
	if cur < prev {
		return cur
	}
	return cur - prev
}

func histDelta(cur, prev *hist) *hist {
	if prev == nil || cur.count < prev.count || len(cur.buckets) != len(prev.buckets) {
		return cur // new series, reset, or a changed bucket layout: all of cur is new
	}
	d := &hist{buckets: make(map[float64]float64, len(cur.buckets)), count: cur.count - prev.count,
		errors: counterDelta(cur.errors, prev.errors), hasResult: cur.hasResult}
	for ub, c := range cur.buckets {
		p, ok := prev.buckets[ub]
		if !ok {
			return cur
		}
		d.buckets[ub] = counterDelta(c, p)
	}
	return d
}

func (h *hist) merge(o *hist) {
	if h.buckets == nil {
		h.buckets = map[float64]float64{}
	}
	for ub, c := range o.buckets {
		h.buckets[ub] += c
	}
	h.count += o.count
	h.errors += o.errors
	h.hasResult = h.hasResult || o.hasResult
}

func (h *hist) quantile(q float64) float64 {
	bs := make([]bucket, 0, len(h.buckets))
	for ub, c := range h.buckets {
		bs = append(bs, bucket{upper: ub, count: c})
	}
	return bucketQuantile(q, bs)
}

// top returns the highest finite bound and whether quantile q falls above it, in the +Inf
// bucket, where bucketQuantile can only return that bound.
func (h *hist) top(q float64) (bound float64, above bool) {
	bound = math.Inf(-1)
	below := 0.0
	for ub := range h.buckets {
		if !math.IsInf(ub, 0) && ub > bound {
			bound = ub
		}
	}
	if math.IsInf(bound, -1) {
		return 0, false
	}
	// cumulative counts: the top finite bucket's count is what lies at or below the bound
	for ub, c := range h.buckets {
		if ub <= bound {
			below = max(below, c)
		}
	}
	total := h.buckets[math.Inf(+1)]
	return bound, total > 0 && q*total > below
}

// scrapeState is what one scrape says, reduced to the figures the dashboard shows.
type scrapeState struct {
	at         time.Time
	queues     map[string]float64 // ingot_labels_submitted_total by queue_id
	pending    map[string]float64 // anvil_queue_pending_assignments by queue_id
	ops        map[string]*hist   // by live-stream operation name
	queueHists map[string]*hist   // ingot_label_submit_duration_seconds by queue_id
}

// scrapeDelta is the change between two consecutive scrapes.
type scrapeDelta struct {
	dt         time.Duration
	queues     map[string]float64
	ops        map[string]*hist
	queueHists map[string]*hist
}

var familyByMetric = func() map[string]histFamily {
	m := make(map[string]histFamily, len(histFamilies))
	for _, f := range histFamilies {
		m[f.metric] = f
	}
	return m
}()

func labelOf(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// reduce folds parsed families into a scrapeState, bounded by MaxSeries per map.
func reduce(families map[string]*dto.MetricFamily, at time.Time) *scrapeState {
	st := &scrapeState{at: at, queues: map[string]float64{}, pending: map[string]float64{}, ops: map[string]*hist{}, queueHists: map[string]*hist{}}
	successWeight := 1.0
	if mf := families["ingot_top_metrics_sample_ratio"]; mf != nil && len(mf.GetMetric()) > 0 {
		// Below a millionth the weight is no sampling rate anyone runs, only an overflow.
		if r := mf.GetMetric()[0].GetGauge().GetValue(); r >= 1e-6 && r <= 1 {
			successWeight = 1 / r
		}
	}
	addHist := func(into map[string]*hist, key string, h *dto.Histogram, hasResult, isError bool) {
		cur, ok := into[key]
		if !ok {
			if len(into) >= MaxSeries {
				return
			}
			cur = &hist{hasResult: hasResult}
			into[key] = cur
		}
		weight := successWeight
		if isError {
			weight = 1
		}
		cur.add(h, isError, weight)
	}
	for name, mf := range families {
		switch {
		case name == "ingot_labels_submitted_total" && mf.GetType() == dto.MetricType_COUNTER:
			for _, m := range mf.GetMetric() {
				v := m.GetCounter().GetValue()
				if !isFinite(v) {
					continue
				}
				q := wire.SafeString(labelOf(m, "queue_id"), maxLabelRunes)
				if _, ok := st.queues[q]; ok || len(st.queues) < MaxSeries {
					st.queues[q] = finiteSum(st.queues[q], v)
				}
			}
		case name == "anvil_queue_pending_assignments" && mf.GetType() == dto.MetricType_GAUGE:
			for _, m := range mf.GetMetric() {
				v := m.GetGauge().GetValue()
				if !isFinite(v) {
					continue
				}
				q := wire.SafeString(labelOf(m, "queue_id"), maxLabelRunes)
				if _, ok := st.pending[q]; ok || len(st.pending) < MaxSeries {
					st.pending[q] = max(st.pending[q], v)
				}
			}
		case mf.GetType() == dto.MetricType_HISTOGRAM:
			f, ok := familyByMetric[name]
			if !ok {
				continue
			}
			for _, m := range mf.GetMetric() {
				op := f.prefix
				if f.label != "" {
					op += labelOf(m, f.label)
				}
				op = wire.SafeString(op, maxLabelRunes)
				addHist(st.ops, op, m.GetHistogram(), f.hasResult, f.hasResult && labelOf(m, "result") == "error")
				if name == "ingot_label_submit_duration_seconds" {
					addHist(st.queueHists, wire.SafeString(labelOf(m, "queue_id"), maxLabelRunes), m.GetHistogram(), false, false)
				}
			}
		}
	}
	return st
}

func isFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// finiteSum is a+b, or a when the sum is not finite: counters near the float64 limit (no
// real counter) must not turn figures into infinities.
func finiteSum(a, b float64) float64 {
	if s := a + b; isFinite(s) {
		return s
	}
	return a
}

func diff(cur, prev *scrapeState) scrapeDelta {
	d := scrapeDelta{dt: cur.at.Sub(prev.at), queues: make(map[string]float64, len(cur.queues)),
		ops: make(map[string]*hist, len(cur.ops)), queueHists: make(map[string]*hist, len(cur.queueHists))}
	for q, v := range cur.queues {
		d.queues[q] = counterDelta(v, prev.queues[q])
	}
	for op, h := range cur.ops {
		d.ops[op] = histDelta(h, prev.ops[op])
	}
	for q, h := range cur.queueHists {
		d.queueHists[q] = histDelta(h, prev.queueHists[q])
	}
	return d
}

// scraper reads one /metrics endpoint.
type scraper struct {
	client   *http.Client
	url      string
	timeout  time.Duration
	interval time.Duration
	clock    func() time.Time
	started  time.Time

	mu       sync.Mutex
	status   SourceStatus
	last     *scrapeState
	deltas   []scrapeDelta // oldest first, covering about scrapeWindow
	inFlight time.Time
}

func newScraper(raw string, f Flags, clock func() time.Time) (*scraper, error) {
	u, err := checkURL("scrape", raw)
	if err != nil {
		return nil, err
	}
	return &scraper{
		// No auth options for scrape targets: the daemon's endpoint is local, and a site
		// that protects /metrics has a Prometheus to use instead.
		client:   &http.Client{},
		url:      raw,
		timeout:  f.PrometheusTimeout,
		interval: f.ScrapeInterval,
		clock:    clock,
		started:  clock(),
		status:   SourceStatus{Name: "scrape", Kind: KindScrape, URL: displayURL(u)},
	}, nil
}

func (s *scraper) poll(ctx context.Context) (err error) {
	start := s.clock()
	defer func() {
		// A body is untrusted input: a parsing bug costs this endpoint a scrape, not the
		// dashboard.
		if r := recover(); r != nil {
			err = s.fail(start, panicError(r))
		}
	}()
	s.mu.Lock()
	s.inFlight = start
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	families, err := s.fetch(ctx)
	at := s.clock()

	s.mu.Lock()
	defer s.mu.Unlock()
	s.inFlight = time.Time{}
	s.status.Duration = at.Sub(start)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("no answer within %s: %w", s.timeout, err)
		}
		s.status.failed(err, at)
		return err
	}
	s.record(reduce(families, at))
	s.status.OK = true
	s.status.LastSuccess = at
	return nil
}

// record adds a successful scrape: the delta from the previous one, keeping the newest
// deltas that span scrapeWindow. s.mu is held.
func (s *scraper) record(cur *scrapeState) {
	if s.last != nil && cur.at.After(s.last.at) {
		s.deltas = append(s.deltas, diff(cur, s.last))
		span := time.Duration(0)
		keep := len(s.deltas)
		for i := len(s.deltas) - 1; i >= 0; i-- {
			span += s.deltas[i].dt
			keep = i
			if span >= scrapeWindow {
				break
			}
		}
		s.deltas = append(s.deltas[:0:0], s.deltas[keep:]...)
	}
	s.last = cur
}

// fail records err as the outcome of the scrape started at start.
func (s *scraper) fail(start time.Time, err error) error {
	at := s.clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inFlight = time.Time{}
	s.status.Duration = at.Sub(start)
	s.status.failed(err, at)
	return err
}

// fetch reads and parses the endpoint. Errors do not repeat the URL: the status carries it,
// and the screen has little room.
func (s *scraper) fetch(ctx context.Context) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, fmt.Errorf("request: %w", err)
	}
	// The text format always carries the classic buckets the deltas are computed from.
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, withoutURL(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %s", safe(resp.Status, 60))
	}
	return parseScrape(resp.Body, resp.Header.Get("Content-Type"))
}

// parseScrape reads a /metrics body and returns the dashboard's metric families in it (those
// reduce reads). The body is untrusted: it is read up to maxScrapeBytes in lines of at most
// maxScrapeLine; the Content-Type must be the text format (or OpenMetrics, or none); every
// line must look like the format (blank, a comment, or a sample starting with a metric
// name), so an HTML or JSON page is an error rather than an empty scrape; only the lines of
// the dashboard's families are parsed, at most maxScrapeSamples samples of them.
func parseScrape(body io.Reader, contentType string) (map[string]*dto.MetricFamily, error) {
	format, err := scrapeFormat(contentType)
	if err != nil {
		return nil, err
	}
	counted := &countingReader{r: io.LimitReader(body, maxScrapeBytes+1)}
	sc := bufio.NewScanner(counted)
	sc.Buffer(make([]byte, 0, 4<<10), maxScrapeLine)
	var kept bytes.Buffer
	samples := 0
	for line := 1; sc.Scan(); line++ {
		name, isSample, err := scrapeLineName(sc.Bytes())
		if err != nil {
			return nil, fmt.Errorf("line %d is not the text exposition format (%w): %q", line, err, safe(string(sc.Bytes()[:min(len(sc.Bytes()), 60)]), 60))
		}
		if !isEOF(name) && !wantedFamily(name) {
			continue
		}
		if isSample {
			if samples++; samples > maxScrapeSamples {
				return nil, fmt.Errorf("more than %d samples of the dashboard's metrics", maxScrapeSamples)
			}
		}
		kept.Write(sc.Bytes())
		kept.WriteByte('\n')
	}
	if counted.n > maxScrapeBytes {
		return nil, fmt.Errorf("%w: body larger than %d MiB, not read", errTooLarge, maxScrapeBytes>>20)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("a line longer than %d KiB", maxScrapeLine>>10)
		}
		return nil, fmt.Errorf("reading: %w", withoutURL(err))
	}
	dec := expfmt.NewDecoder(&kept, format)
	families := map[string]*dto.MetricFamily{}
	for {
		mf := &dto.MetricFamily{}
		if err := dec.Decode(mf); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("parsing: %w", err)
		}
		families[mf.GetName()] = mf
	}
	return families, nil
}

// scrapeFormat is the exposition format of a Content-Type. The request asks for the text
// format; protobuf is refused rather than decoded (expfmt's protobuf decoder allocates
// whatever length a message claims).
func scrapeFormat(contentType string) (expfmt.Format, error) {
	if contentType == "" {
		return expfmt.NewFormat(expfmt.TypeTextPlain), nil
	}
	media, _, err := mime.ParseMediaType(contentType)
	switch {
	case err != nil:
		return "", fmt.Errorf("unreadable Content-Type %q", safe(contentType, 60))
	case media == "text/plain":
		return expfmt.NewFormat(expfmt.TypeTextPlain), nil
	case media == "application/openmetrics-text":
		return expfmt.Format(contentType), nil
	case media == "application/vnd.google.protobuf":
		return "", fmt.Errorf("answered in protobuf (%s); ingot-top asks for and reads the text format", safe(media, 60))
	}
	return "", fmt.Errorf("answered Content-Type %s, not the Prometheus text format", safe(media, 60))
}

// scrapeLineName returns the metric name a line is about (nil for a blank line, a free
// comment or a quoted name; "# EOF" for OpenMetrics' end) and whether it is a
// sample, or an error when the line cannot be the exposition format.
func scrapeLineName(line []byte) ([]byte, bool, error) {
	line = bytes.TrimLeft(line, " \t")
	if len(line) == 0 {
		return nil, false, nil
	}
	if line[0] == '#' {
		rest := bytes.TrimLeft(line[1:], " \t")
		if string(bytes.TrimRight(rest, " \t")) == "EOF" {
			return []byte("# EOF"), false, nil // kept: OpenMetrics ends with it
		}
		for _, kw := range []string{"HELP", "TYPE", "UNIT"} {
			if r, ok := bytes.CutPrefix(rest, []byte(kw)); ok && len(r) > 0 && (r[0] == ' ' || r[0] == '\t') {
				name, _, _ := bytes.Cut(bytes.TrimLeft(r, " \t"), []byte(" "))
				name, _, _ = bytes.Cut(name, []byte("\t"))
				return name, false, nil
			}
		}
		return nil, false, nil
	}
	if line[0] == '{' {
		// A quoted UTF-8 name: {"name",label="v"} 1. None of the dashboard's names needs
		// quoting, so the line is only checked, never kept.
		errQuoted := errors.New("a '{' that does not start a quoted metric name")
		if len(line) < 2 || line[1] != '"' {
			return nil, false, errQuoted
		}
		end := 2 // the closing quote
		for end < len(line) && line[end] != '"' {
			if line[end] == '\\' {
				end++
			}
			end++
		}
		if end+1 >= len(line) || (line[end+1] != ',' && line[end+1] != '}') {
			return nil, false, errQuoted
		}
		return nil, true, nil
	}
	n := 0
	for n < len(line) && isNameByte(line[n], n == 0) {
		n++
	}
	if n == 0 {
		return nil, false, errors.New("no metric name")
	}
	if n < len(line) && line[n] != '{' && line[n] != ' ' && line[n] != '\t' {
		return nil, false, errors.New("a metric name with a character not allowed unquoted")
	}
	return line[:n], true, nil
}

func isNameByte(c byte, first bool) bool {
	return c == '_' || c == ':' || c|0x20 >= 'a' && c|0x20 <= 'z' || !first && c >= '0' && c <= '9'
}

func isEOF(name []byte) bool { return string(name) == "# EOF" }

// wantedFamily reports whether samples or metadata of name belong to a family reduce reads:
// the family itself or its _bucket, _count, _sum, _created, _total series. It allocates
// nothing: it runs for every line of a body.
func wantedFamily(name []byte) bool {
	want := func(n []byte) bool {
		switch string(n) {
		case "ingot_labels_submitted_total", "ingot_labels_submitted", "anvil_queue_pending_assignments", "ingot_top_metrics_sample_ratio":
			return true
		}
		_, ok := familyByMetric[string(n)]
		return ok
	}
	if want(name) {
		return true
	}
	for _, suffix := range []string{"_bucket", "_count", "_sum", "_created", "_total"} {
		if base, ok := bytes.CutSuffix(name, []byte(suffix)); ok && want(base) {
			return true
		}
	}
	return false
}

// withoutURL drops the *url.Error wrapper, whose text repeats method and URL.
func withoutURL(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err
	}
	return err
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// window sums the deltas of one endpoint.
type window struct {
	dt         time.Duration
	queues     map[string]float64
	ops        map[string]*hist
	queueHists map[string]*hist
	pending    map[string]float64
	totals     map[string]float64 // current counter values, labels since the process started
	ok         bool               // at least one delta
	scraped    bool               // at least one successful scrape
}

func (s *scraper) state(now time.Time) (SourceStatus, window) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := finishStatus(s.status, now, s.inFlight, s.interval, s.timeout, s.started)
	w := window{queues: map[string]float64{}, ops: map[string]*hist{}, queueHists: map[string]*hist{},
		pending: map[string]float64{}, totals: map[string]float64{}}
	if s.last != nil {
		w.scraped = true
		for q, v := range s.last.pending {
			w.pending[q] = v
		}
		for q, v := range s.last.queues {
			w.totals[q] = v
		}
	}
	for _, d := range s.deltas {
		w.ok = true
		w.dt += d.dt
		for q, v := range d.queues {
			w.queues[q] += v
		}
		for op, h := range d.ops {
			mergeInto(w.ops, op, h)
		}
		for q, h := range d.queueHists {
			mergeInto(w.queueHists, q, h)
		}
	}
	return st, w
}

func mergeInto(m map[string]*hist, k string, h *hist) {
	cur, ok := m[k]
	if !ok {
		cur = &hist{}
		m[k] = cur
	}
	cur.merge(h)
}

// scrapeFigures combines the endpoints' windows into fleet rows: rates add up (each over
// its own endpoint's span), bucket deltas merge before the quantile is taken.
func scrapeFigures(ws []window) ([]QueueFleet, []OpFleet, bool) {
	rates := map[string]float64{}
	totals := map[string]float64{}
	pending := map[string]float64{}
	hasPending := map[string]bool{}
	ops := map[string]*hist{}
	qh := map[string]*hist{}
	opRate := map[string]float64{}
	seen := false
	for _, w := range ws {
		seen = seen || w.scraped
		for q, v := range w.totals {
			totals[q] = finiteSum(totals[q], v)
		}
		for q, v := range w.pending {
			pending[q] = max(pending[q], v)
			hasPending[q] = true
		}
		if !w.ok || w.dt <= 0 {
			continue
		}
		secs := w.dt.Seconds()
		for q, v := range w.queues {
			rates[q] = finiteSum(rates[q], v/secs*60)
		}
		for op, h := range w.ops {
			mergeInto(ops, op, h)
			opRate[op] = finiteSum(opRate[op], h.count/secs)
		}
		for q, h := range w.queueHists {
			mergeInto(qh, q, h)
		}
	}
	ids := map[string]bool{}
	for q := range rates {
		ids[q] = true
	}
	for q := range pending {
		ids[q] = true
	}
	for q := range totals {
		ids[q] = true
	}
	sorted := sortedKeys(ids)
	if len(sorted) > MaxSeries {
		sorted = sorted[:MaxSeries]
	}
	queues := make([]QueueFleet, 0, len(sorted))
	for _, q := range sorted {
		row := QueueFleet{ID: q, LabelsPerMin: -1, Total: -1, Pending: -1}
		if v, ok := rates[q]; ok {
			row.LabelsPerMin = v
		}
		if v, ok := totals[q]; ok {
			row.Total = v
		}
		if hasPending[q] {
			row.Pending = pending[q]
		}
		if h, ok := qh[q]; ok {
			row.P50MS = nanTo0(h.quantile(0.5) * 1000)
		}
		queues = append(queues, row)
	}
	names := map[string]bool{}
	for op := range ops {
		names[op] = true
	}
	out := make([]OpFleet, 0, len(names))
	for _, op := range sortedKeys(names) {
		h := ops[op]
		row := OpFleet{Name: op, PerSec: opRate[op], ErrorRatio: -1}
		if h.count > 0 {
			row.P50 = nanTo0(h.quantile(0.5) * 1000)
			row.P95 = nanTo0(h.quantile(0.95) * 1000)
			row.P99 = nanTo0(h.quantile(0.99) * 1000)
			for k, q := range [3]float64{0.5, 0.95, 0.99} {
				bound, above := h.top(q)
				row.TopBound, row.AtTop[k] = bound*1000, above
			}
			if h.hasResult {
				row.ErrorRatio = h.errors / h.count
			}
		}
		out = append(out, row)
	}
	return queues, out, seen
}

func nanTo0(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// statusAt is the endpoint's status as of now, without the window work of state.
func (s *scraper) statusAt(now time.Time) (SourceStatus, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return finishStatus(s.status, now, s.inFlight, s.interval, s.timeout, s.started), s.last != nil
}
