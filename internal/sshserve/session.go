package sshserve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	osc52 "github.com/aymanbagabas/go-osc52/v2"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/ssh"
	"github.com/muesli/termenv"
	gossh "golang.org/x/crypto/ssh"

	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/report"
	iterm "github.com/nsai/ingot-top/internal/term"
	"github.com/nsai/ingot-top/internal/ui"
)

// reportNotice is what the status line says after `r` in a served session: the report went to
// the client's terminal, none was written on the server.
const reportNotice = "your terminal (main screen: shown when you quit)"

// serveDashboard runs one dashboard until the user quits, the client goes away, it idles, it
// stalls, or the daemon stops; then logs and audits the session's end.
func (s *Server) serveDashboard(sess ssh.Session, id string, ls *liveSession, pty ssh.Pty, winch <-chan ssh.Window) {
	defer s.release(id)
	start := s.now()
	ctx, cancel := context.WithCancel(sess.Context())
	defer cancel()
	var reason atomic.Pointer[string]
	stop := func(why string) {
		reason.CompareAndSwap(nil, &why)
		cancel()
	}
	conn, _ := sess.Context().Value(ssh.ContextKeyConn).(gossh.Conn)
	rec := SessionRecord{
		ID: id, User: sess.User(), Fingerprint: Fingerprint(sess.PublicKey()), Remote: remoteOf(sess.RemoteAddr()),
	}
	rec.KeyComment, _ = sess.Context().Value(ctxComment).(string)
	env := sessionEnv(sess.Environ())

	var size struct {
		sync.Mutex
		w, h int
	}
	size.w, size.h = pty.Window.Width, pty.Window.Height
	sizeOf := func() (int, int) {
		size.Lock()
		defer size.Unlock()
		return size.w, size.h
	}
	// A write the client does not take within WriteTimeout closes the connection: that
	// unblocks the write, and this session ends instead of holding a frame forever.
	out := &stallGuard{w: sess, timeout: s.cfg.WriteTimeout, onStall: func() {
		s.log.Warn("SSH client stalled: disconnecting", "session", id, "fingerprint", rec.Fingerprint, "remote", rec.Remote, "write_timeout", s.cfg.WriteTimeout.String())
		stop("client stalled: a frame was not taken within --ssh.write-timeout")
		if conn != nil {
			_ = conn.Close()
		}
	}}
	diff := iterm.NewDiffWriterTo(out, sizeOf, true)

	sub := s.deps.Frames.Subscribe()
	defer sub.Close()
	s.mu.Lock()
	ls.stop, ls.sub, ls.out, ls.guard = stop, sub, diff, out
	stopping := s.stopping
	s.mu.Unlock()
	if stopping {
		stop("daemon stopping")
	}

	noColor := env("NO_COLOR") != "" || pty.Term == "" || pty.Term == "dumb"
	opts := s.deps.View
	opts.Frames = sub.Frames()
	opts.ASCII = !utf8Locale(env)
	opts.NoColor = noColor
	opts.DarkBackground = true
	opts.Renderer = sessionRenderer(env)
	opts.Bell = false
	// Read-only: nothing a served session does changes the daemon or writes on its disk.
	opts.Demo = false
	opts.Actions.SetScenario = nil
	opts.Actions.WriteReport = func(f ui.Frame) (string, error) {
		md, err := s.reportMarkdown(f)
		if err != nil {
			return "", err
		}
		return reportNotice, sendToMainScreen(diff, md)
	}
	opts.Actions.Copy = func(text string) error { return diff.WriteRaw([]byte(osc52.New(text).String())) }
	opts.Actions.Bell = nil

	in := &idleReader{r: sess, now: s.now}
	prog := tea.NewProgram(ui.New(opts),
		tea.WithInput(in), tea.WithOutput(writerOnly{diff}), tea.WithAltScreen(),
		tea.WithContext(ctx), tea.WithoutSignalHandler(), tea.WithFPS(ui.RendererFPS))

	var wg sync.WaitGroup
	defer wg.Wait()
	// Window changes are taken at once and only the latest is passed on: the SSH library
	// delivers them from the connection's only reader, so waiting here for a dashboard that
	// is blocked on a stalled client would stop the whole connection, its close included.
	resized := make(chan struct{}, 1)
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case win, ok := <-winch:
				if !ok {
					return
				}
				size.Lock()
				size.w, size.h = win.Width, win.Height
				size.Unlock()
				select {
				case resized <- struct{}{}:
				default:
				}
			}
		}
	})
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-resized:
				w, h := sizeOf()
				prog.Send(tea.WindowSizeMsg{Width: w, Height: h})
			}
		}
	})
	if s.cfg.IdleTimeout > 0 {
		wg.Go(func() { s.watchIdle(ctx, in, stop) })
	}

	rec.Phase, rec.At = "start", start
	s.log.Info("SSH session started", "session", id, "user", rec.User, "fingerprint", rec.Fingerprint,
		"key_comment", rec.KeyComment, "remote", rec.Remote, "term", pty.Term, "width", pty.Window.Width, "height", pty.Window.Height,
		"ascii", opts.ASCII, "no_color", noColor, "sessions", s.ActiveSessions())
	s.audit(rec)

	_, err := prog.Run()
	cancel()
	why := "quit"
	if r := reason.Load(); r != nil {
		why = *r
	} else if err != nil && !errors.Is(err, tea.ErrProgramKilled) && !errors.Is(err, context.Canceled) {
		why = "error: " + err.Error()
	} else if sess.Context().Err() != nil {
		why = "client disconnected"
	}
	if why != "quit" && why != "client disconnected" {
		_, _ = io.WriteString(sess.Stderr(), "ingot-top: session closed: "+why+"\r\n")
	}
	end := s.now()
	rec.Phase, rec.At, rec.Duration, rec.Reason, rec.BytesSent = "end", end, end.Sub(start), why, diff.Written()
	s.log.Info("SSH session ended", "session", id, "user", rec.User, "fingerprint", rec.Fingerprint,
		"remote", rec.Remote, "duration_s", rec.Duration.Seconds(), "reason", why, "bytes_sent", rec.BytesSent,
		"frames_dropped", sub.Dropped())
	s.audit(rec)
}

