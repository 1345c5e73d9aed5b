package health

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/testkit"
	"github.com/nsai/ingot-top/internal/wire"
)

// fakeClock is the injected clock of these tests; latency stays on the real clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

func serve(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func jsonHandler(code int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	}
}

// delayHandler answers 200 after d, or gives up when the client goes away.
func delayHandler(d time.Duration) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		timer := time.NewTimer(d)
		defer timer.Stop()
		select {
		case <-timer.C:
			_, _ = w.Write([]byte(`{"status":"ok"}`))
		case <-r.Context().Done():
		}
	}
}

func statusByName(t *testing.T, p *Prober, name string) Status {
	t.Helper()
	for _, s := range p.Statuses() {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no status row %q in %v", name, names(p.Statuses()))
	return Status{}
}

func names(ss []Status) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.Name
	}
	return out
}

func closedPortURL(t *testing.T) string {
	t.Helper()
	return "http://" + testkit.FreeLoopbackAddr(t) + "/health"
}

func TestHealthyService(t *testing.T) {
	srv := serve(t, jsonHandler(200, `{"status":"degraded","db":{"latency_ms":12},"version":"1.2.0"}`))
	clock := newFakeClock()
	p := New([]Target{{Name: "forge", URL: srv.URL + "/health"}}, Config{}, clock, nil)
	p.CheckNow(context.Background())

	s := statusByName(t, p, "forge")
	if s.State != StateHealthy {
		t.Fatalf("state = %s (err %q), want healthy: any 2xx is healthy whatever the body says", s.State, s.LastError)
	}
	if s.Since != clock.Now() {
		t.Errorf("since = %v, want the check time %v", s.Since, clock.Now())
	}
	if want := "status=degraded db.latency_ms=12 version=1.2.0"; s.Detail != want {
		t.Errorf("detail = %q, want %q", s.Detail, want)
	}
	if len(s.Recent) != 1 || s.Recent[0].Code != 200 || s.Recent[0].Error != "" {
		t.Errorf("recent = %+v, want one 200 check without error", s.Recent)
	}
	if s.Latency <= 0 || len(s.LatencyHistory) != 1 || s.LatencyHistory[0] <= 0 {
		t.Errorf("latency = %v, history %v: want a measured latency", s.Latency, s.LatencyHistory)
	}
	if s.Uptime != [3]float64{1, 1, 1} {
		t.Errorf("uptime = %v, want all 1", s.Uptime)
	}
}

func TestDefaultsApplied(t *testing.T) {
	got := New(nil, Config{}, nil, nil).Config()
	want := Config{Interval: 5 * time.Second, Timeout: 2 * time.Second, History: 60}
	if got != want {
		t.Fatalf("config = %+v, want %+v", got, want)
	}
	if ss := New([]Target{{Name: "forge", URL: "http://127.0.0.1:1/"}}, Config{}, nil, nil).Statuses(); ss[0].State != StateUnknown || ss[0].Uptime != [3]float64{-1, -1, -1} {
		t.Fatalf("before any check: %+v, want unknown with uptime -1", ss[0])
	}
}

func TestServiceUnavailable(t *testing.T) {
	srv := serve(t, jsonHandler(503, `{"status":"maintenance"}`))
	p := New([]Target{{Name: "anvil", URL: srv.URL}}, Config{}, newFakeClock(), nil)
	p.CheckNow(context.Background())

	s := statusByName(t, p, "anvil")
	if s.State != StateUnhealthy {
		t.Fatalf("state = %s, want unhealthy for 503", s.State)
	}
	if s.LastError != "HTTP 503 Service Unavailable" || s.Recent[0].Code != 503 {
		t.Errorf("error = %q code %d, want HTTP 503", s.LastError, s.Recent[0].Code)
	}
	if s.Detail != "status=maintenance" {
		t.Errorf("detail = %q, want the body status shown", s.Detail)
	}
}

func TestPlainTextBodyExcerpt(t *testing.T) {
	srv := serve(t, func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(500)
		_, _ = w.Write([]byte("  database is down\nstack trace line\n"))
	})
	p := New([]Target{{Name: "forge", URL: srv.URL}}, Config{}, newFakeClock(), nil)
	p.CheckNow(context.Background())
	if s := statusByName(t, p, "forge"); s.State != StateUnhealthy || s.Detail != "database is down" {
		t.Fatalf("state %s detail %q, want unhealthy with the first body line", s.State, s.Detail)
	}
}

