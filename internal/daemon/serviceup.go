package daemon

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/nsai/ingot-top/internal/health"
)

// serviceUpCollector exports the probes as ingot_top_service_up{service}, the series the
// shipped IngotServiceUnhealthy rule watches. A service whose state is still unknown (no
// probe finished) has no sample, so the rule cannot fire on a daemon that just started.
type serviceUpCollector struct {
	probes HealthStatuser
	desc   *prometheus.Desc
}

func newServiceUpCollector(probes HealthStatuser) *serviceUpCollector {
	return &serviceUpCollector{
		probes: probes,
		desc: prometheus.NewDesc("ingot_top_service_up",
			"Whether the last /health probe of a service succeeded (1) or failed (0).",
			[]string{"service"}, nil),
	}
}

func (c *serviceUpCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *serviceUpCollector) Collect(ch chan<- prometheus.Metric) {
	for _, st := range c.probes.Statuses() {
		var v float64
		switch st.State {
		case health.StateHealthy:
			v = 1
		case health.StateUnhealthy:
			v = 0
		default:
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v, st.Name)
	}
}
