package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDaemonStartupMistakesExitWithUsage runs the command line in-process: every
// configuration mistake must end with ExitUsage and a message naming the flag, before any
// connection is attempted.
func TestDaemonStartupMistakesExitWithUsage(t *testing.T) {
	dir := t.TempDir()
	badWeb := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(badWeb, []byte("basic_auth_users: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"daemon", "-s", "nats://127.0.0.1:1", "--audit.dir", filepath.Join(dir, "audit"), "--log.file", filepath.Join(dir, "d.log")}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--web.listen-address", "127.0.0.1:99999"}, "--web.listen-address"},
		{[]string{"--web.listen-address", "127.0.0.1:0", "--web.config.file", filepath.Join(dir, "missing.yml")}, "--web.config.file"},
		{[]string{"--web.listen-address", "127.0.0.1:0", "--web.config.file", badWeb}, "--web.config.file"},
		{[]string{"--web.listen-address", "127.0.0.1:0", "--republish.errors-subject", "telemetry.errors"}, "--republish.errors-subject"},
		{[]string{"--web.listen-address", "127.0.0.1:0", "--log.sample-rate", "1.5"}, "--log.sample-rate"},
		{[]string{"--web.listen-address", "127.0.0.1:0", "--log.format", "xml"}, "--log.format"},
	} {
		var stdout, stderr bytes.Buffer
		env := Env{Ctx: context.Background(), Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }}
		code := Main(append(append([]string{}, base...), c.args...), env)
		if code != ExitUsage {
			t.Errorf("%v: exit %d, want %d; stderr: %s", c.args, code, ExitUsage, stderr.String())
			continue
		}
		if !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v: message does not name %s: %s", c.args, c.want, stderr.String())
		}
	}
}
