package daemon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/nsai/ingot-top/internal/audit"
	"github.com/nsai/ingot-top/internal/feed"
	"github.com/nsai/ingot-top/internal/ingest"
	"github.com/nsai/ingot-top/internal/testkit"
)

// testConfig is a daemon on loopback port 0 with everything on: file log, audit trail,
// error republishing.
func testConfig(t *testing.T, natsURL string) Config {
	dir := t.TempDir()
	return Config{
		Feed:  feed.Options{Server: natsURL, Subject: "telemetry.>", ConnectTimeout: 2 * time.Second},
		Web:   WebConfig{ListenAddresses: []string{"127.0.0.1:0"}},
		Log:   LogConfig{Level: slog.LevelInfo, Format: LogFormatJSON, File: filepath.Join(dir, "log", "daemon.log"), MaxSizeMB: 10, MaxAgeDays: 30, Compress: true, SampleRate: 0.1},
		Audit: AuditConfig{Dir: filepath.Join(dir, "audit"), RetentionDays: 30, Fsync: audit.FsyncBatch},
		Republish: RepublishConfig{
			ErrorsSubject: "ingot_top.errors", ErrorsPerSecond: 10, MaxErrorsPerMessage: 100,
			SnapshotSubject: "ingot_top.snapshot",
		},
		ShutdownTimeout: 10 * time.Second,
		Version:         "test",
	}
}

type runningDaemon struct {
	d    *Daemon
	url  string
	stop func() error
}

func startDaemon(t *testing.T, cfg Config, deps Deps) *runningDaemon {
	t.Helper()
	d, err := New(cfg, deps)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	stopped := false
	var runErr error
	stop := func() error {
		if stopped {
			return runErr
		}
		stopped = true
		cancel()
		select {
		case runErr = <-done:
		case <-time.After(15 * time.Second):
			runErr = errors.New("Run did not return within 15s of cancel")
		}
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return &runningDaemon{d: d, url: "http://" + d.Addrs()[0].String(), stop: stop}
}

func scrapeFamilies(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return mfs
}

// sumMetric sums a counter or gauge family, optionally only series with the given labels.
func sumMetric(mfs map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	mf := mfs[name]
	if mf == nil {
		return 0
	}
	total := 0.0
next:
	for _, m := range mf.GetMetric() {
		for k, v := range labels {
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == k && lp.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			total += m.GetCounter().GetValue()
		case m.Gauge != nil:
			total += m.GetGauge().GetValue()
		case m.Untyped != nil:
			total += m.GetUntyped().GetValue()
		}
	}
	return total
}

func submitPayload(i int, queue, method string) []byte {
	return fmt.Appendf(nil, `{"v":1,"event":["ingot","label","submit"],"time":%q,"measurements":{"duration_ms":%d,"client_latency_ms":12},"metadata":{"queue_id":%q,"assignment_id":"asg_%d","user_id":"user_%d","method":%q},"trace":{"trace_id":"%032x","span_id":"%016x"}}`,
		time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), 100+i%900, queue, i, i%7, method, i+1, i+1)
}

func anvilSubmittedPayload(i int) []byte {
	return fmt.Appendf(nil, `{"v":1,"event":["anvil","label","submitted"],"measurements":{"duration_ms":30},"metadata":{"queue_id":"q1","assignment_id":"asg_%d","labeler_id":"user_1"}}`, i)
}

func clientErrorPayload(i int) []byte {
	return fmt.Appendf(nil, `{"v":1,"event":["ingot","anvil_client","submit_label"],"measurements":{"duration_ms":2001},"metadata":{"assignment_id":"asg_%d","result":"error","reason":"timeout"},"trace":{"trace_id":"%032x","span_id":"%016x"}}`, i, i+1, i+1)
}

