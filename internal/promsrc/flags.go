package promsrc

import (
	"fmt"
	"net/http"
	"net/url"
	"time"

	config "github.com/prometheus/common/config"
)

// Flags are the dashboard's Prometheus and scrape options. The CLI embeds them in the
// dashboard command (`embed:""`); the config file sets them under the same names.
type Flags struct {
	Prometheus                   string        `name:"prometheus" env:"PROMETHEUS_URL" placeholder:"URL" help:"Prometheus server to read fleet-wide queue throughput, latency percentiles, an hour of history and firing alerts from (e.g. http://prometheus:9090)."`
	PrometheusBearerTokenFile    string        `name:"prometheus.bearer-token-file" type:"path" placeholder:"FILE" help:"File holding a bearer token sent to Prometheus (re-read on every request, so rotated tokens work)."`
	PrometheusUsername           string        `name:"prometheus.username" placeholder:"USER" help:"Basic-auth user for Prometheus."`
	PrometheusPassword           string        `name:"prometheus.password" env:"PROMETHEUS_PASSWORD" placeholder:"PASSWORD" help:"Basic-auth password for Prometheus (prefer the environment variable to the command line)."`
	PrometheusTLSCA              string        `name:"prometheus.tls-ca" type:"path" placeholder:"FILE" help:"CA bundle to verify the Prometheus server certificate."`
	PrometheusTLSCert            string        `name:"prometheus.tls-cert" type:"path" placeholder:"FILE" help:"Client certificate for Prometheus (mutual TLS)."`
	PrometheusTLSKey             string        `name:"prometheus.tls-key" type:"path" placeholder:"FILE" help:"Client key for Prometheus (mutual TLS)."`
	PrometheusInsecureSkipVerify bool          `name:"prometheus.insecure-skip-verify" help:"Do not verify the Prometheus server certificate (testing only)."`
	PrometheusInterval           time.Duration `name:"prometheus.interval" default:"5s" help:"Time between two rounds of Prometheus queries."`
	PrometheusTimeout            time.Duration `name:"prometheus.timeout" default:"3s" help:"Bound of one round of Prometheus queries, and of each --scrape request; a slower server is marked stale and never freezes the dashboard."`
	PrometheusHistory            time.Duration `name:"prometheus.history" default:"1h" help:"History loaded with query_range at start, so that charts are full from the first second."`
	Scrape                       []string      `name:"scrape" sep:"none" placeholder:"URL" help:"A /metrics endpoint (the daemon's, or Ingot's own) to read directly when there is no Prometheus server; repeatable. Rates and quantiles come from the deltas between scrapes."`
	ScrapeInterval               time.Duration `name:"scrape.interval" default:"5s" help:"Time between two scrapes of each --scrape endpoint."`
}

// Defaults of Flags when a field is zero (a Flags built in code rather than by kong).
const (
	DefaultInterval = 5 * time.Second
	DefaultTimeout  = 3 * time.Second
	DefaultHistory  = time.Hour
)

// Configured reports whether any source is asked for.
func (f Flags) Configured() bool { return f.Prometheus != "" || len(f.Scrape) > 0 }

func (f Flags) withDefaults() Flags {
	if f.PrometheusInterval <= 0 {
		f.PrometheusInterval = DefaultInterval
	}
	if f.PrometheusTimeout <= 0 {
		f.PrometheusTimeout = DefaultTimeout
	}
	if f.PrometheusHistory <= 0 {
		f.PrometheusHistory = DefaultHistory
	}
	if f.ScrapeInterval <= 0 {
		f.ScrapeInterval = DefaultInterval
	}
	return f
}

// httpClientConfig maps the flags onto the standard Prometheus client configuration, so
// that bearer tokens, basic auth and TLS behave as in every Prometheus tool.
func (f Flags) httpClientConfig() config.HTTPClientConfig {
	cfg := config.DefaultHTTPClientConfig
	cfg.BearerTokenFile = f.PrometheusBearerTokenFile
	if f.PrometheusUsername != "" || f.PrometheusPassword != "" {
		cfg.BasicAuth = &config.BasicAuth{Username: f.PrometheusUsername, Password: config.Secret(f.PrometheusPassword)}
	}
	cfg.TLSConfig = config.TLSConfig{
		CAFile:             f.PrometheusTLSCA,
		CertFile:           f.PrometheusTLSCert,
		KeyFile:            f.PrometheusTLSKey,
		InsecureSkipVerify: f.PrometheusInsecureSkipVerify,
	}
	return cfg
}

// newHTTPClient builds the Prometheus client. Validation catches contradictory options
// (a bearer token and basic auth at once, a certificate without its key) up front.
func (f Flags) newHTTPClient() (*http.Client, error) {
	cfg := f.httpClientConfig()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("prometheus: client options: %w", err)
	}
	c, err := config.NewClientFromConfig(cfg, "ingot-top")
	if err != nil {
		return nil, fmt.Errorf("prometheus: client options: %w", err)
	}
	return c, nil
}

// checkURL accepts absolute http(s) URLs only: a typo such as "prometheus:9090" would
// otherwise fail on every poll with an obscure message.
func checkURL(flag, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("--%s %q: %w", flag, raw, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--%s %q: want an http:// or https:// URL", flag, raw)
	}
	return u, nil
}

// displayURL is the URL without a password, for the screen and error messages.
func displayURL(u *url.URL) string { return u.Redacted() }
