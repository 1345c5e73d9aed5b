package buildinfo

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// MetricName is the build information metric, named and labelled as the Prometheus
// ecosystem does it (prometheus/common/version, node_exporter_build_info), so the usual
// `count by (version) (ingot_top_build_info)` rollout queries work unchanged.
const MetricName = "ingot_top_build_info"

// NewCollector returns the constant gauge ingot_top_build_info = 1 with the labels version,
// revision, branch, goversion, goos, goarch and tags ("unknown" for a revision or tags
// the build does not know, as prometheus/common/version writes them). It is built from Get and not from
// prometheus/common/version, whose values are package globals this project does not set.
func NewCollector() prometheus.Collector {
	return newCollector(Get())
}

func newCollector(info Info) prometheus.Collector {
	goos, goarch, _ := strings.Cut(info.Platform, "/")
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: MetricName,
		Help: "A metric with a constant '1' value labeled by version, revision, branch, goversion from which ingot-top was built, and the goos and goarch for the build.",
		ConstLabels: prometheus.Labels{
			"version":   info.Version,
			"revision":  orUnknown(info.Commit),
			"branch":    info.Branch,
			"goversion": info.GoVersion,
			"goos":      goos,
			"goarch":    goarch,
			"tags":      orUnknown(info.Tags),
		},
	}, func() float64 { return 1 })
}
