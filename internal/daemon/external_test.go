package daemon

import (
	"bytes"
	"context"
	"encoding/json"
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
	"github.com/nats-io/nats.go/jetstream"

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

// The proof: SIGKILL the daemon in the middle of a burst of audit events in durable
// mode, start it again, and every event is in the audit trail exactly once, with no torn line.
func TestSIGKILLMidBurstLosesAndDuplicatesNoAuditRecord(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "ingot-top")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/nsai/ingot-top/cmd/ingot-top").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	srv := testkit.StartJetStream(t)
	auditDir := filepath.Join(dir, "audit")
	start := func(name string) (*exec.Cmd, string, chan error) {
		t.Helper()
		logPath := filepath.Join(dir, name+".log")
		cmd := exec.Command(bin, "daemon", "-s", srv.ClientURL(), "--durable", "audit-proof", "--create",
			"--web.listen-address", "127.0.0.1:0", "--log.file", logPath, "--audit.dir", auditDir,
			"--batch-size", "64")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		t.Cleanup(func() { _ = cmd.Process.Kill() })
		var addr string
		testkit.Eventually(t, 20*time.Second, name+" listening", func() (bool, string) {
			if _, err := os.Stat(logPath); err != nil {
				return false, err.Error()
			}
			for _, l := range logLines(t, logPath, "Listening on") {
				addr, _ = l["address"].(string)
			}
			return addr != "", "no address yet"
		})
		testkit.Eventually(t, 20*time.Second, name+" ready", func() (bool, string) {
			code, body := get(t, "http://"+addr+"/-/ready")
			return code == 200, body
		})
		return cmd, addr, exited
	}
	// completeLines reads the complete records; while the daemon writes, or right after it
	// was killed mid-write, the file may end in a partial line, which is not counted.
	completeLines := func(allowTornTail bool) []string {
		var lines []string
		files, _ := filepath.Glob(filepath.Join(auditDir, "audit-*.jsonl"))
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if len(data) > 0 && data[len(data)-1] != '\n' {
				if !allowTornTail {
					t.Fatalf("%s ends in a torn line", f)
				}
				data = data[:bytes.LastIndexByte(data, '\n')+1]
			}
			for _, l := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
				if l != "" {
					lines = append(lines, l)
				}
			}
		}
		return lines
	}
	auditLines := func() []string { return completeLines(false) }

	first, _, exited := start("first")
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	const total = 3000
	published := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for i := 0; i < total; i++ {
			body := fmt.Sprintf(`{"v":1,"event":["anvil","label","submitted"],"measurements":{"duration_ms":5},"metadata":{"queue_id":"q","assignment_id":"asg_%d","labeler_id":"u"}}`, i)
			if _, err := js.Publish(ctx, "telemetry.anvil.label.submitted", []byte(body)); err != nil {
				published <- err
				return
			}
		}
		published <- nil
	}()
	// Kill it while the burst is being written.
	testkit.Eventually(t, 30*time.Second, "some audit records before the kill", func() (bool, string) {
		n := len(completeLines(true))
		return n >= 300, fmt.Sprintf("%d records", n)
	})
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	killedAt := len(completeLines(true)) // a torn tail is what a kill mid-write leaves; the restart repairs it
	if err := <-published; err != nil {
		t.Fatalf("publishing: %v", err)
	}
	if killedAt >= total {
		t.Fatalf("the daemon wrote all %d records before the kill; the test proves nothing", total)
	}

	start("second")
	testkit.Eventually(t, 60*time.Second, "every event in the trail after the restart", func() (bool, string) {
		n := len(completeLines(true)) // the second daemon is still writing
		return n >= total, fmt.Sprintf("%d of %d records", n, total)
	})
	seen := map[string]int{}
	for _, l := range auditLines() {
		var rec struct {
			Seq      uint64            `json:"seq"`
			Metadata map[string]string `json:"metadata"`
		}
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("audit line is not JSON: %v\n%s", err, l)
		}
		if rec.Seq == 0 {
			t.Errorf("record without a stream sequence: %s", l)
		}
		seen[rec.Metadata["assignment_id"]]++
	}
	for i := 0; i < total; i++ {
		if n := seen[fmt.Sprintf("asg_%d", i)]; n != 1 {
			t.Errorf("asg_%d is in the trail %d times, want once", i, n)
		}
	}
	t.Logf("killed after %d of %d records; all %d present once after the restart", killedAt, total, total)
}
