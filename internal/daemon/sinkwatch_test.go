package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/nsai/ingot-top/internal/testkit"
)

// noticeLines returns the JSON log lines of out, as maps.
func noticeLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, raw := range strings.Split(strings.TrimSpace(out), "\n") {
		if raw == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(raw), &m); err != nil {
			t.Fatalf("not a JSON log line: %q", raw)
		}
		lines = append(lines, m)
	}
	return lines
}

func messages(lines []map[string]any) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i], _ = l["message"].(string)
	}
	return out
}

type watchFixture struct {
	watch         *sinkWatch
	clock         *fakeClock
	log, stderr   *testkit.SyncBuffer
	reg           *prometheus.Registry
	audit, logOut *sinkState
}

func newWatchFixture(t *testing.T) *watchFixture {
	clock := newFakeClock(time.Date(2026, 12, 1, 12, 3, 1, 0, time.UTC))
	f := &watchFixture{clock: clock, log: &testkit.SyncBuffer{}, stderr: &testkit.SyncBuffer{}, reg: prometheus.NewRegistry()}
	f.watch = newSinkWatch(clock, time.Minute)
	cfg := LogConfig{Level: slog.LevelInfo, Format: LogFormatJSON}
	f.watch.logger = newLogger(f.log, cfg)
	f.watch.stderr = newLogger(f.stderr, cfg)
	counters, err := newSinkCounters(f.reg)
	if err != nil {
		t.Fatal(err)
	}
	f.audit = f.watch.add(auditSpec("/var/lib/ingot-top/audit", false, counters))
	f.logOut = f.watch.add(logSpec("/var/log/ingot-top/daemon.log", counters))
	return f
}

