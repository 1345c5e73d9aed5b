package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	osc52 "github.com/aymanbagabas/go-osc52/v2"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/term"

	"github.com/nsai/ingot-top/internal/app"
	"github.com/nsai/ingot-top/internal/config"
	"github.com/nsai/ingot-top/internal/daemonsrc"
	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/feed"
	"github.com/nsai/ingot-top/internal/health"
	"github.com/nsai/ingot-top/internal/promsrc"
	"github.com/nsai/ingot-top/internal/report"
	iterm "github.com/nsai/ingot-top/internal/term"
	"github.com/nsai/ingot-top/internal/ui"
)

// ViewFlags shape how the dashboard draws.
type ViewFlags struct {
	Refresh   time.Duration `default:"1s" help:"Redraw data at most this often; keys always answer at once."`
	ASCII     bool          `name:"ascii" help:"ASCII only: no box drawing or braille (automatic when the locale is not UTF-8)."`
	NoColor   bool          `name:"no-color" help:"No colours (also when NO_COLOR is set to any non-empty value)."`
	Theme     string        `enum:"auto,dark,light" default:"auto" help:"Colour theme: ${enum}; auto asks the terminal for its background."`
	Bell      bool          `help:"Ring the terminal bell when an alert starts firing."`
	ReportDir string        `name:"report-dir" type:"path" default:"." help:"Directory where the 'r' key writes Markdown incident reports."`
	Renderer  string        `enum:"diff,line" default:"diff" help:"diff sends only changed cells (least bytes, best over SSH); line is bubbletea's plain line renderer."`
	Errors    string        `name:"errors-view" enum:"groups,log" default:"groups" help:"How the Errors pane opens: groups (one row per signature: service, operation, reason with numbers masked, with counts) or log (every error, newest first). The v key switches."`
}

// ProbeFlags are the health endpoints to probe.
type ProbeFlags struct {
	ForgeHealth    string        `name:"forge-health" env:"INGOT_FORGE_HEALTH_URL" placeholder:"URL" help:"Forge GET /health URL to probe."`
	AnvilHealth    string        `name:"anvil-health" env:"INGOT_ANVIL_HEALTH_URL" placeholder:"URL" help:"Anvil GET /health URL to probe."`
	IngotHealth    string        `name:"ingot-health" env:"INGOT_HEALTH_URL" placeholder:"URL" help:"Ingot GET /health URL; its per-service body becomes extra rows."`
	HealthInterval time.Duration `name:"health.interval" default:"5s" help:"Time between probes of one endpoint."`
	HealthTimeout  time.Duration `name:"health.timeout" default:"2s" help:"A probe that takes longer is unhealthy (a hanging endpoint costs at most this)."`
}

// Targets turns the flags into probe targets.
func (p ProbeFlags) Targets() []health.Target {
	var t []health.Target
	if p.ForgeHealth != "" {
		t = append(t, health.Target{Name: "forge", URL: p.ForgeHealth, Kind: health.KindService})
	}
	if p.AnvilHealth != "" {
		t = append(t, health.Target{Name: "anvil", URL: p.AnvilHealth, Kind: health.KindService})
	}
	if p.IngotHealth != "" {
		t = append(t, health.Target{Name: "ingot", URL: p.IngotHealth, Kind: health.KindIngot})
	}
	return t
}

// Config returns the prober settings.
func (p ProbeFlags) Config() health.Config {
	return health.Config{Interval: p.HealthInterval, Timeout: p.HealthTimeout}
}

// FromDaemonFlags switch the dashboard from the raw stream to the daemons' republished
// snapshots.
type FromDaemonFlags struct {
	FromDaemon              bool   `name:"from-daemon" help:"Show the merged 1 Hz snapshots that ingot-top daemons republish instead of consuming the raw stream (any number of viewers, no load on the stream). Uses the same connection flags; --subject is ignored."`
	FromDaemonSubject       string `name:"from-daemon.subject" default:"ingot_top.snapshot" help:"Subject the daemons publish snapshots on (their --republish.snapshot-subject)." placeholder:"SUBJECT"`
	FromDaemonErrorsSubject string `name:"from-daemon.errors-subject" default:"ingot_top.errors" help:"Subject the daemons publish error batches on (their --republish.errors-subject); empty to use only the errors inside snapshots." placeholder:"SUBJECT"`
}

// fleetConfig is the app's FromDaemon setting, nil unless --from-daemon.
func (f FromDaemonFlags) fleetConfig(conn feed.Options) *daemonsrc.Config {
	if !f.FromDaemon {
		return nil
	}
	return &daemonsrc.Config{Feed: conn, SnapshotSubject: f.FromDaemonSubject, ErrorsSubject: f.FromDaemonErrorsSubject}
}

