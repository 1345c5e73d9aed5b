// Package cli owns the command line: one kong command per mode, the shared connection flags,
// and the precedence flags > environment > config file > defaults.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/alecthomas/kong"

	"github.com/nsai/ingot-top/internal/buildinfo"
	"github.com/nsai/ingot-top/internal/config"
)

// Exit codes shared by every command; `ingot-top --help` documents them.
const (
	ExitOK        = 0
	ExitProblem   = 1 // the command ran and found something wrong (snapshot thresholds)
	ExitUsage     = 2 // bad flags or config
	ExitNoConnect = 3 // could not reach NATS
	ExitInternal  = 4
)

// Env is what a command may touch of the process, so that tests can run commands in-process.
type Env struct {
	Ctx    context.Context
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
}

// ExitError carries an exit code out of a command's Run.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// Root is the whole command line.
type Root struct {
	ConfigFile string `name:"config" env:"INGOT_TOP_CONFIG" type:"path" placeholder:"FILE" help:"YAML config file (default $XDG_CONFIG_HOME/ingot-top/config.yaml). Keys are flag names; flags and environment win over it."`

	Dashboard  DashboardCmd  `cmd:"" default:"withargs" help:"Open the live dashboard (the default command)."`
	Demo       DemoCmd       `cmd:"" help:"Run a self-contained demo: embedded NATS, simulated Forge/Anvil/Ingot, and the dashboard."`
	Daemon     DaemonCmd     `cmd:"" help:"Run headless ingestion: /metrics, /health, JSON logs, audit trail, republishing."`
	Snapshot   SnapshotCmd   `cmd:"" help:"Collect from the stream for a while, print the aggregate, exit with a status."`
	Record     RecordCmd     `cmd:"" help:"Write every message on the subject, raw, to a file for replay."`
	Replay     ReplayCmd     `cmd:"" help:"Replay recordings on the recorded clock: in the dashboard, or headless printing the snapshot."`
	Simulate   SimulateCmd   `cmd:"" help:"Publish realistic, contract-valid Forge/Anvil/Ingot traffic to a NATS server."`
	Audit      AuditCmd      `cmd:"" help:"Merge and verify the audit trails of several daemons: one record per stream sequence, gaps named."`
	Config     ConfigCmd     `cmd:"" help:"Print the effective configuration and where each value came from."`
	Version    VersionCmd    `cmd:"" help:"Print the version, commit, build date and Go version."`
	Completion CompletionCmd `cmd:"" help:"Print the shell completion script for bash, zsh or fish."`
	Man        ManCmd        `cmd:"" help:"Print the man page (roff), generated from this command line."`

	VersionFlag kong.VersionFlag `name:"version" help:"Print the version, commit, build date and Go version, and exit."`
	ProfileDir  string           `name:"profile-dir" env:"INGOT_TOP_PROFILE_DIR" type:"path" placeholder:"DIR" help:"Write CPU and heap profiles of this run (cpu.pprof, heap.pprof) into DIR at exit, to attach to a report about cost; read them with go tool pprof."`
}

const description = `ingot-top watches the Ingot labeling platform (Ingot, Forge, Anvil) live from its
telemetry stream on NATS: queue throughput, latency percentiles, service health, errors
and alerts.

Connection flags follow natscli (-s/--server, --context, --creds, ...).

Exit codes: 0 ok; 1 a problem was found (snapshot thresholds exceeded); 2 usage or
config error; 3 could not connect to NATS; 4 internal error.`

// Main parses args and runs the chosen command; it returns the process exit code.
func Main(args []string, env Env) int {
	// A shell asking for completions runs us with COMP_LINE set. It is answered before the
	// config file is read: a broken file must not break the shell's Tab key.
	if env.Getenv("COMP_LINE") != "" {
		return completeLine(env)
	}
	var root Root
	exitCode := -1
	file := config.Empty()
	if readsSettings(args) {
		cfgPath, explicit := configPath(args, env.Getenv)
		var err error
		if file, err = config.Load(cfgPath, explicit); err != nil {
			fmt.Fprintf(env.Stderr, "ingot-top: %v\n", err)
			return ExitUsage
		}
	}
	parser, err := newParser(&root, file, &env, func(code int) { exitCode = code })
	if err != nil {
		fmt.Fprintf(env.Stderr, "ingot-top: %v\n", err)
		return ExitInternal
	}
	kctx, err := parser.Parse(args)
	if exitCode >= 0 { // --help or similar
		return exitCode
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "ingot-top: %v%s\n", err, fromFileHint(err, file))
		return ExitUsage
	}
	if file.Loaded {
		if err := checkFileForEveryMode(file, env.Getenv); err != nil {
			fmt.Fprintf(env.Stderr, "ingot-top: %v\n", err)
			return ExitUsage
		}
	}
	if root.ProfileDir != "" {
		stop, err := startProfiles(root.ProfileDir)
		if err != nil {
			fmt.Fprintf(env.Stderr, "ingot-top: %v\n", err)
			return ExitUsage
		}
		defer func() {
			if err := stop(); err != nil {
				fmt.Fprintf(env.Stderr, "ingot-top: %v\n", err)
			}
		}()
	}
	if err := kctx.Run(); err != nil {
		code := ExitInternal
		var ee *ExitError
		if errors.As(err, &ee) {
			code = ee.Code
		}
		fmt.Fprintf(env.Stderr, "ingot-top: %v\n", err)
		return code
	}
	return ExitOK
}

