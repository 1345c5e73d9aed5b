package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nsai/ingot-top/internal/feed"
	"github.com/nsai/ingot-top/internal/testkit"
)

// trailRecords reads every audit day file in dir and returns the records' sequences (0 for
// core NATS), failing on a line that is not whole JSON.
func trailRecords(t *testing.T, dir string) []uint64 {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "audit-*.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for _, f := range files {
		for _, line := range strings.Split(strings.TrimSuffix(readFile(t, f), "\n"), "\n") {
			if line == "" {
				continue
			}
			var rec struct {
				Seq uint64 `json:"seq"`
			}
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("%s: torn or bad line %q: %v", f, line, err)
			}
			seqs = append(seqs, rec.Seq)
		}
	}
	return seqs
}

// stderrMessages counts the JSON lines on stderr whose message is msg.
func stderrMessages(out, msg string) int {
	n := 0
	for _, line := range strings.Split(out, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["message"] == msg {
			n++
		}
	}
	return n
}

const auditEvent = "anvil.label.submitted"

// Issue 9, defect 3: in core mode, with the audit trail and the log on a full disk, every
// audit record counted is either on the trail or in ingot_top_audit_records_lost_total,
// /health says degraded and why, /-/ready stays ready (the documented policy: ingestion and
// metrics still work), stderr hears of it, and when space returns a recovery line is written
// and /health is ok again.
func TestCoreModeFullDiskIsReportedCountedAndRecovers(t *testing.T) {
	disk := testkit.MountTmpfs(t, 2<<20)
	srv := testkit.StartNATS(t, nil)
	cfg := testConfig(t, srv.ClientURL())
	cfg.Log.File = filepath.Join(disk, "log", "daemon.log")
	cfg.Audit.Dir = filepath.Join(disk, "audit")
	stderr := &testkit.SyncBuffer{}
	rd := startDaemon(t, cfg, Deps{Stderr: stderr})

	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	testkit.Eventually(t, 20*time.Second, "/-/ready 200", func() (bool, string) {
		code, body := get(t, rd.url+"/-/ready")
		return code == 200, body
	})
	warmUp(t, nc, rd.url)

	published := 0
	publish := func(n int) {
		for range n {
			published++
			mustPublish(t, nc, "telemetry.anvil.label.submitted", anvilSubmittedPayload(published))
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		testkit.Eventually(t, 20*time.Second, "every audit event counted", func() (bool, string) {
			got := sumMetric(scrapeFamilies(t, rd.url), "ingot_top_events_received_total", map[string]string{"event": auditEvent})
			return got == float64(published), fmt.Sprintf("%v of %d", got, published)
		})
	}
	publish(100)
	if code, rep := getHealth(t, rd.url); code != 200 || rep.Services["audit"].Status != "healthy" || rep.Services["log"].Status != "healthy" {
		t.Fatalf("before the disk filled: /health %d %+v", code, rep)
	}

	filler := testkit.FillDisk(t, disk)
	publish(3000)

	mfs := scrapeFamilies(t, rd.url)
	written := sumMetric(mfs, "ingot_top_audit_records_total", nil)
	lost := sumMetric(mfs, "ingot_top_audit_records_lost_total", nil)
	if written+lost != float64(published) || lost < 2000 {
		t.Fatalf("%d audit events counted, %v written + %v lost (write errors %v)", published, written, lost,
			sumMetric(mfs, "ingot_top_audit_write_errors_total", nil))
	}
	if onTrail := len(trailRecords(t, cfg.Audit.Dir)); float64(onTrail) != written {
		t.Fatalf("trail holds %d records, ingot_top_audit_records_total says %v", onTrail, written)
	}
	var rep HealthReport
	testkit.Eventually(t, 10*time.Second, "/health degraded by the audit trail and the log", func() (bool, string) {
		var code int
		code, rep = getHealth(t, rd.url)
		return code == 503 && rep.Status == "degraded" && rep.Services["audit"].Status == "unhealthy" &&
			rep.Services["log"].Status == "unhealthy", fmt.Sprintf("%d %+v", code, rep)
	})
	reason := rep.Services["audit"].Reason
	if !strings.Contains(reason, "no space left on device") || !strings.Contains(reason, "records lost since") {
		t.Fatalf("audit reason %q", reason)
	}
	if code, body := get(t, rd.url+"/-/ready"); code != 200 {
		t.Fatalf("core mode must stay ready while the disk is full (documented policy): %d %q", code, body)
	}
	if sumMetric(mfs, "ingot_top_log_lines_lost_total", nil) == 0 {
		testkit.Eventually(t, 10*time.Second, "log lines counted lost", func() (bool, string) {
			got := sumMetric(scrapeFamilies(t, rd.url), "ingot_top_log_lines_lost_total", nil)
			return got > 0, fmt.Sprint(got)
		})
	}
	testkit.Eventually(t, 10*time.Second, "the failure on stderr", func() (bool, string) {
		out := stderr.String()
		return stderrMessages(out, "Audit trail write failed") == 1 && stderrMessages(out, "Log file write failed") == 1, out
	})

	// Space returns.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	publish(100)
	testkit.Eventually(t, 10*time.Second, "recovery on stderr and /health ok", func() (bool, string) {
		code, rep := getHealth(t, rd.url)
		out := stderr.String()
		return code == 200 && stderrMessages(out, "Audit trail writing again") == 1, fmt.Sprintf("%d %+v\n%s", code, rep, out)
	})
	mfs = scrapeFamilies(t, rd.url)
	written = sumMetric(mfs, "ingot_top_audit_records_total", nil)
	if after := sumMetric(mfs, "ingot_top_audit_records_lost_total", nil); after != lost || written+lost != float64(published) {
		t.Fatalf("after recovery: %v written + %v lost (was %v) of %d", written, after, lost, published)
	}
	if err := rd.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if onTrail := len(trailRecords(t, cfg.Audit.Dir)); float64(onTrail) != written {
		t.Fatalf("trail holds %d records, ingot_top_audit_records_total says %v", onTrail, written)
	}
	if got := logLines(t, cfg.Log.File, "Audit trail writing again"); len(got) != 1 {
		t.Fatalf("the log file has %d recovery lines:\n%s", len(got), readFile(t, cfg.Log.File))
	}
}

// In durable mode a full disk loses nothing: acknowledgements are held back, which /health,
// /-/ready, the counters and stderr all say, and every record is on the trail exactly once
// after space returns.
func TestDurableModeFullDiskHoldsAcksAndLosesNothing(t *testing.T) {
	disk := testkit.MountTmpfs(t, 2<<20)
	srv := testkit.StartJetStream(t) // the stream's store is not on the full disk
	cfg := testConfig(t, srv.ClientURL())
	cfg.Log.File = filepath.Join(disk, "log", "daemon.log")
	cfg.Audit.Dir = filepath.Join(disk, "audit")
	cfg.Ingest = feed.Config{Durable: "ops", Stream: "TELEMETRY", CreateStream: true, NakDelay: 200 * time.Millisecond}
	stderr := &testkit.SyncBuffer{}
	rd := startDaemon(t, cfg, Deps{Stderr: stderr})
	testkit.Eventually(t, 20*time.Second, "/-/ready 200", func() (bool, string) {
		code, body := get(t, rd.url+"/-/ready")
		return code == 200, body
	})

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
	published := 0
	publish := func(n int) {
		for range n {
			published++
			if _, err := js.Publish(ctx, "telemetry.anvil.label.submitted", anvilSubmittedPayload(published)); err != nil {
				t.Fatal(err)
			}
		}
	}
	written := func() float64 {
		return sumMetric(scrapeFamilies(t, rd.url), "ingot_top_audit_records_total", nil)
	}
	publish(100)
	testkit.Eventually(t, 20*time.Second, "first records written", func() (bool, string) {
		return written() == 100, fmt.Sprint(written())
	})

	filler := testkit.FillDisk(t, disk)
	publish(1000)
	testkit.Eventually(t, 20*time.Second, "acks held back and said so", func() (bool, string) {
		code, rep := getHealth(t, rd.url)
		held := sumMetric(scrapeFamilies(t, rd.url), "ingot_top_audit_acks_held_back_total", nil)
		return code == 503 && rep.Services["audit"].Status == "unhealthy" &&
				strings.Contains(rep.Services["audit"].Reason, "no space left on device") &&
				strings.Contains(rep.Services["audit"].Reason, "deliveries refused and left unacknowledged") && held > 0,
			fmt.Sprintf("%d %+v held=%v", code, rep, held)
	})
	if code, body := get(t, rd.url+"/-/ready"); code != 503 || !strings.Contains(body, "audit trail refuses writes") {
		t.Fatalf("durable mode with a refusing trail: /-/ready %d %q", code, body)
	}
	if lost := sumMetric(scrapeFamilies(t, rd.url), "ingot_top_audit_records_lost_total", nil); lost != 0 {
		t.Fatalf("durable mode counted %v records lost", lost)
	}
	testkit.Eventually(t, 10*time.Second, "the failure on stderr", func() (bool, string) {
		return stderrMessages(stderr.String(), "Audit trail write failed") == 1, stderr.String()
	})

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 30*time.Second, "every record written after space returned", func() (bool, string) {
		return written() == float64(published), fmt.Sprintf("%v of %d", written(), published)
	})
	testkit.Eventually(t, 10*time.Second, "recovery line, /health ok, ready", func() (bool, string) {
		code, rep := getHealth(t, rd.url)
		ready, body := get(t, rd.url+"/-/ready")
		return code == 200 && ready == 200 && stderrMessages(stderr.String(), "Audit trail writing again") == 1,
			fmt.Sprintf("/health %d %+v; /-/ready %d %q", code, rep, ready, body)
	})
	if err := rd.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	seqs := trailRecords(t, cfg.Audit.Dir)
	seen := map[uint64]bool{}
	for _, s := range seqs {
		if s == 0 || seen[s] {
			t.Fatalf("sequence %d missing or twice on the trail", s)
		}
		seen[s] = true
	}
	if len(seqs) != published {
		t.Fatalf("trail holds %d records, %d published", len(seqs), published)
	}
}