// DashboardCmd opens the live dashboard.
type DashboardCmd struct {
	feed.Options    `embed:""`
	ViewFlags       `embed:""`
	ProbeFlags      `embed:""`
	AlertFlags      `embed:""`
	FromDaemonFlags `embed:""`
	PastFlags       `embed:""`
	promsrc.Flags   `embed:""`
}

// Help is shown under the command's usage.
func (DashboardCmd) Help() string {
	return `Opens the full-screen dashboard on the live telemetry stream. If NATS is down it still
opens, says what it is trying to reach and why that fails, and comes alive when the
server appears.

With --since or --at it first reads the JetStream stream that keeps the telemetry (--stream;
the daemon's durable mode creates it) from that time, on the stream's clock (the status bar
says REPLAY while it reads), then goes on live.

Keys: Tab/Shift-Tab or 1-5 switch panes, j/k move (g/G first/last), Enter drills down,
Esc goes back, a lists the alerts (Enter on one shows its evidence), l switches the
latency scale (log/linear), y copies a trace id,
/ filters, f picks a service, v switches the Errors pane between signatures and the log,
w cycles the window (1m/5m/15m), s sorts, p pauses, r writes an incident report,
? shows all keys, q quits.

Examples:
  ingot-top -s nats://nats.prod:4222 --forge-health http://forge:4000/health --anvil-health http://anvil:4001/health
  ingot-top --context prod --ascii --no-color
  ingot-top --context prod --from-daemon        # merged view of every ingot-top daemon
  ingot-top --context prod --since 30m          # the last 30 minutes from JetStream, then live`
}

// Run opens the dashboard.
func (c *DashboardCmd) Run(env *Env, file *config.File) error {
	env, stopHangup := endOnHangup(env)
	defer stopHangup()
	setDashboardGC()
	setLiveViewerProcs(c.PastFlags)
	defer shedCodePages()()
	return runDashboard(env, dashboardSetup{
		feed: c.Options, view: c.ViewFlags, probes: c.ProbeFlags, alerts: c.AlertFlags, fromDaemon: c.FromDaemonFlags,
		prom: c.Flags, queries: file.Section("queries"), past: c.PastFlags,
	})
}

type dashboardSetup struct {
	feed       feed.Options
	view       ViewFlags
	probes     ProbeFlags
	alerts     AlertFlags
	demo       bool
	scenario   func(string) error
	fromDaemon FromDaemonFlags
	prom       promsrc.Flags
	queries    map[string]string
	// replay plays recordings instead of the stream (ingot-top replay without --format).
	replay *app.ReplayConfig
	// past opens the past from the JetStream stream (--since, --at).
	past PastFlags
}

func runDashboard(env *Env, s dashboardSetup) error {
	rules, err := s.alerts.Rules()
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	if !term.IsTerminal(os.Stdout.Fd()) {
		return &ExitError{Code: ExitUsage, Err: errors.New("the dashboard needs a terminal on stdout; for scripts use `ingot-top snapshot`")}
	}
	since, err := s.past.start(time.Now())
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	if !since.IsZero() && s.fromDaemon.FromDaemon {
		return &ExitError{Code: ExitUsage, Err: errors.New("--since/--at read the raw stream: not with --from-daemon")}
	}
	ctx, cancel := context.WithCancel(env.Ctx)
	defer cancel()
	sess, err := app.Start(ctx, app.Config{
		Feed:        s.feed,
		FeedConfig:  feed.Config{ClientName: "ingot-top dashboard", Stream: s.past.Stream},
		Since:       since,
		Engine:      engine.DefaultConfig(),
		Probes:      s.probes.Targets(),
		Health:      s.probes.Config(),
		Rules:       rules,
		Refresh:     s.view.Refresh,
		FromDaemon:  s.fromDaemon.fleetConfig(s.feed),
		Prometheus:  s.prom,
		PromQueries: s.queries,
		Replay:      s.replay,
	})
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}

	noColor := s.view.NoColor || env.Getenv("NO_COLOR") != ""
	out := newTerminalOutput(os.Stdout, env.Getenv, s.view.Renderer == "diff")
	dark := true
	switch s.view.Theme {
	case "light":
		dark = false
	case "auto":
		dark = lipgloss.HasDarkBackground()
	}
	writeReport := func(f ui.Frame) (string, error) {
		return writeIncidentReport(s.view.ReportDir, f, rules.ErrorRate.Threshold)
	}
	opts := ui.Options{
		Frames:         sess.Frames(),
		Refresh:        s.view.Refresh,
		ASCII:          s.view.ASCII || !utf8Locale(env.Getenv),
		NoColor:        noColor,
		DarkBackground: dark,
		Bell:           s.view.Bell,
		Demo:           s.demo,
		Target:         feed.RedactURLs(s.feed.Server),
		ErrorGroups:    s.view.Errors == "groups",
		Rules:          &rules,
		Actions: ui.Actions{
			SetScenario: s.scenario,
			WriteReport: writeReport,
			Copy:        out.copy,
			Bell:        out.bell,
		},
	}
	if s.demo {
		opts.Actions.SetScenario = s.scenario
	}
	opts.Actions.Trace = sess.Trace
	if pacer := sess.Pacer(); pacer != nil {
		opts.Actions.ReplayPause = pacer.TogglePause
		opts.Actions.ReplaySkip = pacer.Skip
		opts.Target = "recording"
	}
	if sess.HasPrometheus() {
		opts.Actions.Exemplars = sess.Exemplars
	}
	// Signals end the program through ctx (main's NotifyContext). bubbletea's own handler
	// would race that cancellation and can block forever sending its quit message to a loop
	// that has already stopped, leaving the terminal in the alternate screen.
	prog := tea.NewProgram(ui.New(opts), tea.WithAltScreen(), tea.WithOutput(out.writer()), tea.WithContext(ctx), tea.WithoutSignalHandler(), tea.WithFPS(ui.RendererFPS))
	_, runErr := prog.Run()
	cancel()
	waitErr := waitBounded(sess.Wait, 5*time.Second)
	if runErr != nil && !errors.Is(runErr, tea.ErrProgramKilled) && !errors.Is(runErr, context.Canceled) {
		return &ExitError{Code: ExitInternal, Err: fmt.Errorf("dashboard: %w", runErr)}
	}
	if waitErr != nil {
		fmt.Fprintf(env.Stderr, "ingot-top: shutting down: %v\n", waitErr)
	}
	return nil
}

