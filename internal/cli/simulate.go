package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"github.com/alecthomas/kong"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/nsai/ingot-top/internal/feed"
	"github.com/nsai/ingot-top/internal/sim"
)

// SimulateCmd publishes simulated Forge/Anvil/Ingot telemetry to a NATS server, and
// optionally serves simulated /health endpoints, for demos, load tests and trying the
// dashboard without a real platform.
type SimulateCmd struct {
	feed.Options `embed:""`

	Rate      float64       `name:"rate" default:"500" help:"Events per second across all services; 0 publishes as fast as possible."`
	Queues    int           `name:"queues" default:"12" help:"Number of labeling queues (popularity is Zipf-skewed)."`
	Labelers  int           `name:"labelers" default:"40" help:"Number of simulated labelers."`
	Duration  time.Duration `name:"duration" help:"Stop after this long, e.g. 30s or 5m (default: run until Ctrl-C)."`
	Count     int64         `name:"count" short:"n" placeholder:"N" help:"Stop after publishing exactly this many events (default: run until Ctrl-C)."`
	Scenario  string        `name:"scenario" default:"normal" enum:"normal,degraded-anvil,error-burst,forge-down" help:"Traffic scenario: normal, degraded-anvil (slow, timing-out Anvil), error-burst (20 s of Forge errors), forge-down (Forge refuses connections)."`
	ErrorRate float64       `name:"error-rate" default:"0.01" help:"Base probability that a client call fails in the normal scenario (0..1)."`
	Seed      int64         `name:"seed" placeholder:"N" help:"Random seed for reproducible traffic (default: from the clock)."`

	Pregenerated bool `name:"pregenerated" help:"Build all messages first (--count of them, default 1000000), then publish them as fast as possible and print the publish rate; ignores --rate."`

	ForgeHealthListen string `name:"forge-health-listen" placeholder:"HOST:PORT" help:"Serve a simulated Forge GET /health on this address, e.g. 127.0.0.1:8701 (empty: off)."`
	AnvilHealthListen string `name:"anvil-health-listen" placeholder:"HOST:PORT" help:"Serve a simulated Anvil GET /health on this address, e.g. 127.0.0.1:8702 (empty: off)."`
	IngotHealthListen string `name:"ingot-health-listen" placeholder:"HOST:PORT" help:"Serve a simulated Ingot composite GET /health (forge, anvil, pubsub) on this address (empty: off)."`

	Print int `name:"print" placeholder:"N" help:"Print N example messages instead of publishing, one per line: the subject, a tab, the JSON payload, and a tab and the traceparent header when the trace travels in a header. Needs no NATS server; with --seed the same messages come out again, only their times differ."`

	ConnectWait time.Duration `name:"connect-wait" default:"5s" help:"How long to wait for the NATS server before giving up with exit code 3."`
	Quiet       bool          `name:"quiet" short:"q" help:"No progress lines on stderr; only the final summary."`
}

// defaultPregenerated is how many messages --pregenerated builds when --count is not given.
const defaultPregenerated = 1_000_000

// maxPregenerated bounds the memory --pregenerated may take (about 400 bytes per message).
const maxPregenerated = 5_000_000

// progressEvery is how often progress goes to stderr.
const progressEvery = 5 * time.Second

