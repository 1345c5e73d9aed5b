package feed

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/jsm.go/natscontext"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// DefaultServer is the default of Options.Server (its kong tag). A Server equal to it counts
// as "flag left at default", so a context's URL is used instead.
const DefaultServer = "nats://127.0.0.1:4222"

// Reconnect backoff: exponential from reconnectBase, capped at reconnectCap, with jitter so
// that many clients do not hammer a restarted server in lock step.
const (
	reconnectBase = 100 * time.Millisecond
	reconnectCap  = 2 * time.Second
)

// natsConfigDir is $XDG_CONFIG_HOME/nats or ~/.config/nats, as natscli resolves it.
func natsConfigDir() (string, error) {
	if x := os.Getenv("XDG_CONFIG_HOME"); x != "" {
		return filepath.Join(x, "nats"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding the natscli config directory: %w", err)
	}
	return filepath.Join(home, ".config", "nats"), nil
}

// contextName returns the context to load: none with --no-context, else --context (kong also
// fills it from NATS_CONTEXT), else $NATS_CONTEXT, else the one natscli has selected in
// context.txt, else none.
func (o Options) contextName(dir string) (string, error) {
	if o.NoContext {
		return "", nil
	}
	if o.Context != "" {
		return o.Context, nil
	}
	if env := os.Getenv("NATS_CONTEXT"); env != "" {
		return env, nil
	}
	selected, err := os.ReadFile(filepath.Join(dir, "context.txt"))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading the selected natscli context: %w", err)
	}
	return strings.TrimSpace(string(selected)), nil
}

// loadContext reads a natscli context with jsm.go's natscontext, the library natscli itself
// uses, so that every field natscli honours (nsc, user_jwt/user_seed, tls_first,
// inbox_prefix, jetstream_domain, socks_proxy, credential URIs such as env:// or op://) means
// the same here. dir is the natscli config directory (…/nats).
func loadContext(dir, name string) (*natscontext.Context, error) {
	if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return nil, fmt.Errorf("invalid natscli context name %q", name)
	}
	// An explicit registry rather than natscontext.New: the package-level one resolves
	// $XDG_CONFIG_HOME once per process, and ours must follow natsConfigDir every time.
	reg := natscontext.NewRegistry(natscontext.NewFileBackendAt(filepath.Dir(dir)), natscontext.WithoutSelection())
	c, err := reg.Load(context.Background(), name)
	switch {
	case errors.Is(err, natscontext.ErrNotFound):
		return nil, fmt.Errorf("reading natscli context %q: %s does not exist: %w", name, filepath.Join(dir, "context", name+".json"), err)
	case err != nil:
		return nil, fmt.Errorf("reading natscli context %q: %s%w", name, nscHint(err), err)
	}
	return c, nil
}

// nscHint explains an nsc failure, or is empty: a context that names an nsc user
// (nsc://operator/account/user) makes natscontext run the nsc tool, and without it the
// library's own message does not say what to install or why it is needed.
func nscHint(err error) string {
	if _, lookErr := exec.LookPath("nsc"); lookErr != nil && strings.Contains(err.Error(), "nsc") {
		return "it names an nsc user (nsc://operator/account/user), which needs the nsc tool " +
			"(github.com/nats-io/nsc) on PATH, and nsc was not found: "
	}
	return ""
}

// setting is one connection setting with where it came from, for error messages.
type setting struct {
	value  string
	source string // "--creds" or "context foo: creds"
}

func pick(flagValue, flagName, ctxValue, ctxName, ctxField string) setting {
	if flagValue != "" {
		return setting{flagValue, "--" + flagName}
	}
	if ctxValue != "" {
		return setting{ctxValue, "context " + ctxName + ": " + ctxField}
	}
	return setting{}
}

// connSettings is the outcome of merging the flags with the context.
type connSettings struct {
	servers  string
	opts     []nats.Option
	jsDomain string
	jsAPI    string // JetStream API prefix (context jetstream_api_prefix), used without a domain
}

// NATSOptions resolves the flags and the natscli context into a server list and nats.go
// options. Flags the user set override context values; Server counts as set only when it
// differs from DefaultServer. An authentication flag (--user/--password, --creds, --nkey,
// --user-jwt/--user-seed) replaces the context's authentication method instead of being mixed with
// it. Every file named (creds, nkey seed, TLS cert/key/CA) is read here, so a missing or
// unreadable file is a clear error before any connection attempt.
// The options make the connection retry forever with jittered backoff, also when the server
// refuses the credentials, so connecting never blocks on a server that is down.
func (o Options) NATSOptions(clientName string) (servers string, opts []nats.Option, err error) {
	cs, err := o.resolve(clientName)
	if err != nil {
		return "", nil, err
	}
	return cs.servers, cs.opts, nil
}

// JetStreamDomain is the JetStream domain the durable consumer uses: --js-domain, else the
// context's jetstream_domain, else none.
func (o Options) JetStreamDomain() (string, error) {
	cs, err := o.resolve("")
	if err != nil {
		return "", err
	}
	return cs.jsDomain, nil
}

