package cli

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// asMainEnv makes the test binary behave as ingot-top, so that a real shell can run the
// completion scripts against this package's code without building the command.
const asMainEnv = "INGOT_TOP_TEST_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(asMainEnv) == "1" {
		os.Exit(Main(os.Args[1:], DefaultEnv(context.Background())))
	}
	os.Exit(m.Run())
}

// fakeInstall puts the test binary on PATH as "ingot-top" and returns the environment for a
// shell that should find it there.
func fakeInstall(t *testing.T) []string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(self, filepath.Join(dir, "ingot-top")); err != nil {
		t.Fatal(err)
	}
	return append(os.Environ(), asMainEnv+"=1", "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"), "INGOT_TOP_CONFIG=")
}

func shellOrSkip(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("skipped: %s is not installed (apt-get install %s); scripts/package-test.sh covers bash", name, name)
	}
	return path
}

// runShell runs a script in a shell with a deadline, so a broken script cannot hang the suite.
func runShell(t *testing.T, env []string, shell string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, shell, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", shell, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func writeScript(t *testing.T, shell string) string {
	t.Helper()
	script, ok := completionScript(shell)
	if !ok {
		t.Fatalf("no %s script", shell)
	}
	name := map[string]string{"bash": "ingot-top", "zsh": "_ingot-top", "fish": "ingot-top.fish"}[shell]
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// bash runs the registered completer as its programmable completion does: the command from
// `complete -C` with COMP_LINE and COMP_POINT set and the command name, word and previous
// word as arguments.
func TestBashCompletionRoundTrip(t *testing.T) {
	bash := shellOrSkip(t, "bash")
	env := fakeInstall(t)
	script := writeScript(t, "bash")
	out := runShell(t, env, bash, "-c", `
source "$1" || exit 1
spec=$(complete -p ingot-top) || exit 1
cmd=$(sed -E "s/.* -C '?([^' ]+)'? ingot-top$/\1/" <<<"$spec")
COMP_LINE="ingot-top daemon --log.format " COMP_POINT=30 "$cmd" ingot-top "" --log.format
echo ---
COMP_LINE="ingot-top dae" COMP_POINT=13 "$cmd" ingot-top dae ingot-top
`, "bash", script)
	// posener/complete answers in map order; bash sorts what it shows.
	if want := "json\nlogfmt\n---\ndaemon\n"; sortBlocks(out) != want {
		t.Errorf("bash completion: got %q, want %q", out, want)
	}
}

// zsh: the script loads through compinit from $fpath, and its function offers what the
// binary answers (compadd is replaced to print the candidates).
func TestZshCompletionRoundTrip(t *testing.T) {
	zsh := shellOrSkip(t, "zsh")
	env := fakeInstall(t)
	script := writeScript(t, "zsh")
	out := runShell(t, env, zsh, "-f", "-c", `
fpath=("${1:h}" $fpath)
autoload -U compinit && compinit -u -D
print -r -- "registered: $_comps[ingot-top]"; print -- ---
compadd() { [[ $1 == -- ]] && shift; print -rl -- "$@"; }
_files() { print -r -- "<files>"; }
source "$1"
words=(ingot-top dae); CURRENT=2; _ingot-top; print -- ---
words=(ingot-top daemon --log.format ""); CURRENT=4; _ingot-top; print -- ---
words=(ingot-top daemon --durable x); CURRENT=4; _ingot-top
`, "zsh", script)
	if want := "registered: _ingot-top\n---\ndaemon\n---\njson\nlogfmt\n---\n<files>\n"; sortBlocks(out) != want {
		t.Errorf("zsh completion: got %q, want %q", out, want)
	}
}

// fish: `complete -C` asks fish for the completions of a command line.
func TestFishCompletionRoundTrip(t *testing.T) {
	fish := shellOrSkip(t, "fish")
	env := fakeInstall(t)
	script := writeScript(t, "fish")
	out := runShell(t, append(env, "HOME="+t.TempDir()), fish, "--no-config", "-c", `
source $argv[1]
complete -C "ingot-top dae"; echo ---
complete -C "ingot-top daemon --log.format "; echo ---
complete -C "ingot-top --ser"
`, script)
	if want := "daemon\n---\njson\nlogfmt\n---\n--server\n"; sortBlocks(out) != want {
		t.Errorf("fish completion: got %q, want %q", out, want)
	}
}

// sortBlocks sorts the lines within each block of output between "---" lines.
func sortBlocks(out string) string {
	var b strings.Builder
	for i, block := range strings.Split(strings.TrimSuffix(out, "\n"), "\n---\n") {
		if i > 0 {
			b.WriteString("---\n")
		}
		lines := strings.Split(block, "\n")
		sort.Strings(lines)
		b.WriteString(strings.Join(lines, "\n") + "\n")
	}
	return b.String()
}
