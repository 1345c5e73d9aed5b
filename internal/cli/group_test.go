package cli

import (
	"strings"
	"testing"

	"github.com/alecthomas/kong"
)

// --group is a flag, an env var and a config key; in durable mode it names the one consumer.
func TestDaemonGroupFlagEnvAndValidation(t *testing.T) {
	parse := func(args ...string) (*DaemonCmd, error) {
		var root Root
		p := kong.Must(&root, kong.Exit(func(int) {}))
		_, err := p.Parse(append([]string{"daemon"}, args...))
		return &root.Daemon, err
	}
	d, err := parse("--group", "ingest-eu")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := d.config(func(string) string { return "" })
	if err != nil || cfg.Ingest.Group != "ingest-eu" || cfg.Ingest.Durable != "" {
		t.Errorf("core group: %+v, %v", cfg.Ingest, err)
	}
	if _, err := parse("--group", "eu", "--durable", "eu"); err != nil {
		t.Errorf("same group and durable: %v", err)
	}
	if _, err := parse("--group", "eu", "--durable", "us"); err == nil || !strings.Contains(err.Error(), "--durable") {
		t.Errorf("group and durable differ: %v", err)
	}
	for _, bad := range []string{"a.b", "a b", "x>", "*"} {
		if _, err := parse("--group", bad); err == nil || !strings.Contains(err.Error(), "--group") {
			t.Errorf("--group %q: %v", bad, err)
		}
	}
	t.Setenv("INGOT_TOP_GROUP", "from-env")
	if d, err := parse(); err != nil || d.Group != "from-env" {
		t.Errorf("env: %q, %v", d.Group, err)
	}
}
