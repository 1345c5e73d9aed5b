package e2e

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/testkit"
)

// lockedBuffer collects a child's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitForText polls read until it contains want, failing after timeout.
func waitForText(t *testing.T, what string, timeout time.Duration, read func() string, want string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for !strings.Contains(read(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s (%q); got:\n%s", timeout, what, want, read())
		}
		<-tick.C
	}
}

// sshTools finds the OpenSSH client and ssh-keygen (openssh-client).
func sshTools(t *testing.T) (ssh, keygen string) {
	t.Helper()
	ssh, err1 := exec.LookPath("ssh")
	keygen, err2 := exec.LookPath("ssh-keygen")
	if err1 != nil || err2 != nil {
		testkit.RequireTool(t, "the OpenSSH client (ssh, ssh-keygen) runs the SSH dashboard e2e test")
	}
	return ssh, keygen
}

func newClientKey(t *testing.T, keygen, path string) (fingerprint string) {
	t.Helper()
	if out, err := exec.Command(keygen, "-q", "-t", "ed25519", "-N", "", "-C", "e2e", "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	out, err := exec.Command(keygen, "-l", "-E", "sha256", "-f", path+".pub").Output()
	if err != nil {
		t.Fatalf("ssh-keygen -l: %v", err)
	}
	fields := strings.Fields(string(out))
	if len(fields) < 2 {
		t.Fatalf("ssh-keygen -l: %q", out)
	}
	return fields[1]
}

// TestDaemonServesDashboardOverSSH runs the daemon on a simulated stream with its SSH
// listener and a real OpenSSH client in tmux: the dashboard draws, resizes, `r` puts the
// report on the client's screen (no file on the server), `q` ends with status 0; a second
// session past --ssh.max-sessions, exec, sftp, -L forwarding, an unknown key and password
// auth are refused; every session is logged as JSON with its key fingerprint.
func TestDaemonServesDashboardOverSSH(t *testing.T) {
	tmuxBin := requireTmux(t)
	sshBin, keygen := sshTools(t)
	bin := buildBinary(t)
	ns := startNATS(t, -1)
	sim := startSimulator(t, ns.ClientURL(), 200)

	dir := t.TempDir()
	key := filepath.Join(dir, "id_ed25519")
	fp := newClientKey(t, keygen, key)
	other := filepath.Join(dir, "other")
	newClientKey(t, keygen, other)
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	authorized := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(authorized, pub, 0o600); err != nil {
		t.Fatal(err)
	}
	hostKey := filepath.Join(dir, "host", "ssh_host_ed25519_key")
	sshPort, webPort := strconv.Itoa(freePort(t)), strconv.Itoa(freePort(t))

	daemonLog := &lockedBuffer{}
	daemon := exec.Command(bin, "daemon", "-s", ns.ClientURL(),
		"--web.listen-address", "127.0.0.1:"+webPort, "--audit.dir", filepath.Join(dir, "audit"),
		"--forge-health", sim.forgeHealth, "--anvil-health", sim.anvilHealth, "--health.interval", "1s",
		"--log.sample-rate", "0",
		"--ssh.listen-address", "127.0.0.1:"+sshPort, "--ssh.authorized-keys", authorized, "--ssh.host-key", hostKey,
		// One session is enough to test the refusal past the maximum (the default, 32, is
		// checked in package sshserve and cli); the rate limit is off for the many clients here.
		"--ssh.max-sessions", "1", "--ssh.rate-limit", "0")
	daemon.Dir = dir
	daemon.Stderr = daemonLog
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	daemonDone := make(chan error, 1)
	go func() { daemonDone <- daemon.Wait() }()
	t.Cleanup(func() {
		_ = daemon.Process.Kill()
		<-daemonDone
	})
	waitForText(t, "the SSH listener", 30*time.Second, daemonLog.String, `"SSH dashboard listening"`)
	if fi, err := os.Stat(hostKey); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("host key created on first start: %v %v, want mode 0600", fi, err)
	}

	sshArgs := func(identity string, extra ...string) []string {
		args := []string{"-F", "/dev/null", "-p", sshPort, "-i", identity, "-o", "IdentitiesOnly=yes",
			"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
			"-o", "SendEnv=LANG", "-o", "ConnectTimeout=20"}
		return append(args, extra...)
	}
	// sshRun runs a non-interactive client and returns its status and combined output.
	sshRun := func(args ...string) (int, string) {
		t.Helper()
		cmd := exec.Command(sshBin, args...)
		cmd.Env = []string{"HOME=" + dir, "LANG=C.UTF-8", "PATH=" + os.Getenv("PATH")}
		var out lockedBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			return code, out.String()
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("ssh %v did not finish within 60s: %s", args, out.String())
		}
		return 0, ""
	}

	tm := newTmux(t, tmuxBin, "set -g history-limit 5000")
	tm.start(160, 48, dir, []string{"LANG=C.UTF-8", "HOME=" + dir, "PATH=" + os.Getenv("PATH")},
		append([]string{sshBin}, sshArgs(key, "-o", "LogLevel=ERROR", "-t", "monitor@127.0.0.1")...)...)
	tm.waitFor("the dashboard with p95, Forge and Anvil", 60*time.Second, func(lines []string) bool {
		s := strings.Join(lines, "\n")
		return strings.Contains(s, "p95") && strings.Contains(s, "Forge") && strings.Contains(s, "Anvil") &&
			strings.Contains(s, "healthy") && strings.Contains(s, "● connected")
	})

	// The second session is past --ssh.max-sessions 1: refused with a message.
	code, out := sshRun(sshArgs(key, "-tt", "monitor@127.0.0.1")...)
	if code != 1 || !strings.Contains(out, "too many dashboard sessions (1, --ssh.max-sessions)") {
		t.Fatalf("a session past the maximum: status %d, output %q", code, out)
	}

	// A resize redraws at the new size: the tab bar of the narrow layout appears.
	tm.must("resize-window", "-t", tm.session, "-x", "100", "-y", "30")
	tm.waitFor("the dashboard redrawn at 100x30", 30*time.Second, func(lines []string) bool {
		if len(lines) > 30 {
			return false
		}
		for _, l := range lines {
			if len([]rune(l)) > 100 {
				return false
			}
		}
		s := strings.Join(lines, "\n")
		return strings.Contains(s, "[1 Queues]") && strings.Contains(s, "p95")
	})

	// `r` sends the report to the client's screen; nothing is written on the server.
	tm.keys("r")
	tm.waitFor("the report notice", 30*time.Second, func(lines []string) bool {
		return strings.Contains(strings.Join(lines, "\n"), "report written to your terminal")
	})
	tm.keys("q")
	if status := tm.waitExit(30 * time.Second); status != 0 {
		t.Fatalf("q: ssh exited %d, want 0; screen:\n%s", status, strings.Join(tm.screen(), "\n"))
	}
	history := tm.must("capture-pane", "-p", "-S", "-", "-t", tm.session)
	if !strings.Contains(history, "ingot-top incident report") {
		t.Fatalf("the report is not on the client's screen after quitting:\n%s", history)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "ingot-top-incident-*")); len(files) != 0 {
		t.Fatalf("a served session wrote a report on the server: %v", files)
	}

	// Refusals.
	if code, out := sshRun(sshArgs(key, "monitor@127.0.0.1", "ls")...); code != 1 || !strings.Contains(out, "commands are refused") {
		t.Errorf("exec: status %d, output %q", code, out)
	}
	if code, out := sshRun(sshArgs(key, "-s", "monitor@127.0.0.1", "sftp")...); code != 1 || !strings.Contains(out, `subsystems ("sftp") are refused`) {
		t.Errorf("sftp: status %d, output %q", code, out)
	}
	if code, out := sshRun(sshArgs(other, "-tt", "monitor@127.0.0.1")...); code != 255 || !strings.Contains(out, "Permission denied (publickey)") {
		t.Errorf("unknown key: status %d, output %q", code, out)
	}
	if code, out := sshRun(sshArgs(key, "-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password,keyboard-interactive", "-tt", "monitor@127.0.0.1")...); code != 255 || !strings.Contains(out, "Permission denied (publickey)") {
		t.Errorf("password: status %d, output %q", code, out)
	}
	testLocalForwardRefused(t, sshBin, sshArgs(key), dir, webPort)

	// Every log line is JSON; the session's start and end carry the key's fingerprint.
	var started, ended, refusedExec bool
	for _, line := range strings.Split(strings.TrimSpace(daemonLog.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("daemon log line is not JSON (%v): %s", err, line)
		}
		switch rec["message"] {
		case "SSH session started":
			started = started || rec["fingerprint"] == fp
		case "SSH session ended":
			ended = ended || (rec["fingerprint"] == fp && rec["reason"] == "quit" && rec["duration_s"] != nil && rec["remote"] != nil)
		case "SSH request refused":
			refusedExec = refusedExec || (rec["refused"] == "exec" && rec["fingerprint"] == fp)
		}
	}
	if !started || !ended || !refusedExec {
		t.Fatalf("log lacks the session start/end or the exec refusal with fingerprint %s (start %v end %v exec %v):\n%s",
			fp, started, ended, refusedExec, daemonLog.String())
	}
	trail, err := os.ReadFile(filepath.Join(dir, "audit", "ssh-sessions.jsonl"))
	if err != nil || !strings.Contains(string(trail), `"phase":"end"`) || !strings.Contains(string(trail), fp) {
		t.Fatalf("session audit trail: %v\n%s", err, trail)
	}

	if err := daemon.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-daemonDone:
		daemonDone <- err
		if err != nil {
			t.Fatalf("daemon after SIGTERM: %v\n%s", err, daemonLog.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("daemon did not stop within 30s of SIGTERM")
	}
}

// testLocalForwardRefused runs `ssh -N -L` and uses the forward: the server refuses the
// channel, says why, and ends the connection, so the client exits.
func testLocalForwardRefused(t *testing.T, sshBin string, args []string, dir, target string) {
	t.Helper()
	local := strconv.Itoa(freePort(t))
	cmd := exec.Command(sshBin, append(args, "-N", "-L", local+":127.0.0.1:"+target, "monitor@127.0.0.1")...)
	cmd.Env = []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH")}
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	// The client listens on the local port once it has authenticated.
	deadline := time.Now().Add(30 * time.Second)
	var conn net.Conn
	for {
		c, err := net.Dial("tcp", "127.0.0.1:"+local)
		if err == nil {
			conn = c
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ssh -L never listened: %v; output %q", err, out.String())
		}
		select {
		case err := <-done:
			t.Fatalf("ssh -L exited before forwarding (%v): %q", err, out.String())
		case <-time.After(pollEvery):
		}
	}
	defer conn.Close()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(out.String(), "administratively prohibited") && !strings.Contains(out.String(), "closed by remote host") {
			t.Fatalf("ssh -L: %v, output %q; want the forward refused and the connection ended", err, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("ssh -L still running 30s after a forwarded connection: %q", out.String())
	}
}
