package health

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/nsai/ingot-top/internal/wire"
)

// Kind says how a target's /health answer is read.
type Kind int

const (
	// KindService is a plain service (Forge, Anvil): one row.
	KindService Kind = iota
	// KindIngot is Ingot itself: its own row, plus one row per service its /health body
	// reports ("ingot/forge", "ingot/anvil", "ingot/pubsub", ...).
	KindIngot
)

func (k Kind) String() string {
	switch k {
	case KindService:
		return "service"
	case KindIngot:
		return "ingot"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Target is one endpoint to probe.
type Target struct {
	Name string // row name, e.g. "forge"
	URL  string // full URL of the health endpoint; may carry user:password (never shown)
	Kind Kind
}

// Defaults follow the contract's "Health endpoints" section.
const (
	DefaultInterval = 5 * time.Second
	DefaultTimeout  = 2 * time.Second
	DefaultHistory  = 60
)

// Config tunes a Prober; zero fields take the defaults above.
type Config struct {
	Interval time.Duration // time between checks of one target
	Timeout  time.Duration // a check that has not completed by then is unhealthy
	History  int           // checks kept per row in Status.Recent
}

func (c Config) withDefaults() Config {
	if c.Interval <= 0 {
		c.Interval = DefaultInterval
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.History <= 0 {
		c.History = DefaultHistory
	}
	return c
}

// Clock supplies check timestamps (Check.At, Status.Since, uptime windows). Latency is
// always measured on the monotonic wall clock, because a fake clock cannot time I/O.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

const (
	// maxShownRunes caps any single string a probe hands to a viewer, so that a hostile or
	// chatty endpoint cannot flood a pane.
	maxShownRunes = 200
	// maxBodyBytes bounds how much of a /health answer is read; the contract's bodies are
	// a few hundred bytes, anything longer is only excerpted.
	maxBodyBytes = 64 * 1024
	// maxExtraServices caps rows broken out of an Ingot body beyond forge/anvil/pubsub, so a
	// misbehaving body cannot grow the pane (or memory) without bound.
	maxExtraServices = 8
	// maxUptimeMarks caps the per-row uptime record whatever the interval.
	maxUptimeMarks = 10_000
	// uptimeHorizon is the longest uptime window.
	uptimeHorizon = 15 * time.Minute
)

// UptimeWindows returns the windows of Status.Uptime, in order.
func UptimeWindows() [3]time.Duration {
	return [3]time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute}
}

// knownIngotServices are the services of Ingot's /health body in the contract; their rows
// exist from the start so the pane layout does not jump on the first answer.
func knownIngotServices() []string { return []string{"forge", "anvil", "pubsub"} }

// Prober checks a fixed set of targets, one goroutine each, and keeps a bounded record per
// row. All methods are safe for concurrent use.
type Prober struct {
	cfg       Config
	clock     Clock
	client    *http.Client
	targets   []probeTarget
	uptimeCap int

	mu sync.Mutex
	// rows[i] belongs to targets[i]: its own row first, then any broken-out services.
	rows [][]*row
}

type probeTarget struct {
	Target
	shownURL string
	urlErr   string // non-empty when URL cannot be probed at all
}

// row is the mutable record behind one Status.
type row struct {
	status  Status // Recent and LatencyHistory are rebuilt on copy
	service string // for broken-out rows: the service key in the Ingot body
	recent  []Check
	uptime  []uptimeMark
}

// uptimeMark is one decided check; unknown checks are not marks.
type uptimeMark struct {
	at      time.Time
	healthy bool
}

// New builds a Prober. A nil clock means the system clock; a nil client means a dedicated
// client that ignores proxy settings (health endpoints are probed directly). The request
// timeout is enforced per check by a context, whatever the client's own Timeout.
func New(targets []Target, cfg Config, clock Clock, client *http.Client) *Prober {
	cfg = cfg.withDefaults()
	if clock == nil {
		clock = systemClock{}
	}
	if client == nil {
		transport := http.DefaultTransport.(*http.Transport).Clone()
		transport.Proxy = nil
		client = &http.Client{Transport: transport}
	}
	// The uptime record must span the longest window at the configured interval, even when
	// Recent (what a sparkline shows) is shorter.
	uptimeCap := int(uptimeHorizon/cfg.Interval) + 1
	uptimeCap = min(max(uptimeCap, cfg.History), maxUptimeMarks)

	p := &Prober{cfg: cfg, clock: clock, client: client, uptimeCap: uptimeCap}
	now := clock.Now()
	for _, t := range targets {
		pt := probeTarget{Target: t}
		pt.shownURL, pt.urlErr = inspectURL(t.URL)
		if pt.Name == "" {
			pt.Name = pt.shownURL
		}
		pt.Name = wire.SafeString(pt.Name, maxShownRunes)
		p.targets = append(p.targets, pt)
		rows := []*row{newRow(pt.Name, pt.shownURL, "", now)}
		if t.Kind == KindIngot {
			for _, svc := range knownIngotServices() {
				rows = append(rows, newRow(pt.Name+"/"+svc, pt.shownURL, svc, now))
			}
		}
		p.rows = append(p.rows, rows)
	}
	return p
}

func newRow(name, shownURL, service string, now time.Time) *row {
	return &row{
		service: service,
		status: Status{
			Name:   name,
			URL:    shownURL,
			State:  StateUnknown,
			Since:  now,
			Uptime: [3]float64{-1, -1, -1},
		},
	}
}

// Config returns the effective configuration (defaults applied).
func (p *Prober) Config() Config { return p.cfg }

// Run probes every target now and then every Interval, one goroutine per target, until ctx
// ends; it returns nil then. A hanging endpoint costs its own goroutine at most Timeout per
// check and never delays another target.
func (p *Prober) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for i := range p.targets {
		wg.Go(func() { p.loop(ctx, i) })
	}
	wg.Wait()
	return nil
}

func (p *Prober) loop(ctx context.Context, i int) {
	ticker := time.NewTicker(p.cfg.Interval)
	defer ticker.Stop()
	for {
		p.checkTarget(ctx, i)
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// CheckNow probes every target once, concurrently, and returns when all checks have been
// recorded (at most Timeout later) or ctx ends. Used at start so the first frame has data.
func (p *Prober) CheckNow(ctx context.Context) {
	var wg sync.WaitGroup
	for i := range p.targets {
		wg.Go(func() { p.checkTarget(ctx, i) })
	}
	wg.Wait()
}

// Statuses returns a copy of every row in a stable order: targets as given to New, each
// Ingot target followed by its broken-out services.
func (p *Prober) Statuses() []Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.clock.Now()
	var out []Status
	for _, rows := range p.rows {
		for _, r := range rows {
			out = append(out, r.snapshot(now))
		}
	}
	return out
}

func (r *row) snapshot(now time.Time) Status {
	s := r.status
	s.Recent = append([]Check(nil), r.recent...)
	s.LatencyHistory = make([]float64, len(r.recent))
	for i, c := range r.recent {
		s.LatencyHistory[i] = float64(c.Latency) / float64(time.Millisecond)
	}
	for w, d := range UptimeWindows() {
		s.Uptime[w] = uptimeOver(r.uptime, now.Add(-d), now)
	}
	return s
}

// uptimeOver is the healthy fraction of marks in (from, to], or -1 when there are none.
func uptimeOver(marks []uptimeMark, from, to time.Time) float64 {
	var total, healthy int
	for i := len(marks) - 1; i >= 0; i-- {
		m := marks[i]
		if !m.at.After(from) {
			break // marks are recorded in time order
		}
		if m.at.After(to) {
			continue
		}
		total++
		if m.healthy {
			healthy++
		}
	}
	if total == 0 {
		return -1
	}
	return float64(healthy) / float64(total)
}

// result is one probe's outcome before it is recorded.
type result struct {
	check  Check
	detail string
	// services is what an Ingot body reported per service; nil when no report could be read
	// (then noReport says why).
	services map[string]serviceReport
	extra    []string // service keys beyond the known ones, in body order
	noReport string
}

type serviceReport struct {
	state   State
	latency time.Duration
	err     string
	detail  string
}

func (p *Prober) checkTarget(ctx context.Context, i int) {
	t := p.targets[i]
	res := p.guardedProbe(ctx, t)
	if ctx.Err() != nil {
		// Shutting down: an aborted check says nothing about the endpoint.
		return
	}
	res.check.At = p.clock.Now()
	p.record(i, t, res)
}

// guardedProbe is probe with a panic (a bug some answer meets) turned into an unknown check
// that says so: a probe goroutine must not take the dashboard or the daemon down.
func (p *Prober) guardedProbe(ctx context.Context, t probeTarget) (res result) {
	defer func() {
		if r := recover(); r != nil {
			msg := wire.SafeString(fmt.Sprintf("internal error probing (a bug, please report): %v", r), maxShownRunes)
			res = result{check: Check{State: StateUnknown, Error: msg}, noReport: msg}
		}
	}()
	return p.probe(ctx, t)
}

func (p *Prober) probe(parent context.Context, t probeTarget) result {
	var res result
	fail := func(msg string) result {
		res.check.State = StateUnhealthy
		res.check.Error = wire.SafeString(msg, maxShownRunes)
		if res.noReport == "" {
			res.noReport = "no report: " + res.check.Error
		}
		return res
	}
	if t.urlErr != "" {
		return fail(t.urlErr)
	}

	ctx, cancel := context.WithTimeout(parent, p.cfg.Timeout)
	defer cancel()
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.URL, nil)
	if err != nil {
		return fail("bad request: " + innerError(err))
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "ingot-top-health")

	resp, err := p.client.Do(req)
	if err != nil {
		res.check.Latency = time.Since(start)
		return fail(p.describe(ctx, err))
	}
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes+1))
	_ = resp.Body.Close()
	res.check.Latency = time.Since(start)
	res.check.Code = resp.StatusCode
	if readErr != nil {
		return fail("reading body: " + p.describe(ctx, readErr))
	}

	switch parsed, isJSON := parseBody(body); {
	case len(body) > maxBodyBytes:
		// A cut JSON body would only read as broken; say what happened instead.
		res.detail = fmt.Sprintf("body larger than %d KiB, not read", maxBodyBytes>>10)
		if t.Kind == KindIngot {
			res.noReport = "no service report: ingot's " + res.detail
		}
	case t.Kind == KindIngot:
		res.services, res.extra = ingotServices(parsed)
		if res.services == nil {
			res.noReport = fmt.Sprintf("no service report in ingot body (HTTP %d)", resp.StatusCode)
		}
		fallthrough
	default:
		if isJSON {
			res.detail = describeObject(parsed, "services")
		} else {
			res.detail = textExcerpt(body)
		}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fail("HTTP " + resp.Status)
	}
	res.check.State = StateHealthy
	return res
}

