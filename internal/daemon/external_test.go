package daemon

import (
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/nsai/ingot-top/internal/testkit"
)

// TestRealPrometheusScrapesExactCounts runs the Debian Prometheus server against the daemon
// and asks its API for the submit total.
func TestRealPrometheusScrapesExactCounts(t *testing.T) {
	testkit.RequirePrometheus(t)
	srv := testkit.StartJetStream(t)
	rd := startDaemon(t, testConfig(t, srv.ClientURL()), Deps{Stderr: io.Discard})
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	warmUp(t, nc, rd.url)

	const submits = 1234
	for i := range submits {
		method := []string{"keyboard", "mouse", "api"}[i%3]
		mustPublish(t, nc, "telemetry.ingot.label.submit", submitPayload(i, fmt.Sprintf("q%d", i%4), method))
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	prom := testkit.StartPrometheus(t, testkit.PrometheusConfig{Target: rd.url})
	query := prom.URL + "/api/v1/query?query=" + url.QueryEscape("sum(ingot_labels_submitted_total)")
	testkit.Eventually(t, 60*time.Second, "Prometheus sees every submit", func() (bool, string) {
		prom.FailIfExited(t)
		var result []struct {
			Value [2]any `json:"value"`
		}
		if err := testkit.QueryAPI(query, &result); err != nil {
			return false, err.Error()
		}
		if len(result) != 1 {
			return false, fmt.Sprintf("%+v", result)
		}
		got, _ := result[0].Value[1].(string)
		return got == fmt.Sprint(submits), "sum = " + got
	})
}

// TestBinaryReopensOnSIGHUPAndStopsOnSIGTERM runs the real binary.
func TestBinaryReopensOnSIGHUPAndStopsOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "ingot-top")
	build := exec.Command("go", "build", "-o", bin, "github.com/nsai/ingot-top/cmd/ingot-top")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	srv := testkit.StartJetStream(t)
	logPath := filepath.Join(dir, "log", "daemon.log")
	cmd := exec.Command(bin, "daemon",
		"-s", srv.ClientURL(),
		"--web.listen-address", "127.0.0.1:0",
		"--log.file", logPath,
		"--audit.dir", filepath.Join(dir, "audit"),
	)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
	})

	// The toolkit logs the bound address; port 0 makes that the only way to learn it.
	var addr string
	testkit.Eventually(t, 20*time.Second, "listening line in the log", func() (bool, string) {
		if _, err := os.Stat(logPath); err != nil {
			return false, err.Error()
		}
		for _, l := range logLines(t, logPath, "Listening on") {
			addr, _ = l["address"].(string)
		}
		return addr != "", "no address yet"
	})
	testkit.Eventually(t, 20*time.Second, "/-/ready", func() (bool, string) {
		code, body := get(t, "http://"+addr+"/-/ready")
		return code == 200, body
	})

	moved := filepath.Join(dir, "log", "moved.log")
	if err := os.Rename(logPath, moved); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "log reopened at its path", func() (bool, string) {
		if _, err := os.Stat(logPath); err != nil {
			return false, err.Error()
		}
		return len(logLines(t, logPath, "Reopened log and audit files")) == 1, "no reopen line"
	})

	sent := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v; stderr:\n%s", err, stderr.String())
		}
		t.Logf("stopped %v after SIGTERM", time.Since(sent).Round(time.Millisecond))
	case <-time.After(10 * time.Second):
		t.Fatalf("still running 10s after SIGTERM; stderr:\n%s", stderr.String())
	}
	if len(logLines(t, logPath, "ingot-top daemon stopped")) != 1 {
		t.Fatalf("no stop line in the log:\n%s", readFile(t, logPath))
	}
}
