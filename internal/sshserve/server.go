// Package sshserve owns the daemon's SSH door to the dashboard (`ssh -p 2222 -t monitor`):
// the listener (charmbracelet/wish on bubbletea v1), its security (public keys from an
// authorized-keys file reloaded on SIGHUP, no password or keyboard-interactive, no shell,
// exec, forwarding or subsystems, read-only sessions), its limits (sessions, idle time,
// connections per IP per minute, a write deadline), the session log and audit records, and
// the fan-out of the daemon's frames: frames are built once per refresh by the caller and
// handed to every session through a Broadcaster; each session only renders them at its own
// terminal size with the cell-diff renderer (internal/term), so a session costs no NATS
// connection and no aggregation of its own.
package sshserve

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/charmbracelet/ssh"
	"github.com/charmbracelet/wish"
	gossh "golang.org/x/crypto/ssh"

	iterm "github.com/nsai/ingot-top/internal/term"
	"github.com/nsai/ingot-top/internal/ui"
)

// Defaults of the flags, named here so that the CLI, tests and docs agree.
const (
	DefaultMaxSessions  = 32
	DefaultIdleTimeout  = 30 * time.Minute
	DefaultRatePerMin   = 30
	DefaultWriteTimeout = 10 * time.Second
	// handshakeTimeout bounds a connection that has not opened its session yet: a client that
	// connects and says nothing must not hold a socket and a goroutine forever.
	handshakeTimeout = 30 * time.Second
	// sendBuffer is each SSH connection's socket send buffer (see acceptConn).
	sendBuffer = 128 << 10
	// maxRateEntries bounds the per-IP limiter table.
	maxRateEntries = 10000
	// stopGrace is how long sessions get to restore their terminals when the daemon stops.
	stopGrace = 3 * time.Second
)

// Config is the listener's settings (flags --ssh.*).
type Config struct {
	ListenAddress  string
	AuthorizedKeys string
	HostKey        string
	MaxSessions    int
	// IdleTimeout ends a session that sent no key for this long (0: never). Output does not
	// count: the dashboard redraws every second, so an abandoned terminal would never idle.
	IdleTimeout time.Duration
	// RatePerMinute is how many connections one IP address may open per minute (0: no limit).
	RatePerMinute int
	// WriteTimeout ends a session whose client has not taken a frame within it, so a stalled
	// client holds no more than its own connection.
	WriteTimeout time.Duration
}

// Enabled reports whether the listener is configured.
func (c Config) Enabled() bool { return c.ListenAddress != "" }

// Validate checks the settings that need no file access.
func (c Config) Validate() error {
	if !c.Enabled() {
		return nil
	}
	if c.AuthorizedKeys == "" {
		return errors.New("--ssh.authorized-keys is required with --ssh.listen-address: public-key auth is the only way in")
	}
	if c.HostKey == "" {
		return errors.New("--ssh.host-key is required with --ssh.listen-address (created on first start when missing)")
	}
	if c.MaxSessions < 1 {
		return fmt.Errorf("--ssh.max-sessions %d: want at least 1", c.MaxSessions)
	}
	if c.IdleTimeout < 0 || c.WriteTimeout <= 0 || c.RatePerMinute < 0 {
		return fmt.Errorf("--ssh.idle-timeout %s, --ssh.write-timeout %s, --ssh.rate-limit %d: want idle >= 0, write > 0, rate >= 0",
			c.IdleTimeout, c.WriteTimeout, c.RatePerMinute)
	}
	return nil
}

// SessionRecord is one session's start or end, for the audit trail.
type SessionRecord struct {
	Phase       string // "start", "end" or "refused"
	ID          string
	User        string
	Fingerprint string // SHA256:... of the client key, as ssh-keygen -l prints it
	KeyComment  string // the comment of the authorized-keys line that let it in
	Remote      string
	At          time.Time
	Duration    time.Duration // end only
	Reason      string        // end: why it ended; refused: what was refused
	BytesSent   int64
}

