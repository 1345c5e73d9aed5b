package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/nsai/ingot-top/internal/health"
	"github.com/nsai/ingot-top/internal/ingest"
)

// ConnStater is the part of the feed the HTTP endpoints read.
type ConnStater interface {
	State() ingest.ConnState
}

// HealthStatuser is the part of the health prober /health reads.
type HealthStatuser interface {
	Statuses() []health.Status
}

// Service states in /health, as in the contract's example.
const (
	serviceHealthy   = "healthy"
	serviceUnhealthy = "unhealthy"
	serviceUnknown   = "unknown"
)

// reasonNotConfigured marks a service whose health URL was not given. Such a service does not
// make /health fail: a daemon deployed only for metrics must be able to pass its load
// balancer check, and "nobody asked us to watch it" is not evidence of a fault.
const reasonNotConfigured = "not configured"

// ServiceHealth is one entry of /health "services".
type ServiceHealth struct {
	Status    string   `json:"status"`
	LatencyMS *float64 `json:"latency_ms,omitempty"`
	Reason    string   `json:"reason,omitempty"`
	// Detail is what the service's own /health body said, or the NATS connection phase.
	Detail string `json:"detail,omitempty"`
	// Since is when the service entered its current status.
	Since *time.Time `json:"since,omitempty"`
}

// HealthReport is the body of /health: the design's HealthController shape.
type HealthReport struct {
	Status    string                   `json:"status"` // "ok" or "degraded"
	Timestamp string                   `json:"timestamp"`
	Services  map[string]ServiceHealth `json:"services"`
}

// healthEndpoints serves /health, /-/healthy and /-/ready.
type healthEndpoints struct {
	feed   ConnStater
	probes HealthStatuser // nil when neither URL is configured
	probed map[string]bool
	now    func() time.Time
	// consuming, when set, says whether the subscription is really in place beyond the
	// connection being up (JetStream: the durable consumer exists); nil means "connected is
	// consuming", which holds for a core subscription.
	consuming func(ctx context.Context) error
	// local, when set, adds the daemon's own sinks (audit trail, log file) to /health.
	local func() map[string]ServiceHealth
	// stalled, when set, says why ingestion makes no progress although it is consuming
	// ("" when it does): in durable mode a refusing audit trail NAKs every batch. It makes
	// /-/ready fail; in core mode nothing stalls (the batch still reaches the metrics), so
	// it stays nil there.
	stalled func() string
}

// notConsuming returns why ingestion is not consuming, or "" when it is.
func (h *healthEndpoints) notConsuming(ctx context.Context) string {
	cs := h.feed.State()
	if cs.Phase != ingest.PhaseConnected {
		return notReadyReason(cs)
	}
	if h.consuming != nil {
		if err := h.consuming(ctx); err != nil {
			return err.Error()
		}
	}
	return ""
}

// report builds /health and says whether every counted service is healthy.
func (h *healthEndpoints) report(ctx context.Context) (HealthReport, bool) {
	services := map[string]ServiceHealth{}
	for _, name := range []string{"forge", "anvil"} {
		if !h.probed[name] {
			services[name] = ServiceHealth{Status: serviceUnknown, Reason: reasonNotConfigured}
			continue
		}
		services[name] = ServiceHealth{Status: serviceUnknown, Reason: "no check has finished yet"}
	}
	if h.probes != nil {
		for _, st := range h.probes.Statuses() {
			if !h.probed[st.Name] {
				continue
			}
			services[st.Name] = probeHealth(st)
		}
	}
	services["pubsub"] = pubsubHealth(h.feed.State(), h.notConsuming(ctx))
	if h.local != nil {
		for name, svc := range h.local() {
			services[name] = svc
		}
	}

	allHealthy := true
	for _, svc := range services {
		if svc.Status == serviceHealthy || svc.Reason == reasonNotConfigured {
			continue
		}
		allHealthy = false
	}
	status := "ok"
	if !allHealthy {
		status = "degraded"
	}
	return HealthReport{
		Status:    status,
		Timestamp: h.now().UTC().Format(time.RFC3339),
		Services:  services,
	}, allHealthy
}

