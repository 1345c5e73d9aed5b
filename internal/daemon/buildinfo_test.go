package daemon

import (
	"testing"

	"github.com/nsai/ingot-top/internal/buildinfo"
	"github.com/nsai/ingot-top/internal/testkit"
)

// The daemon's /metrics carries ingot_top_build_info (the prometheus/common/version
// convention), so a fleet's versions are one query away, and the exposition with it still
// passes promtool.
func TestDaemonExportsBuildInfo(t *testing.T) {
	ns := testkit.StartNATS(t, nil)
	d := startDaemon(t, testConfig(t, ns.ClientURL()), Deps{})
	mfs := scrapeFamilies(t, d.url)
	mf, ok := mfs[buildinfo.MetricName]
	if !ok {
		t.Fatalf("/metrics has no %s", buildinfo.MetricName)
	}
	if len(mf.GetMetric()) != 1 || mf.GetMetric()[0].GetGauge().GetValue() != 1 {
		t.Fatalf("%s: want one series of value 1, got %v", buildinfo.MetricName, mf.GetMetric())
	}
	labels := map[string]string{}
	for _, l := range mf.GetMetric()[0].GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	for _, name := range []string{"version", "revision", "branch", "goversion", "goos", "goarch", "tags"} {
		if _, ok := labels[name]; !ok {
			t.Errorf("%s lacks the label %q: %v", buildinfo.MetricName, name, labels)
		}
	}
	if labels["version"] != buildinfo.Version() {
		t.Errorf("version label %q, want %q", labels["version"], buildinfo.Version())
	}
	checkWithPromtool(t, d.url)
}
