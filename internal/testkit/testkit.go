// Package testkit owns the helpers tests use to run real parts: an embedded nats-server, a
// real Prometheus server, promtool, polling with a deadline.
//
// It is imported only by _test.go files; nothing in the product depends on it.
package testkit

import (
	"bytes"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"
)

// RequireTool skips the test when a tool installed on purpose by
// scripts/install-test-deps.sh is absent on a developer machine, and fails it in CI
// (CI=true), where its absence means the CI setup is broken.
func RequireTool(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: scripts/install-test-deps.sh must install it)", why)
	}
	t.Skipf("skipped: %s (scripts/install-test-deps.sh installs it)", why)
}

// Eventually calls cond until it reports true, failing the test once within has passed;
// the state cond returns is shown in the failure. The wait between calls only paces the
// polling (it grows from 5 ms to 100 ms so cheap conditions are seen quickly and costly ones,
// like server round trips, are not hammered); it does not stand in for synchronisation.
func Eventually(t testing.TB, within time.Duration, what string, cond func() (ok bool, state string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	pause := 5 * time.Millisecond
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			if state == "" {
				t.Fatalf("%s: not reached within %v", what, within)
			}
			t.Fatalf("%s: not reached within %v; last: %s", what, within, state)
		}
		<-time.After(pause)
		pause = min(2*pause, 100*time.Millisecond)
	}
}

// EventuallyTrue is Eventually for a condition with no state worth showing.
func EventuallyTrue(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	Eventually(t, within, what, func() (bool, string) { return cond(), "" })
}

// FreePort returns a loopback TCP port that was free a moment ago, for a server that must
// be started later at a known address (or for an address where nothing listens).
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("reserve a loopback port: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		t.Fatalf("release loopback port %d: %v", port, err)
	}
	return port
}

// FreeLoopbackAddr is FreePort as a "127.0.0.1:port" address.
func FreeLoopbackAddr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
}

// SyncBuffer is a bytes.Buffer that concurrent writers (loggers, a command's stdout and
// stderr) can share with the test reading it.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
