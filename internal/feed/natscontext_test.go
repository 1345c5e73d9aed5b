package feed

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/nsai/ingot-top/internal/ingest"
	"github.com/nsai/ingot-top/internal/testkit"
)

// jwtUser is an operator-mode setup: a server option set trusting one operator, whose
// account holds one user.
type jwtUser struct {
	operator *jwt.OperatorClaims
	resolver *server.MemAccResolver
	jwt      string
	seed     string
	creds    string // a .creds file of the same user
}

func newJWTUser(t *testing.T) jwtUser {
	t.Helper()
	okp, err := nkeys.CreateOperator()
	if err != nil {
		t.Fatal(err)
	}
	opub, _ := okp.PublicKey()
	oc := jwt.NewOperatorClaims(opub)
	if _, err := oc.Encode(okp); err != nil {
		t.Fatal(err)
	}
	akp, _ := nkeys.CreateAccount()
	apub, _ := akp.PublicKey()
	ajwt, err := jwt.NewAccountClaims(apub).Encode(okp)
	if err != nil {
		t.Fatal(err)
	}
	resolver := &server.MemAccResolver{}
	if err := resolver.Store(apub, ajwt); err != nil {
		t.Fatal(err)
	}
	ukp, _ := nkeys.CreateUser()
	upub, _ := ukp.PublicKey()
	ujwt, err := jwt.NewUserClaims(upub).Encode(akp)
	if err != nil {
		t.Fatal(err)
	}
	useed, _ := ukp.Seed()
	credsData, err := jwt.FormatUserConfig(ujwt, useed)
	if err != nil {
		t.Fatal(err)
	}
	creds := filepath.Join(t.TempDir(), "user.creds")
	if err := os.WriteFile(creds, credsData, 0o600); err != nil {
		t.Fatal(err)
	}
	return jwtUser{operator: oc, resolver: resolver, jwt: ujwt, seed: string(useed), creds: creds}
}

func (u jwtUser) serverOptions(o *server.Options) {
	o.TrustedOperators = []*jwt.OperatorClaims{u.operator}
	o.AccountResolver = u.resolver
}

// tlsFirst makes o a TLS server that expects the handshake before sending INFO
// (handshake_first), with pki's server certificate.
func tlsFirst(t *testing.T, pki testPKI, o *server.Options) {
	t.Helper()
	tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: pki.serverCert, KeyFile: pki.serverKey, CaFile: pki.caFile})
	if err != nil {
		t.Fatal(err)
	}
	o.TLSConfig, o.TLS, o.TLSTimeout, o.TLSHandshakeFirst = tc, true, 2, true
}

func quote(s string) string { return `"` + strings.ReplaceAll(s, `\`, `\\`) + `"` }

// TestContextJWTSeedTLSFirstConnects is the acceptance of issue 12, part 4: a natscli context
// with user_jwt/user_seed and tls_first reaches an operator-mode server that requires the TLS
// handshake first, and events flow.
func TestContextJWTSeedTLSFirstConnects(t *testing.T) {
	user := newJWTUser(t)
	pki := newTestPKI(t)
	opts := &server.Options{}
	user.serverOptions(opts)
	tlsFirst(t, pki, opts)
	s := testkit.StartNATS(t, opts)
	writeContext(t, "ops", `{"url":`+quote(s.ClientURL())+`,"user_jwt":`+quote(user.jwt)+
		`,"user_seed":`+quote(user.seed)+`,"ca":`+quote(pki.caFile)+`,"tls_first":true}`, "ops")

	sink := newRecordingSink()
	f, err := New(Options{Server: DefaultServer, Subject: "telemetry.>", ConnectTimeout: 2 * time.Second},
		Config{ClientName: "ctx-jwt"}, sink)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	before := s.NumSubscriptions()
	runFeed(t, f)
	testkit.Eventually(t, 10*time.Second, "connected through the context", func() (bool, string) {
		st := f.State()
		return st.Phase == ingest.PhaseConnected, st.LastError
	})
	testkit.WaitForSubscriber(t, s, before)
	pub := connectPublisher(t, s.ClientURL(), nats.UserCredentials(user.creds), nats.RootCAs(pki.caFile), nats.TLSHandshakeFirst())
	if err := pub.Publish("telemetry.anvil.label.submitted", eventBody("anvil.label.submitted", 1)); err != nil {
		t.Fatal(err)
	}
	testkit.EventuallyTrue(t, 10*time.Second, "event at the sink", func() bool { ev, _, _ := sink.snapshot(); return len(ev) == 1 })
}

// TestContextInboxPrefixIsUsed: a request made on the connection carries the context's
// inbox_prefix in its reply subject, as seen by a responder on the server.
func TestContextInboxPrefixIsUsed(t *testing.T) {
	s := testkit.StartNATS(t, nil)
	writeContext(t, "acct", `{"url":`+quote(s.ClientURL())+`,"inbox_prefix":"_INBOX_ingot"}`, "")
	responder := connectPublisher(t, s.ClientURL())
	replies := make(chan string, 1)
	if _, err := responder.Subscribe("svc.echo", func(m *nats.Msg) {
		replies <- m.Reply
		_ = m.Respond([]byte("ok"))
	}); err != nil {
		t.Fatal(err)
	}
	if err := responder.Flush(); err != nil {
		t.Fatal(err)
	}
	nc, err := Dial(Options{Server: DefaultServer, Context: "acct", ConnectTimeout: time.Second}, "inbox")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	testkit.EventuallyTrue(t, 5*time.Second, "connected", nc.IsConnected)
	if _, err := nc.Request("svc.echo", nil, 5*time.Second); err != nil {
		t.Fatalf("request: %v", err)
	}
	if reply := <-replies; !strings.HasPrefix(reply, "_INBOX_ingot.") {
		t.Errorf("reply subject %q does not use the context's inbox_prefix", reply)
	}
}

// hubAndLeaf starts a JetStream hub in domain "hub" and a leaf node with a JetStream of its
// own (domain "leaf") connected to it. On the leaf, plain JetStream calls reach the leaf's
// JetStream; only calls through domain "hub" reach the hub's.
func hubAndLeaf(t *testing.T) (hub, leaf *server.Server) {
	t.Helper()
	hubOpts := &server.Options{JetStream: true, StoreDir: t.TempDir(), JetStreamDomain: "hub",
		LeafNode: server.LeafNodeOpts{Host: "127.0.0.1", Port: server.RANDOM_PORT}}
	hub = testkit.StartNATS(t, hubOpts)
	remote, err := url.Parse(fmt.Sprintf("nats://127.0.0.1:%d", hubOpts.LeafNode.Port))
	if err != nil {
		t.Fatal(err)
	}
	leaf = testkit.StartNATS(t, &server.Options{JetStream: true, StoreDir: t.TempDir(), JetStreamDomain: "leaf",
		LeafNode: server.LeafNodeOpts{Remotes: []*server.RemoteLeafOpts{{URLs: []*url.URL{remote}}}}})
	testkit.EventuallyTrue(t, 10*time.Second, "leaf node connected", func() bool { return hub.NumLeafNodes() == 1 && leaf.NumLeafNodes() == 1 })
	return hub, leaf
}

func hasStream(t *testing.T, s *server.Server) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := jsClient(t, s.ClientURL()).Stream(ctx, DefaultStream)
	if err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("stream info on %s: %v", s.ClientURL(), err)
	}
	return err == nil
}