func TestConnectionRefused(t *testing.T) {
	p := New([]Target{{Name: "forge", URL: closedPortURL(t)}}, Config{}, newFakeClock(), nil)
	p.CheckNow(context.Background())

	s := statusByName(t, p, "forge")
	if s.State != StateUnhealthy {
		t.Fatalf("state = %s, want unhealthy", s.State)
	}
	if !strings.Contains(s.LastError, "connection refused") || s.Recent[0].Code != 0 {
		t.Errorf("error = %q code %d, want connection refused without a code", s.LastError, s.Recent[0].Code)
	}
}

// TestUpDownUp takes a real listener down and brings it back on the same address, and checks
// that state changes are dated by the injected clock.
func TestUpDownUp(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	handler := jsonHandler(200, `{"status":"ok"}`)
	up := func(l net.Listener) *httptest.Server {
		srv := httptest.NewUnstartedServer(handler)
		_ = srv.Listener.Close()
		srv.Listener = l
		srv.Start()
		return srv
	}
	srv := up(l)
	clock := newFakeClock()
	p := New([]Target{{Name: "anvil", URL: "http://" + addr + "/health"}}, Config{}, clock, nil)
	ctx := context.Background()

	t0 := clock.Now()
	p.CheckNow(ctx)
	if s := statusByName(t, p, "anvil"); s.State != StateHealthy || s.Since != t0 {
		t.Fatalf("up: %s since %v, want healthy since %v", s.State, s.Since, t0)
	}

	srv.Close()
	t1 := clock.Advance(10 * time.Second)
	p.CheckNow(ctx)
	clock.Advance(5 * time.Second)
	p.CheckNow(ctx)
	s := statusByName(t, p, "anvil")
	if s.State != StateUnhealthy || s.Since != t1 {
		t.Fatalf("down: %s since %v, want unhealthy since the first failed check %v", s.State, s.Since, t1)
	}
	if s.LastError == "" || s.LastErrorAt != clock.Now() {
		t.Fatalf("down: last error %q at %v, want one at %v", s.LastError, s.LastErrorAt, clock.Now())
	}

	l2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("relisten on %s: %v", addr, err)
	}
	srv2 := up(l2)
	defer srv2.Close()
	t3 := clock.Advance(5 * time.Second)
	p.CheckNow(ctx)
	s = statusByName(t, p, "anvil")
	if s.State != StateHealthy || s.Since != t3 {
		t.Fatalf("back up: %s since %v, want healthy since %v", s.State, s.Since, t3)
	}
	if s.LastError == "" || s.LastErrorAt != t3.Add(-5*time.Second) {
		t.Errorf("back up: last error %q at %v should be kept from the outage", s.LastError, s.LastErrorAt)
	}
	if len(s.Recent) != 4 {
		t.Errorf("recent has %d checks, want 4", len(s.Recent))
	}
}

func TestSlowWithinTimeoutIsHealthy(t *testing.T) {
	const delay = 150 * time.Millisecond
	srv := serve(t, delayHandler(delay))
	p := New([]Target{{Name: "forge", URL: srv.URL}}, Config{Timeout: 2 * time.Second}, newFakeClock(), nil)
	p.CheckNow(context.Background())
	s := statusByName(t, p, "forge")
	if s.State != StateHealthy {
		t.Fatalf("state = %s (%q), want healthy", s.State, s.LastError)
	}
	if s.Latency < delay {
		t.Errorf("latency = %v, want at least the server's delay %v", s.Latency, delay)
	}
}

func TestSlowBeyondTimeoutIsUnhealthy(t *testing.T) {
	const timeout = 150 * time.Millisecond
	srv := serve(t, delayHandler(10*time.Second))
	p := New([]Target{{Name: "forge", URL: srv.URL}}, Config{Timeout: timeout}, newFakeClock(), nil)
	p.CheckNow(context.Background())
	s := statusByName(t, p, "forge")
	if s.State != StateUnhealthy || s.LastError != "timeout after 150ms" {
		t.Fatalf("state %s error %q, want unhealthy with a timeout", s.State, s.LastError)
	}
}

// hangHandler blocks until the request's context ends; entered is closed on first entry.
func hangHandler(entered chan<- struct{}) http.HandlerFunc {
	var once sync.Once
	return func(_ http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(entered) })
		<-r.Context().Done()
	}
}