// Run publishes simulated traffic until the limit, Ctrl-C, or a closed connection.
func (c *SimulateCmd) Run(env *Env, kctx *kong.Context) error {
	env, stopHangup := endOnHangup(env)
	defer stopHangup()
	ctx := env.Ctx
	if ctx == nil {
		ctx = context.Background()
	}
	// An explicit zero reads as "stop at once" but would mean "never stop": refuse it.
	if flagGiven(kctx, "duration") && c.Duration == 0 {
		return &ExitError{Code: ExitUsage, Err: errors.New("simulate: --duration 0 would never stop; give a positive duration, or omit it to run until Ctrl-C")}
	}
	if flagGiven(kctx, "count") && c.Count == 0 {
		return &ExitError{Code: ExitUsage, Err: errors.New("simulate: --count 0 would never stop; give a positive count, or omit it to run until Ctrl-C")}
	}
	cfg, err := c.config()
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("simulate: %w", err)}
	}
	if flagGiven(kctx, "print") {
		return c.printExamples(env, cfg)
	}

	var pregenerated []sim.Message
	if c.Pregenerated {
		n := c.Count
		if n == 0 {
			n = defaultPregenerated
		}
		start := time.Now()
		pregenerated, err = sim.Pregenerate(cfg, int(n))
		if err != nil {
			return &ExitError{Code: ExitInternal, Err: fmt.Errorf("simulate: pre-generate: %w", err)}
		}
		var size int64
		for i := range pregenerated {
			size += int64(len(pregenerated[i].Data))
		}
		c.logf(env, "pre-generated %d messages (%.1f MB) in %s", n, float64(size)/1e6, time.Since(start).Round(time.Millisecond))
	}

	nc, err := c.connect(ctx, env)
	if err != nil {
		return err
	}
	if nc == nil { // interrupted while waiting for the server
		return nil
	}
	defer nc.Close()

	if pregenerated != nil {
		return c.publishPregenerated(ctx, env, nc, pregenerated)
	}

	health, err := sim.StartHealthServersAt(ctx, sim.HealthAddrs{Forge: c.ForgeHealthListen, Anvil: c.AnvilHealthListen, Ingot: c.IngotHealthListen})
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("simulate: health endpoints: %w", err)}
	}
	defer health.Close()
	if urls := health.URLs(); urls != "" {
		health.ApplyScenario(cfg.Scenario)
		cfg.OnScenario = health.ApplyScenario
		c.logf(env, "health endpoints: %s", urls)
	}

	simulator, err := sim.New(cfg, nc, nil)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("simulate: %w", err)}
	}
	limit := sim.Limit{Count: c.Count, Duration: c.Duration}
	c.logf(env, "publishing to %s on %s.> at %s, scenario %s, %s", feed.RedactURLs(nc.ConnectedUrl()), cfg.Prefix, rateText(cfg.Rate), cfg.Scenario, limitText(limit))

	runCtx, stopProgress := context.WithCancel(ctx)
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		if !c.Quiet {
			c.reportProgress(runCtx, env, simulator)
		}
	}()
	stats, runErr := simulator.Run(ctx, limit)
	stopProgress()
	<-progressDone

	flushErr := nc.FlushTimeout(5 * time.Second)
	fmt.Fprintf(env.Stdout, "published %d events in %s (%.1f ev/s), %d errors injected, %d publish failures, %d skipped\n",
		stats.Published, stats.Elapsed.Round(time.Millisecond), stats.Rate, stats.ErrorsInjected, stats.PublishFailures, stats.Skipped)
	if runErr != nil {
		return &ExitError{Code: ExitNoConnect, Err: fmt.Errorf("simulate: %w", runErr)}
	}
	if flushErr != nil {
		return &ExitError{Code: ExitNoConnect, Err: fmt.Errorf("simulate: flushing to %s: %w", feed.RedactURLs(nc.ConnectedUrl()), flushErr)}
	}
	return nil
}

// maxPrint bounds --print: it is for reading and diffing, not for load.
const maxPrint = 100_000

// printExamples writes --print messages of the configured traffic to stdout, without NATS,
// so that a publisher can set its own output beside them (docs/publishing.md).
func (c *SimulateCmd) printExamples(env *Env, cfg sim.Config) error {
	if c.Print < 1 || c.Print > maxPrint {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("simulate: --print %d: want 1 to %d messages", c.Print, maxPrint)}
	}
	msgs, err := sim.Pregenerate(cfg, c.Print)
	if err != nil {
		return &ExitError{Code: ExitInternal, Err: fmt.Errorf("simulate: --print: %w", err)}
	}
	w := bufio.NewWriter(env.Stdout)
	for i := range msgs {
		m := &msgs[i]
		w.WriteString(m.Subject)
		w.WriteByte('\t')
		w.Write(m.Data)
		if tp := m.Header.Get("traceparent"); tp != "" {
			w.WriteString("\ttraceparent: " + tp)
		}
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("simulate: --print: %w", err)
	}
	return nil
}