// A full disk fails every batch; the operator must hear of it on stderr (the log file is
// on the same disk) once, then once a minute while it lasts, then once when it heals — not
// once per batch. The loss is counted in records.
func TestSinkFailureNoticesAreRateLimitedAndRecoveryIsLogged(t *testing.T) {
	f := newWatchFixture(t)
	enospc := fmt.Errorf("audit: append 680 records to /var/lib/ingot-top/audit/audit-2026-12-01.jsonl: %w", syscall.ENOSPC)
	t0 := f.clock.Now()

	for range 1000 {
		f.watch.failed(f.audit, enospc, 5)
	}
	notices, next := f.watch.due(t0)
	f.watch.emit(notices)
	if got := messages(noticeLines(t, f.stderr.String())); len(got) != 1 || got[0] != "Audit trail write failed" {
		t.Fatalf("stderr after 1000 failed batches: %q, want one failure notice", got)
	}
	line := noticeLines(t, f.stderr.String())[0]
	if line["records_lost"] != float64(5000) || !strings.Contains(line["error"].(string), "no space left on device") ||
		!strings.Contains(line["action"].(string), "free space") {
		t.Fatalf("failure notice %v", line)
	}
	if f.log.String() != f.stderr.String() {
		t.Fatalf("the log and stderr differ:\nlog:    %s\nstderr: %s", f.log.String(), f.stderr.String())
	}
	if !next.Equal(t0.Add(time.Minute)) {
		t.Fatalf("next notice due %v, want a minute after %v", next, t0)
	}
	h := f.watch.health(f.audit)
	if h.Status != serviceUnhealthy || h.Reason != enospc.Error()+"; 5000 records lost since 2026-12-01T12:03:01Z" {
		t.Fatalf("/health audit entry %+v", h)
	}
	if err := testutil.GatherAndCompare(f.reg, strings.NewReader(`
# HELP ingot_top_audit_records_lost_total Audit records that could not be written to the trail and are gone (core NATS cannot redeliver them).
# TYPE ingot_top_audit_records_lost_total counter
ingot_top_audit_records_lost_total 5000
`), "ingot_top_audit_records_lost_total"); err != nil {
		t.Fatal(err)
	}

	// More failures within the minute: nothing new.
	f.watch.failed(f.audit, enospc, 5)
	if notices, _ := f.watch.due(t0.Add(59 * time.Second)); len(notices) != 0 {
		t.Fatalf("a second notice within the minute: %v", notices)
	}
	// A minute on, still failing: one reminder.
	notices, _ = f.watch.due(t0.Add(time.Minute))
	if len(notices) != 1 || notices[0].msg != "Audit trail still failing" {
		t.Fatalf("after a minute: %v", notices)
	}

	// Space returns.
	f.clock.advance(90 * time.Second)
	f.watch.ok(f.audit)
	notices, _ = f.watch.due(f.clock.Now())
	f.watch.emit(notices)
	got := noticeLines(t, f.stderr.String())
	last := got[len(got)-1]
	if last["message"] != "Audit trail writing again" || last["records_lost"] != float64(5005) || last["failed_for"] == nil {
		t.Fatalf("recovery notice %v", last)
	}
	if h := f.watch.health(f.audit); h.Status != serviceHealthy || h.Reason != "" {
		t.Fatalf("/health after recovery %+v", h)
	}

	// A disk flapping at its limit: outages shorter than the minute are summed, not each
	// announced.
	f.clock.advance(time.Minute)
	flapAt := f.clock.Now()
	for range 50 {
		f.watch.failed(f.audit, enospc, 2)
		f.watch.ok(f.audit)
	}
	if notices, _ := f.watch.due(flapAt); len(notices) != 1 || notices[0].msg != "Audit trail failed intermittently" {
		// The last failure notice was the reminder 2.5 minutes ago: the summary goes out at once.
		t.Fatalf("flapping: %v", notices)
	}
	for range 50 {
		f.watch.failed(f.audit, enospc, 2)
		f.watch.ok(f.audit)
	}
	notices, next = f.watch.due(flapAt.Add(time.Second))
	if len(notices) != 0 || !next.Equal(flapAt.Add(time.Minute)) {
		t.Fatalf("flapping again within the minute: %v, next %v", notices, next)
	}
	notices, _ = f.watch.due(flapAt.Add(time.Minute))
	if len(notices) != 1 || notices[0].msg != "Audit trail failed intermittently" {
		t.Fatalf("flapping summary: %v", notices)
	}
	for _, a := range notices[0].attrs {
		if a.Key == "outages" && a.Value.Int64() != 50 || a.Key == "records_lost" && a.Value.Uint64() != 100 {
			t.Fatalf("summary %v", notices[0].attrs)
		}
	}
}

// The notifier goroutine writes the first notice at once and a reminder every minute of the
// injected clock while the failure lasts.
func TestSinkWatchRemindsEveryMinuteWhileFailing(t *testing.T) {
	f := newWatchFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.watch.run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	f.watch.failed(f.logOut, fmt.Errorf("write /var/log/ingot-top/daemon.log: %w", syscall.ENOSPC), 3)
	if d := waitArmed(t, f.clock); d != time.Minute {
		t.Fatalf("reminder armed in %v, want 1m", d)
	}
	count := func(msg string) int {
		n := 0
		for _, m := range messages(noticeLines(t, f.stderr.String())) {
			if m == msg {
				n++
			}
		}
		return n
	}
	if count("Log file write failed") != 1 {
		t.Fatalf("stderr: %s", f.stderr.String())
	}
	for i := 1; i <= 3; i++ {
		f.clock.advance(time.Minute)
		if d := waitArmed(t, f.clock); d != time.Minute {
			t.Fatalf("reminder %d armed in %v", i, d)
		}
		if got := count("Log file still failing"); got != i {
			t.Fatalf("after %d minutes: %d reminders; stderr: %s", i, got, f.stderr.String())
		}
	}
	f.watch.ok(f.logOut)
	testkit.Eventually(t, 5*time.Second, "recovery line", func() (bool, string) {
		return count("Log file writing again") == 1, f.stderr.String()
	})
}
