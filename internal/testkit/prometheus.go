package testkit

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// PrometheusBinary is where the Debian package (scripts/install-test-deps.sh) puts it.
const PrometheusBinary = "/usr/bin/prometheus"

// RequirePrometheus skips or fails the test, as RequireTool says, when PrometheusBinary is
// absent.
func RequirePrometheus(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(PrometheusBinary); err != nil {
		RequireTool(t, fmt.Sprintf("%s is absent: %v", PrometheusBinary, err))
	}
}

// PrometheusConfig says what a test Prometheus scrapes and evaluates.
type PrometheusConfig struct {
	// Target is the scraped endpoint ("http://host:port" or "host:port", path /metrics),
	// scraped every second.
	Target string
	// MoreTargets are scraped as well, in the same job (a second instance of the target).
	MoreTargets []string
	// Rules is the content of a rule file evaluated every second; empty means no rules.
	Rules string
	// Features are --enable-feature values, such as "native-histograms".
	Features []string
}

// Prometheus is a running Prometheus server.
type Prometheus struct {
	// URL is the server's base URL, "http://127.0.0.1:port"; the HTTP API is URL+"/api/v1/".
	URL string

	exited chan error
	logs   *SyncBuffer
}

// StartPrometheus runs the real Prometheus (skipping or failing as RequirePrometheus says
// when it is absent) with its own temporary config and storage, waits until it is ready,
// and stops it when the test ends; its log is shown if the test failed.
func StartPrometheus(t testing.TB, cfg PrometheusConfig) *Prometheus {
	t.Helper()
	RequirePrometheus(t)
	dir := t.TempDir()
	rules := cfg.Rules
	if rules == "" {
		rules = "groups: []\n"
	}
	targets := fmt.Sprintf("%q", strings.TrimPrefix(cfg.Target, "http://"))
	for _, t := range cfg.MoreTargets {
		targets += fmt.Sprintf(", %q", strings.TrimPrefix(t, "http://"))
	}
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 900ms
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
  - job_name: ingot-top
    static_configs:
      - targets: [%s]
`, filepath.Join(dir, "rules.yml"), targets)
	for name, body := range map[string]string{"prometheus.yml": config, "rules.yml": rules} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatalf("write prometheus %s: %v", name, err)
		}
	}
	listen := FreeLoopbackAddr(t)
	args := []string{
		"--config.file=" + filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + listen,
		"--log.level=warn",
	}
	for _, f := range cfg.Features {
		args = append(args, "--enable-feature="+f)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, PrometheusBinary, args...)
	p := &Prometheus{URL: "http://" + listen, exited: make(chan error, 1), logs: &SyncBuffer{}}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start prometheus: %v", err)
	}
	go func() { p.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cancel()
		<-p.exited
		if t.Failed() {
			t.Logf("prometheus logs:\n%s", p.logs.String())
		}
	})
	Eventually(t, 30*time.Second, "prometheus ready", func() (bool, string) {
		p.FailIfExited(t)
		resp, err := http.Get(p.URL + "/-/ready")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	return p
}

// FailIfExited fails the test at once if the server has stopped, so a poll does not wait
// out its deadline on a dead server.
func (p *Prometheus) FailIfExited(t testing.TB) {
	t.Helper()
	select {
	case err := <-p.exited:
		p.exited <- err // the cleanup waits for it too
		t.Fatalf("prometheus exited: %v\n%s", err, p.logs.String())
	default:
	}
}

// QueryAPI GETs a Prometheus HTTP API URL with plain net/http and encoding/json
// (independently of any client under test) and decodes data.result into result, or data
// when the answer has no result (such as query_exemplars). A status other than "success"
// is an error.
func QueryAPI(u string, result any) error {
	resp, err := http.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return fmt.Errorf("decode %s: %w", u, err)
	}
	if body.Status != "success" {
		return fmt.Errorf("%s: status %q: %s", u, body.Status, body.Error)
	}
	var data struct {
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(body.Data, &data); err == nil && data.Result != nil {
		return json.Unmarshal(data.Result, result)
	}
	return json.Unmarshal(body.Data, result)
}

// PromtoolCheckMetrics runs `promtool check metrics` on an exposition in the text format
// (skipping or failing as RequireTool says when promtool is absent) and returns its
// combined output and exit error, for the caller to judge.
func PromtoolCheckMetrics(t testing.TB, exposition io.Reader) (output string, err error) {
	t.Helper()
	cmd := exec.Command(requirePromtool(t), "check", "metrics")
	cmd.Stdin = exposition
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// requirePromtool finds promtool on PATH or where the Debian package puts it.
func requirePromtool(t testing.TB) string {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		promtool = "/usr/bin/promtool"
	}
	if _, err := os.Stat(promtool); err != nil {
		RequireTool(t, fmt.Sprintf("promtool is absent: %v", err))
	}
	return promtool
}