// describe turns a request error into a short reason without the URL (which may carry
// credentials) and names a timeout as such.
func (p *Prober) describe(ctx context.Context, err error) string {
	var netErr interface{ Timeout() bool }
	if errors.Is(ctx.Err(), context.DeadlineExceeded) ||
		errors.Is(err, context.DeadlineExceeded) ||
		(errors.As(err, &netErr) && netErr.Timeout()) {
		return fmt.Sprintf("timeout after %s", p.cfg.Timeout)
	}
	return innerError(err)
}

// innerError strips the *url.Error wrapper, whose text repeats the URL.
func innerError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err.Error()
	}
	return err.Error()
}

// inspectURL returns the URL as it may be shown (credentials redacted, sanitised) and,
// when it cannot be probed, why.
func inspectURL(raw string) (shown, problem string) {
	u, err := url.Parse(raw)
	if err != nil {
		return wire.SafeString(crudeRedact(raw), maxShownRunes), "invalid URL: " + innerError(err)
	}
	if u.User != nil {
		u.User = url.User("xxxxx")
	}
	shown = wire.SafeString(u.String(), maxShownRunes)
	if u.Scheme != "http" && u.Scheme != "https" {
		return shown, fmt.Sprintf("invalid URL: scheme %q is not http or https", u.Scheme)
	}
	if u.Host == "" {
		return shown, "invalid URL: no host"
	}
	return shown, ""
}