func (c *SimulateCmd) config() (sim.Config, error) {
	switch {
	case c.Rate < 0:
		return sim.Config{}, fmt.Errorf("--rate must be >= 0, got %v", c.Rate)
	case c.Count < 0:
		return sim.Config{}, fmt.Errorf("--count must be >= 0, got %d", c.Count)
	case c.Count > maxPregenerated && c.Pregenerated:
		return sim.Config{}, fmt.Errorf("--count %d is too many to pre-generate (max %d)", c.Count, maxPregenerated)
	case c.Duration < 0:
		return sim.Config{}, fmt.Errorf("--duration must be >= 0, got %s", c.Duration)
	case c.ErrorRate < 0 || c.ErrorRate > 1:
		return sim.Config{}, fmt.Errorf("--error-rate must be within 0..1, got %v", c.ErrorRate)
	case c.Queues < 1 || c.Queues > 10_000:
		return sim.Config{}, fmt.Errorf("--queues must be within 1..10000, got %d", c.Queues)
	case c.Labelers < 1 || c.Labelers > 100_000:
		return sim.Config{}, fmt.Errorf("--labelers must be within 1..100000, got %d", c.Labelers)
	}
	scenario, err := sim.ParseScenario(c.Scenario)
	if err != nil {
		return sim.Config{}, err
	}
	prefix := subjectPrefix(c.Subject)
	if prefix == "" {
		return sim.Config{}, fmt.Errorf("--subject %q has no prefix to publish under; use e.g. telemetry.>", c.Subject)
	}
	cfg := sim.DefaultConfig()
	cfg.Rate = c.Rate
	cfg.Queues = c.Queues
	cfg.Labelers = c.Labelers
	cfg.Prefix = prefix
	cfg.Seed = c.Seed
	cfg.Scenario = scenario
	cfg.ErrorRate = c.ErrorRate
	if c.ErrorRate == 0 {
		cfg.ErrorRate = -1 // sim treats 0 as "default"; the user asked for none
	}
	return cfg, nil
}

// subjectPrefix is the part of the subscription subject before the first wildcard token,
// the same rule the feed uses to strip the prefix: "telemetry.>" → "telemetry".
func subjectPrefix(subject string) string {
	tokens := strings.Split(subject, ".")
	var keep []string
	for _, t := range tokens {
		if t == "*" || t == ">" {
			break
		}
		keep = append(keep, t)
	}
	return strings.Join(keep, ".")
}

// connect dials through the feed and waits, bounded by --connect-wait, for the first
// connection. It returns (nil, nil) when interrupted while waiting.
func (c *SimulateCmd) connect(ctx context.Context, env *Env) (*nats.Conn, error) {
	server := feed.RedactURLs(c.Server)
	if resolved, _, err := c.Options.NATSOptions("ingot-top simulate"); err == nil && resolved != "" {
		server = feed.RedactURLs(resolved) // a --context may name other servers than --server
	}
	nc, err := feed.Dial(c.Options, "ingot-top simulate")
	if err != nil {
		return nil, &ExitError{Code: ExitNoConnect, Err: fmt.Errorf("simulate: cannot connect to NATS at %s: %w", server, err)}
	}
	if nc.IsConnected() {
		return nc, nil
	}
	c.logf(env, "waiting up to %s for NATS at %s ...", c.ConnectWait, server)
	deadline := time.NewTimer(c.ConnectWait)
	defer deadline.Stop()
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	for !nc.IsConnected() {
		select {
		case <-ctx.Done():
			nc.Close()
			c.logf(env, "interrupted before NATS at %s answered", server)
			return nil, nil
		case <-deadline.C:
			lastErr := nc.LastError()
			nc.Close()
			if lastErr == nil {
				lastErr = c.diagnose()
			}
			return nil, &ExitError{Code: ExitNoConnect, Err: fmt.Errorf("simulate: NATS server at %s unreachable after %s: %w", server, c.ConnectWait, lastErr)}
		case <-poll.C:
		}
	}
	return nc, nil
}