// Deps are what the server does not configure itself.
type Deps struct {
	// Frames is the one stream of frames every session shows.
	Frames *Broadcaster[ui.Frame]
	// View is the dashboard's options shared by every session (Refresh, Rules, Target,
	// ErrorGroups, Trace, Exemplars); the server fills in the per-session fields (frames,
	// colour, ASCII, output actions) and turns off everything that would change the daemon.
	View ui.Options
	// MaxErrorRate is the error-rate threshold the incident report marks.
	MaxErrorRate float64
	Logger       *slog.Logger
	// Audit, when set, receives every session start, end and refusal.
	Audit func(SessionRecord)
	// Clock is the wall clock; nil means time.Now.
	Clock func() time.Time
}

// Server is a bound, not yet serving SSH listener.
type Server struct {
	cfg    Config
	deps   Deps
	log    *slog.Logger
	now    func() time.Time
	keys   *authorizedKeys
	hostFP string
	ln     net.Listener
	srv    *ssh.Server
	rate   *ipLimiter

	mu       sync.Mutex
	sessions map[string]*liveSession
	nextID   uint64
	stopping bool
	active   sync.WaitGroup
}

// liveSession is what the server knows of a running session.
type liveSession struct {
	stop  func(reason string)
	sub   *Subscription[ui.Frame]
	out   *iterm.DiffWriter
	guard *stallGuard
}

// SessionStats is one running session's counters.
type SessionStats struct {
	// Dropped counts frames the session had not taken when a newer one came (a slow or
	// stalled client); BytesSent counts what reached its SSH channel.
	Dropped   uint64
	BytesSent int64
	// Writing is set while a write to the client is in progress; a client that stopped
	// reading keeps it set until --ssh.write-timeout disconnects it.
	Writing bool
}

// New loads the authorized keys and the host key (creating it when missing) and binds the
// listener, so a mistake in any of them is a start-up error.
func New(cfg Config, deps Deps) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Frames == nil {
		return nil, errors.New("sshserve: no frames")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Clock == nil {
		deps.Clock = time.Now
	}
	keys, err := newAuthorizedKeys(cfg.AuthorizedKeys)
	if err != nil {
		return nil, err
	}
	signer, created, err := loadOrCreateHostKey(cfg.HostKey)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, deps: deps, log: deps.Logger, now: deps.Clock, keys: keys,
		hostFP:   gossh.FingerprintSHA256(signer.PublicKey()),
		rate:     newIPLimiter(cfg.RatePerMinute, maxRateEntries, deps.Clock),
		sessions: map[string]*liveSession{},
	}
	srv, err := wish.NewServer(
		// The host key goes first: wish.NewServer without one writes a fresh key to
		// ./id_ed25519, in whatever directory the daemon runs from.
		func(srv *ssh.Server) error { srv.AddHostKey(signer); return nil },
		wish.WithAddress(cfg.ListenAddress),
		wish.WithVersion("ingot-top"),
		wish.WithPublicKeyAuth(s.publicKeyAllowed),
		wish.WithMiddleware(s.dashboardMiddleware),
		ssh.EmulatePty(),
	)
	if err != nil {
		return nil, fmt.Errorf("--ssh: %w", err)
	}
	srv.ConnCallback = s.acceptConn
	srv.ConnectionFailedCallback = s.connFailed
	// Password and keyboard-interactive handlers are never set: the SSH library then offers
	// public key only. Everything but the session channel and its shell request is refused.
	srv.ChannelHandlers = map[string]ssh.ChannelHandler{
		"session":                        ssh.DefaultSessionHandler,
		"direct-tcpip":                   s.refuseChannel("port forwarding (-L)"),
		"direct-streamlocal@openssh.com": s.refuseChannel("socket forwarding"),
		"default":                        s.refuseChannel("channel"),
	}
	srv.RequestHandlers = map[string]ssh.RequestHandler{
		"tcpip-forward":                          s.refuseRequest("remote port forwarding (-R)"),
		"streamlocal-forward@openssh.com":        s.refuseRequest("remote socket forwarding"),
		"cancel-tcpip-forward":                   s.refuseRequest("remote port forwarding (-R)"),
		"cancel-streamlocal-forward@openssh.com": s.refuseRequest("remote socket forwarding"),
	}
	srv.SubsystemHandlers = map[string]ssh.SubsystemHandler{"default": s.refuseSubsystem}
	s.srv = srv
	ln, err := net.Listen("tcp", cfg.ListenAddress)
	if err != nil {
		return nil, fmt.Errorf("--ssh.listen-address %s: %w", cfg.ListenAddress, err)
	}
	s.ln = ln
	s.log.Info("SSH dashboard listening", "address", ln.Addr().String(),
		"host_key", cfg.HostKey, "host_key_fingerprint", s.hostFP, "host_key_created", created,
		"authorized_keys", cfg.AuthorizedKeys, "keys", keys.len(), "max_sessions", cfg.MaxSessions)
	return s, nil
}