// TestContextJetStreamDomainReachesDurable: the context's jetstream_domain is where the
// durable consumer is created and read: a feed on the leaf node, with domain "hub", consumes
// the hub's stream.
func TestContextJetStreamDomainReachesDurable(t *testing.T) {
	hub, leaf := hubAndLeaf(t)
	writeContext(t, "hub", `{"url":`+quote(leaf.ClientURL())+`,"jetstream_domain":"hub"}`, "hub")
	sink := newRecordingSink()
	f, err := New(Options{Server: DefaultServer, Subject: "telemetry.>", ConnectTimeout: 2 * time.Second},
		Config{Durable: "ingot", CreateStream: true, NakDelay: 20 * time.Millisecond}, sink)
	if err != nil {
		t.Fatal(err)
	}
	runFeed(t, f)
	pub := connectPublisher(t, hub.ClientURL())
	// Until the feed created the stream, publishes go nowhere: repeat until one arrives.
	testkit.Eventually(t, 15*time.Second, "an event through the domain's durable consumer", func() (bool, string) {
		_ = pub.Publish("telemetry.anvil.label.submitted", eventBody("anvil.label.submitted", 1))
		ev, _, _ := sink.snapshot()
		return len(ev) > 0, f.State().LastError
	})
	if !hasStream(t, hub) || hasStream(t, leaf) {
		t.Errorf("stream on hub %v, on leaf %v: want the hub's only", hasStream(t, hub), hasStream(t, leaf))
	}
}

// TestNSCContextWithoutNSCFailsClearly: a context naming an nsc user needs the nsc tool; with
// none on PATH the error says so, before any connection attempt. (nsc is not installed on the
// build machine, so the successful nsc path is covered by TestNSCContextUsesProfile with a
// stand-in for `nsc generate profile`.)
func TestNSCContextWithoutNSCFailsClearly(t *testing.T) {
	writeContext(t, "nscuser", `{"nsc":"nsc://op/acct/user"}`, "")
	t.Setenv("PATH", t.TempDir())
	_, _, err := Options{Server: DefaultServer, Context: "nscuser"}.NATSOptions("t")
	if err == nil || !strings.Contains(err.Error(), "needs the nsc tool") || !strings.Contains(err.Error(), `"nscuser"`) {
		t.Fatalf("err %v", err)
	}
}

// TestNSCContextUsesProfile: a context with "nsc" takes the server URL and the credentials
// from `nsc generate profile`, as natscli does. The nsc here is a stand-in script printing a
// profile in nsc's format (nsc itself is not installable on the build machine); the server and
// the credentials are real.
func TestNSCContextUsesProfile(t *testing.T) {
	user := newJWTUser(t)
	opts := &server.Options{}
	user.serverOptions(opts)
	s := testkit.StartNATS(t, opts)
	bin := t.TempDir()
	argsFile := filepath.Join(bin, "args")
	script := "#!/bin/sh\necho \"$@\" > " + argsFile + "\n" +
		`echo '{"user_creds":` + quote(user.creds) + `,"operator":{"service":[` + quote(s.ClientURL()) + `]}}'` + "\n"
	if err := os.WriteFile(filepath.Join(bin, "nsc"), []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	writeContext(t, "nscuser", `{"nsc":"nsc://op/acct/user"}`, "nscuser")

	nc, err := Dial(Options{Server: DefaultServer, ConnectTimeout: time.Second}, "nsc")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	testkit.EventuallyTrue(t, 5*time.Second, "connected with the nsc profile", nc.IsConnected)
	if args, _ := os.ReadFile(argsFile); strings.TrimSpace(string(args)) != "generate profile nsc://op/acct/user" {
		t.Errorf("nsc called with %q", args)
	}
}