func TestHangingEndpointCostsAtMostTimeout(t *testing.T) {
	const timeout = 200 * time.Millisecond
	const margin = time.Second
	entered := make(chan struct{})
	srv := serve(t, hangHandler(entered))
	p := New([]Target{{Name: "anvil", URL: srv.URL}}, Config{Timeout: timeout}, newFakeClock(), nil)
	// Cleanups run last-in first-out: cancelling before srv.Close keeps a broken prober from
	// wedging the test binary after the failure is reported.
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	done := make(chan struct{})
	go func() {
		p.CheckNow(ctx)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(timeout + margin):
		t.Fatalf("CheckNow against a hanging endpoint did not return within %v", timeout+margin)
	}
	select {
	case <-entered:
	default:
		t.Fatal("the handler never saw the request")
	}
	if s := statusByName(t, p, "anvil"); s.State != StateUnhealthy || !strings.Contains(s.LastError, "timeout") {
		t.Fatalf("state %s error %q, want unhealthy by timeout", s.State, s.LastError)
	}
}

// TestHangingEndpointDoesNotBlockOthers runs the prober with a hanging target whose timeout
// is longer than the whole test, and requires the healthy target to be checked repeatedly
// meanwhile.
func TestHangingEndpointDoesNotBlockOthers(t *testing.T) {
	entered := make(chan struct{})
	hang := serve(t, hangHandler(entered))
	ok := serve(t, jsonHandler(200, `{"status":"ok"}`))
	p := New([]Target{
		{Name: "anvil", URL: hang.URL},
		{Name: "forge", URL: ok.URL},
	}, Config{Interval: 20 * time.Millisecond, Timeout: time.Minute}, newFakeClock(), nil)

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel) // before the servers' Close, so a failure cannot wedge on the hang
	runDone := make(chan error, 1)
	go func() { runDone <- p.Run(ctx) }()

	deadline := time.Now().Add(10 * time.Second)
	for {
		forge := statusByName(t, p, "forge")
		anvil := statusByName(t, p, "anvil")
		if len(anvil.Recent) != 0 {
			t.Fatalf("the hanging target finished a check: %+v", anvil.Recent)
		}
		if len(forge.Recent) >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("forge got %d checks in 10s while anvil hung; it is being blocked", len(forge.Recent))
		}
		select {
		case <-time.After(10 * time.Millisecond):
		case err := <-runDone:
			t.Fatalf("Run returned early: %v", err)
		}
	}
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the hanging handler never saw a request")
	}

	cancel()
	select {
	case err := <-runDone:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return within 2s of cancel while a check was hanging")
	}
	if anvil := statusByName(t, p, "anvil"); len(anvil.Recent) != 0 || anvil.State != StateUnknown {
		t.Errorf("a check aborted by shutdown was recorded: %+v", anvil)
	}
}

const ingotBody = `{"status":"ok","timestamp":"2026-12-01T10:30:45Z",
 "services":{"forge":{"status":"healthy","latency_ms":5},
             "anvil":{"status":"unhealthy","reason":"timeout"},
             "pubsub":{"status":"healthy"},
             "db":{"status":"degraded","pool":{"busy":9,"size":10}}}}`