// Close releases the listener of a server that will not Serve (a later start-up step failed).
func (s *Server) Close() error { return s.ln.Close() }

// Addr is the bound address (useful with port 0).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// HostKeyFingerprint is the SHA256 fingerprint clients are asked to trust.
func (s *Server) HostKeyFingerprint() string { return s.hostFP }

// Reload rereads the authorized-keys file (SIGHUP). On error the previous keys stay in force:
// a typo while adding a colleague must not lock everyone out. Running sessions go on.
func (s *Server) Reload() error {
	if err := s.keys.reload(); err != nil {
		s.log.Error("SSH authorized keys not reloaded; the previous keys stay in force", "error", err.Error())
		return err
	}
	s.log.Info("SSH authorized keys reloaded", "authorized_keys", s.cfg.AuthorizedKeys, "keys", s.keys.len())
	return nil
}

// ActiveSessions is how many dashboards are being served.
func (s *Server) ActiveSessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// Sessions returns the counters of every running session, by session id.
func (s *Server) Sessions() map[string]SessionStats {
	s.mu.Lock()
	live := make(map[string]*liveSession, len(s.sessions))
	for id, ls := range s.sessions {
		live[id] = ls
	}
	s.mu.Unlock()
	out := make(map[string]SessionStats, len(live))
	for id, ls := range live {
		var st SessionStats
		if ls.sub != nil {
			st.Dropped = ls.sub.Dropped()
		}
		if ls.out != nil {
			st.BytesSent = ls.out.Written()
		}
		if ls.guard != nil {
			st.Writing = ls.guard.writing.Load()
		}
		out[id] = st
	}
	return out
}

// Serve accepts connections until ctx ends; then every session is told the daemon is
// stopping and given stopGrace to restore its terminal before the connections close.
func (s *Server) Serve(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- s.srv.Serve(s.ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("SSH listener: %w", err)
	case <-ctx.Done():
	}
	s.mu.Lock()
	s.stopping = true
	for _, ls := range s.sessions {
		ls.stop("daemon stopping")
	}
	s.mu.Unlock()
	waited := make(chan struct{})
	go func() { s.active.Wait(); close(waited) }()
	timer := time.NewTimer(stopGrace)
	defer timer.Stop()
	select {
	case <-waited:
	case <-timer.C:
	}
	err := s.srv.Close()
	<-done
	if err != nil && !errors.Is(err, ssh.ErrServerClosed) {
		return fmt.Errorf("closing the SSH listener: %w", err)
	}
	return nil
}

