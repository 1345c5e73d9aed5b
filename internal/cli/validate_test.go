package cli

import (
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/alecthomas/kong"

	"github.com/nsai/ingot-top/internal/config"
)

func configFile(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// One config file serves every mode: a value that any mode rejects is rejected by every
// mode and by `config`, before anything connects (the issue: snapshot took
// `alert.error-rate: "abc"` that the dashboard refused).
func TestConfigFileRejectedByEveryMode(t *testing.T) {
	for _, c := range []struct {
		name, body, want string
	}{
		{"alert threshold of the wrong type", "alert:\n  error-rate: \"abc\"\n", `key "alert.error-rate"`},
		{"alert threshold out of range", "alert:\n  error-rate: 1.5\n", "alert.error-rate"},
		{"daemon-only log sample rate", "log:\n  sample-rate: 5\n", "--log.sample-rate"},
		{"metrics sample rate", "metrics:\n  sample-rate: 0\n", "--metrics.sample-rate"},
		{"unknown query name", "queries:\n  queue_throughput: up\n", "queries.queue_throughput: unknown query"},
		{"refresh too short", "refresh: 1ms\n", "--refresh"},
	} {
		path := configFile(t, c.body)
		for _, args := range [][]string{
			{"config"},
			{"snapshot", "-s", "nats://127.0.0.1:1", "--duration", "1ms"},
			{"daemon", "-s", "nats://127.0.0.1:1", "--web.listen-address", "127.0.0.1:99999"},
			{"simulate", "-s", "nats://127.0.0.1:1", "--count", "1"},
		} {
			res := runWithEnv(t, nil, append([]string{"--config", path}, args...)...)
			if res.code != ExitUsage || !strings.Contains(res.stderr, c.want) || !strings.Contains(res.stderr, path) {
				t.Errorf("%s, %v: exit %d, stderr %q; want %d naming %q and the file", c.name, args[0], res.code, res.stderr, ExitUsage, c.want)
			}
		}
	}
}

// The settings a mode ignores are still checked, but a valid file passes everywhere.
func TestConfigFileValidForEveryMode(t *testing.T) {
	path := configFile(t, "server: nats://127.0.0.1:1\nalert:\n  error-rate: 0.02\nlog:\n  sample-rate: 0.5\nmetrics:\n  sample-rate: 0.1\nqueries:\n  queue_rate: up\n")
	res := runWithEnv(t, nil, "--config", path, "config")
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	if err := checkFileForEveryMode(config.Empty(), func(string) string { return "" }); err != nil {
		t.Errorf("no file: %v", err)
	}
}

// A server URL that cannot parse is a usage error (2) in every mode, not a connection
// failure (3) after the timeout.
func TestUnparsableServerIsUsageError(t *testing.T) {
	for _, args := range [][]string{
		{"snapshot", "-s", "nats://[::1", "--duration", "1s"},
		{"snapshot", "-s", "http://nats:4222", "--duration", "1s"},
		{"config", "-s", "nats://[::1"},
		{"daemon", "-s", "nats://ok:4222,nats://[::1"},
	} {
		res := runWithEnv(t, nil, args...)
		if res.code != ExitUsage || !strings.Contains(res.stderr, "--server") {
			t.Errorf("%v: exit %d, stderr %q; want %d naming --server", args, res.code, res.stderr, ExitUsage)
		}
	}
	for _, ok := range []string{"nats://127.0.0.1:4222", "127.0.0.1:4222", "tls://a:1, nats://[::1]:4222", "ws://h:80"} {
		var root Root
		p := kong.Must(&root, kong.Exit(func(int) {}))
		if _, err := p.Parse([]string{"config", "-s", ok}); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
}

// The metrics sample rate is a flag with its env var and config key, like --log.sample-rate.
func TestMetricsSampleRateFlagEnvAndFile(t *testing.T) {
	parse := func(args ...string) (*DaemonCmd, error) {
		var root Root
		p := kong.Must(&root, kong.Exit(func(int) {}))
		_, err := p.Parse(append([]string{"daemon"}, args...))
		return &root.Daemon, err
	}
	if d, err := parse(); err != nil || d.MetricsSampleRate != 1 {
		t.Fatalf("default: %v, %v", d.MetricsSampleRate, err)
	}
	if d, err := parse("--metrics.sample-rate", "0.1"); err != nil || d.MetricsSampleRate != 0.1 {
		t.Errorf("flag: %v, %v", d.MetricsSampleRate, err)
	}
	if _, err := parse("--metrics.sample-rate", "1.5"); err == nil || !strings.Contains(err.Error(), "--metrics.sample-rate") {
		t.Errorf("1.5: %v", err)
	}
	t.Setenv("INGOT_METRICS_SAMPLE_RATE", "0.25")
	if d, err := parse(); err != nil || d.MetricsSampleRate != 0.25 {
		t.Errorf("env: %v, %v", d.MetricsSampleRate, err)
	}
	cfg, err := d0(t).config(func(string) string { return "" })
	if err != nil || cfg.Metrics.SampleRate != 0.25 {
		t.Errorf("daemon config: %+v, %v", cfg.Metrics, err)
	}
}

func d0(t *testing.T) *DaemonCmd {
	t.Helper()
	var root Root
	p := kong.Must(&root, kong.Exit(func(int) {}))
	if _, err := p.Parse([]string{"daemon"}); err != nil {
		t.Fatal(err)
	}
	return &root.Daemon
}

// Every example in every command's --help parses, and the config file example in
// `config --help` is accepted by `config` (it named a query that did not exist).
func TestHelpExamplesWork(t *testing.T) {
	var root Root
	rv := reflect.ValueOf(root)
	for i := 0; i < rv.NumField(); i++ {
		cmd, ok := rv.Field(i).Interface().(interface{ Help() string })
		if !ok {
			continue
		}
		for _, line := range strings.Split(cmd.Help(), "\n") {
			line = strings.TrimSpace(line)
			if !strings.HasPrefix(line, "ingot-top ") {
				continue
			}
			line, _, _ = strings.Cut(line, "#")
			line, _, _ = strings.Cut(line, "|")
			line = strings.ReplaceAll(line, "<URL>", "nats://127.0.0.1:4222")
			args := strings.Fields(line)[1:]
			var r Root
			p := kong.Must(&r, kong.Exit(func(int) {}))
			if _, err := p.Parse(args); err != nil {
				t.Errorf("%s --help example %q: %v", rv.Type().Field(i).Name, line, err)
			}
		}
	}
	help := ConfigCmd{}.Help()
	_, example, ok := strings.Cut(help, "may be nested:\n")
	if !ok {
		t.Fatal("config --help has no file example")
	}
	var yaml []string
	for _, l := range strings.Split(example, "\n") {
		yaml = append(yaml, strings.TrimPrefix(l, "  "))
	}
	path := configFile(t, strings.Join(yaml, "\n")+"\n")
	if res := runWithEnv(t, nil, "--config", path, "config"); res.code != 0 {
		t.Errorf("config --help's example: exit %d: %s", res.code, res.stderr)
	}
}

// A --port that is taken is the user's choice to change: exit 2 with the reason, at once.
func TestDemoBusyPortIsUsageError(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	res := runWithEnv(t, nil, "demo", "--no-ui", "--port", strconv.Itoa(port))
	if res.code != ExitUsage || !strings.Contains(res.stderr, "address already in use") {
		t.Errorf("exit %d, stderr %q; want %d and 'address already in use'", res.code, res.stderr, ExitUsage)
	}
}
