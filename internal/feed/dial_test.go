package feed

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/nsai/ingot-top/internal/testkit"
)

// writeContext creates $XDG_CONFIG_HOME/nats/context/NAME.json and points XDG_CONFIG_HOME at it.
func writeContext(t *testing.T, name, json string, selected string) string {
	t.Helper()
	cfg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfg)
	t.Setenv("NATS_CONTEXT", "")
	dir := filepath.Join(cfg, "nats", "context")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if name != "" {
		if err := os.WriteFile(filepath.Join(dir, name+".json"), []byte(json), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if selected != "" {
		if err := os.WriteFile(filepath.Join(cfg, "nats", "context.txt"), []byte(selected+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return cfg
}

func TestContextURLAndCredentialsConnect(t *testing.T) {
	s := testkit.StartNATS(t, &server.Options{Username: "ctxuser", Password: "ctxpass"})
	writeContext(t, "prod", `{"url":"`+s.ClientURL()+`","user":"ctxuser","password":"ctxpass"}`, "")

	// --server left at its default: the context URL wins.
	opts := Options{Server: DefaultServer, Context: "prod", Subject: "telemetry.>", ConnectTimeout: time.Second}
	servers, _, err := opts.NATSOptions("t")
	if err != nil || servers != s.ClientURL() {
		t.Fatalf("servers %q, err %v", servers, err)
	}
	nc, err := Dial(opts, "ctx-test")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	testkit.EventuallyTrue(t, 5*time.Second, "connection through the context", nc.IsConnected)

	// An explicit --server overrides the context URL; an explicit --user its user.
	opts.Server = "nats://10.1.2.3:4222"
	if servers, _, _ := opts.NATSOptions("t"); servers != "nats://10.1.2.3:4222" {
		t.Errorf("explicit --server lost: %q", servers)
	}
}

func TestSelectedContextIsUsedWithoutFlag(t *testing.T) {
	writeContext(t, "dev", `{"url":"nats://dev.example:4222"}`, "dev")
	servers, _, err := Options{Server: DefaultServer}.NATSOptions("t")
	if err != nil || servers != "nats://dev.example:4222" {
		t.Fatalf("servers %q, err %v", servers, err)
	}
	// NATS_CONTEXT names another context, which beats the selection.
	writeContext(t, "", "", "")
	cfg := os.Getenv("XDG_CONFIG_HOME")
	if err := os.WriteFile(filepath.Join(cfg, "nats", "context", "ci.json"), []byte(`{"url":"nats://ci:4222"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NATS_CONTEXT", "ci")
	if servers, _, err := (Options{Server: DefaultServer}).NATSOptions("t"); err != nil || servers != "nats://ci:4222" {
		t.Fatalf("NATS_CONTEXT: servers %q, err %v", servers, err)
	}
}

func TestNoContextUsesDefaultServer(t *testing.T) {
	writeContext(t, "", "", "")
	servers, opts, err := Options{Server: DefaultServer}.NATSOptions("t")
	if err != nil || servers != DefaultServer || len(opts) == 0 {
		t.Fatalf("servers %q, %d opts, err %v", servers, len(opts), err)
	}
}

func TestUnreadableFilesFailBeforeConnecting(t *testing.T) {
	writeContext(t, "broken", `{"url":"nats://x:4222","creds":"/nonexistent/ctx.creds"}`, "")
	missing := filepath.Join(t.TempDir(), "missing")
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		opts Options
		want string
	}{
		{Options{Creds: missing}, "reading --creds " + missing},
		{Options{NKey: missing}, "reading --nkey " + missing},
		{Options{TLSCert: missing, TLSKey: missing}, "reading --tlscert " + missing},
		{Options{TLSCA: missing}, "reading --tlsca " + missing},
		{Options{TLSCA: garbage}, "no PEM certificates"},
		{Options{TLSCert: garbage}, "needs both --tlscert and --tlskey"},
		{Options{Context: "broken"}, "reading context broken: creds /nonexistent/ctx.creds"},
		{Options{Context: "absent"}, `reading natscli context "absent"`},
		{Options{Context: "../etc"}, "invalid natscli context name"},
	}
	for _, tc := range tests {
		tc.opts.Server = DefaultServer
		_, _, err := tc.opts.NATSOptions("t")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err %v, want %q", tc.opts, err, tc.want)
		}
		tc.opts.Subject = "telemetry.>"
		if _, err := New(tc.opts, Config{}); err == nil {
			t.Errorf("New accepted %+v", tc.opts)
		}
	}
}

func TestDialReturnsPromptlyWhenServerIsDown(t *testing.T) {
	writeContext(t, "", "", "")
	// A port nothing listens on: take one from a server and stop it.
	s := testkit.StartNATS(t, &server.Options{})
	url := s.ClientURL()
	s.Shutdown()
	s.WaitForShutdown()
	start := time.Now()
	nc, err := Dial(Options{Server: url, ConnectTimeout: time.Second}, "down")
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer nc.Close()
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("Dial took %v", elapsed)
	}
	if nc.IsConnected() {
		t.Error("connected to a stopped server")
	}
}

func TestRedactURLs(t *testing.T) {
	for in, want := range map[string]string{
		"nats://127.0.0.1:4222":                     "nats://127.0.0.1:4222",
		"nats://user:secret@host:4222":              "nats://user:xxxxx@host:4222",
		"nats://tok3n@host:4222,nats://a:b@h2:4222": "nats://xxxxx@host:4222,nats://a:xxxxx@h2:4222",
	} {
		if got := RedactURLs(in); got != want {
			t.Errorf("RedactURLs(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestReconnectDelayIsBoundedAndJittered(t *testing.T) {
	seen := map[time.Duration]bool{}
	for attempt := range 50 {
		d := reconnectDelay(attempt)
		if d <= 0 || d > reconnectCap {
			t.Fatalf("attempt %d: delay %v", attempt, d)
		}
		seen[d] = true
	}
	if len(seen) < 10 {
		t.Errorf("delays not jittered: %v", seen)
	}
}

func TestSubjectPrefix(t *testing.T) {
	for in, want := range map[string]string{
		"telemetry.>": "telemetry", "a.b.*.c": "a.b", ">": "", "telemetry.anvil.label.submitted": "telemetry",
	} {
		if got := SubjectPrefix(in); got != want {
			t.Errorf("SubjectPrefix(%q) = %q, want %q", in, got, want)
		}
	}
}