// Fingerprint is the SHA256 fingerprint of a key as ssh-keygen -l prints it.
func Fingerprint(pk gossh.PublicKey) string {
	if pk == nil {
		return ""
	}
	sum := sha256.Sum256(pk.Marshal())
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

type ctxKey string

const (
	ctxRefusedKeys ctxKey = "ingot-top-refused-keys"
	ctxGuard       ctxKey = "ingot-top-conn-guard"
	ctxComment     ctxKey = "ingot-top-key-comment"
)

// publicKeyAllowed is the only authentication there is. The SSH library asks once per key
// the client offers; a refused key is logged once per connection.
func (s *Server) publicKeyAllowed(ctx ssh.Context, pk ssh.PublicKey) bool {
	comment, ok := s.keys.allowed(pk)
	if ok {
		ctx.SetValue(ctxComment, comment)
		return true
	}
	fp := Fingerprint(pk)
	seen, _ := ctx.Value(ctxRefusedKeys).(map[string]bool)
	if seen == nil {
		seen = map[string]bool{}
		ctx.SetValue(ctxRefusedKeys, seen)
	}
	if !seen[fp] && len(seen) < 16 {
		seen[fp] = true
		s.log.Warn("SSH key refused: not in the authorized keys", "fingerprint", fp, "user", ctx.User(), "remote", remoteOf(ctx.RemoteAddr()))
	}
	return false
}

// acceptConn applies the per-IP rate limit before any SSH work, and guards the connection:
// a deadline for the handshake, a write deadline for every write after it.
func (s *Server) acceptConn(ctx ssh.Context, c net.Conn) net.Conn {
	remote := remoteOf(c.RemoteAddr())
	if ok, report := s.rate.allow(remote); !ok {
		// Logged once per address per minute, and not audited: before authentication
		// anyone can cause it, and neither the log nor the trail may grow with a flood.
		if report {
			s.log.Warn("SSH connections refused: rate limit (told once a minute per address)", "remote", remote, "limit_per_minute", s.cfg.RatePerMinute)
		}
		return nil
	}
	if tc, ok := c.(*net.TCPConn); ok {
		// A dashboard needs a few kilobytes a second and a full repaint is tens of them: a
		// small send buffer bounds the kernel memory a stalled client holds, and lets the
		// write timeout find the stall within one repaint instead of megabytes later.
		_ = tc.SetWriteBuffer(sendBuffer)
	}
	// The socket's deadline is the backstop, twice the session's (which ends a session
	// with a reason the log can give): it also covers writes no session makes.
	g := &guardedConn{Conn: c, writeTimeout: 2 * s.cfg.WriteTimeout}
	_ = c.SetReadDeadline(time.Now().Add(handshakeTimeout))
	ctx.SetValue(ctxGuard, g)
	return g
}

func (s *Server) connFailed(c net.Conn, err error) {
	if errors.Is(err, io.EOF) {
		// The client gave up after its keys were refused (or a port scanner): already logged.
		return
	}
	s.log.Info("SSH connection failed before a session", "remote", remoteOf(c.RemoteAddr()), "error", err.Error())
}

func (s *Server) refuseChannel(what string) ssh.ChannelHandler {
	return func(_ *ssh.Server, conn *gossh.ServerConn, nc gossh.NewChannel, ctx ssh.Context) {
		_ = nc.Reject(gossh.Prohibited, "ingot-top: "+what+" is refused: this server only shows the dashboard")
		s.refused(ctx, what+" ("+nc.ChannelType()+")")
		_ = conn.Close()
	}
}

func (s *Server) refuseRequest(what string) ssh.RequestHandler {
	return func(ctx ssh.Context, _ *ssh.Server, _ *gossh.Request) (bool, []byte) {
		s.refused(ctx, what)
		if conn, ok := ctx.Value(ssh.ContextKeyConn).(gossh.Conn); ok {
			// After the reply, so the client can say why.
			go func() { _ = conn.Close() }()
		}
		return false, nil
	}
}

func (s *Server) refuseSubsystem(sess ssh.Session) {
	// The name is the client's: quoted and cut, so it cannot put escapes on a terminal or a log.
	name := sess.Subsystem()
	if len(name) > 64 {
		name = name[:64]
	}
	name = strconv.QuoteToASCII(name)
	s.refuse(sess, "subsystem "+name, "subsystems ("+name+") are refused: this server only shows the dashboard; connect with: "+connectHint(sess.LocalAddr()))
}

// refuse tells the client why, logs and audits it, and ends the session with status 1.
func (s *Server) refuse(sess ssh.Session, what, msg string) {
	_, _ = io.WriteString(sess.Stderr(), "ingot-top: "+msg+"\r\n")
	s.refused(sess.Context(), what)
	_ = sess.Exit(1)
}

func (s *Server) refused(ctx ssh.Context, what string) {
	fp := Fingerprint(publicKeyOf(ctx))
	remote := remoteOf(ctx.RemoteAddr())
	s.log.Warn("SSH request refused", "refused", what, "fingerprint", fp, "user", ctx.User(), "remote", remote)
	s.audit(SessionRecord{Phase: "refused", User: ctx.User(), Fingerprint: fp, Remote: remote, At: s.now(), Reason: what})
}

func (s *Server) audit(r SessionRecord) {
	if s.deps.Audit != nil {
		s.deps.Audit(r)
	}
}

// dashboardMiddleware is the whole session: refusals first, then the dashboard.
func (s *Server) dashboardMiddleware(ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		switch {
		case sess.RawCommand() != "":
			s.refuse(sess, "exec", "commands are refused: this server only shows the dashboard; connect with: "+connectHint(sess.LocalAddr()))
			return
		case ssh.AgentRequested(sess):
			s.refuse(sess, "agent forwarding (-A)", "agent forwarding is refused; connect without -A (ForwardAgent no)")
			return
		}
		pty, winch, ok := sess.Pty()
		if !ok {
			s.refuse(sess, "no terminal", "the dashboard needs a terminal: connect with: "+connectHint(sess.LocalAddr()))
			return
		}
		id, ls, ok := s.admit()
		if !ok {
			s.refuse(sess, "max sessions", fmt.Sprintf("too many dashboard sessions (%d, --ssh.max-sessions); try again later", s.cfg.MaxSessions))
			return
		}
		defer s.active.Done()
		if g, ok := sess.Context().Value(ctxGuard).(*guardedConn); ok {
			g.handshakeDone()
		}
		s.serveDashboard(sess, id, ls, pty, winch)
	}
}