func TestIngotBodyBrokenIntoRows(t *testing.T) {
	srv := serve(t, jsonHandler(503, ingotBody))
	clock := newFakeClock()
	p := New([]Target{
		{Name: "ingot", URL: srv.URL + "/health", Kind: KindIngot},
		{Name: "forge", URL: closedPortURL(t)},
	}, Config{}, clock, nil)

	before := names(p.Statuses())
	if want := "ingot ingot/forge ingot/anvil ingot/pubsub forge"; strings.Join(before, " ") != want {
		t.Fatalf("rows before any check = %v, want %s", before, want)
	}
	p.CheckNow(context.Background())
	got := names(p.Statuses())
	if want := "ingot ingot/forge ingot/anvil ingot/pubsub ingot/db forge"; strings.Join(got, " ") != want {
		t.Fatalf("rows = %v, want %s", got, want)
	}

	ingot := statusByName(t, p, "ingot")
	if ingot.State != StateUnhealthy || ingot.Detail != "status=ok timestamp=2026-12-01T10:30:45Z" {
		t.Errorf("ingot: %s detail %q; want unhealthy (503) with the body's status shown", ingot.State, ingot.Detail)
	}
	forge := statusByName(t, p, "ingot/forge")
	if forge.State != StateHealthy || forge.Latency != 5*time.Millisecond || forge.URL != ingot.URL {
		t.Errorf("ingot/forge: %+v, want healthy with 5ms", forge)
	}
	anvil := statusByName(t, p, "ingot/anvil")
	if anvil.State != StateUnhealthy || anvil.LastError != "timeout" || anvil.Detail != "status=unhealthy reason=timeout" {
		t.Errorf("ingot/anvil: state %s error %q detail %q", anvil.State, anvil.LastError, anvil.Detail)
	}
	if pubsub := statusByName(t, p, "ingot/pubsub"); pubsub.State != StateHealthy {
		t.Errorf("ingot/pubsub: %s, want healthy", pubsub.State)
	}
	db := statusByName(t, p, "ingot/db")
	if db.State != StateUnhealthy || db.LastError != "status=degraded" || db.Detail != "status=degraded pool.busy=9 pool.size=10" {
		t.Errorf("ingot/db: state %s error %q detail %q", db.State, db.LastError, db.Detail)
	}
}

func TestIngotUnreachableLeavesServicesUnknown(t *testing.T) {
	p := New([]Target{{Name: "ingot", URL: closedPortURL(t), Kind: KindIngot}}, Config{}, newFakeClock(), nil)
	p.CheckNow(context.Background())
	for _, s := range p.Statuses()[1:] {
		if s.State != StateUnknown || !strings.Contains(s.LastError, "no report") || s.Uptime[0] != -1 {
			t.Errorf("%s: state %s error %q uptime %v, want unknown with a reason and no uptime", s.Name, s.State, s.LastError, s.Uptime)
		}
	}
}

func TestIngotExtraServicesCapped(t *testing.T) {
	var body strings.Builder
	body.WriteString(`{"status":"ok","services":{`)
	for i := range 50 {
		if i > 0 {
			body.WriteByte(',')
		}
		fmt.Fprintf(&body, `"svc%02d":{"status":"healthy"}`, i)
	}
	body.WriteString(`}}`)
	srv := serve(t, jsonHandler(200, body.String()))
	p := New([]Target{{Name: "ingot", URL: srv.URL, Kind: KindIngot}}, Config{}, newFakeClock(), nil)
	p.CheckNow(context.Background())
	p.CheckNow(context.Background())
	if n := len(p.Statuses()); n != 1+3+maxExtraServices {
		t.Fatalf("%d rows, want %d: extra services must be capped", n, 1+3+maxExtraServices)
	}
	for _, s := range p.Statuses()[1:4] {
		if s.State != StateUnknown || s.LastError != "not reported by ingot" {
			t.Errorf("%s: %s %q, want unknown: the body did not report it", s.Name, s.State, s.LastError)
		}
	}
}

// assertPrintable fails if s could move the cursor, change colours or reorder text.
func assertPrintable(t *testing.T, field, s string) {
	t.Helper()
	if !wire.IsSafe(s) {
		t.Errorf("%s is not safe to print: %q", field, s)
	}
}

func assertStatusPrintable(t *testing.T, s Status) {
	t.Helper()
	assertPrintable(t, "name", s.Name)
	assertPrintable(t, "url", s.URL)
	assertPrintable(t, s.Name+" detail", s.Detail)
	assertPrintable(t, s.Name+" last error", s.LastError)
	for _, c := range s.Recent {
		assertPrintable(t, s.Name+" check error", c.Error)
	}
}

