package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"

	"github.com/nsai/ingot-top/internal/buildinfo"
	"github.com/nsai/ingot-top/internal/config"
	"github.com/nsai/ingot-top/internal/testkit"
	"github.com/nsai/ingot-top/internal/wire"
)

// run runs the command line in-process with the given environment.
func run(t *testing.T, environ map[string]string, args ...string) cmdResult {
	t.Helper()
	var stdout, stderr testkit.SyncBuffer
	code := Main(args, Env{Ctx: t.Context(), Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return environ[k] }})
	return cmdResult{code, stdout.String(), stderr.String()}
}

// brokenConfig is a config file every settings-reading command rejects: an unknown key
// (found while parsing) or, with malformed, YAML that does not load at all.
func brokenConfig(t *testing.T, malformed ...bool) map[string]string {
	content := "no-such-key: 1\n"
	if len(malformed) > 0 && malformed[0] {
		content = "server: [unclosed\n"
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return map[string]string{"INGOT_TOP_CONFIG": path}
}

// --version was an unknown flag; `version` and `--version` now print the same line, on any
// command, and a broken config file does not stop them.
func TestVersionFlagAndCommand(t *testing.T) {
	want := buildinfo.String() + "\n"
	for _, args := range [][]string{{"--version"}, {"version"}, {"daemon", "--version"}, {"snapshot", "--version"}} {
		for _, env := range []map[string]string{nil, brokenConfig(t), brokenConfig(t, true)} {
			r := run(t, env, args...)
			if r.code != ExitOK || r.stdout != want {
				t.Errorf("ingot-top %s (env %v): exit %d, stdout %q, stderr %q; want exit 0 and %q",
					strings.Join(args, " "), env, r.code, r.stdout, r.stderr, want)
			}
		}
	}
	if !strings.Contains(want, "commit ") || !strings.Contains(want, "built ") || !strings.Contains(want, "go1.") {
		t.Errorf("version line %q lacks the commit, the build date or the Go version", want)
	}
}

// Flags with a placeholder (-s URL, --subject SUBJECT) and booleans hid their defaults.
func TestHelpShowsEveryDefault(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"daemon", "--help"}, []string{
			"NATS server URL(s), comma separated (default: nats://127.0.0.1:4222; $NATS_URL).",
			"the part before the first wildcard is the event prefix (default: telemetry.>).",
			"(created on --subject with --create) (default: TELEMETRY).",
			"/-/healthy and /-/ready on (repeatable) (default: :9464).",
			"Gzip rotated log files (default: true).",
			"must not be under --subject (default: ingot_top.errors).",
		}},
		{[]string{"dashboard", "--help"}, []string{"(default: nats://127.0.0.1:4222; $NATS_URL)", "Colour theme: auto,dark,light"}},
	} {
		r := run(t, nil, tc.args...)
		help := strings.Join(strings.Fields(r.stdout), " ")
		for _, w := range tc.want {
			if !strings.Contains(help, w) {
				t.Errorf("ingot-top %s does not say %q:\n%s", strings.Join(tc.args, " "), w, r.stdout)
			}
		}
	}
}

// completions asks for completions as a shell does: the line up to the cursor in COMP_LINE.
func completions(t *testing.T, environ map[string]string, line string) []string {
	t.Helper()
	t.Setenv("COMP_LINE", line)
	t.Setenv("COMP_POINT", "")
	env := map[string]string{"COMP_LINE": line}
	for k, v := range environ {
		env[k] = v
	}
	r := run(t, env, "ingot-top", "", "")
	if r.code != ExitOK {
		t.Fatalf("completion of %q: exit %d, stderr %q", line, r.code, r.stderr)
	}
	got := strings.Fields(r.stdout)
	sort.Strings(got)
	return got
}

func TestCompletionAnswersFromTheKongModel(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"creds.json", "other.txt"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		line string
		want []string
	}{
		{"ingot-top dae", []string{"daemon"}},
		{"ingot-top comp", []string{"completion"}},
		{"ingot-top completion ", []string{"bash", "fish", "zsh"}},
		{"ingot-top daemon --log.fo", []string{"--log.format"}},
		{"ingot-top daemon --log.format ", []string{"json", "logfmt"}},
		{"ingot-top daemon --audit.fs", []string{"--audit.fsync"}},
		// The dashboard is the default command: its flags complete without naming it.
		{"ingot-top --ser", []string{"--server"}},
		{"ingot-top --theme ", []string{"auto", "dark", "light"}},
		{"ingot-top --vers", []string{"--version"}},
		// Path flags complete file names.
		{"ingot-top daemon --creds " + dir + "/cr", []string{dir + "/creds.json"}},
	} {
		got := completions(t, nil, tc.line)
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("completing %q: got %q, want %q", tc.line, got, tc.want)
		}
	}
	// The shell's Tab key works with a config file every other command rejects.
	if got := completions(t, brokenConfig(t), "ingot-top dae"); strings.Join(got, " ") != "daemon" {
		t.Errorf("with a broken config file: got %q, want [daemon]", got)
	}
}