func (o Options) resolve(clientName string) (connSettings, error) {
	var cs connSettings
	var ctx *natscontext.Context
	var ctxName string
	dir, dirErr := natsConfigDir()
	switch {
	case dirErr == nil:
		var err error
		if ctxName, err = o.contextName(dir); err != nil {
			return cs, err
		}
	case o.Context != "" && !o.NoContext:
		return cs, dirErr
	}
	if ctxName != "" {
		var err error
		if ctx, err = loadContext(dir, ctxName); err != nil {
			return cs, err
		}
	}
	// Accessors of a nil context read as empty, so that "no context" needs no special case.
	get := func(f func(*natscontext.Context) string) string {
		if ctx == nil {
			return ""
		}
		return f(ctx)
	}

	cs.servers = o.Server
	if ctx != nil && (cs.servers == "" || cs.servers == DefaultServer) {
		cs.servers = ctx.ServerURL() // the context's url, else the one nsc names
	}
	if cs.servers == "" {
		cs.servers = DefaultServer
	}

	// Authentication: natscontext applies one method (user, creds, nkey, jwt, in that order),
	// so a context's method left next to the user's flag could win over the flag.
	userFlag, jwtFlag := o.User != "" || o.Password != "", o.JWT != "" || o.Seed != ""
	anyAuthFlag := userFlag || jwtFlag || o.Creds != "" || o.NKey != ""
	fromCtx := func(groupFlag bool, f func(*natscontext.Context) string) string {
		if anyAuthFlag && !groupFlag {
			return ""
		}
		return get(f)
	}
	credsField := "creds"
	//lint:ignore SA1019 natscli contexts still carry the "nsc" field; only names the source in errors.
	if get((*natscontext.Context).NscURL) != "" {
		credsField = "nsc"
	}
	creds := pick(o.Creds, "creds", fromCtx(o.Creds != "", (*natscontext.Context).Creds), ctxName, credsField)
	nkey := pick(o.NKey, "nkey", fromCtx(o.NKey != "", (*natscontext.Context).NKey), ctxName, "nkey")
	user := pick(o.User, "user", fromCtx(userFlag, (*natscontext.Context).User), ctxName, "user")
	password := pick(o.Password, "password", fromCtx(userFlag, (*natscontext.Context).Password), ctxName, "password")
	jwt := pick(o.JWT, "user-jwt", fromCtx(jwtFlag, (*natscontext.Context).UserJWT), ctxName, "user_jwt")
	seed := pick(o.Seed, "user-seed", fromCtx(jwtFlag, (*natscontext.Context).UserSeed), ctxName, "user_seed")
	token := pick(o.Token, "token", get((*natscontext.Context).Token), ctxName, "token")
	cert := pick(o.TLSCert, "tlscert", get((*natscontext.Context).Certificate), ctxName, "cert")
	key := pick(o.TLSKey, "tlskey", get((*natscontext.Context).Key), ctxName, "key")
	ca := pick(o.TLSCA, "tlsca", get((*natscontext.Context).CA), ctxName, "ca")
	inbox := pick(o.InboxPrefix, "inbox-prefix", get((*natscontext.Context).InboxPrefix), ctxName, "inbox_prefix")
	cs.jsDomain = pick(o.JSDomain, "js-domain", get((*natscontext.Context).JSDomain), ctxName, "jetstream_domain").value
	cs.jsAPI = get((*natscontext.Context).JSAPIPrefix)

	for _, s := range []setting{creds, nkey} {
		if path, ok := filePath(s.value); ok {
			if err := checkReadable(setting{path, s.source}); err != nil {
				return cs, err
			}
		}
	}
	if nkey.value != "" {
		if path, ok := filePath(nkey.value); ok {
			if _, err := nats.NkeyOptionFromSeed(path); err != nil {
				return cs, fmt.Errorf("reading %s %s: %w", nkey.source, path, err)
			}
		}
	}
	if seed.value != "" && !strings.Contains(seed.value, "://") {
		// The seed is a secret: the message names where it came from, never its value.
		if _, err := nkeys.FromSeed([]byte(seed.value)); err != nil {
			return cs, fmt.Errorf("%s is not a valid NKey seed: %w", seed.source, err)
		}
	}
	if seed.value != "" && jwt.value == "" {
		return cs, fmt.Errorf("%s needs a user JWT (--user-jwt or the context's user_jwt)", seed.source)
	}

	cs.opts = []nats.Option{
		nats.Name(clientName),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.CustomReconnectDelay(reconnectDelay),
		// By default nats.go closes the connection for good on the second identical auth
		// error from a server: fixing the server's credentials would then need a restart of
		// every ingot-top. Retrying forever is what the README promises.
		nats.IgnoreAuthErrorAbort(),
	}
	if o.ConnectTimeout > 0 {
		cs.opts = append(cs.opts, nats.Timeout(o.ConnectTimeout))
	}

	// The merged settings go through natscontext, so credential URIs, nsc, user_jwt without a
	// seed (bearer), the SOCKS proxy and the inbox prefix behave as in natscli. TLS files are
	// not passed: buildTLS below reads them with clear errors and a TLS 1.2 floor.
	merged := []natscontext.Option{
		natscontext.WithUser(user.value), natscontext.WithPassword(password.value),
		natscontext.WithCreds(creds.value), natscontext.WithNKey(nkey.value),
		natscontext.WithUserJWT(jwt.value), natscontext.WithUserSeed(seed.value),
		natscontext.WithToken(token.value), natscontext.WithInboxPrefix(inbox.value),
		natscontext.WithSocksProxy(get((*natscontext.Context).SocksProxy)),
	}
	if o.TLSFirst || (ctx != nil && ctx.TLSHandshakeFirst()) {
		merged = append(merged, natscontext.WithTLSHandshakeFirst())
	}
	nctx, err := natscontext.New(ctxName, false, merged...)
	if err != nil {
		return cs, fmt.Errorf("building the connection settings: %w", err)
	}
	ctxOpts, err := nctx.NATSOptions()
	if err != nil {
		if ctxName != "" {
			return cs, fmt.Errorf("natscli context %q: %s%w", ctxName, nscHint(err), err)
		}
		return cs, fmt.Errorf("building the connection options: %w", err)
	}
	cs.opts = append(cs.opts, ctxOpts...)

	if cert.value != "" || key.value != "" || ca.value != "" {
		tlsConfig, err := buildTLS(cert, key, ca)
		if err != nil {
			return cs, err
		}
		cs.opts = append(cs.opts, nats.Secure(tlsConfig))
	}
	return cs, nil
}

