package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// HealthState is the behaviour of a simulated /health endpoint.
type HealthState string

const (
	HealthHealthy HealthState = "healthy" // 200 {"status":"ok",...}
	HealthFailing HealthState = "failing" // 503 {"status":"error","reason":...}
	HealthSlow    HealthState = "slow"    // 200 after the configured delay
	HealthHanging HealthState = "hanging" // no answer until the client gives up or the server closes
)

// ParseHealthState accepts a state name.
func ParseHealthState(s string) (HealthState, error) {
	switch st := HealthState(s); st {
	case HealthHealthy, HealthFailing, HealthSlow, HealthHanging:
		return st, nil
	}
	return "", fmt.Errorf("unknown health state %q (want healthy, failing, slow or hanging)", s)
}

// DefaultSlowDelay is how long a slow endpoint takes to answer: slower than a healthy
// service, faster than the default 2 s probe timeout.
const DefaultSlowDelay = 1500 * time.Millisecond

// HealthServer serves GET /health for one simulated service (forge or anvil) with a
// switchable state, and POST /-/state?state=failing[&reason=...][&delay=1.5s] to switch it
// from outside. It is safe for concurrent use.
type HealthServer struct {
	service string
	node    string
	started time.Time

	mu     sync.Mutex
	state  HealthState
	reason string
	delay  time.Duration

	srv      *http.Server
	url      string
	closing  chan struct{}
	closeOne sync.Once
	handlers tracker // in-flight requests, so Close can guarantee no goroutine outlives it
	serveErr chan error
}

// NewHealthServer builds a healthy server for service ("forge", "anvil"); Start makes it listen.
func NewHealthServer(service string) *HealthServer {
	node := service + "@10.0.0.4"
	if service == "anvil" {
		node = "anvil@10.0.0.5"
	}
	return &HealthServer{
		service: service,
		node:    node,
		started: time.Now(),
		state:   HealthHealthy,
		delay:   DefaultSlowDelay,
		closing: make(chan struct{}),
	}
}

// Start listens on addr (host:port, port 0 for any) and serves in the background.
func (h *HealthServer) Start(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s health: listen %s: %w", h.service, addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", h.serveHealth)
	mux.HandleFunc("/-/state", h.serveState)
	h.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	h.url = "http://" + ln.Addr().String()
	h.serveErr = make(chan error, 1)
	go func() { h.serveErr <- h.srv.Serve(ln) }()
	return nil
}

// URL is the base URL, e.g. http://127.0.0.1:8701; the endpoint is URL()+"/health".
func (h *HealthServer) URL() string { return h.url }

// Service is the simulated service name.
func (h *HealthServer) Service() string { return h.service }

// SetState switches the behaviour. An empty reason picks a plausible one for the service.
func (h *HealthServer) SetState(state HealthState, reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.state = state
	h.reason = reason
}

// SetSlowDelay sets how long the slow state takes to answer.
func (h *HealthServer) SetSlowDelay(d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.delay = d
}

// State returns the current state, its reason and the slow delay.
func (h *HealthServer) State() (HealthState, string, time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.state, h.reason, h.delay
}

// Close stops the server, releases hanging and slow requests, and returns once every
// request handler has returned.
func (h *HealthServer) Close() error {
	var err error
	h.closeOne.Do(func() {
		// Connections first, so that released handlers cannot send an answer.
		if h.srv != nil {
			err = h.srv.Close()
		}
		close(h.closing)
		if h.srv == nil {
			return
		}
		h.handlers.closeAndWait()
		if serr := <-h.serveErr; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
			err = errors.Join(err, serr)
		}
	})
	return err
}

func (h *HealthServer) defaultReason() string {
	if h.service == "forge" {
		return "econnrefused postgres:5432"
	}
	return "db pool exhausted (queue_timeout)"
}

func (h *HealthServer) serveHealth(w http.ResponseWriter, r *http.Request) {
	if !h.handlers.enter() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	defer h.handlers.leave()
	state, reason, delay := h.State()
	switch state {
	case HealthHanging:
		select {
		case <-r.Context().Done():
		case <-h.closing:
		}
		// Abort the connection: returning normally would send an empty 200.
		panic(http.ErrAbortHandler)
	case HealthSlow:
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			panic(http.ErrAbortHandler)
		case <-h.closing:
			panic(http.ErrAbortHandler)
		}
	}
	body := map[string]any{
		"service":  h.service,
		"node":     h.node,
		"uptime_s": int(time.Since(h.started).Seconds()),
	}
	code := http.StatusOK
	switch state {
	case HealthFailing:
		if reason == "" {
			reason = h.defaultReason()
		}
		code = http.StatusServiceUnavailable
		body["status"] = "error"
		body["reason"] = reason
	case HealthSlow:
		body["status"] = "ok"
		body["detail"] = "degraded: slow responses"
		body["db"] = "slow"
	default:
		body["status"] = "ok"
		body["db"] = "ok"
	}
	writeJSON(w, code, body)
}

