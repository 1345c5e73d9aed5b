package feed

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
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

// natsContext is the part of a natscli context file (~/.config/nats/context/NAME.json) that
// ingot-top honours.
type natsContext struct {
	URL      string `json:"url"`
	User     string `json:"user"`
	Password string `json:"password"`
	Creds    string `json:"creds"`
	NKey     string `json:"nkey"`
	Token    string `json:"token"`
	Cert     string `json:"cert"`
	Key      string `json:"key"`
	CA       string `json:"ca"`
}

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

// contextName returns the context to load: --context (kong also fills it from NATS_CONTEXT),
// else $NATS_CONTEXT, else the one natscli has selected in context.txt, else none.
func (o Options) contextName(dir string) (string, error) {
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

func loadContext(dir, name string) (natsContext, error) {
	var c natsContext
	if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return c, fmt.Errorf("invalid natscli context name %q", name)
	}
	path := filepath.Join(dir, "context", name+".json")
	data, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("reading natscli context %q: %w", name, err)
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return c, fmt.Errorf("parsing natscli context %s: %w", path, err)
	}
	return c, nil
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
		return setting{expandHome(ctxValue), "context " + ctxName + ": " + ctxField}
	}
	return setting{}
}

func expandHome(path string) string {
	if strings.HasPrefix(path, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, path[2:])
		}
	}
	return path
}

// NATSOptions resolves the flags and the natscli context into a server list and nats.go
// options. Flags the user set override context values; Server counts as set only when it
// differs from DefaultServer. Every file named (creds, nkey seed, TLS cert/key/CA) is read
// here, so a missing or unreadable file is a clear error before any connection attempt.
// The options make the connection retry forever with jittered backoff, also when the server
// refuses the credentials, so connecting never blocks on a server that is down.
func (o Options) NATSOptions(clientName string) (servers string, opts []nats.Option, err error) {
	var ctx natsContext
	var ctxName string
	dir, dirErr := natsConfigDir()
	if dirErr == nil {
		if ctxName, err = o.contextName(dir); err != nil {
			return "", nil, err
		}
	} else if o.Context != "" {
		return "", nil, dirErr
	}
	if ctxName != "" {
		if ctx, err = loadContext(dir, ctxName); err != nil {
			return "", nil, err
		}
	}

	servers = o.Server
	if servers == "" || (servers == DefaultServer && ctx.URL != "") {
		servers = ctx.URL
	}
	if servers == "" {
		servers = DefaultServer
	}

	opts = []nats.Option{
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
		opts = append(opts, nats.Timeout(o.ConnectTimeout))
	}

	creds := pick(o.Creds, "creds", ctx.Creds, ctxName, "creds")
	nkey := pick(o.NKey, "nkey", ctx.NKey, ctxName, "nkey")
	user := pick(o.User, "user", ctx.User, ctxName, "user")
	password := pick(o.Password, "password", ctx.Password, ctxName, "password")
	token := pick(o.Token, "token", ctx.Token, ctxName, "token")
	cert := pick(o.TLSCert, "tlscert", ctx.Cert, ctxName, "cert")
	key := pick(o.TLSKey, "tlskey", ctx.Key, ctxName, "key")
	ca := pick(o.TLSCA, "tlsca", ctx.CA, ctxName, "ca")

	if creds.value != "" {
		if err := checkReadable(creds); err != nil {
			return "", nil, err
		}
		opts = append(opts, nats.UserCredentials(creds.value))
	}
	if nkey.value != "" {
		opt, err := nats.NkeyOptionFromSeed(nkey.value)
		if err != nil {
			return "", nil, fmt.Errorf("reading %s %s: %w", nkey.source, nkey.value, err)
		}
		opts = append(opts, opt)
	}
	if user.value != "" {
		opts = append(opts, nats.UserInfo(user.value, password.value))
	}
	if token.value != "" {
		opts = append(opts, nats.Token(token.value))
	}
	if cert.value != "" || key.value != "" || ca.value != "" {
		tlsConfig, err := buildTLS(cert, key, ca)
		if err != nil {
			return "", nil, err
		}
		opts = append(opts, nats.Secure(tlsConfig))
	}
	return servers, opts, nil
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
