package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/nsai/ingot-top/internal/sim"
)

// pollEvery is how often the screen is read while waiting for a condition.
const pollEvery = 50 * time.Millisecond

// requireTmux finds tmux; without it the test is skipped on a developer machine and fails
// in CI, where scripts/install-test-deps.sh must have installed it.
func requireTmux(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("tmux")
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("tmux not installed (scripts/install-test-deps.sh installs it); skipping the end-to-end test")
		}
		t.Fatalf("tmux not installed but CI is set: scripts/install-test-deps.sh should have installed it: %v", err)
	}
	return path
}

// buildBinary builds cmd/ingot-top into a fresh temporary directory, the way a user gets it.
func buildBinary(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		root := os.Getenv("GOROOT")
		if root == "" {
			t.Fatalf("no go command on PATH and GOROOT is not set: cannot build ingot-top: %v", err)
		}
		goTool = filepath.Join(root, "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "ingot-top")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, "build", "-o", bin, "github.com/nsai/ingot-top/cmd/ingot-top")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building ingot-top: %v\n%s", err, out)
	}
	return bin
}

// startNATS runs an embedded nats-server on 127.0.0.1:port (-1: any free port).
func startNATS(t *testing.T, port int) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatalf("nats-server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not become ready within 10s")
	}
	t.Cleanup(s.Shutdown)
	return s
}

// simulated is a running simulator and its health endpoints.
type simulated struct {
	forgeHealth, anvilHealth string
}

// startSimulator publishes simulated traffic at rate events/s to url until the test ends,
// and serves simulated Forge and Anvil /health endpoints.
func startSimulator(t *testing.T, url string, rate float64) simulated {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	nc, err := nats.Connect(url, nats.Name("e2e simulator"))
	if err != nil {
		cancel()
		t.Fatalf("simulator connect: %v", err)
	}
	hs, err := sim.StartHealthServersAt(ctx, sim.HealthAddrs{Forge: "127.0.0.1:0", Anvil: "127.0.0.1:0"})
	if err != nil {
		cancel()
		nc.Close()
		t.Fatalf("simulated health endpoints: %v", err)
	}
	cfg := sim.DefaultConfig()
	cfg.Rate = rate
	cfg.Seed = 42
	cfg.ErrorRate = 0.05 // errors early, so the Errors pane has rows to open
	s, err := sim.New(cfg, nc, nil)
	if err != nil {
		cancel()
		nc.Close()
		t.Fatalf("simulator: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.Run(ctx, sim.Limit{})
		done <- err
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("simulator: %v", err)
		}
		_ = hs.Close()
		nc.Close()
	})
	return simulated{forgeHealth: hs.ForgeURL, anvilHealth: hs.AnvilURL}
}

// freePort returns a loopback port that nothing listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		t.Fatalf("closing probe listener: %v", err)
	}
	return port
}

// tmux is a private tmux server (its own socket, no user config) with one session.
type tmux struct {
	t       *testing.T
	bin     string
	socket  string
	session string
	conf    string
	// exitFile receives the dashboard's exit status from the wrapping shell.
	exitFile string
}

// newTmux prepares a private tmux server (its own socket, its own config, not the user's),
// which starts with the session and is killed when the test ends. extra lines are added to
// the config (e.g. the default-terminal users set).
func newTmux(t *testing.T, tmuxBin string, extra ...string) *tmux {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "tmux.conf")
	// remain-on-exit keeps the screen of a wrapper that died too; status off gives the
	// dashboard the whole window; no history, nothing scrolls out of sight.
	settings := "set -g remain-on-exit on\nset -g status off\nset -s escape-time 0\nset -g history-limit 0\n"
	for _, line := range extra {
		settings += line + "\n"
	}
	if err := os.WriteFile(conf, []byte(settings), 0o644); err != nil {
		t.Fatal(err)
	}
	tm := &tmux{
		t:   t,
		bin: tmuxBin,
		// In the test's directory, so the socket goes with it (tmux leaves it behind).
		socket:   filepath.Join(dir, "tmux.sock"),
		session:  "dash",
		conf:     conf,
		exitFile: filepath.Join(dir, "exit-status"),
	}
	t.Cleanup(func() { _, _ = tm.cmd("kill-server") })
	return tm
}

func (tm *tmux) cmd(args ...string) (string, error) {
	cmd := exec.Command(tm.bin, append([]string{"-S", tm.socket}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("tmux %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func (tm *tmux) must(args ...string) string {
	tm.t.Helper()
	out, err := tm.cmd(args...)
	if err != nil {
		tm.t.Fatal(err)
	}
	return out
}

// start runs argv in a new detached session of w×h cells. env is the complete environment
// besides TERM (which tmux sets), so nothing of the test runner's environment leaks in.
//
// A shell wraps the program: it writes the exit status to a file and then keeps the pane
// open, so the terminal can be inspected as the user's shell would find it. Why not
// pane_dead_status: tmux 3.3a here sometimes never reaps a pane's process (a zombie stays,
// pane_dead is 1 and pane_dead_status stays empty), even for `sleep 0.3`.
func (tm *tmux) start(w, h int, dir string, env []string, argv ...string) {
	tm.t.Helper()
	var sh strings.Builder
	sh.WriteString(`env -i TERM="$TERM"`)
	for _, kv := range append(env, argv...) {
		sh.WriteString(" " + shellQuote(kv))
	}
	sh.WriteString("; echo $? >" + shellQuote(tm.exitFile) + "; exec sleep 300")
	// -f applies when this command starts the server, before the session exists, so a
	// dashboard that exits at once still leaves its pane behind.
	tm.must("-f", tm.conf, "new-session", "-d", "-s", tm.session, "-x", strconv.Itoa(w), "-y", strconv.Itoa(h), "-c", dir, sh.String())
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// screen is the visible pane as text lines (trailing blanks trimmed by tmux).
func (tm *tmux) screen() []string {
	tm.t.Helper()
	out := tm.must("capture-pane", "-p", "-t", tm.session)
	return strings.Split(strings.TrimSuffix(out, "\n"), "\n")
}

// keys sends tmux key names (Enter, Escape) or literal characters.
func (tm *tmux) keys(keys ...string) {
	tm.t.Helper()
	tm.must(append([]string{"send-keys", "-t", tm.session}, keys...)...)
}

func (tm *tmux) display(format string) string {
	tm.t.Helper()
	return strings.TrimSpace(tm.must("display-message", "-p", "-t", tm.session, format))
}

// waitFor reads the screen until cond holds or the timeout passes, then fails showing the
// last screen. It returns the screen that satisfied cond.
func (tm *tmux) waitFor(what string, timeout time.Duration, cond func(lines []string) bool) []string {
	tm.t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		lines := tm.screen()
		if cond(lines) {
			return lines
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("waited %s for %s; the screen was:\n%s", timeout, what, strings.Join(lines, "\n"))
		}
		<-tick.C
	}
}

// waitExit waits until the program has exited and returns its exit status.
func (tm *tmux) waitExit(timeout time.Duration) int {
	tm.t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		if b, err := os.ReadFile(tm.exitFile); err == nil && strings.HasSuffix(string(b), "\n") {
			code, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				tm.t.Fatalf("exit status file %s: %v", tm.exitFile, err)
			}
			return code
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("the dashboard did not exit within %s; the screen was:\n%s", timeout, strings.Join(tm.screen(), "\n"))
		}
		<-tick.C
	}
}