// admit takes a session slot, or reports that none is free.
func (s *Server) admit() (string, *liveSession, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping || len(s.sessions) >= s.cfg.MaxSessions {
		return "", nil, false
	}
	s.nextID++
	id := strconv.FormatUint(s.nextID, 10)
	ls := &liveSession{}
	s.sessions[id] = ls
	s.active.Add(1)
	return id, ls, true
}

func (s *Server) release(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, id)
}

// connectHint is the command that does work: `ssh -p PORT -t HOST`.
func connectHint(local net.Addr) string {
	host, port, err := net.SplitHostPort(remoteOf(local))
	if err != nil {
		return "ssh -t HOST"
	}
	return "ssh -p " + port + " -t " + host
}

func publicKeyOf(ctx ssh.Context) gossh.PublicKey {
	pk, _ := ctx.Value(ssh.ContextKeyPublicKey).(gossh.PublicKey)
	return pk
}

func remoteOf(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// guardedConn bounds the time one write may take, so a client that stops reading its TCP
// socket loses its connection instead of holding a writer, and the handshake's time.
type guardedConn struct {
	net.Conn
	writeTimeout time.Duration
	authed       atomic.Bool
}

func (g *guardedConn) Write(p []byte) (int, error) {
	_ = g.Conn.SetWriteDeadline(time.Now().Add(g.writeTimeout))
	return g.Conn.Write(p)
}

// handshakeDone lifts the handshake's read deadline: from now on a client is idle only by
// not typing (Config.IdleTimeout), which the session measures.
func (g *guardedConn) handshakeDone() {
	if g.authed.CompareAndSwap(false, true) {
		_ = g.Conn.SetReadDeadline(time.Time{})
	}
}

// SetDeadline ignores the SSH library's deadlines: with no idle or max timeout it clears
// them before every read and write, which would lift the handshake and write deadlines
// this connection exists to keep.
func (g *guardedConn) SetDeadline(time.Time) error { return nil }