// watchIdle ends the session when no key arrived for IdleTimeout.
func (s *Server) watchIdle(ctx context.Context, in *idleReader, stop func(string)) {
	in.touch(s.now())
	timer := time.NewTimer(s.cfg.IdleTimeout)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
			idle := s.now().Sub(in.last())
			if idle >= s.cfg.IdleTimeout {
				stop(fmt.Sprintf("idle: no key for %s (--ssh.idle-timeout)", s.cfg.IdleTimeout))
				return
			}
			timer.Reset(s.cfg.IdleTimeout - idle)
		}
	}
}

// reportMarkdown is the incident report the local dashboard writes to a file.
func (s *Server) reportMarkdown(f ui.Frame) ([]byte, error) {
	if f.Stream == nil {
		return nil, errors.New("no data to report yet")
	}
	var b bytes.Buffer
	err := report.Write(&b, report.FormatMarkdown, report.Input{
		Title: "ingot-top incident report", At: f.At, Window: engine.Window5m, Collected: f.At.Sub(f.Stream.Started),
		Conn: f.Conn, Stream: f.Stream, Health: f.Health, Alerts: f.Alerts, TopQueues: 20, MaxErrors: 50,
		MaxErrorRate: s.deps.MaxErrorRate,
	})
	if err != nil {
		return nil, fmt.Errorf("incident report: %w", err)
	}
	return b.Bytes(), nil
}

// sendToMainScreen prints text on the client's main screen, behind the dashboard: it leaves
// the alternate screen, prints, and comes back. The text stays in the client's scrollback
// after it quits, and nothing is written on the server. The DiffWriter sees the screen
// switch and redraws the dashboard in full with its next frame.
func sendToMainScreen(d *iterm.DiffWriter, text []byte) error {
	var b bytes.Buffer
	b.WriteString("\x1b[?1049l\r\n")
	// The emulated PTY turns \n into \r\n; a \r\n already there would gain a second \r.
	b.Write(bytes.ReplaceAll(text, []byte("\r\n"), []byte("\n")))
	b.WriteString("\n\x1b[?1049h")
	_, err := d.Write(b.Bytes())
	return err
}

// writerOnly hides the DiffWriter's Fd from bubbletea, which would otherwise take it for a
// terminal of this process.
type writerOnly struct{ w io.Writer }

func (o writerOnly) Write(p []byte) (int, error) { return o.w.Write(p) }

// stallGuard calls onStall when one write takes longer than timeout.
type stallGuard struct {
	w       io.Writer
	timeout time.Duration
	onStall func()
	writing atomic.Bool // a write is in progress (blocked, when it stays so)
}

func (g *stallGuard) Write(p []byte) (int, error) {
	g.writing.Store(true)
	defer g.writing.Store(false)
	t := time.AfterFunc(g.timeout, g.onStall)
	defer t.Stop()
	return g.w.Write(p)
}

// idleReader is the session's input; it notes when the client last sent anything.
type idleReader struct {
	r    io.Reader
	mu   sync.Mutex
	seen time.Time
	now  func() time.Time
}

func (i *idleReader) Read(p []byte) (int, error) {
	n, err := i.r.Read(p)
	if n > 0 {
		i.touch(i.now())
	}
	return n, err
}

func (i *idleReader) touch(t time.Time) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if t.After(i.seen) {
		i.seen = t
	}
}

func (i *idleReader) last() time.Time {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.seen
}

// sessionEnv looks variables up in the session's environment (TERM from its PTY request,
// LANG and others as the client sent them with SendEnv/SetEnv).
func sessionEnv(environ []string) func(string) string {
	return func(k string) string {
		v := ""
		for _, kv := range environ {
			if rest, ok := strings.CutPrefix(kv, k+"="); ok {
				v = rest // the last one wins, as in a shell
			}
		}
		return v
	}
}

// utf8Locale follows the POSIX precedence LC_ALL > LC_CTYPE > LANG, as the local dashboard.
func utf8Locale(getenv func(string) string) bool {
	for _, k := range []string{"LC_ALL", "LC_CTYPE", "LANG"} {
		if v := getenv(k); v != "" {
			v = strings.ToLower(v)
			return strings.Contains(v, "utf-8") || strings.Contains(v, "utf8")
		}
	}
	return false
}

// sessionRenderer is a lipgloss renderer whose colour profile follows the session's TERM
// and COLORTERM, not the daemon's (whose stdout is no terminal at all).
func sessionRenderer(getenv func(string) string) *lipgloss.Renderer {
	env := termEnviron{getenv: getenv}
	r := lipgloss.NewRenderer(io.Discard, termenv.WithEnvironment(env), termenv.WithUnsafe(), termenv.WithColorCache(true))
	return r
}

type termEnviron struct{ getenv func(string) string }

func (e termEnviron) Environ() []string {
	var out []string
	for _, k := range []string{"TERM", "COLORTERM", "NO_COLOR", "CLICOLOR", "CLICOLOR_FORCE"} {
		if v := e.getenv(k); v != "" {
			out = append(out, k+"="+v)
		}
	}
	return out
}

func (e termEnviron) Getenv(k string) string { return e.getenv(k) }