func TestCompletionScripts(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		r := run(t, brokenConfig(t, true), "completion", shell)
		if r.code != ExitOK || !strings.Contains(r.stdout, "ingot-top") {
			t.Fatalf("completion %s: exit %d, stdout %q, stderr %q", shell, r.code, r.stdout, r.stderr)
		}
		path := filepath.Join(t.TempDir(), "ingot-top."+shell)
		if err := os.WriteFile(path, []byte(r.stdout), 0o600); err != nil {
			t.Fatal(err)
		}
		sh, err := exec.LookPath(shell)
		if err != nil {
			t.Logf("%s not installed: its script's syntax is not checked here (scripts/package-test.sh runs it)", shell)
			continue
		}
		if out, err := exec.Command(sh, "-n", path).CombinedOutput(); err != nil {
			t.Errorf("%s -n on the script: %v\n%s", shell, err, out)
		}
		if shell == "bash" {
			out, err := exec.Command(sh, "-c", `source "$1" && complete -p ingot-top`, "bash", path).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "-C 'ingot-top' ingot-top") {
				t.Errorf("bash: the script does not register ingot-top: %v\n%s", err, out)
			}
		}
	}
	if r := run(t, nil, "completion", "tcsh"); r.code != ExitUsage {
		t.Errorf("completion tcsh: exit %d, want %d (usage)", r.code, ExitUsage)
	}
}

// The man page holds every command and flag of the model, with the defaults --help shows,
// and groff reads it without a warning.
func TestManPageCoversTheModelAndRendersCleanly(t *testing.T) {
	r := run(t, brokenConfig(t, true), "man")
	if r.code != ExitOK {
		t.Fatalf("man: exit %d, stderr %q", r.code, r.stderr)
	}
	page := r.stdout
	if !strings.HasPrefix(page, `.TH "INGOT\-TOP" "1"`) {
		t.Errorf("page does not start with .TH: %.80q", page)
	}
	var root Root
	parser, err := newParser(&root, config.Empty(), &Env{Getenv: func(string) string { return "" }}, func(int) {})
	if err != nil {
		t.Fatal(err)
	}
	var walk func(n *kong.Node)
	walk = func(n *kong.Node) {
		if n != parser.Model.Node && !n.Hidden && !strings.Contains(page, `ingot\-top `+roffEscape(n.Path())) {
			t.Errorf("the page lacks the command %q", n.Path())
		}
		for _, f := range n.Flags {
			if !f.Hidden && !strings.Contains(page, roffEscape(f.Name)+`\fR`) {
				t.Errorf("the page lacks --%s (of %s)", f.Name, n.Name)
			}
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(parser.Model.Node)
	for _, want := range []string{`(default: nats://127.0.0.1:4222; $NATS_URL)`, `INGOT_METRICS_SAMPLE_RATE`, `.SH "EXIT STATUS"`, `/etc/ingot-top/config.yaml`} {
		if !strings.Contains(page, roffEscape(want)) && !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}

	groff, err := exec.LookPath("groff")
	if err != nil {
		testkit.RequireTool(t, "groff is absent (Debian: groff-base, which man-db needs), so the page's roff is not checked")
	}
	// As man(1) renders it on terminals of common widths: a word that cannot be broken
	// (a long URL) or a line that cannot be filled is a warning, and a flaw on screen.
	for _, width := range []string{"60n", "80n", "100n", "160n"} {
		cmd := exec.Command(groff, "-man", "-Tutf8", "-ww", "-z", "-rLL="+width)
		cmd.Stdin = strings.NewReader(page)
		var warnings bytes.Buffer
		cmd.Stderr = &warnings
		if err := cmd.Run(); err != nil || warnings.Len() > 0 {
			t.Errorf("groff -man -Tutf8 -ww -rLL=%s: %v\n%s", width, err, warnings.String())
		}
	}
}

// A publisher compares its output with these lines; each must be a valid message.
func TestSimulatePrintWritesValidMessages(t *testing.T) {
	r := run(t, nil, "simulate", "--print", "200", "--seed", "3", "--server", "nats://127.0.0.1:1")
	if r.code != ExitOK {
		t.Fatalf("simulate --print: exit %d, stderr %q", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 200 {
		t.Fatalf("got %d lines, want 200", len(lines))
	}
	dec := wire.NewDecoder("telemetry")
	names := map[string]bool{}
	headers := 0
	for i, l := range lines {
		fields := strings.Split(l, "\t")
		if len(fields) < 2 || len(fields) > 3 {
			t.Fatalf("line %d: want subject<TAB>json[<TAB>traceparent: ...], got %q", i+1, l)
		}
		tp := ""
		if len(fields) == 3 {
			var ok bool
			if tp, ok = strings.CutPrefix(fields[2], "traceparent: "); !ok {
				t.Fatalf("line %d: third field %q is not a traceparent header", i+1, fields[2])
			}
			headers++
		}
		ev, derr := dec.Decode(fields[0], []byte(fields[1]), tp, time.Now())
		if derr != nil {
			t.Fatalf("line %d is not a valid message: %v\n%s", i+1, derr, l)
		}
		names[ev.Name] = true
	}
	if len(names) < 5 || headers == 0 {
		t.Errorf("200 messages hold %d event names and %d traceparent headers; want a mix", len(names), headers)
	}
	if r := run(t, nil, "simulate", "--print", "0"); r.code != ExitUsage {
		t.Errorf("--print 0: exit %d, want %d", r.code, ExitUsage)
	}
}