// newParser builds the command line the way every entry point sees it (Main, the completion
// answer, the man page), so help, completions and the man page describe the same model.
func newParser(root *Root, file *config.File, env *Env, exit func(int)) (*kong.Kong, error) {
	return kong.New(root,
		kong.Resolvers(file.Resolver(env.Getenv)),
		kong.Bind(file),
		kong.Name("ingot-top"),
		kong.Description(description),
		kong.UsageOnError(),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
		kong.ValueFormatter(helpValueFormatter),
		kong.Vars{"version": buildinfo.String()},
		kong.Writers(env.Stdout, env.Stderr),
		kong.Exit(exit),
		kong.BindTo(env.Ctx, (*context.Context)(nil)),
		kong.Bind(env),
	)
}

// readsSettings reports whether the command line runs a command that reads settings. The
// version, the completion scripts and the man page do not, so a broken config file must not
// keep a user from printing them (or a package build from generating them). A trial parse
// without the file tells; when it fails, the real parse with the file reports why.
func readsSettings(args []string) bool {
	var root Root
	parser, err := kong.New(&root, kong.Name("ingot-top"), kong.Writers(io.Discard, io.Discard), kong.Exit(func(int) {}))
	if err != nil {
		return true
	}
	kctx, err := parser.Parse(args)
	if err != nil {
		return true
	}
	if root.VersionFlag {
		return false
	}
	// audit reads only its arguments: an auditor's check must not depend on the settings
	// file of the machine it runs on.
	for _, c := range []string{"version", "completion", "man", "audit"} {
		if cmd := kctx.Command(); cmd == c || strings.HasPrefix(cmd, c+" ") {
			return false
		}
	}
	return true
}

// helpValueFormatter adds the default to a flag's help wherever kong's usage line does not
// show it. Kong prints "--batch-size=4096", but a flag with a placeholder prints
// "--server=URL", and a boolean prints no value at all, so "-s" defaulting to
// nats://127.0.0.1:4222 and --log.compress defaulting to true were invisible in --help and
// in the man page. Environment variables are appended as kong does.
func helpValueFormatter(value *kong.Value) string {
	help := value.Help
	var notes []string
	if value.Flag != nil && value.HasDefault && value.Default != "" && !kong.HasInterpolatedVar(value.OrigHelp, "default") &&
		(value.Flag.PlaceHolder != "" || value.IsBool()) {
		notes = append(notes, "default: "+value.Default)
	}
	if len(value.Tag.Envs) > 0 && !kong.HasInterpolatedVar(value.OrigHelp, "env") {
		notes = append(notes, "$"+strings.Join(value.Tag.Envs, ", $"))
	}
	if len(notes) == 0 {
		return help
	}
	suffix := "(" + strings.Join(notes, "; ") + ")"
	switch {
	case help == "":
		return suffix
	case strings.HasSuffix(help, "."):
		return help[:len(help)-1] + " " + suffix + "."
	default:
		return help + " " + suffix
	}
}

// fromFileHint points at the config file when a bad value came from it, since kong and the
// validators name only the flag ("--refresh 1ms is too short").
func fromFileHint(err error, file *config.File) string {
	msg := err.Error()
	if file.Path == "" || strings.Contains(msg, file.Path) {
		return ""
	}
	for _, m := range flagInMessage.FindAllStringSubmatch(msg, -1) {
		if file.Has(m[1]) {
			return fmt.Sprintf(" (key %q in config file %s)", m[1], file.Path)
		}
	}
	return ""
}

// configPath finds the config file before parsing, because the file feeds the parser:
// --config FILE or --config=FILE, then INGOT_TOP_CONFIG, then the XDG default (which may be
// absent without error).
func configPath(args []string, getenv func(string) string) (path string, explicit bool) {
	for i, a := range args {
		if a == "--" {
			break
		}
		if a == "--config" && i+1 < len(args) {
			return args[i+1], true
		}
		if v, ok := strings.CutPrefix(a, "--config="); ok {
			return v, true
		}
	}
	if v := getenv("INGOT_TOP_CONFIG"); v != "" {
		return v, true
	}
	return config.DefaultPath(getenv), false
}

// DefaultEnv is the real process environment.
func DefaultEnv(ctx context.Context) Env {
	return Env{Ctx: ctx, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
}

// endOnHangup returns env with a context that also ends on SIGHUP. The interactive modes
// belong to a terminal: when it goes away (a dropped SSH session, a closed tmux pane) they
// stop as on Ctrl-C and clean up (the demo's temporary JetStream store). The daemon keeps
// SIGHUP for reopening its log files.
func endOnHangup(env *Env) (*Env, context.CancelFunc) {
	parent := env.Ctx
	if parent == nil {
		parent = context.Background()
	}
	ctx, stop := signal.NotifyContext(parent, syscall.SIGHUP)
	e := *env
	e.Ctx = ctx
	return &e, stop
}