func (h *HealthServer) serveState(w http.ResponseWriter, r *http.Request) {
	if !h.handlers.enter() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	defer h.handlers.leave()
	switch r.Method {
	case http.MethodGet:
	case http.MethodPost:
		q := r.URL.Query()
		state, err := ParseHealthState(q.Get("state"))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": err.Error()})
			return
		}
		if d := q.Get("delay"); d != "" {
			delay, err := time.ParseDuration(d)
			if err != nil || delay < 0 {
				writeJSON(w, http.StatusBadRequest, map[string]any{"error": fmt.Sprintf("bad delay %q: want a duration like 1.5s", d)})
				return
			}
			h.SetSlowDelay(delay)
		}
		h.SetState(state, q.Get("reason"))
	default:
		w.Header().Set("Allow", "GET, POST")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"error": "use GET or POST"})
		return
	}
	state, reason, delay := h.State()
	writeJSON(w, http.StatusOK, map[string]any{"service": h.service, "state": state, "reason": reason, "delay": delay.String()})
}

func writeJSON(w http.ResponseWriter, code int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

// IngotHealthServer is the Ingot-shaped composite /health of the contract: it checks Forge
// and Anvil (by their simulated state, with Ingot's own probe timeout) and answers 200 when
// every service is healthy, 503 otherwise.
type IngotHealthServer struct {
	forge, anvil *HealthServer
	// probeTimeout is Ingot's timeout towards Forge and Anvil: shorter than ingot-top's 2 s
	// default so that a hanging dependency makes Ingot report unhealthy rather than hang.
	probeTimeout time.Duration

	srv      *http.Server
	url      string
	closing  chan struct{}
	closeOne sync.Once
	handlers tracker
	serveErr chan error
}

// NewIngotHealthServer builds the composite over forge and anvil (either may be nil: absent
// services are reported unhealthy with reason "not configured").
func NewIngotHealthServer(forge, anvil *HealthServer) *IngotHealthServer {
	return &IngotHealthServer{forge: forge, anvil: anvil, probeTimeout: time.Second, closing: make(chan struct{})}
}

// Start listens on addr and serves in the background.
func (s *IngotHealthServer) Start(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("ingot health: listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", s.serveHealth)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	s.url = "http://" + ln.Addr().String()
	s.serveErr = make(chan error, 1)
	go func() { s.serveErr <- s.srv.Serve(ln) }()
	return nil
}

// URL is the base URL; the endpoint is URL()+"/health".
func (s *IngotHealthServer) URL() string { return s.url }

// Close stops the server and returns once every handler has returned.
func (s *IngotHealthServer) Close() error {
	var err error
	s.closeOne.Do(func() {
		// Connections first, so that released handlers cannot send an answer.
		if s.srv != nil {
			err = s.srv.Close()
		}
		close(s.closing)
		if s.srv == nil {
			return
		}
		s.handlers.closeAndWait()
		if serr := <-s.serveErr; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
			err = errors.Join(err, serr)
		}
	})
	return err
}

type serviceHealth struct {
	Status    string  `json:"status"`
	LatencyMs float64 `json:"latency_ms,omitempty"`
	Reason    string  `json:"reason,omitempty"`
}

// check mimics Ingot's client health_check against one dependency, taking as long as the
// real call would (bounded by the probe timeout).
func (s *IngotHealthServer) check(ctx context.Context, dep *HealthServer) serviceHealth {
	if dep == nil {
		return serviceHealth{Status: "unhealthy", Reason: "not configured"}
	}
	state, reason, delay := dep.State()
	wait := time.Duration(0)
	res := serviceHealth{Status: "healthy"}
	switch state {
	case HealthHealthy:
		wait = time.Duration(2+rand.IntN(6)) * time.Millisecond
	case HealthFailing:
		wait = time.Duration(1+rand.IntN(3)) * time.Millisecond
		if reason == "" {
			reason = dep.defaultReason()
		}
		res = serviceHealth{Status: "unhealthy", Reason: reason}
	case HealthSlow:
		wait = delay
		if delay >= s.probeTimeout {
			wait = s.probeTimeout
			res = serviceHealth{Status: "unhealthy", Reason: "timeout"}
		}
	case HealthHanging:
		wait = s.probeTimeout
		res = serviceHealth{Status: "unhealthy", Reason: "timeout"}
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return serviceHealth{Status: "unhealthy", Reason: "cancelled"}
	case <-s.closing:
		return serviceHealth{Status: "unhealthy", Reason: "shutting down"}
	}
	if res.Status == "healthy" {
		res.LatencyMs = float64(wait.Microseconds()) / 1000
	}
	return res
}

func (s *IngotHealthServer) serveHealth(w http.ResponseWriter, r *http.Request) {
	if !s.handlers.enter() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	defer s.handlers.leave()
	var forge, anvil serviceHealth
	var wg sync.WaitGroup
	wg.Go(func() { forge = s.check(r.Context(), s.forge) })
	anvil = s.check(r.Context(), s.anvil)
	wg.Wait()
	if r.Context().Err() != nil {
		panic(http.ErrAbortHandler)
	}
	services := map[string]serviceHealth{
		"forge":  forge,
		"anvil":  anvil,
		"pubsub": {Status: "healthy"},
	}
	code, status := http.StatusOK, "ok"
	for _, svc := range services {
		if svc.Status != "healthy" {
			code, status = http.StatusServiceUnavailable, "degraded"
		}
	}
	writeJSON(w, code, map[string]any{
		"status":    status,
		"timestamp": time.Now().UTC().Format(time.RFC3339),
		"services":  services,
	})
}