// warmUp publishes marker events one at a time until the daemon has counted one, so that the
// core subscription is known to be in place before the measured events go out. Each marker
// gets up to half a second to be counted before the next goes out: one published before the
// subscription existed is lost for good, and one still held in a feed batch (FlushDelay) must
// not be mistaken for lost, or the count this returns would be off by one.
func warmUp(t *testing.T, nc *nats.Conn, url string) float64 {
	t.Helper()
	payload := []byte(`{"v":1,"event":["forge","sample","created"],"measurements":{},"metadata":{"sample_id":"warm","pipeline_id":"p"}}`)
	count := func() float64 {
		return sumMetric(scrapeFamilies(t, url), "ingot_top_events_received_total", map[string]string{"event": "forge.sample.created"})
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if err := nc.Publish("telemetry.forge.sample.created", payload); err != nil {
			t.Fatal(err)
		}
		_ = nc.Flush()
		settle := time.Now().Add(500 * time.Millisecond)
		for time.Now().Before(settle) {
			if seen := count(); seen > 0 {
				return seen
			}
			time.Sleep(5 * time.Millisecond) // polling interval, bounded by settle
		}
	}
	t.Fatal("daemon never counted a warm-up event")
	return 0
}

func TestDaemonEndToEndCoreMode(t *testing.T) {
	srv := testkit.StartJetStream(t)
	forge, _ := switchable(t)
	anvil, setAnvil := switchable(t)
	cfg := testConfig(t, srv.ClientURL())
	cfg.ForgeHealthURL = forge.URL + "/health"
	cfg.AnvilHealthURL = anvil.URL + "/health"
	cfg.Health.Interval = 100 * time.Millisecond
	rd := startDaemon(t, cfg, Deps{Stderr: io.Discard})

	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	errSub, err := nc.SubscribeSync("ingot_top.errors")
	if err != nil {
		t.Fatal(err)
	}

	testkit.Eventually(t, 20*time.Second, "/-/ready 200", func() (bool, string) {
		code, body := get(t, rd.url+"/-/ready")
		return code == 200, body
	})
	warm := warmUp(t, nc, rd.url)

	const keyboardQ1, mouseQ2, apiQ1, audits, clientErrors = 250, 150, 100, 5, 3
	n := 0
	for range keyboardQ1 {
		n++
		mustPublish(t, nc, "telemetry.ingot.label.submit", submitPayload(n, "q1", "keyboard"))
	}
	for range mouseQ2 {
		n++
		mustPublish(t, nc, "telemetry.ingot.label.submit", submitPayload(n, "q2", "mouse"))
	}
	for range apiQ1 {
		n++
		mustPublish(t, nc, "telemetry.ingot.label.submit", submitPayload(n, "q1", "api"))
	}
	for i := range audits {
		mustPublish(t, nc, "telemetry.anvil.label.submitted", anvilSubmittedPayload(i))
	}
	for i := range clientErrors {
		mustPublish(t, nc, "telemetry.ingot.anvil_client.submit_label", clientErrorPayload(i))
	}
	mustPublish(t, nc, "telemetry.ingot.label.submit", []byte(`{"v":1,"event":["ingot","label","submit"]`)) // torn JSON
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	const submits = keyboardQ1 + mouseQ2 + apiQ1
	var mfs map[string]*dto.MetricFamily
	testkit.Eventually(t, 20*time.Second, "every event counted", func() (bool, string) {
		mfs = scrapeFamilies(t, rd.url)
		got := sumMetric(mfs, "ingot_labels_submitted_total", nil)
		errs := sumMetric(mfs, "ingot_anvil_client_errors_total", nil)
		return got == submits && errs == clientErrors, fmt.Sprintf("submitted=%v errors=%v", got, errs)
	})
	for _, c := range []struct {
		labels map[string]string
		want   float64
	}{
		{map[string]string{"queue_id": "q1", "method": "keyboard"}, keyboardQ1},
		{map[string]string{"queue_id": "q2", "method": "mouse"}, mouseQ2},
		{map[string]string{"queue_id": "q1", "method": "api"}, apiQ1},
	} {
		if got := sumMetric(mfs, "ingot_labels_submitted_total", c.labels); got != c.want {
			t.Errorf("ingot_labels_submitted_total%v = %v, want %v", c.labels, got, c.want)
		}
	}
	if got := sumMetric(mfs, "ingot_top_invalid_events_total", map[string]string{"reason": "not_json"}); got != 1 {
		t.Errorf("invalid not_json = %v, want 1", got)
	}
	if got := sumMetric(mfs, "ingot_top_audit_records_total", nil); got != audits {
		t.Errorf("audit records = %v, want %v", got, audits)
	}
	if mfs["go_goroutines"] == nil || mfs["process_resident_memory_bytes"] == nil {
		t.Error("Go/process collectors missing from /metrics")
	}
	// The event log is its own sink, fed the same batches on its own goroutine: it may count
	// the last batch a moment after the metrics do.
	total := warm + submits + audits + clientErrors + 1
	testkit.Eventually(t, 10*time.Second, "every event through the event log", func() (bool, string) {
		lines := sumMetric(scrapeFamilies(t, rd.url), "ingot_top_log_events_total", nil)
		return lines == total, fmt.Sprintf("event log saw %v events (logged + sampled out), want %v", lines, total)
	})

	// Errors fan out on their own subject, batched.
	gotErrors := 0
	testkit.Eventually(t, 10*time.Second, "errors republished", func() (bool, string) {
		msg, err := errSub.NextMsg(100 * time.Millisecond)
		if err == nil {
			var batch ingest.ErrorBatch
			if err := json.Unmarshal(msg.Data, &batch); err != nil {
				return false, err.Error()
			}
			gotErrors += len(batch.Errors)
		}
		return gotErrors == clientErrors, fmt.Sprintf("%d records", gotErrors)
	})

	// /health: both probes up, NATS up.
	testkit.Eventually(t, 30*time.Second, "/health 200", func() (bool, string) {
		code, body := get(t, rd.url+"/health")
		return code == 200, body
	})
	setAnvil(http.StatusServiceUnavailable)
	testkit.Eventually(t, 10*time.Second, "/health 503 with anvil down", func() (bool, string) {
		code, rep := getHealth(t, rd.url)
		return code == 503 && rep.Status == "degraded" && rep.Services["anvil"].Status == "unhealthy" &&
			rep.Services["forge"].Status == "healthy" && rep.Services["pubsub"].Status == "healthy", fmt.Sprintf("%d %+v", code, rep)
	})

	// The shipped IngotServiceUnhealthy rule watches this series.
	_, metricsText := get(t, rd.url+"/metrics")
	for _, want := range []string{`ingot_top_service_up{service="anvil"} 0`, `ingot_top_service_up{service="forge"} 1`} {
		if !strings.Contains(metricsText, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	checkWithPromtool(t, rd.url)

	if err := rd.stop(); err != nil {
		t.Fatalf("clean stop: %v", err)
	}
	logText := readFile(t, cfg.Log.File)
	if c := strings.Count(logText, `"message":"AnvilClient error"`); c != clientErrors {
		t.Errorf("log has %d AnvilClient error lines, want all %d (errors are never sampled)", c, clientErrors)
	}
	if c := strings.Count(logText, `"message":"Label submitted"`); c == 0 || c > submits/5 {
		t.Errorf("log has %d of %d submits at sample rate 0.1", c, submits)
	}
	if !strings.Contains(logText, `"message":"ingot-top daemon stopped"`) {
		t.Error("log does not end with the stop line")
	}
	auditLines := 0
	files, _ := filepath.Glob(filepath.Join(cfg.Audit.Dir, "audit-*.jsonl"))
	for _, f := range files {
		auditLines += strings.Count(readFile(t, f), "\n")
	}
	if auditLines != audits {
		t.Errorf("audit trail has %d lines in %v, want %d", auditLines, files, audits)
	}
}

func mustPublish(t *testing.T, nc *nats.Conn, subject string, data []byte) {
	t.Helper()
	if err := nc.Publish(subject, data); err != nil {
		t.Fatal(err)
	}
}

// checkWithPromtool lints the exposition as Prometheus would read it.
func checkWithPromtool(t *testing.T, url string) {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	out, err := testkit.PromtoolCheckMetrics(t, bytes.NewReader(body))
	if err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

func TestDaemonReadinessFollowsNATS(t *testing.T) {
	// Reserve a port for a NATS server that is not up yet.
	port := testkit.FreePort(t)
	natsURL := fmt.Sprintf("nats://127.0.0.1:%d", port)

	rd := startDaemon(t, testConfig(t, natsURL), Deps{Stderr: io.Discard})
	if code, body := get(t, rd.url+"/-/ready"); code != 503 || !strings.Contains(body, "Not ready") {
		t.Fatalf("NATS down at start: /-/ready %d %q", code, body)
	}
	if code, rep := getHealth(t, rd.url); code != 503 || rep.Services["pubsub"].Status != "unhealthy" ||
		rep.Services["forge"].Reason != "not configured" {
		t.Fatalf("NATS down at start: /health %d %+v", code, rep)
	}
	if code, _ := get(t, rd.url+"/-/healthy"); code != 200 {
		t.Fatal("liveness must not depend on NATS")
	}

	startAt := func() *server.Server { return testkit.StartNATS(t, &server.Options{Port: port}) }
	srv := startAt()
	testkit.Eventually(t, 20*time.Second, "ready after NATS came up", func() (bool, string) {
		code, body := get(t, rd.url+"/-/ready")
		return code == 200, body
	})
	if code, rep := getHealth(t, rd.url); code != 200 || rep.Services["pubsub"].Status != "healthy" {
		t.Fatalf("NATS up, probes not configured: /health %d %+v", code, rep)
	}
	srv.Shutdown()
	srv.WaitForShutdown()
	testkit.Eventually(t, 20*time.Second, "not ready after NATS went down", func() (bool, string) {
		code, body := get(t, rd.url+"/-/ready")
		return code == 503, body
	})
	defer startAt().Shutdown()
	testkit.Eventually(t, 20*time.Second, "ready again after NATS came back", func() (bool, string) {
		code, body := get(t, rd.url+"/-/ready")
		return code == 200, body
	})
	if err := rd.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
}

func TestDaemonJetStreamDurableResumesWithoutDoubleCounting(t *testing.T) {
	srv, js := testkit.StartTelemetryStream(t)
	ctx := context.Background()
	publish := func(from, n int) {
		for i := from; i < from+n; i++ {
			if _, err := js.Publish(ctx, "telemetry.ingot.label.submit", submitPayload(i, "q1", "keyboard")); err != nil {
				t.Fatal(err)
			}
			if _, err := js.Publish(ctx, "telemetry.anvil.label.submitted", anvilSubmittedPayload(i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish(0, 300) // before the daemon exists: durable mode must catch up

	cfg := testConfig(t, srv.ClientURL())
	cfg.Ingest = feed.Config{Durable: "ingot-top-test", Stream: "TELEMETRY", CreateStream: true}
	rd := startDaemon(t, cfg, Deps{Stderr: io.Discard})
	testkit.Eventually(t, 20*time.Second, "backlog consumed", func() (bool, string) {
		mfs := scrapeFamilies(t, rd.url)
		got := sumMetric(mfs, "ingot_labels_submitted_total", nil)
		return got == 300, fmt.Sprintf("submitted=%v", got)
	})
	if err := rd.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}

	publish(300, 200) // while no daemon runs
	rd = startDaemon(t, cfg, Deps{Stderr: io.Discard})
	testkit.Eventually(t, 20*time.Second, "only the new messages consumed", func() (bool, string) {
		mfs := scrapeFamilies(t, rd.url)
		got := sumMetric(mfs, "ingot_labels_submitted_total", nil)
		return got == 200, fmt.Sprintf("submitted=%v", got)
	})
	if err := rd.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	// The trail holds each audit event exactly once across both runs.
	lines := 0
	files, _ := filepath.Glob(filepath.Join(cfg.Audit.Dir, "audit-*.jsonl"))
	for _, f := range files {
		lines += strings.Count(readFile(t, f), "\n")
	}
	if lines != 500 {
		t.Fatalf("audit trail has %d records, want 500", lines)
	}
}

func TestDaemonStartupErrorsAreUsageErrors(t *testing.T) {
	srv := testkit.StartJetStream(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	badYAML := filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(badYAML, []byte("tls_server_config: [not a map\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(*Config){
		"bad listen address":     func(c *Config) { c.Web.ListenAddresses = []string{"127.0.0.1:99999"} },
		"listen address in use":  func(c *Config) { c.Web.ListenAddresses = []string{busy.Addr().String()} },
		"missing web config":     func(c *Config) { c.Web.ConfigFile = "/nonexistent/web.yml" },
		"unparsable web config":  func(c *Config) { c.Web.ConfigFile = badYAML },
		"errors under telemetry": func(c *Config) { c.Republish.ErrorsSubject = "telemetry.errors" },
		"bad log format":         func(c *Config) { c.Log.Format = "xml" },
		"unwritable log file":    func(c *Config) { c.Log.File = "/proc/ingot-top/daemon.log" },
		"bad forge url":          func(c *Config) { c.ForgeHealthURL = "forge:4000/health" },
		"no listen address":      func(c *Config) { c.Web.ListenAddresses = nil },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(t, srv.ClientURL())
			mutate(&cfg)
			d, err := New(cfg, Deps{Stderr: io.Discard})
			var usageErr *UsageError
			if !errors.As(err, &usageErr) {
				if d != nil && err == nil {
					d.closeStartup()
				}
				t.Fatalf("want a *UsageError, got %v", err)
			}
			if strings.TrimSpace(err.Error()) == "" {
				t.Fatal("empty message")
			}
		})
	}
}

func TestDefaultAuditDir(t *testing.T) {
	env := map[string]string{"XDG_STATE_HOME": "/state", "HOME": "/home/u"}
	getenv := func(k string) string { return env[k] }
	if got := DefaultAuditDir(getenv, 0); got != "/var/lib/ingot-top/audit" {
		t.Errorf("root: %s", got)
	}
	if got := DefaultAuditDir(getenv, 1000); got != "/state/ingot-top/audit" {
		t.Errorf("xdg: %s", got)
	}
	delete(env, "XDG_STATE_HOME")
	if got := DefaultAuditDir(getenv, 1000); got != "/home/u/.local/state/ingot-top/audit" {
		t.Errorf("home: %s", got)
	}
}

// logLines returns the JSON lines of a log file whose message is msg.
func logLines(t *testing.T, path, msg string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["message"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func TestDaemonDurableNotReadyUntilConsumerExists(t *testing.T) {
	srv := testkit.StartJetStream(t)
	cfg := testConfig(t, srv.ClientURL())
	cfg.Ingest = feed.Config{Durable: "ops", Stream: "TELEMETRY"} // no --create: must exist
	rd := startDaemon(t, cfg, Deps{Stderr: io.Discard})

	// Connected to NATS, but nothing to consume from: not ready, pubsub unhealthy.
	testkit.Eventually(t, 10*time.Second, "connected", func() (bool, string) {
		return rd.d.feed.State().Phase == ingest.PhaseConnected, string(rd.d.feed.State().Phase)
	})
	if code, body := get(t, rd.url+"/-/ready"); code != 503 || !strings.Contains(body, "consumer ops on stream TELEMETRY") {
		t.Fatalf("stream missing: /-/ready %d %q", code, body)
	}
	if code, rep := getHealth(t, rd.url); code != 503 || rep.Services["pubsub"].Status != "unhealthy" {
		t.Fatalf("stream missing: /health %d %+v", code, rep)
	}

	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "TELEMETRY", Subjects: []string{"telemetry.>"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "ops", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 20*time.Second, "ready once the consumer exists", func() (bool, string) {
		code, body := get(t, rd.url+"/-/ready")
		return code == 200, body
	})
	if _, err := js.Publish(ctx, "telemetry.ingot.label.submit", submitPayload(1, "q1", "api")); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 20*time.Second, "event consumed", func() (bool, string) {
		got := sumMetric(scrapeFamilies(t, rd.url), "ingot_labels_submitted_total", nil)
		return got == 1, fmt.Sprint(got)
	})
}

func TestShutdownTimeoutNamesWhatDidNotFinish(t *testing.T) {
	stuck := make(chan struct{})
	defer close(stuck)
	var ran []string
	steps := []shutdownStep{
		{"quick", func() error { ran = append(ran, "quick"); return nil }},
		{"stuck drain", func() error { <-stuck; return nil }},
		{"never started", func() error { ran = append(ran, "never"); return nil }},
	}
	start := time.Now()
	err := runShutdown(steps, 100*time.Millisecond, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "stuck drain, never started") {
		t.Fatalf("error %v", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Fatalf("returned after %v", elapsed)
	}
	if len(ran) != 1 {
		t.Fatalf("ran %v", ran)
	}

	err = runShutdown([]shutdownStep{{"fails", func() error { return errors.New("disk full") }}}, time.Second, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "fails: disk full") {
		t.Fatalf("step error %v", err)
	}
}

func TestDaemonStopFlushesPendingErrorBatch(t *testing.T) {
	srv := testkit.StartJetStream(t)
	cfg := testConfig(t, srv.ClientURL())
	cfg.Republish.ErrorsPerSecond = 0.001 // no tick during the test: only the stop can flush
	rd := startDaemon(t, cfg, Deps{Stderr: io.Discard})
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	errSub, err := nc.SubscribeSync("ingot_top.errors")
	if err != nil {
		t.Fatal(err)
	}
	warmUp(t, nc, rd.url)
	for i := range 2 {
		mustPublish(t, nc, "telemetry.ingot.anvil_client.submit_label", clientErrorPayload(i))
	}
	testkit.Eventually(t, 20*time.Second, "errors counted", func() (bool, string) {
		got := sumMetric(scrapeFamilies(t, rd.url), "ingot_anvil_client_errors_total", nil)
		return got == 2, fmt.Sprint(got)
	})
	if _, err := errSub.NextMsg(20 * time.Millisecond); err == nil {
		t.Fatal("published before the throttle interval")
	}
	if err := rd.stop(); err != nil {
		t.Fatal(err)
	}
	msg, err := errSub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatalf("pending errors not flushed at stop: %v", err)
	}
	var batch ingest.ErrorBatch
	if err := json.Unmarshal(msg.Data, &batch); err != nil || len(batch.Errors) != 2 {
		t.Fatalf("final batch %+v %v", batch, err)
	}
}

// waitLogLine polls the daemon's log file for a line with message msg and returns it.
func waitLogLine(t *testing.T, path, msg string) map[string]any {
	t.Helper()
	var line map[string]any
	testkit.Eventually(t, 20*time.Second, "log line "+msg, func() (bool, string) {
		if _, err := os.Stat(path); err != nil {
			return false, err.Error()
		}
		lines := logLines(t, path, msg)
		if len(lines) == 0 {
			return false, readFile(t, path)
		}
		line = lines[len(lines)-1]
		return true, ""
	})
	return line
}

// Issue 9, defect 7: a durable daemon on a server without JetStream answered 503 and logged
// nothing. It must say so in its log and on stderr, with what to do, and /-/ready must say
// why.
func TestDurableDaemonWithoutJetStreamSaysSo(t *testing.T) {
	srv := testkit.StartNATS(t, nil) // no JetStream
	cfg := testConfig(t, srv.ClientURL())
	cfg.Ingest = feed.Config{Durable: "ops", Stream: "TELEMETRY"}
	stderr := &testkit.SyncBuffer{}
	rd := startDaemon(t, cfg, Deps{Stderr: stderr})

	line := waitLogLine(t, cfg.Log.File, "JetStream is not enabled on the NATS server")
	if fix, _ := line["fix"].(string); !strings.Contains(fix, "-js") || !strings.Contains(fix, "without --durable") {
		t.Fatalf("fix %q", line["fix"])
	}
	if line["level"] != "error" || line["consumer"] != "ops" || line["stream"] != "TELEMETRY" {
		t.Fatalf("log line %v", line)
	}
	testkit.Eventually(t, 10*time.Second, "the same on stderr", func() (bool, string) {
		return stderrMessages(stderr.String(), "JetStream is not enabled on the NATS server") >= 1, stderr.String()
	})
	code, body := get(t, rd.url+"/-/ready")
	if code != 503 || !strings.Contains(body, "JetStream is not enabled") || !strings.Contains(body, "-js") {
		t.Fatalf("/-/ready %d %q", code, body)
	}
}

// Issue 9, defect 7: `daemon --durable NAME` without --create, where the stream or the
// consumer does not exist, must log which one is missing and the exact command that creates
// it, keep retrying, and say when it consumes.
func TestDurableDaemonLogsMissingStreamAndConsumerWithTheFix(t *testing.T) {
	srv := testkit.StartJetStream(t)
	cfg := testConfig(t, srv.ClientURL())
	cfg.Ingest = feed.Config{Durable: "ops", Stream: "TELEMETRY"}
	stderr := &testkit.SyncBuffer{}
	rd := startDaemon(t, cfg, Deps{Stderr: stderr})

	line := waitLogLine(t, cfg.Log.File, "JetStream stream does not exist")
	fix, _ := line["fix"].(string)
	if !strings.Contains(fix, "--create") || !strings.Contains(fix, "nats stream add TELEMETRY --subjects 'telemetry.>'") ||
		!strings.Contains(fix, "nats consumer add TELEMETRY ops --pull --ack explicit") {
		t.Fatalf("stream missing: fix %q", fix)
	}
	if code, body := get(t, rd.url+"/-/ready"); code != 503 || !strings.Contains(body, "nats stream add TELEMETRY") {
		t.Fatalf("stream missing: /-/ready %d %q", code, body)
	}

	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "TELEMETRY", Subjects: []string{"telemetry.>"}})
	if err != nil {
		t.Fatal(err)
	}
	line = waitLogLine(t, cfg.Log.File, "JetStream consumer does not exist")
	if fix, _ := line["fix"].(string); !strings.Contains(fix, "--create") ||
		!strings.Contains(fix, "nats consumer add TELEMETRY ops --pull --ack explicit --deliver all --filter 'telemetry.>'") {
		t.Fatalf("consumer missing: fix %q", fix)
	}
	if code, body := get(t, rd.url+"/-/ready"); code != 503 || !strings.Contains(body, "nats consumer add TELEMETRY ops") {
		t.Fatalf("consumer missing: /-/ready %d %q", code, body)
	}
	testkit.Eventually(t, 10*time.Second, "stderr has both", func() (bool, string) {
		out := stderr.String()
		return stderrMessages(out, "JetStream stream does not exist") >= 1 && stderrMessages(out, "JetStream consumer does not exist") >= 1, out
	})

	if _, err := stream.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "ops", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	waitLogLine(t, cfg.Log.File, "JetStream consumer found: consuming")
	testkit.Eventually(t, 20*time.Second, "ready once the consumer exists", func() (bool, string) {
		code, body := get(t, rd.url+"/-/ready")
		return code == 200, body
	})
	if _, err := js.Publish(ctx, "telemetry.ingot.label.submit", submitPayload(1, "q1", "api")); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 20*time.Second, "event consumed", func() (bool, string) {
		got := sumMetric(scrapeFamilies(t, rd.url), "ingot_labels_submitted_total", nil)
		return got == 1, fmt.Sprint(got)
	})
}
