package sshserve

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/nsai/ingot-top/internal/health"
	iterm "github.com/nsai/ingot-top/internal/term"
	"github.com/nsai/ingot-top/internal/ui"
)

// syncBuffer is a log destination the server writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type testServer struct {
	srv     *Server
	frames  *Broadcaster[ui.Frame]
	addr    string
	keyFile string
	client  gossh.Signer
	logs    *syncBuffer
	audits  chan SessionRecord
}

func newSigner(t *testing.T) gossh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// startServer runs a real server on a free loopback port with one authorized client key.
func startServer(t *testing.T, edit func(*Config)) *testServer {
	t.Helper()
	dir := t.TempDir()
	ts := &testServer{client: newSigner(t), logs: &syncBuffer{}, audits: make(chan SessionRecord, 100),
		frames: NewBroadcaster[ui.Frame](), keyFile: filepath.Join(dir, "authorized_keys")}
	if err := os.WriteFile(ts.keyFile, gossh.MarshalAuthorizedKey(ts.client.PublicKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		ListenAddress: "127.0.0.1:0", AuthorizedKeys: ts.keyFile, HostKey: filepath.Join(dir, "host_key"),
		MaxSessions: DefaultMaxSessions, IdleTimeout: time.Hour, RatePerMinute: 0, WriteTimeout: time.Minute,
	}
	if edit != nil {
		edit(&cfg)
	}
	srv, err := New(cfg, Deps{
		Frames: ts.frames,
		View:   ui.Options{Refresh: time.Second},
		Logger: slog.New(slog.NewJSONHandler(ts.logs, nil)),
		Audit: func(r SessionRecord) {
			select {
			case ts.audits <- r:
			default:
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ts.srv, ts.addr = srv, srv.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ts
}

func (ts *testServer) dial(t *testing.T, signer gossh.Signer) (*gossh.Client, error) {
	t.Helper()
	return gossh.Dial("tcp", ts.addr, &gossh.ClientConfig{
		User:            "monitor",
		Auth:            []gossh.AuthMethod{gossh.PublicKeys(signer)},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(),
		Timeout:         10 * time.Second,
	})
}

func (ts *testServer) mustDial(t *testing.T) *gossh.Client {
	t.Helper()
	c, err := ts.dial(t, ts.client)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// outputReader collects a session's output as it arrives.
type outputReader struct {
	mu   sync.Mutex
	buf  []byte
	more chan struct{}
	done chan struct{}
}

func readAll(r io.Reader) *outputReader {
	o := &outputReader{more: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(o.done)
		b := make([]byte, 32<<10)
		for {
			n, err := r.Read(b)
			if n > 0 {
				o.mu.Lock()
				o.buf = append(o.buf, b[:n]...)
				o.mu.Unlock()
				select {
				case o.more <- struct{}{}:
				default:
				}
			}
			if err != nil {
				return
			}
		}
	}()
	return o
}

func (o *outputReader) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return string(o.buf)
}

// waitFor waits until the output from offset on contains want and returns the offset after
// it; the deadline only turns a hang into a failure.
func (o *outputReader) waitFor(t *testing.T, from int, want string, timeout time.Duration) int {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		o.mu.Lock()
		i := bytes.Index(o.buf[min(from, len(o.buf)):], []byte(want))
		n := len(o.buf)
		o.mu.Unlock()
		if i >= 0 {
			return from + i + len(want)
		}
		select {
		case <-o.more:
		case <-o.done:
			o.mu.Lock()
			i = bytes.Index(o.buf[min(from, len(o.buf)):], []byte(want))
			o.mu.Unlock()
			if i >= 0 {
				return from + i + len(want)
			}
			t.Fatalf("output ended without %q; the last of it: %q", want, tail(o.String(), 400))
		case <-deadline.C:
			t.Fatalf("waited %s for %q after byte %d of %d; the last of it: %q", timeout, want, from, n, tail(o.String(), 400))
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// openDashboard starts a session with a PTY of w×h and returns its output.
func openDashboard(t *testing.T, c *gossh.Client, w, h int) (*gossh.Session, *outputReader) {
	sess, out, _ := openDashboardIn(t, c, w, h)
	return sess, out
}

func openDashboardIn(t *testing.T, c *gossh.Client, w, h int) (*gossh.Session, *outputReader, io.Writer) {
	t.Helper()
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	_ = sess.Setenv("LANG", "C.UTF-8")
	if err := sess.RequestPty("xterm-256color", h, w, gossh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	out, err := sess.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	in, err := sess.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	o := readAll(out)
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	return sess, o, in
}

// markedFrame is a frame whose only source is named token: every cell of the token
// differs from the previous frame's, so the cell-diff renderer sends it whole and the
// client can find each frame in the byte stream.
func markedFrame(i int) (ui.Frame, string) {
	token := strings.Repeat(string(rune('a'+i%26)), 10)
	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second)
	return ui.Frame{At: at, Sources: []ui.SourceInfo{{Name: token, Age: time.Second}}}, token
}

func exitStatus(err error) int {
	var ee *gossh.ExitError
	if errors.As(err, &ee) {
		return ee.ExitStatus()
	}
	if err == nil {
		return 0
	}
	return -1
}

func TestDashboardDrawsAndQuitsWithStatus0(t *testing.T) {
	ts := startServer(t, nil)
	f, token := markedFrame(0)
	ts.frames.Publish(f)
	c := ts.mustDial(t)
	sess, out, stdin := openDashboardIn(t, c, 120, 40)
	out.waitFor(t, 0, token, 20*time.Second)
	if _, err := stdin.Write([]byte("q")); err != nil {
		t.Fatal(err)
	}
	if err := sess.Wait(); exitStatus(err) != 0 {
		t.Fatalf("q: exit %v, want status 0", err)
	}
	// The session's log lines are JSON with the client's key fingerprint.
	fp := Fingerprint(ts.client.PublicKey())
	var started, ended bool
	for _, line := range strings.Split(strings.TrimSpace(ts.logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, line)
		}
		switch rec["msg"] {
		case "SSH session started":
			started = rec["fingerprint"] == fp && rec["remote"] != ""
		case "SSH session ended":
			ended = rec["fingerprint"] == fp && rec["reason"] == "quit" && rec["duration_s"] != nil
		}
	}
	if !started || !ended {
		t.Fatalf("want start and end lines with fingerprint %s; log:\n%s", fp, ts.logs.String())
	}
	var phases []string
	for len(phases) < 2 {
		r := <-ts.audits
		if r.Fingerprint != fp {
			t.Fatalf("audit record without the fingerprint: %+v", r)
		}
		phases = append(phases, r.Phase)
	}
	if phases[0] != "start" || phases[1] != "end" {
		t.Fatalf("audit phases %v, want [start end]", phases)
	}
}

func TestUnknownKeyAndPasswordAreRefused(t *testing.T) {
	ts := startServer(t, nil)
	if c, err := ts.dial(t, newSigner(t)); err == nil {
		_ = c.Close()
		t.Fatal("a key not in the authorized keys got in")
	}
	for name, auth := range map[string]gossh.AuthMethod{
		"password": gossh.Password("hunter2"),
		"keyboard-interactive": gossh.KeyboardInteractive(func(string, string, []string, []bool) ([]string, error) {
			return []string{"hunter2"}, nil
		}),
	} {
		c, err := gossh.Dial("tcp", ts.addr, &gossh.ClientConfig{User: "monitor", Auth: []gossh.AuthMethod{auth}, HostKeyCallback: gossh.InsecureIgnoreHostKey()})
		if err == nil {
			_ = c.Close()
			t.Fatalf("%s auth got in", name)
		}
		if !strings.Contains(err.Error(), "unable to authenticate") {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if !strings.Contains(ts.logs.String(), "SSH key refused") {
		t.Fatalf("the refused key is not logged:\n%s", ts.logs.String())
	}
}

func TestReloadPicksUpNewKeys(t *testing.T) {
	ts := startServer(t, nil)
	other := newSigner(t)
	if c, err := ts.dial(t, other); err == nil {
		_ = c.Close()
		t.Fatal("key got in before it was added")
	}
	data := append(gossh.MarshalAuthorizedKey(ts.client.PublicKey()), gossh.MarshalAuthorizedKey(other.PublicKey())...)
	if err := os.WriteFile(ts.keyFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ts.srv.Reload(); err != nil {
		t.Fatal(err)
	}
	c, err := ts.dial(t, other)
	if err != nil {
		t.Fatalf("added key refused after reload: %v", err)
	}
	_ = c.Close()
	// A broken file keeps the previous keys in force.
	if err := os.WriteFile(ts.keyFile, []byte("ssh-ed25519 not-base64!\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ts.srv.Reload(); err == nil {
		t.Fatal("a broken authorized-keys file reloaded")
	}
	c, err = ts.dial(t, other)
	if err != nil {
		t.Fatalf("a broken reload locked a key out: %v", err)
	}
	_ = c.Close()
}

func TestExecSubsystemNoPtyAndForwardingAreRefused(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.mustDial(t)

	run := func(name string, start func(*gossh.Session) error, want string) {
		t.Helper()
		sess, err := c.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		var stderr syncBuffer
		sess.Stderr = &stderr
		sess.Stdout = io.Discard
		err = start(sess)
		if err == nil {
			err = sess.Wait()
		}
		if exitStatus(err) != 1 || !strings.Contains(stderr.String(), want) {
			t.Fatalf("%s: err %v, stderr %q; want status 1 and %q", name, err, stderr.String(), want)
		}
	}
	run("exec", func(s *gossh.Session) error { return s.Start("ls") }, "commands are refused")
	// A subsystem request does not "start" an x/crypto session: read its stderr to the end.
	sub, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	subErr, err := sub.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.RequestSubsystem("sftp"); err != nil {
		t.Fatal(err)
	}
	if msg, _ := io.ReadAll(subErr); !strings.Contains(string(msg), `subsystems ("sftp") are refused`) {
		t.Fatalf("subsystem: stderr %q", msg)
	}
	run("shell without a pty", func(s *gossh.Session) error { return s.Shell() }, "needs a terminal")

	// Port forwarding: the channel is refused with a reason, and the connection ends.
	_, err = c.Dial("tcp", "127.0.0.1:22")
	var oe *gossh.OpenChannelError
	if !errors.As(err, &oe) || oe.Reason != gossh.Prohibited || !strings.Contains(oe.Message, "port forwarding (-L) is refused") {
		t.Fatalf("direct-tcpip: %v", err)
	}
	if werr := c.Wait(); werr == nil {
		t.Fatal("the connection outlived a forwarding request")
	}

	// Remote forwarding (-R) too, on a fresh connection.
	c2 := ts.mustDial(t)
	if l, err := c2.Listen("tcp", "127.0.0.1:0"); err == nil {
		_ = l.Close()
		t.Fatal("remote forwarding was accepted")
	}
	for _, what := range []string{`"refused":"exec"`, `"refused":"subsystem \"sftp\""`, `"refused":"no terminal"`, `port forwarding (-L)`, `remote port forwarding (-R)`} {
		if !strings.Contains(ts.logs.String(), what) {
			t.Errorf("log lacks %s:\n%s", what, ts.logs.String())
		}
	}
}

func TestSessionsBeyondTheMaximumAreRefused(t *testing.T) {
	if DefaultMaxSessions != 32 {
		t.Fatalf("DefaultMaxSessions = %d, the issue says 32", DefaultMaxSessions)
	}
	ts := startServer(t, func(c *Config) { c.MaxSessions = 2 })
	f, token := markedFrame(0)
	ts.frames.Publish(f)
	for range 2 {
		_, out := openDashboard(t, ts.mustDial(t), 80, 24)
		out.waitFor(t, 0, token, 20*time.Second)
	}
	sess, err := ts.mustDial(t).NewSession()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	sess.Stderr = &stderr
	if err := sess.RequestPty("xterm", 24, 80, nil); err != nil {
		t.Fatal(err)
	}
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	if err := sess.Wait(); exitStatus(err) != 1 || !strings.Contains(stderr.String(), "too many dashboard sessions (2, --ssh.max-sessions)") {
		t.Fatalf("third session: %v, stderr %q", err, stderr.String())
	}
	if n := ts.srv.ActiveSessions(); n != 2 {
		t.Fatalf("%d sessions active, want the 2 admitted", n)
	}
}

// heavyFrame is markedFrame with a hundred health rows, so that each repaint of a large
// terminal is tens of kilobytes.
func heavyFrame(i int) (ui.Frame, string) {
	f, token := markedFrame(i)
	for n := range 100 {
		f.Health = append(f.Health, health.Status{Name: fmt.Sprintf("service-%03d", n), State: health.StateHealthy,
			Detail: strings.Repeat(fmt.Sprintf("detail-%03d ", n), 12)})
	}
	return f, token
}

// frozenConn is a client connection that stops reading its socket once frozen, as a
// client on a frozen laptop does: its small receive buffer fills, then the server's send
// buffer, then the server's writes block.
type frozenConn struct {
	net.Conn
	frozen  atomic.Bool
	release chan struct{}
}

func (c *frozenConn) Read(p []byte) (int, error) {
	if c.frozen.Load() {
		<-c.release
		return 0, io.EOF
	}
	return c.Conn.Read(p)
}

// dialFrozen connects a client whose socket can be frozen (with a 4 KiB receive buffer).
func (ts *testServer) dialFrozen(t *testing.T) (*gossh.Client, *frozenConn) {
	t.Helper()
	d := net.Dialer{Timeout: 10 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		}); err != nil {
			return err
		}
		return serr
	}}
	raw, err := d.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	fc := &frozenConn{Conn: raw, release: make(chan struct{})}
	t.Cleanup(func() { close(fc.release); _ = raw.Close() })
	conn, chans, reqs, err := gossh.NewClientConn(fc, ts.addr, &gossh.ClientConfig{
		User: "monitor", Auth: []gossh.AuthMethod{gossh.PublicKeys(ts.client)}, HostKeyCallback: gossh.InsecureIgnoreHostKey(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return gossh.NewClient(conn, chans, reqs), fc
}

// TestStalledClientDoesNotSlowOthers: one client stops reading; another must get every
// frame, each before the next is published, all the while the first is stalled, until
// --ssh.write-timeout disconnects the stalled one (which proves it was blocked).
func TestStalledClientDoesNotSlowOthers(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.WriteTimeout = 2 * time.Second })
	f, token := heavyFrame(0)
	ts.frames.Publish(f)
	stalledClient, frozen := ts.dialFrozen(t)
	stalled, stalledOut := openDashboard(t, stalledClient, 500, 200)
	stalledOut.waitFor(t, 0, token, 20*time.Second)
	frozen.frozen.Store(true)

	fast, out := openDashboard(t, ts.mustDial(t), 160, 48)
	defer fast.Close()
	pos := out.waitFor(t, 0, token, 20*time.Second)

	var stalledEnd *SessionRecord
	for round := 1; stalledEnd == nil; round++ {
		if round > 5000 {
			t.Fatalf("the client that stopped reading was never disconnected: %+v", ts.srv.Sessions())
		}
		// A resize repaints the stalled client's whole 500x200 screen.
		_ = stalled.WindowChange(200, 500-round%2)
		f, token := heavyFrame(round)
		ts.frames.Publish(f)
		pos = out.waitFor(t, pos, token, 20*time.Second)
		for drained := false; !drained; {
			select {
			case r := <-ts.audits:
				if r.Phase == "end" {
					stalledEnd = &r
				}
			default:
				drained = true
			}
		}
	}
	if !strings.Contains(stalledEnd.Reason, "client stalled") {
		t.Fatalf("the stalled session ended for %q, want the write timeout", stalledEnd.Reason)
	}
	// The fast session never had a frame replaced before it took it.
	sessions := ts.srv.Sessions()
	if len(sessions) != 1 {
		t.Fatalf("sessions %+v, want the fast one only", sessions)
	}
	for id, st := range sessions {
		if st.Dropped != 0 {
			t.Fatalf("session %s (the fast one) dropped %d frames while the other stalled", id, st.Dropped)
		}
	}
}

func TestRateLimitPerIP(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.RatePerMinute = 2 })
	for n := range 2 {
		c, err := ts.dial(t, ts.client)
		if err != nil {
			t.Fatalf("connection %d within the limit: %v", n+1, err)
		}
		_ = c.Close()
	}
	if c, err := ts.dial(t, ts.client); err == nil {
		_ = c.Close()
		t.Fatal("a third connection within the minute got in")
	}
	if !strings.Contains(ts.logs.String(), "rate limit") {
		t.Fatalf("not logged:\n%s", ts.logs.String())
	}
}

func TestIPLimiterRefills(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newIPLimiter(6, 2, func() time.Time { return now })
	allowed := func(remote string) bool { ok, _ := l.allow(remote); return ok }
	for range 6 {
		if !allowed("10.0.0.1:1234") {
			t.Fatal("refused within the burst")
		}
	}
	if ok, report := l.allow("10.0.0.1:5555"); ok || !report {
		t.Fatalf("the 7th connection of the minute: allowed %v, reported %v; want refused and reported (ports must not matter)", ok, report)
	}
	if ok, report := l.allow("10.0.0.1:5555"); ok || report {
		t.Fatalf("the 8th: allowed %v, reported %v; want refused, not reported again", ok, report)
	}
	now = now.Add(10 * time.Second) // one token back
	if !allowed("10.0.0.1:1") || allowed("10.0.0.1:1") {
		t.Fatal("want exactly one connection after 10s at 6/min")
	}
	// The table stays bounded.
	for i := range 100 {
		allowed(fmt.Sprintf("10.1.0.%d:1", i))
	}
	if len(l.buckets) > 2 {
		t.Fatalf("%d buckets, cap 2", len(l.buckets))
	}
}

func TestHostKeyCreatedPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "host")
	s1, created, err := loadOrCreateHostKey(path)
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v, want 0600", fi.Mode(), err)
	}
	s2, created, err := loadOrCreateHostKey(path)
	if err != nil || created || !bytes.Equal(s1.PublicKey().Marshal(), s2.PublicKey().Marshal()) {
		t.Fatalf("second start: created=%v err=%v, or another key", created, err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := loadOrCreateHostKey(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a world-readable host key: %v", err)
	}
}

func TestAuthorizedKeysRefusesOptions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ak")
	line := `from="10.0.0.1" ` + string(gossh.MarshalAuthorizedKey(newSigner(t).PublicKey()))
	if err := os.WriteFile(path, []byte("# team\n\n"+line), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := parseAuthorizedKeys(path); err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("key options: %v", err)
	}
}

func TestBroadcasterKeepsOnlyTheLatestForASlowSubscriber(t *testing.T) {
	b := NewBroadcaster[int]()
	slow, fast := b.Subscribe(), b.Subscribe()
	got := []int{}
	for i := 1; i <= 5; i++ {
		b.Publish(i)
		got = append(got, <-fast.Frames())
	}
	if v := <-slow.Frames(); v != 5 || slow.Dropped() != 4 || fast.Dropped() != 0 {
		t.Fatalf("slow got %d (dropped %d), fast dropped %d", v, slow.Dropped(), fast.Dropped())
	}
	if fmt.Sprint(got) != "[1 2 3 4 5]" {
		t.Fatalf("fast got %v", got)
	}
	late := b.Subscribe()
	if v := <-late.Frames(); v != 5 {
		t.Fatalf("a new subscriber starts with %d, want the latest 5", v)
	}
	late.Close()
	if _, ok := <-late.Frames(); ok {
		t.Fatal("closed subscription still open")
	}
	if b.Subscribers() != 2 {
		t.Fatalf("%d subscribers", b.Subscribers())
	}
}

// The report action puts the Markdown on the client's main screen and writes no file.
func TestSendToMainScreen(t *testing.T) {
	var out bytes.Buffer
	d := newTestDiffWriter(&out)
	if err := sendToMainScreen(d, []byte("# report\r\nline\n")); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{"\x1b[?1049l", "# report\nline\n", "\x1b[?1049h"} {
		if !strings.Contains(got, want) {
			t.Fatalf("%q lacks %q", got, want)
		}
	}
	sc := bufio.NewScanner(strings.NewReader(got))
	for sc.Scan() {
		if strings.Contains(sc.Text(), "\r\r") {
			t.Fatalf("doubled CR: %q", got)
		}
	}
}

var _ net.Conn = (*guardedConn)(nil)

func newTestDiffWriter(out io.Writer) *iterm.DiffWriter {
	return iterm.NewDiffWriterTo(out, func() (int, int) { return 80, 24 }, true)
}

func TestIdleSessionIsClosed(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.IdleTimeout = 300 * time.Millisecond })
	f, token := markedFrame(0)
	ts.frames.Publish(f)
	sess, out := openDashboard(t, ts.mustDial(t), 80, 24)
	out.waitFor(t, 0, token, 20*time.Second)
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("an idle session was not closed")
	}
	for r := range ts.audits {
		if r.Phase == "end" {
			if !strings.Contains(r.Reason, "idle") {
				t.Fatalf("ended for %q, want idle", r.Reason)
			}
			return
		}
	}
}

func TestAgentForwardingIsRefused(t *testing.T) {
	ts := startServer(t, nil)
	sess, err := ts.mustDial(t).NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := agent.RequestAgentForwarding(sess); err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	sess.Stderr = &stderr
	if err := sess.RequestPty("xterm", 24, 80, nil); err != nil {
		t.Fatal(err)
	}
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	if err := sess.Wait(); exitStatus(err) != 1 || !strings.Contains(stderr.String(), "agent forwarding is refused") {
		t.Fatalf("agent forwarding: %v, stderr %q", err, stderr.String())
	}
}