// filePath returns the file a credential reference names: a bare path or a file:// URI.
// Other schemes (env://, op://, nsc://, data:) are resolved by natscontext.
func filePath(ref string) (string, bool) {
	switch {
	case ref == "":
		return "", false
	case strings.HasPrefix(ref, "file://"):
		return strings.TrimPrefix(ref, "file://"), true
	case strings.Contains(ref, "://") || strings.HasPrefix(ref, "data:"):
		return "", false
	}
	return ref, true
}

func checkReadable(s setting) error {
	f, err := os.Open(s.value)
	if err != nil {
		return fmt.Errorf("reading %s %s: %w", s.source, s.value, err)
	}
	defer f.Close()
	if _, err := f.Read(make([]byte, 1)); err != nil {
		return fmt.Errorf("reading %s %s: %w", s.source, s.value, err)
	}
	return nil
}

func buildTLS(cert, key, ca setting) (*tls.Config, error) {
	config := &tls.Config{MinVersion: tls.VersionTLS12}
	if (cert.value == "") != (key.value == "") {
		return nil, errors.New("TLS client authentication needs both --tlscert and --tlskey")
	}
	if cert.value != "" {
		certPEM, err := os.ReadFile(cert.value)
		if err != nil {
			return nil, fmt.Errorf("reading %s %s: %w", cert.source, cert.value, err)
		}
		keyPEM, err := os.ReadFile(key.value)
		if err != nil {
			return nil, fmt.Errorf("reading %s %s: %w", key.source, key.value, err)
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("loading TLS key pair %s, %s: %w", cert.value, key.value, err)
		}
		config.Certificates = []tls.Certificate{pair}
	}
	if ca.value != "" {
		caPEM, err := os.ReadFile(ca.value)
		if err != nil {
			return nil, fmt.Errorf("reading %s %s: %w", ca.source, ca.value, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, fmt.Errorf("reading %s %s: no PEM certificates found", ca.source, ca.value)
		}
		config.RootCAs = pool
	}
	return config, nil
}

// reconnectDelay is exponential backoff with "equal jitter": half fixed, half random.
func reconnectDelay(attempts int) time.Duration {
	d := reconnectCap
	if attempts < 8 {
		d = min(reconnectCap, reconnectBase<<attempts)
	}
	return d/2 + rand.N(d/2+1)
}

// Dial connects as clientName with the resolved options. It returns promptly even when no
// server is up: the connection keeps retrying in the background.
func Dial(opts Options, clientName string) (*nats.Conn, error) {
	return dial(opts, clientName)
}

func dial(opts Options, clientName string, extra ...nats.Option) (*nats.Conn, error) {
	servers, natsOpts, err := opts.NATSOptions(clientName)
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(servers, append(natsOpts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", RedactURLs(servers), err)
	}
	return nc, nil
}

// RedactURLs hides the credentials of every URL in a comma-separated server list: a password
// becomes "xxxxx", and a user part without password (a token) becomes "xxxxx" entirely.
func RedactURLs(servers string) string {
	parts := strings.Split(servers, ",")
	for i, p := range parts {
		parts[i] = redactURL(strings.TrimSpace(p))
	}
	return strings.Join(parts, ",")
}

func redactURL(raw string) string {
	if !strings.Contains(raw, "@") {
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		// Unparseable but holding an '@': keep only what follows the last '@'.
		return "xxxxx@" + raw[strings.LastIndexByte(raw, '@')+1:]
	}
	if _, hasPassword := u.User.Password(); hasPassword {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	} else {
		u.User = url.User("xxxxx")
	}
	return u.String()
}