// HealthAddrs are listen addresses for the simulated health endpoints; empty means off.
type HealthAddrs struct {
	Forge, Anvil, Ingot string
}

// HealthSet is the running simulated health endpoints. Absent servers are nil and their
// URLs empty. URLs are the full /health endpoints.
type HealthSet struct {
	Forge    *HealthServer
	Anvil    *HealthServer
	Ingot    *IngotHealthServer
	ForgeURL string
	AnvilURL string
	IngotURL string
}

// StartHealthServers starts Forge and Anvil /health on the given addresses (port 0 for any)
// and the Ingot composite on an ephemeral 127.0.0.1 port. They stop when ctx is done or on Close.
func StartHealthServers(ctx context.Context, addrForge, addrAnvil string) (*HealthSet, error) {
	return StartHealthServersAt(ctx, HealthAddrs{Forge: addrForge, Anvil: addrAnvil, Ingot: "127.0.0.1:0"})
}

// StartHealthServersAt starts the endpoints whose address is not empty. The Ingot composite
// reflects the state of the Forge and Anvil servers even when those do not listen.
func StartHealthServersAt(ctx context.Context, addrs HealthAddrs) (*HealthSet, error) {
	hs := &HealthSet{Forge: NewHealthServer("forge"), Anvil: NewHealthServer("anvil")}
	fail := func(err error) (*HealthSet, error) {
		_ = hs.Close()
		return nil, err
	}
	if addrs.Forge != "" {
		if err := hs.Forge.Start(addrs.Forge); err != nil {
			return fail(err)
		}
		hs.ForgeURL = hs.Forge.URL() + "/health"
	}
	if addrs.Anvil != "" {
		if err := hs.Anvil.Start(addrs.Anvil); err != nil {
			return fail(err)
		}
		hs.AnvilURL = hs.Anvil.URL() + "/health"
	}
	if addrs.Ingot != "" {
		hs.Ingot = NewIngotHealthServer(hs.Forge, hs.Anvil)
		if err := hs.Ingot.Start(addrs.Ingot); err != nil {
			return fail(err)
		}
		hs.IngotURL = hs.Ingot.URL() + "/health"
	}
	if ctx != nil && ctx.Done() != nil {
		go func() {
			select {
			case <-ctx.Done():
				_ = hs.Close()
			case <-hs.Forge.closing:
			}
		}()
	}
	return hs, nil
}

// ApplyScenario puts the health endpoints in the state a scenario implies.
func (hs *HealthSet) ApplyScenario(sc Scenario) {
	switch sc {
	case ScenarioDegradedAnvil:
		hs.Forge.SetState(HealthHealthy, "")
		// Degraded Anvil answers its probe, but with a 503: the row turns red and the
		// reason says why, which is what an on-call engineer needs to see first.
		hs.Anvil.SetState(HealthFailing, "degraded: db pool exhausted (40/40 busy)")
	case ScenarioForgeDown:
		hs.Forge.SetState(HealthFailing, "econnrefused forge:4001")
		hs.Anvil.SetState(HealthHealthy, "")
	default:
		hs.Forge.SetState(HealthHealthy, "")
		hs.Anvil.SetState(HealthHealthy, "")
	}
}

// URLs lists the endpoints that listen, as name=url pairs, for printing.
func (hs *HealthSet) URLs() string {
	var parts []string
	for _, p := range [][2]string{{"forge", hs.ForgeURL}, {"anvil", hs.AnvilURL}, {"ingot", hs.IngotURL}} {
		if p[1] != "" {
			parts = append(parts, p[0]+"="+p[1])
		}
	}
	return strings.Join(parts, " ")
}

// Close stops every server and waits for their handlers.
func (hs *HealthSet) Close() error {
	var errs []error
	if hs.Ingot != nil {
		errs = append(errs, hs.Ingot.Close())
	}
	errs = append(errs, hs.Forge.Close(), hs.Anvil.Close())
	return errors.Join(errs...)
}

// tracker counts in-flight handlers. Unlike a WaitGroup it refuses new entries once closing,
// so a request that arrives during Close cannot race with the wait.
type tracker struct {
	mu      sync.Mutex
	n       int
	closed  bool
	drained chan struct{}
}

func (t *tracker) enter() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.n++
	return true
}

func (t *tracker) leave() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n--
	if t.closed && t.n == 0 && t.drained != nil {
		close(t.drained)
		t.drained = nil
	}
}

func (t *tracker) closeAndWait() {
	t.mu.Lock()
	t.closed = true
	if t.n == 0 {
		t.mu.Unlock()
		return
	}
	done := make(chan struct{})
	t.drained = done
	t.mu.Unlock()
	<-done
}
