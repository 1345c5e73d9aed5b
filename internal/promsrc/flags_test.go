package promsrc

import (
	"testing"
	"time"

	"github.com/alecthomas/kong"
)

// TestFlagsWithKong parses the flags the way the dashboard command embeds them.
func TestFlagsWithKong(t *testing.T) {
	var cli struct {
		Flags `embed:""`
	}
	env := map[string]string{"PROMETHEUS_URL": "http://from-env:9090", "PROMETHEUS_PASSWORD": "pw"}
	parser, err := kong.New(&cli, kong.Exit(func(int) { t.Fatal("kong exited") }))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	if _, err := parser.Parse([]string{"--scrape", "http://a:9101/metrics", "--scrape", "http://b:9101/metrics,x",
		"--prometheus.username", "ops", "--prometheus.interval", "2s"}); err != nil {
		t.Fatal(err)
	}
	f := cli.Flags
	if f.Prometheus != "http://from-env:9090" || f.PrometheusPassword != "pw" || f.PrometheusUsername != "ops" {
		t.Errorf("env and flags: %+v", f)
	}
	if len(f.Scrape) != 2 || f.Scrape[1] != "http://b:9101/metrics,x" {
		t.Errorf("--scrape repeated (commas kept): %q", f.Scrape)
	}
	if f.PrometheusInterval != 2*time.Second || f.PrometheusTimeout != 3*time.Second || f.PrometheusHistory != time.Hour || f.ScrapeInterval != 5*time.Second {
		t.Errorf("durations: %+v", f)
	}
}
