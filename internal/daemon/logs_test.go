package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock hands out After channels that the test fires by hand.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []fakeTimer
	armed  chan time.Duration // every After call is announced here
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock(now time.Time) *fakeClock {
	return &fakeClock{now: now, armed: make(chan time.Duration, 100)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	ch := make(chan time.Time, 1)
	c.timers = append(c.timers, fakeTimer{at: c.now.Add(d), ch: ch})
	c.mu.Unlock()
	c.armed <- d
	return ch
}

// advance moves the clock and fires every timer that is due.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, t := range c.timers {
		if !t.at.After(c.now) {
			t.ch <- c.now
			continue
		}
		kept = append(kept, t)
	}
	c.timers = kept
}

func waitArmed(t *testing.T, c *fakeClock) time.Duration {
	t.Helper()
	select {
	case d := <-c.armed:
		return d
	case <-time.After(5 * time.Second):
		t.Fatal("no timer was armed within 5s")
		return 0
	}
}

func TestLoggerWritesTheDesignShape(t *testing.T) {
	var buf bytes.Buffer
	logger := newLogger(&buf, LogConfig{Level: slog.LevelInfo, Format: LogFormatJSON})
	logger.Info("Label submitted", "queue_id", "queue_123", "duration_ms", 245.0)
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("not one JSON line: %v: %q", err, buf.String())
	}
	if line["level"] != "info" || line["message"] != "Label submitted" || line["queue_id"] != "queue_123" || line["duration_ms"] != 245.0 {
		t.Fatalf("fields: %v", line)
	}
	ts, _ := line["timestamp"].(string)
	if _, err := time.Parse("2006-01-02T15:04:05.000Z", ts); err != nil {
		t.Fatalf("timestamp %q is not UTC RFC 3339 with milliseconds: %v", ts, err)
	}
	for _, k := range []string{"msg", "time"} {
		if _, ok := line[k]; ok {
			t.Fatalf("slog default key %q leaked: %v", k, line)
		}
	}

	buf.Reset()
	newLogger(&buf, LogConfig{Level: slog.LevelWarn, Format: LogFormatLogfmt}).Info("dropped")
	if buf.Len() != 0 {
		t.Fatalf("info written at warn level: %q", buf.String())
	}
	newLogger(&buf, LogConfig{Level: slog.LevelWarn, Format: LogFormatLogfmt}).Warn("kept", "k", "v")
	if !strings.Contains(buf.String(), "level=warn") || !strings.Contains(buf.String(), "message=kept") {
		t.Fatalf("logfmt line: %q", buf.String())
	}
}

func TestNextLocalMidnight(t *testing.T) {
	loc := time.FixedZone("X", 3*3600)
	got := nextLocalMidnight(time.Date(2026, 12, 31, 23, 59, 59, 0, loc))
	if want := time.Date(2027, 1, 1, 0, 0, 0, 0, loc); !got.Equal(want) {
		t.Fatalf("got %v want %v", got, want)
	}
	got = nextLocalMidnight(time.Date(2026, 12, 1, 0, 0, 0, 0, loc))
	if want := time.Date(2026, 12, 2, 0, 0, 0, 0, loc); !got.Equal(want) {
		t.Fatalf("at midnight: got %v want %v", got, want)
	}
}

func TestLogFileRotatesAtMidnightAndReopensAfterExternalMove(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "daemon.log")
	sink, err := openLogSink(LogConfig{File: path, MaxSizeMB: 10, Format: LogFormatJSON}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	logger := newLogger(sink.writer, LogConfig{Format: LogFormatJSON})

	clock := newFakeClock(time.Date(2026, 12, 1, 23, 0, 0, 0, time.Local))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { rotateDaily(ctx, clock, sink.Rotate, logger); close(done) }()

	logger.Info("day one")
	if d := waitArmed(t, clock); d != time.Hour {
		t.Fatalf("first rotation armed for %v, want 1h to midnight", d)
	}
	clock.advance(time.Hour)
	if d := waitArmed(t, clock); d != 24*time.Hour {
		t.Fatalf("next rotation armed for %v, want 24h", d)
	}
	logger.Info("day two")
	cancel()
	<-done

	current := readFile(t, path)
	if strings.Contains(current, "day one") || !strings.Contains(current, "day two") {
		t.Fatalf("current file after midnight: %q", current)
	}
	backups, _ := filepath.Glob(filepath.Join(dir, "daemon-*.log*"))
	if len(backups) != 1 {
		t.Fatalf("want one rotated file, got %v", backups)
	}

	// logrotate-style: the file is moved away, SIGHUP reopens at the configured path.
	moved := filepath.Join(dir, "moved.log")
	if err := os.Rename(path, moved); err != nil {
		t.Fatal(err)
	}
	if err := sink.Reopen(); err != nil {
		t.Fatal(err)
	}
	logger.Info("after reopen")
	if got := readFile(t, path); !strings.Contains(got, "after reopen") {
		t.Fatalf("reopened file: %q", got)
	}
	if got := readFile(t, moved); strings.Contains(got, "after reopen") {
		t.Fatalf("line went to the moved file: %q", got)
	}
}

func TestLogSinkUnwritablePathIsAStartupError(t *testing.T) {
	blocker := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := openLogSink(LogConfig{File: filepath.Join(blocker, "sub", "x.log"), MaxSizeMB: 1}, os.Stderr)
	if err == nil {
		t.Fatal("a log path under a regular file opened")
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