func TestHostileBodyShownSafely(t *testing.T) {
	hostileJSON := `{"status":"\u001b[2J\u001b[31mok\u001b[0m","note":"\u202egnp.exe\u2066x\u0007\u009b",
	  "services":{"forge":{"status":"down","reason":"\u001b]0;pwned\u0007\u202e"},
	              "\u001b[1mevil\u202e":{"status":"healthy"}}}`
	jsonSrv := serve(t, jsonHandler(503, hostileJSON))
	textSrv := serve(t, func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("\x1b[31mdown\x1b[0m \xe2\x80\xae\xff\xfe\r"))
	})
	p := New([]Target{
		{Name: "ingot", URL: jsonSrv.URL, Kind: KindIngot},
		{Name: "anvil\x1b[5m", URL: textSrv.URL},
	}, Config{}, newFakeClock(), nil)
	p.CheckNow(context.Background())

	ss := p.Statuses()
	if len(ss) != 6 {
		t.Fatalf("rows = %q, want ingot, 3 known services, the hostile extra, anvil", names(ss))
	}
	for _, s := range ss {
		assertStatusPrintable(t, s)
	}
	ingot := statusByName(t, p, "ingot")
	if !strings.Contains(ingot.Detail, `status=\x1b[2J\x1b[31mok\x1b[0m`) || !strings.Contains(ingot.Detail, `\u202e`) {
		t.Errorf("ingot detail %q: escapes should be visible, not dropped", ingot.Detail)
	}
	if forge := statusByName(t, p, "ingot/forge"); forge.LastError != `\x1b]0;pwned\x07\u202e` {
		t.Errorf("ingot/forge error = %q", forge.LastError)
	}
	if anvil := ss[5]; anvil.Detail != "\\x1b[31mdown\\x1b[0m \\u202e\ufffd\ufffd" {
		t.Errorf("anvil detail = %q", anvil.Detail)
	}
}

func TestCredentialsRedacted(t *testing.T) {
	var sawAuth atomic.Bool
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		sawAuth.Store(ok && user == "admin" && pass == "s3cret")
		w.WriteHeader(200)
	})
	withCreds := strings.Replace(srv.URL, "http://", "http://admin:s3cret@", 1)
	refused := strings.Replace(closedPortURL(t), "http://", "http://admin:s3cret@", 1)
	p := New([]Target{
		{Name: "forge", URL: withCreds},
		{Name: "anvil", URL: refused},
		{Name: "ingot", URL: "http://admin:s3cret@[::1/health", Kind: KindIngot},
	}, Config{}, newFakeClock(), nil)
	p.CheckNow(context.Background())

	if !sawAuth.Load() {
		t.Error("the probe did not send the URL's credentials")
	}
	for _, s := range p.Statuses() {
		for _, text := range []string{s.URL, s.LastError, s.Detail} {
			if strings.Contains(text, "s3cret") || strings.Contains(text, "admin") {
				t.Errorf("%s leaks credentials: %q", s.Name, text)
			}
		}
	}
	if s := statusByName(t, p, "forge"); s.State != StateHealthy || !strings.HasPrefix(s.URL, "http://xxxxx@127.0.0.1:") {
		t.Errorf("forge: %s url %q", s.State, s.URL)
	}
	if s := statusByName(t, p, "ingot"); s.State != StateUnhealthy || !strings.HasPrefix(s.LastError, "invalid URL") || s.URL != "http://xxxxx@[::1/health" {
		t.Errorf("ingot: %s error %q url %q, want an invalid URL shown redacted", s.State, s.LastError, s.URL)
	}
}

func TestUptimeWindows(t *testing.T) {
	var code atomic.Int32
	srv := serve(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(int(code.Load())) })
	clock := newFakeClock()
	p := New([]Target{{Name: "forge", URL: srv.URL}}, Config{}, clock, nil)
	ctx := context.Background()
	checkAt := func(after time.Duration, status int) {
		clock.Advance(after)
		code.Store(int32(status))
		p.CheckNow(ctx)
	}
	checkAt(0, 503)             // T
	checkAt(8*time.Minute, 503) // T+8m
	checkAt(4*time.Minute, 200) // T+12m
	checkAt(150*time.Second, 200)
	clock.Advance(15 * time.Second) // now T+14m45s

	if got, want := statusByName(t, p, "forge").Uptime, [3]float64{1, 1, 0.5}; got != want {
		t.Errorf("uptime at T+14m45s = %v, want %v", got, want)
	}
	clock.Advance(5*time.Minute + 15*time.Second) // now T+20m: only T+8m, T+12m, T+14m30s in 15m
	if got, want := statusByName(t, p, "forge").Uptime, [3]float64{-1, -1, 2.0 / 3}; got != want {
		t.Errorf("uptime at T+20m = %v, want %v", got, want)
	}
}

