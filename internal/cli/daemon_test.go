package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alecthomas/kong"

	"github.com/nsai/ingot-top/internal/sshserve"
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
		{[]string{"--web.listen-address", "127.0.0.1:0", "--ssh.listen-address", "127.0.0.1:0"}, "--ssh.authorized-keys is required"},
		{[]string{"--web.listen-address", "127.0.0.1:0", "--ssh.listen-address", "127.0.0.1:0", "--ssh.authorized-keys", filepath.Join(dir, "none")}, "--ssh.authorized-keys"},
		{[]string{"--web.listen-address", "127.0.0.1:0", "--ssh.listen-address", "127.0.0.1:0", "--ssh.authorized-keys", badWeb, "--ssh.max-sessions", "0"}, "--ssh.max-sessions"},
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

// The SSH session cap defaults to 32 (issue 14), from the flag through the config key.
func TestDaemonSSHDefaults(t *testing.T) {
	var root Root
	parser, err := kong.New(&root, kong.Name("ingot-top"), kong.Exit(func(int) {}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parser.Parse([]string{"daemon"}); err != nil {
		t.Fatal(err)
	}
	d := root.Daemon
	if d.SSHMaxSessions != 32 || sshserve.DefaultMaxSessions != 32 {
		t.Fatalf("--ssh.max-sessions default %d, want 32", d.SSHMaxSessions)
	}
	if d.SSHIdleTimeout != sshserve.DefaultIdleTimeout || d.SSHRateLimit != sshserve.DefaultRatePerMin || d.SSHWriteTimeout != sshserve.DefaultWriteTimeout {
		t.Fatalf("SSH defaults drifted from sshserve's: %+v", d)
	}
	if d.SSHListenAddress != "" {
		t.Fatal("the SSH listener must be off unless asked for")
	}
}
