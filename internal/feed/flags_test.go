package feed

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"
	"github.com/nats-io/nats-server/v2/server"

	"github.com/nsai/ingot-top/internal/testkit"
)

// TestNoContextIgnoresSelectedAndNamedContext: --no-context wins over the selected context,
// NATS_CONTEXT and --context.
func TestNoContextIgnoresSelectedAndNamedContext(t *testing.T) {
	writeContext(t, "dev", `{"url":"nats://dev.example:4222","inbox_prefix":"_X"}`, "dev")
	t.Setenv("NATS_CONTEXT", "dev")
	for _, o := range []Options{{Server: DefaultServer, NoContext: true}, {Server: DefaultServer, NoContext: true, Context: "dev"}} {
		servers, _, err := o.NATSOptions("t")
		if err != nil || servers != DefaultServer {
			t.Errorf("%+v: servers %q, err %v", o, servers, err)
		}
	}
	// A context that does not exist is no error when contexts are off.
	if _, _, err := (Options{Server: DefaultServer, NoContext: true, Context: "absent"}).NATSOptions("t"); err != nil {
		t.Errorf("--no-context --context absent: %v", err)
	}
}

// TestJWTSeedFlagsReplaceContextAuth: --jwt/--seed connect to an operator-mode server, also
// when the context names another authentication method (user/password), which natscontext
// alone would prefer over the JWT.
func TestJWTSeedFlagsReplaceContextAuth(t *testing.T) {
	user := newJWTUser(t)
	opts := &server.Options{}
	user.serverOptions(opts)
	s := testkit.StartNATS(t, opts)
	writeContext(t, "old", `{"url":`+quote(s.ClientURL())+`,"user":"someone","password":"stale"}`, "old")
	nc, err := Dial(Options{Server: DefaultServer, JWT: user.jwt, Seed: user.seed, ConnectTimeout: time.Second}, "flags")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	testkit.Eventually(t, 5*time.Second, "connected with --jwt/--seed", func() (bool, string) {
		if err := nc.LastError(); err != nil {
			return nc.IsConnected(), err.Error()
		}
		return nc.IsConnected(), ""
	})
}

func TestBadSeedAndSeedWithoutJWTFailClearly(t *testing.T) {
	writeContext(t, "", "", "")
	user := newJWTUser(t)
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{JWT: user.jwt, Seed: "SUNOTASEED"}, "--user-seed is not a valid NKey seed"},
		{Options{Seed: user.seed}, "--user-seed needs a user JWT"},
	} {
		tc.opts.Server = DefaultServer
		_, _, err := tc.opts.NATSOptions("t")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err %v, want %q", err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), user.seed) {
			t.Errorf("error shows the seed: %v", err)
		}
	}
}

// TestTLSFirstFlagConnects: --tlsfirst reaches a server with handshake_first.
func TestTLSFirstFlagConnects(t *testing.T) {
	writeContext(t, "", "", "")
	pki := newTestPKI(t)
	opts := &server.Options{}
	tlsFirst(t, pki, opts)
	s := testkit.StartNATS(t, opts)
	nc, err := Dial(Options{Server: s.ClientURL(), TLSCA: pki.caFile, TLSFirst: true, ConnectTimeout: time.Second}, "tlsfirst")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	testkit.EventuallyTrue(t, 5*time.Second, "connected with --tlsfirst", nc.IsConnected)
}

// TestInboxPrefixAndJSDomainFlagsOverrideContext: flags the user set win over the context.
func TestInboxPrefixAndJSDomainFlagsOverrideContext(t *testing.T) {
	s := testkit.StartNATS(t, nil)
	writeContext(t, "ctx", `{"url":`+quote(s.ClientURL())+`,"inbox_prefix":"_INBOX_ctx","jetstream_domain":"ctxdomain"}`, "ctx")
	o := Options{Server: DefaultServer, InboxPrefix: "_INBOX_flag", JSDomain: "flagdomain", ConnectTimeout: time.Second}
	nc, err := Dial(o, "inbox")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if inbox := nc.NewRespInbox(); !strings.HasPrefix(inbox, "_INBOX_flag.") {
		t.Errorf("inbox %q", inbox)
	}
	if d, err := o.JetStreamDomain(); err != nil || d != "flagdomain" {
		t.Errorf("domain %q, err %v", d, err)
	}
	o.JSDomain = ""
	if d, err := o.JetStreamDomain(); err != nil || d != "ctxdomain" {
		t.Errorf("context domain %q, err %v", d, err)
	}
}

// TestNATSCredsEnvFillsCreds: NATS_CREDS feeds --creds (natscli's variable), so a missing file
// named there is reported as --creds before connecting.
func TestNATSCredsEnvFillsCreds(t *testing.T) {
	writeContext(t, "", "", "")
	missing := filepath.Join(t.TempDir(), "env.creds")
	t.Setenv("NATS_CREDS", missing)
	var cli struct{ Options }
	parser, err := kong.New(&cli)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parser.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if cli.Creds != missing {
		t.Fatalf("Creds %q, want %q from NATS_CREDS", cli.Creds, missing)
	}
	if _, _, err := cli.NATSOptions("t"); err == nil || !strings.Contains(err.Error(), "reading --creds "+missing) {
		t.Errorf("err %v", err)
	}
}