func TestHistoryBounded(t *testing.T) {
	srv := serve(t, jsonHandler(200, `{}`))
	clock := newFakeClock()
	p := New([]Target{{Name: "forge", URL: srv.URL, Kind: KindIngot}}, Config{History: 3, Interval: time.Minute}, clock, nil)
	var times []time.Time
	for range 5 {
		times = append(times, clock.Advance(time.Second))
		p.CheckNow(context.Background())
	}
	for _, s := range p.Statuses() {
		if len(s.Recent) != 3 || len(s.LatencyHistory) != 3 {
			t.Fatalf("%s: %d checks, %d latencies, want 3 each", s.Name, len(s.Recent), len(s.LatencyHistory))
		}
		for i, c := range s.Recent {
			if c.At != times[2+i] {
				t.Errorf("%s: recent[%d] at %v, want %v (oldest first, oldest dropped)", s.Name, i, c.At, times[2+i])
			}
		}
	}
	// The uptime record is bounded too, by the 15m horizon at the interval (16 marks).
	for range 40 {
		clock.Advance(time.Minute)
		p.CheckNow(context.Background())
	}
	p.mu.Lock()
	n := len(p.rows[0][0].uptime)
	p.mu.Unlock()
	if n != 16 {
		t.Errorf("uptime record holds %d marks, want 16", n)
	}
}

func TestStatusesIsACopy(t *testing.T) {
	srv := serve(t, jsonHandler(200, `{}`))
	p := New([]Target{{Name: "forge", URL: srv.URL}}, Config{}, newFakeClock(), nil)
	p.CheckNow(context.Background())
	first := p.Statuses()
	first[0].Recent[0].State = StateUnhealthy
	first[0].LatencyHistory[0] = -5
	if again := p.Statuses(); again[0].Recent[0].State != StateHealthy || again[0].LatencyHistory[0] < 0 {
		t.Fatal("mutating a returned Status changed the prober's record")
	}
}

// TestConcurrentReaders runs the prober while readers copy statuses; -race judges it.
func TestConcurrentReaders(t *testing.T) {
	srv := serve(t, jsonHandler(200, ingotBody))
	p := New([]Target{{Name: "ingot", URL: srv.URL, Kind: KindIngot}}, Config{Interval: 5 * time.Millisecond}, newFakeClock(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- p.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for len(statusByName(t, p, "ingot/anvil").Recent) < 5 {
		if time.Now().After(deadline) {
			t.Fatal("fewer than 5 checks in 10s")
		}
		p.CheckNow(ctx)
	}
	cancel()
	if err := <-runDone; err != nil {
		t.Fatal(err)
	}
}

// TestBodyOverTheCap: a /health body larger than the bound is not read and says so, rather
// than showing the start of a cut JSON object and reporting Ingot's services as unreadable.
func TestBodyOverTheCap(t *testing.T) {
	big := `{"status":"ok","services":{"forge":"healthy"},"pad":"` + strings.Repeat("x", 2*maxBodyBytes) + `"}`
	srv := serve(t, jsonHandler(http.StatusOK, big))
	p := New([]Target{{Name: "ingot", URL: srv.URL, Kind: KindIngot}}, Config{}, newFakeClock(), nil)
	p.CheckNow(context.Background())
	st := statusByName(t, p, "ingot")
	if st.State != StateHealthy || st.Detail != "body larger than 64 KiB, not read" {
		t.Errorf("ingot row: state %s detail %q", st.State, st.Detail)
	}
	if f := statusByName(t, p, "ingot/forge"); f.State != StateUnknown || f.LastError != "no service report: ingot's body larger than 64 KiB, not read" {
		t.Errorf("ingot/forge row: state %s error %q", f.State, f.LastError)
	}
}

// TestPanicInAProbeIsAnUnknownCheck: a panic while probing (a bug some answer meets) is
// recorded as an unknown check naming it, not a crash of the dashboard or daemon.
func TestPanicInAProbeIsAnUnknownCheck(t *testing.T) {
	srv := serve(t, jsonHandler(http.StatusOK, `{"status":"ok"}`))
	// A client whose transport panics stands for any bug on the probe's path.
	client := &http.Client{Transport: panicTransport{}}
	p := New([]Target{{Name: "forge", URL: srv.URL}}, Config{}, newFakeClock(), client)
	p.CheckNow(context.Background())
	st := statusByName(t, p, "forge")
	if st.State != StateUnknown || !strings.Contains(st.LastError, "internal error probing (a bug, please report): boom") {
		t.Errorf("state %s error %q", st.State, st.LastError)
	}
}

type panicTransport struct{}

func (panicTransport) RoundTrip(*http.Request) (*http.Response, error) { panic("boom") }
