package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/nsai/ingot-top/internal/testkit"
)

// noticeLines returns the JSON log lines of out, as maps.
// withoutTime drops each line's wall-clock stamp ("timestamp", or slog's "time").
func withoutTime(lines []map[string]any) []map[string]any {
	for _, l := range lines {
		delete(l, "time")
		delete(l, "timestamp")
	}
	return lines
}

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
	f.watch = newSinkWatch(clock, time.Minute, 5*time.Second)
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
	at := func(d time.Duration) {
		t.Helper()
		if now := f.clock.Now(); now.After(t0.Add(d)) {
			t.Fatalf("clock at %v, past %v", now.Sub(t0), d)
		}
		f.clock.advance(t0.Add(d).Sub(f.clock.Now()))
	}
	due := func() []string {
		t.Helper()
		notices, _ := f.watch.due(f.clock.Now())
		f.watch.emit(notices)
		out := make([]string, len(notices))
		for i, n := range notices {
			out[i] = n.msg
		}
		return out
	}

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
	// Each writer stamps its line with the wall clock when it writes, so the two may differ
	// in "time" alone.
	if logged, shown := withoutTime(noticeLines(t, f.log.String())), withoutTime(noticeLines(t, f.stderr.String())); !reflect.DeepEqual(logged, shown) {
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
	if problems, err := testutil.GatherAndLint(f.reg); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}

	// More failures within the minute: nothing new.
	at(59 * time.Second)
	f.watch.failed(f.audit, enospc, 5)
	if got := due(); len(got) != 0 {
		t.Fatalf("a second notice within the minute: %v", got)
	}
	// A minute on, still failing: one reminder.
	at(time.Minute)
	if got := due(); len(got) != 1 || got[0] != "Audit trail still failing" {
		t.Fatalf("after a minute: %v", got)
	}

	// Space returns, but the disk is at its limit: one small batch fits, the next does not.
	// That is one outage going on, not a recovery and a new failure.
	at(90 * time.Second)
	f.watch.ok(f.audit)
	if got := due(); len(got) != 0 {
		t.Fatalf("recovery announced before it settled: %v", got)
	}
	if h := f.watch.health(f.audit); h.Status != serviceHealthy || !strings.Contains(h.Detail, "writing again after 5005 records lost") {
		t.Fatalf("/health while settling %+v", h)
	}
	at(92 * time.Second)
	f.watch.failed(f.audit, enospc, 2)
	if got := due(); len(got) != 0 {
		t.Fatalf("a flap inside the outage was announced: %v", got)
	}
	at(93 * time.Second)
	f.watch.ok(f.audit)
	at(97 * time.Second)
	if got := due(); len(got) != 0 {
		t.Fatalf("recovery announced after 4 s: %v", got)
	}
	at(98 * time.Second)
	if got := due(); len(got) != 1 || got[0] != "Audit trail writing again" {
		t.Fatalf("after 5 s of writing: %v", got)
	}
	lines := noticeLines(t, f.stderr.String())
	if last := lines[len(lines)-1]; last["records_lost"] != float64(5007) || last["failed_for"] != float64(93*time.Second) ||
		last["failing_since"] != "2026-12-01T12:03:01Z" {
		t.Fatalf("recovery notice %v", last)
	}
	if h := f.watch.health(f.audit); h.Status != serviceHealthy || h.Reason != "" || !h.Since.Equal(t0.Add(93*time.Second)) {
		t.Fatalf("/health after recovery %+v", h)
	}

	// It fails again after the recovery was announced: said at once, although the last
	// failure notice was less than a minute ago, so the last line never says "writing
	// again" while it is not. A flapping disk then stays one outage.
	at(100 * time.Second)
	for range 50 {
		f.watch.failed(f.audit, enospc, 2)
		f.watch.ok(f.audit)
	}
	f.watch.failed(f.audit, enospc, 2)
	if got := due(); len(got) != 1 || got[0] != "Audit trail write failed" {
		t.Fatalf("failure after an announced recovery: %v", got)
	}
	if got := len(noticeLines(t, f.stderr.String())); got != 4 {
		t.Fatalf("%d notices in all, want 4: %s", got, f.stderr.String())
	}
	if h := f.watch.health(f.audit); !strings.HasSuffix(h.Reason, "; 102 records lost since 2026-12-01T12:04:41Z") {
		t.Fatalf("/health of the new outage %+v", h)
	}
}

// The notifier goroutine writes the first notice at once, a reminder every minute of the
// injected clock while the failure lasts, and the recovery once writes held for the settle
// time.
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
	if d := waitArmed(t, f.clock); d != 5*time.Second {
		t.Fatalf("recovery check armed in %v, want the 5 s settle time", d)
	}
	if got := count("Log file writing again"); got != 0 {
		t.Fatal("recovery announced before it settled")
	}
	f.clock.advance(5 * time.Second)
	testkit.Eventually(t, 5*time.Second, "recovery line", func() (bool, string) {
		return count("Log file writing again") == 1, f.stderr.String()
	})
}