func probeHealth(st health.Status) ServiceHealth {
	since := st.Since.UTC()
	out := ServiceHealth{Detail: st.Detail, Since: &since}
	switch st.State {
	case health.StateHealthy:
		out.Status = serviceHealthy
	case health.StateUnhealthy:
		out.Status = serviceUnhealthy
		out.Reason = st.LastError
		if out.Reason == "" {
			out.Reason = "unhealthy"
		}
	default:
		out.Status = serviceUnknown
		out.Reason = "no check has finished yet"
		return out
	}
	ms := math.Round(float64(st.Latency)/float64(time.Millisecond)*10) / 10
	out.LatencyMS = &ms
	return out
}

func pubsubHealth(cs ingest.ConnState, notConsuming string) ServiceHealth {
	since := cs.Since.UTC()
	out := ServiceHealth{Detail: string(cs.Phase), Since: &since}
	if notConsuming == "" {
		out.Status = serviceHealthy
		return out
	}
	out.Status = serviceUnhealthy
	out.Reason = notConsuming
	return out
}

// notReadyReason says in one line why ingestion is not consuming.
func notReadyReason(cs ingest.ConnState) string {
	reason := fmt.Sprintf("NATS %s", cs.Phase)
	if cs.Server != "" {
		reason += " (" + cs.Server + ")"
	}
	if cs.LastError != "" {
		reason += ": " + cs.LastError
	}
	return reason
}

func (h *healthEndpoints) serveHealth(w http.ResponseWriter, r *http.Request) {
	report, ok := h.report(r.Context())
	code := http.StatusOK
	if !ok {
		code = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(report)
}

// serveLive is the liveness probe: the process answers HTTP, so it is alive. It deliberately
// ignores NATS: restarting the daemon does not bring NATS back.
func serveLive(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = fmt.Fprintln(w, "Healthy.")
}

// serveReady is the readiness probe: 200 only while connected and consuming.
func (h *healthEndpoints) serveReady(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	reason := h.notConsuming(r.Context())
	if reason == "" && h.stalled != nil {
		reason = h.stalled()
	}
	if reason != "" {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = fmt.Fprintf(w, "Not ready: %s\n", reason)
		return
	}
	cs := h.feed.State()
	_, _ = fmt.Fprintf(w, "Ready: consuming %s from %s\n", cs.Subject, cs.Server)
}

// newMux routes the daemon's endpoints. The landing page comes from exporter-toolkit so the
// daemon looks like every other exporter an SRE has met.
func newMux(gatherer prometheus.Gatherer, h *healthEndpoints, version string, errorLog promhttp.Logger) (*http.ServeMux, error) {
	landing, err := web.NewLandingPage(web.LandingConfig{
		RoutePrefix: "/",
		Name:        "ingot-top daemon",
		Description: "Headless ingestion of the Ingot/Forge/Anvil telemetry stream (ADR-008): Prometheus metrics, health, structured logs, audit trail.",
		Version:     version,
		Links: []web.LandingLinks{
			{Address: "/metrics", Text: "Metrics", Description: "ADR-008 metrics and the daemon's own (OpenMetrics)"},
			{Address: "/health", Text: "Health", Description: "Forge, Anvil, PubSub (NATS), audit trail and log file health, JSON; 503 when degraded"},
			{Address: "/-/healthy", Text: "Liveness", Description: "200 while the process serves HTTP"},
			{Address: "/-/ready", Text: "Readiness", Description: "200 only while connected to NATS and consuming (durable mode: and the audit trail accepts writes)"},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("landing page: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{
		EnableOpenMetrics: true,
		ErrorLog:          errorLog,
		ErrorHandling:     promhttp.ContinueOnError,
		// A scrape that cannot finish in time would pile up goroutines on a slow network.
		Timeout:             10 * time.Second,
		MaxRequestsInFlight: 4,
	}))
	mux.HandleFunc("GET /health", h.serveHealth)
	mux.HandleFunc("GET /-/healthy", serveLive)
	mux.HandleFunc("GET /-/ready", h.serveReady)
	mux.Handle("/", landing)
	return mux, nil
}

// promhttpLogger adapts slog to promhttp's error log.
type promhttpLogger struct{ logger *slog.Logger }

func (l promhttpLogger) Println(v ...any) {
	l.logger.Error("Serving /metrics failed", "error", strings.TrimSpace(fmt.Sprintln(v...)))
}