// diagnose makes one attempt without retries to learn why the server cannot be reached
// (refused, timeout, TLS, authorization): the retrying connection keeps that to itself.
func (c *SimulateCmd) diagnose() error {
	servers, opts, err := c.Options.NATSOptions("ingot-top simulate")
	if err != nil {
		return err
	}
	// nats.Connect reports only "no servers available"; a plain TCP dial names the cause.
	var dialErrs []error
	for _, s := range strings.Split(servers, ",") {
		u, err := url.Parse(strings.TrimSpace(s))
		if err != nil || u.Host == "" {
			continue
		}
		host := u.Host
		if u.Port() == "" {
			host = net.JoinHostPort(u.Hostname(), "4222")
		}
		conn, err := net.DialTimeout("tcp", host, max(c.ConnectTimeout, 100*time.Millisecond))
		if err != nil {
			dialErrs = append(dialErrs, err)
			continue
		}
		conn.Close()
	}
	if len(dialErrs) > 0 && len(dialErrs) == len(strings.Split(servers, ",")) {
		return errors.Join(dialErrs...)
	}
	nc, err := nats.Connect(servers, append(opts, nats.RetryOnFailedConnect(false), nats.MaxReconnects(0))...)
	if err != nil {
		return err
	}
	nc.Close() // it came up just now
	return errors.New("no connection established in time")
}

func (c *SimulateCmd) publishPregenerated(ctx context.Context, env *Env, nc *nats.Conn, msgs []sim.Message) error {
	c.logf(env, "publishing %d pre-generated messages to %s as fast as possible", len(msgs), feed.RedactURLs(nc.ConnectedUrl()))
	var bytes int64
	published := 0
	start := time.Now()
	var deadline time.Time
	if c.Duration > 0 {
		deadline = start.Add(c.Duration)
	}
	var msg nats.Msg
	for i := range msgs {
		if i&4095 == 4095 && (ctx.Err() != nil || (!deadline.IsZero() && time.Now().After(deadline))) {
			break
		}
		m := &msgs[i]
		if err := m.PublishTo(nc, &msg); err != nil {
			return &ExitError{Code: ExitNoConnect, Err: fmt.Errorf("simulate: publish %s: %w", m.Subject, err)}
		}
		published++
		bytes += int64(len(m.Data))
	}
	if err := nc.FlushTimeout(30 * time.Second); err != nil {
		return &ExitError{Code: ExitNoConnect, Err: fmt.Errorf("simulate: flushing: %w", err)}
	}
	elapsed := time.Since(start)
	fmt.Fprintf(env.Stdout, "published %d pre-generated messages in %s: %.0f msg/s, %.1f MB/s\n",
		published, elapsed.Round(time.Millisecond), float64(published)/elapsed.Seconds(), float64(bytes)/1e6/elapsed.Seconds())
	return nil
}

func (c *SimulateCmd) reportProgress(ctx context.Context, env *Env, s *sim.Simulator) {
	t := time.NewTicker(progressEvery)
	defer t.Stop()
	start := time.Now()
	var last int64
	lastAt := start
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			p := s.Progress()
			rate := float64(p.Published-last) / now.Sub(lastAt).Seconds()
			last, lastAt = p.Published, now
			fmt.Fprintf(env.Stderr, "simulate: %s  %d published (%.1f ev/s), %d errors injected, scenario %s\n",
				now.Sub(start).Round(time.Second), p.Published, rate, p.ErrorsInjected, p.Scenario)
		}
	}
}

func (c *SimulateCmd) logf(env *Env, format string, args ...any) {
	if c.Quiet {
		return
	}
	w := env.Stderr
	if w == nil {
		w = io.Discard
	}
	fmt.Fprintf(w, "simulate: "+format+"\n", args...)
}

func rateText(rate float64) string {
	if rate <= 0 {
		return "maximum rate"
	}
	return fmt.Sprintf("%g ev/s", rate)
}

func limitText(l sim.Limit) string {
	switch {
	case l.Count > 0 && l.Duration > 0:
		return fmt.Sprintf("stopping after %d events or %s", l.Count, l.Duration)
	case l.Count > 0:
		return fmt.Sprintf("stopping after %d events", l.Count)
	case l.Duration > 0:
		return fmt.Sprintf("stopping after %s", l.Duration)
	}
	return "running until Ctrl-C"
}

// flagGiven reports whether the user set a flag (on the command line or in the config file).
func flagGiven(kctx *kong.Context, name string) bool {
	if kctx == nil {
		return false
	}
	for _, p := range kctx.Path {
		if p.Flag != nil && p.Flag.Name == name {
			return true
		}
	}
	return false
}
