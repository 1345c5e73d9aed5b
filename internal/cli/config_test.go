package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nsai/ingot-top/internal/testkit"
)

func runWithEnv(t *testing.T, env map[string]string, args ...string) cmdResult {
	t.Helper()
	var stdout, stderr testkit.SyncBuffer
	getenv := func(k string) string { return env[k] }
	code := Main(args, Env{Ctx: context.Background(), Stdout: &stdout, Stderr: &stderr, Getenv: getenv})
	return cmdResult{code, stdout.String(), stderr.String()}
}

func writeConfig(t *testing.T, dir, body string) string {
	t.Helper()
	path := filepath.Join(dir, "ingot-top", "config.yaml")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func settingLine(out, name string) string {
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == name {
			return l
		}
	}
	return ""
}

// Precedence: flags > environment > file > defaults, and the XDG path is found by itself.
func TestConfigPrecedenceAndSources(t *testing.T) {
	xdg := t.TempDir()
	path := writeConfig(t, xdg, "server: nats://file:4222\nsubject: file.>\ntoken: s3cret-value\nalert:\n  error-rate: 0.02\nrefresh: 2s\n")
	t.Setenv("NATS_URL", "nats://env:4222") // kong reads flag env vars from the process
	res := runWithEnv(t, map[string]string{"XDG_CONFIG_HOME": xdg, "NATS_URL": "nats://env:4222"}, "config", "--refresh", "3s")
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	checks := map[string][]string{
		"refresh":          {"3s", "flag --refresh"},
		"server":           {"nats://env:4222", "env NATS_URL"},
		"subject":          {"file.>", "file " + path},
		"alert.error-rate": {"0.02", "file " + path},
		"theme":            {"auto", "default"},
		"token":            {"<redacted>", "file " + path},
	}
	for name, want := range checks {
		line := settingLine(res.stdout, name)
		for _, w := range want {
			if !strings.Contains(line, w) {
				t.Errorf("%s: line %q lacks %q", name, line, w)
			}
		}
	}
	if strings.Contains(res.stdout, "s3cret-value") {
		t.Error("a secret was printed")
	}
}

func TestConfigUnknownKeyNamedWithLine(t *testing.T) {
	xdg := t.TempDir()
	writeConfig(t, xdg, "server: nats://x:4222\nalert:\n  eror-rate: 0.1\n")
	res := runWithEnv(t, map[string]string{"XDG_CONFIG_HOME": xdg}, "config")
	if res.code != ExitUsage {
		t.Fatalf("exit %d, want %d", res.code, ExitUsage)
	}
	if !strings.Contains(res.stderr, `line 3: unknown key "alert.eror-rate" (did you mean "alert.error-rate"?)`) {
		t.Errorf("stderr = %q", res.stderr)
	}
}

func TestConfigBadValueNamesKeyAndFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(path, []byte("refresh: banana\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	res := runWithEnv(t, nil, "--config", path, "config")
	if res.code != ExitUsage || !strings.Contains(res.stderr, `key "refresh" in config file `+path) {
		t.Errorf("exit %d, stderr %q", res.code, res.stderr)
	}
	res = runWithEnv(t, nil, "--config", filepath.Join(dir, "missing.yaml"), "config")
	if res.code != ExitUsage || !strings.Contains(res.stderr, "missing.yaml") {
		t.Errorf("a named but missing file: exit %d, stderr %q", res.code, res.stderr)
	}
}