// waitBounded runs wait, giving up after d so a stuck source can never hang the exit.
func waitBounded(wait func() error, d time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		return fmt.Errorf("sources still stopping after %s; exiting anyway", d)
	}
}

// utf8Locale follows the POSIX precedence LC_ALL > LC_CTYPE > LANG.
func utf8Locale(getenv func(string) string) bool {
	for _, k := range []string{"LC_ALL", "LC_CTYPE", "LANG"} {
		if v := getenv(k); v != "" {
			v = strings.ToLower(v)
			return strings.Contains(v, "utf-8") || strings.Contains(v, "utf8")
		}
	}
	return false
}

// terminalOutput is the one path to the terminal: bubbletea's frames, and the clipboard and
// bell writes the UI asks for, which must not interleave with a frame.
type terminalOutput struct {
	diff   *iterm.DiffWriter
	inTmux bool
}

func newTerminalOutput(out *os.File, getenv func(string) string, diff bool) *terminalOutput {
	t := &terminalOutput{inTmux: getenv("TMUX") != ""}
	t.diff = iterm.NewDiffWriter(out, getenv("TERM"), func() (int, int) {
		w, h, err := term.GetSize(out.Fd())
		if err != nil {
			return 0, 0
		}
		return w, h
	}, diff)
	return t
}

func (t *terminalOutput) writer() *iterm.DiffWriter { return t.diff }

func (t *terminalOutput) raw(p []byte) error { return t.diff.WriteRaw(p) }

func (t *terminalOutput) copy(text string) error {
	seq := osc52.New(text)
	if t.inTmux {
		seq = seq.Tmux()
	}
	return t.raw([]byte(seq.String()))
}

func (t *terminalOutput) bell() { _ = t.raw([]byte{'\a'}) }

// daemonsOf is the daemons of a --from-daemon frame, merged and stale, for the report; nil
// for a frame of the stream itself.
func daemonsOf(sources []ui.SourceInfo) []engine.ProducerStatus {
	var out []engine.ProducerStatus
	for _, s := range sources {
		if id, ok := strings.CutPrefix(s.Name, ui.DaemonSourcePrefix); ok {
			out = append(out, engine.ProducerStatus{Producer: id, Silent: s.Age, Stale: s.Stale})
		}
	}
	return out
}

// writeIncidentReport writes the frame as Markdown to a new file in dir and returns its path.
func writeIncidentReport(dir string, f ui.Frame, maxErrorRate float64) (string, error) {
	if f.Stream == nil {
		return "", errors.New("no data to report yet")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("incident report: %w", err)
	}
	name := fmt.Sprintf("ingot-top-incident-%s.md", f.At.UTC().Format("20060102T150405Z"))
	path := filepath.Join(dir, name)
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", fmt.Errorf("incident report: %w", err)
	}
	werr := report.Write(fh, report.FormatMarkdown, report.Input{
		Title: "ingot-top incident report", At: f.At, Window: engine.Window5m, Collected: f.At.Sub(f.Stream.Started),
		Conn: f.Conn, Stream: f.Stream, Health: f.Health, Alerts: f.Alerts, TopQueues: 20, MaxErrors: 50,
		MaxErrorRate: maxErrorRate, Daemons: daemonsOf(f.Sources),
	})
	if cerr := fh.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return "", fmt.Errorf("incident report %s: %w", path, werr)
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return path, nil
}