// crudeRedact hides anything that looks like userinfo in a URL that did not parse.
func crudeRedact(raw string) string {
	rest := raw
	prefix := ""
	if i := strings.Index(raw, "://"); i >= 0 {
		prefix, rest = raw[:i+3], raw[i+3:]
	}
	authorityEnd := strings.IndexAny(rest, "/?#")
	if authorityEnd < 0 {
		authorityEnd = len(rest)
	}
	if at := strings.LastIndex(rest[:authorityEnd], "@"); at >= 0 {
		rest = "xxxxx" + rest[at:]
	}
	return prefix + rest
}

func (p *Prober) record(i int, t probeTarget, res result) {
	p.mu.Lock()
	defer p.mu.Unlock()
	rows := p.rows[i]
	rows[0].add(res.check, res.detail, p.cfg.History, p.uptimeCap)
	if t.Kind != KindIngot {
		return
	}
	// Services beyond the known ones get rows on first sight, up to a cap.
	for _, key := range res.extra {
		if len(rows)-1-len(knownIngotServices()) >= maxExtraServices {
			break
		}
		if findService(rows, key) == nil {
			rows = append(rows, newRow(t.Name+"/"+wire.SafeString(key, 40), t.shownURL, key, res.check.At))
		}
	}
	p.rows[i] = rows
	for _, r := range rows[1:] {
		c := Check{At: res.check.At, State: StateUnknown}
		detail := ""
		if res.services == nil {
			c.Error = wire.SafeString(res.noReport, maxShownRunes)
		} else if rep, ok := res.services[r.service]; ok {
			c.State, c.Latency, c.Error, detail = rep.state, rep.latency, rep.err, rep.detail
		} else {
			c.Error = "not reported by ingot"
		}
		r.add(c, detail, p.cfg.History, p.uptimeCap)
	}
}

func findService(rows []*row, key string) *row {
	for _, r := range rows[1:] {
		if r.service == key {
			return r
		}
	}
	return nil
}

func (r *row) add(c Check, detail string, history, uptimeCap int) {
	if c.State != r.status.State {
		r.status.State = c.State
		r.status.Since = c.At
	}
	r.status.Latency = c.Latency
	r.status.Detail = detail
	if c.Error != "" {
		r.status.LastError = c.Error
		r.status.LastErrorAt = c.At
	}
	r.recent = appendBounded(r.recent, c, history)
	if c.State != StateUnknown {
		r.uptime = appendBounded(r.uptime, uptimeMark{at: c.At, healthy: c.State == StateHealthy}, uptimeCap)
	}
}

// appendBounded appends v, dropping the oldest entries beyond limit. The slices are a few
// hundred entries at most, so shifting is cheaper than it is worth writing a ring.
func appendBounded[T any](s []T, v T, limit int) []T {
	if len(s) >= limit {
		n := copy(s, s[len(s)-limit+1:])
		s = s[:n]
	}
	return append(s, v)
}
