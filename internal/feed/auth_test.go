package feed

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/nsai/ingot-top/internal/ingest"
	"github.com/nsai/ingot-top/internal/testkit"
)

// authCase is one authentication method: the server config, the feed options that should
// work, publisher options, and options that must be refused.
type authCase struct {
	name      string
	server    func(*server.Options)
	good      func(url string) Options
	bad       func(url string) Options
	publisher []nats.Option
	badError  string // substring of LastError with bad options
}

func TestAuthMethods(t *testing.T) {
	seed, pub := newNKeyUser(t)
	seedFile := filepath.Join(t.TempDir(), "user.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	otherSeed, _ := newNKeyUser(t)
	otherSeedFile := filepath.Join(t.TempDir(), "other.nk")
	if err := os.WriteFile(otherSeedFile, otherSeed, 0o600); err != nil {
		t.Fatal(err)
	}
	pki := newTestPKI(t)
	nkeyOpt, err := nats.NkeyOptionFromSeed(seedFile)
	if err != nil {
		t.Fatal(err)
	}

	cases := []authCase{
		{
			name:      "token",
			server:    func(o *server.Options) { o.Authorization = "s3cret-token" },
			good:      func(url string) Options { return Options{Server: url, Token: "s3cret-token"} },
			bad:       func(url string) Options { return Options{Server: url, Token: "wrong"} },
			publisher: []nats.Option{nats.Token("s3cret-token")},
			badError:  "Authorization Violation",
		},
		{
			name:      "user password",
			server:    func(o *server.Options) { o.Username, o.Password = "ingot", "pa55" },
			good:      func(url string) Options { return Options{Server: url, User: "ingot", Password: "pa55"} },
			bad:       func(url string) Options { return Options{Server: url, User: "ingot", Password: "nope"} },
			publisher: []nats.Option{nats.UserInfo("ingot", "pa55")},
			badError:  "Authorization Violation",
		},
		{
			name:      "nkey",
			server:    func(o *server.Options) { o.Nkeys = []*server.NkeyUser{{Nkey: pub}} },
			good:      func(url string) Options { return Options{Server: url, NKey: seedFile} },
			bad:       func(url string) Options { return Options{Server: url, NKey: otherSeedFile} },
			publisher: []nats.Option{nkeyOpt},
			badError:  "Authorization Violation",
		},
		{
			name: "tls client certificate",
			server: func(o *server.Options) {
				tc, err := server.GenTLSConfig(&server.TLSConfigOpts{
					CertFile: pki.serverCert, KeyFile: pki.serverKey, CaFile: pki.caFile, Verify: true,
				})
				if err != nil {
					t.Fatal(err)
				}
				o.TLSConfig, o.TLS, o.TLSVerify, o.TLSTimeout = tc, true, true, 2
			},
			good: func(url string) Options {
				return Options{Server: url, TLSCert: pki.clientCert, TLSKey: pki.clientKey, TLSCA: pki.caFile}
			},
			// Trusts the server but presents no client certificate.
			bad: func(url string) Options { return Options{Server: url, TLSCA: pki.caFile} },
			publisher: []nats.Option{
				nats.ClientCert(pki.clientCert, pki.clientKey), nats.RootCAs(pki.caFile),
			},
			badError: "tls",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := &server.Options{}
			tc.server(opts)
			s := testkit.StartNATS(t, opts)
			url := s.ClientURL()

			// Good credentials: an event published reaches the sink, with the daemon's
			// plain dialer and with the viewers' coalescing one (TLS runs over it).
			for _, coalesce := range []time.Duration{0, 20 * time.Millisecond} {
				sink := newRecordingSink()
				good := tc.good(url)
				good.Subject = "telemetry.>"
				good.ConnectTimeout = 2 * time.Second
				f, err := New(good, Config{ClientName: "test-" + tc.name, ReadCoalesce: coalesce}, sink)
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				before := s.NumSubscriptions()
				runFeed(t, f)
				testkit.EventuallyTrue(t, 10*time.Second, "connected", func() bool { return f.State().Phase == ingest.PhaseConnected })
				testkit.WaitForSubscriber(t, s, before)
				pubConn := connectPublisher(t, url, tc.publisher...)
				if _, ok := f.Conn().Opts.CustomDialer.(*coalescingDialer); ok != (coalesce > 0) {
					t.Errorf("coalescing %v but custom dialer %T", coalesce, f.Conn().Opts.CustomDialer)
				}
				if err := pubConn.Publish("telemetry.anvil.label.submitted", eventBody("anvil.label.submitted", 1)); err != nil {
					t.Fatal(err)
				}
				testkit.EventuallyTrue(t, 10*time.Second, "event at the sink", func() bool { ev, _, _ := sink.snapshot(); return len(ev) == 1 })
				if ev, _, _ := sink.snapshot(); ev[0].Name != "anvil.label.submitted" {
					t.Errorf("event %+v", ev[0])
				}
				if st := f.State(); st.Received != 1 || !strings.HasPrefix(st.Server, "nats://127.0.0.1:") && !strings.HasPrefix(st.Server, "tls://127.0.0.1:") {
					t.Errorf("state %+v", st)
				}
			}

			// Wrong credentials: never connected, and the state says why.
			bad := tc.bad(url)
			bad.Subject = "telemetry.>"
			bad.ConnectTimeout = 2 * time.Second
			fb, err := New(bad, Config{ClientName: "bad-" + tc.name}, newRecordingSink())
			if err != nil {
				t.Fatalf("New(bad): %v", err)
			}
			runFeed(t, fb)
			testkit.EventuallyTrue(t, 10*time.Second, "an authentication error in the state", func() bool {
				st := fb.State()
				return strings.Contains(strings.ToLower(st.LastError), strings.ToLower(tc.badError))
			})
			t.Logf("bad credentials state: %+v", fb.State())
			if st := fb.State(); st.Phase == ingest.PhaseConnected {
				t.Errorf("bad credentials connected: %+v", st)
			}
		})
	}
}

func newNKeyUser(t *testing.T) (seed []byte, public string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ = kp.Seed()
	public, _ = kp.PublicKey()
	return seed, public
}
