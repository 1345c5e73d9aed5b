// Package demo owns the self-contained demo environment behind `ingot-top demo`: an embedded
// nats-server with JetStream on a loopback port and a temporary store, simulated Forge and
// Anvil /health endpoints plus an Ingot-shaped composite, and the traffic simulator. A new
// user gets the real dashboard on realistic data with one command and nothing to install.
package demo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nsai/ingot-top/internal/sim"
)

// What the demo's JetStream holds, so other tools can be pointed at it: Stream on Subject,
// and DurableConsumer, a pull consumer made the way `ingot-top daemon --create` makes one,
// so that `ingot-top daemon -s URL --durable demo` (the example `demo --help` prints) works
// as printed, without --create.
const (
	Subject         = "telemetry.>"
	Stream          = "TELEMETRY"
	DurableConsumer = "demo"
	// consumerMaxAckPending is what --create gives the daemon's default --batch-size (4096):
	// four batches, well inside the audit trail's de-duplication window.
	consumerMaxAckPending = 4 * 4096
)

// Config tunes the demo.
type Config struct {
	Host     string // listen host for NATS and health endpoints; loopback by default
	Port     int    // NATS port; 0 picks a free one
	Rate     float64
	Queues   int
	Labelers int
	Seed     int64
	Scenario sim.Scenario
	// StreamMaxBytes bounds the demo's JetStream stream so a long demo cannot fill the disk.
	StreamMaxBytes int64
}

// Env is a running demo.
type Env struct {
	URL    string
	Health *sim.HealthSet
	Sim    *sim.Simulator

	srv      *server.Server
	nc       *nats.Conn
	storeDir string
	cancel   context.CancelFunc
	done     chan struct{}
	closeMu  sync.Once
	simErr   error
}

// Start brings the environment up and starts the simulator. Close tears it down.
func Start(ctx context.Context, cfg Config) (*Env, error) {
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.Port == 0 {
		cfg.Port = -1
	}
	if cfg.StreamMaxBytes == 0 {
		cfg.StreamMaxBytes = 64 << 20
	}
	if cfg.Port > 0 {
		// The embedded server only logs a failed listen and then lets ReadyForConnections run
		// out its 10 s; trying the port first gives the real reason at once.
		addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("demo: NATS port %d: %w (another nats-server or demo there? pick another --port, or 0 for a free one)", cfg.Port, err)
		}
		if err := l.Close(); err != nil {
			return nil, fmt.Errorf("demo: NATS port %d: releasing the probe: %w", cfg.Port, err)
		}
	}
	storeDir, err := os.MkdirTemp("", "ingot-top-demo-")
	if err != nil {
		return nil, fmt.Errorf("demo: creating the JetStream store: %w", err)
	}
	env := &Env{storeDir: storeDir, done: make(chan struct{})}
	ok := false
	defer func() {
		if !ok {
			env.Close()
		}
	}()

	srv, err := server.NewServer(&server.Options{
		Host:      cfg.Host,
		Port:      cfg.Port,
		JetStream: true,
		StoreDir:  storeDir,
		NoLog:     true,
		NoSigs:    true,
		// Telemetry bursts are many small messages; the defaults are fine, but a generous
		// max payload keeps the contract's 64 KiB limit testable with `nats pub`.
		MaxPayload: 1 << 20,
	})
	if err != nil {
		return nil, fmt.Errorf("demo: configuring nats-server: %w", err)
	}
	env.srv = srv
	// The server reports start-up failures (a port taken between the probe above and its own
	// listen, an unusable store) only to its logger.
	fatal := &fatalLogger{msgs: make(chan string, 1)}
	srv.SetLoggerV2(fatal, false, false, false)
	go srv.Start()
	ready := make(chan bool, 1)
	go func() { ready <- srv.ReadyForConnections(10 * time.Second) }()
	select {
	case msg := <-fatal.msgs:
		return nil, fmt.Errorf("demo: embedded nats-server on port %d cannot start: %s", cfg.Port, msg)
	case ok := <-ready:
		if !ok {
			return nil, errors.New("demo: embedded nats-server did not become ready within 10s")
		}
	}
	env.URL = srv.ClientURL()

	env.Health, err = sim.StartHealthServersAt(ctx, sim.HealthAddrs{Forge: cfg.Host + ":0", Anvil: cfg.Host + ":0", Ingot: cfg.Host + ":0"})
	if err != nil {
		return nil, fmt.Errorf("demo: starting health endpoints: %w", err)
	}

	env.nc, err = nats.Connect(env.URL, nats.Name("ingot-top demo simulator"))
	if err != nil {
		return nil, fmt.Errorf("demo: connecting the simulator: %w", err)
	}
	if err := createStream(ctx, env.nc, cfg.StreamMaxBytes); err != nil {
		return nil, err
	}

	simCfg := sim.DefaultConfig()
	if cfg.Rate > 0 {
		simCfg.Rate = cfg.Rate
	}
	if cfg.Queues > 0 {
		simCfg.Queues = cfg.Queues
	}
	if cfg.Labelers > 0 {
		simCfg.Labelers = cfg.Labelers
	}
	if cfg.Seed != 0 {
		simCfg.Seed = cfg.Seed
	}
	if cfg.Scenario != "" {
		simCfg.Scenario = cfg.Scenario
	}
	simCfg.OnScenario = env.Health.ApplyScenario
	env.Sim, err = sim.New(simCfg, env.nc, nil)
	if err != nil {
		return nil, fmt.Errorf("demo: configuring the simulator: %w", err)
	}
	env.Health.ApplyScenario(simCfg.Scenario)

	runCtx, cancel := context.WithCancel(ctx)
	env.cancel = cancel
	go func() {
		defer close(env.done)
		_, err := env.Sim.Run(runCtx, sim.Limit{})
		if err != nil && !errors.Is(err, context.Canceled) {
			env.simErr = err
		}
	}()
	ok = true
	return env, nil
}

// createStream keeps the demo's traffic in JetStream, so `ingot-top daemon --durable` can be
// tried against the demo too; the stream is bounded in bytes and age.
func createStream(ctx context.Context, nc *nats.Conn, maxBytes int64) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("demo: jetstream: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	stream, err := js.CreateOrUpdateStream(cctx, jetstream.StreamConfig{
		Name:     Stream,
		Subjects: []string{Subject},
		MaxBytes: maxBytes,
		MaxAge:   15 * time.Minute,
		Discard:  jetstream.DiscardOld,
		Storage:  jetstream.FileStorage,
	})
	if err != nil {
		return fmt.Errorf("demo: creating stream %s: %w", Stream, err)
	}
	// A pull consumer nobody pulls from costs the server nothing but its state.
	_, err = stream.CreateOrUpdateConsumer(cctx, jetstream.ConsumerConfig{
		Durable:       DurableConsumer,
		AckPolicy:     jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		FilterSubject: Subject,
		MaxAckPending: consumerMaxAckPending,
	})
	if err != nil {
		return fmt.Errorf("demo: creating consumer %s on stream %s: %w", DurableConsumer, Stream, err)
	}
	return nil
}

// fatalLogger keeps the first fatal message of the embedded server; the rest of its log is
// not the demo user's business.
type fatalLogger struct{ msgs chan string }

func (l *fatalLogger) Noticef(string, ...any) {}
func (l *fatalLogger) Warnf(string, ...any)   {}
func (l *fatalLogger) Errorf(string, ...any)  {}
func (l *fatalLogger) Debugf(string, ...any)  {}
func (l *fatalLogger) Tracef(string, ...any)  {}
func (l *fatalLogger) Fatalf(format string, v ...any) {
	select {
	case l.msgs <- fmt.Sprintf(format, v...):
	default:
	}
}

// SetScenario switches the simulated platform's behaviour (and its health endpoints).
func (e *Env) SetScenario(name string) error {
	sc, err := sim.ParseScenario(name)
	if err != nil {
		return err
	}
	return e.Sim.SetScenario(sc)
}

// Close stops the simulator, the health endpoints and the server, and removes the store.
func (e *Env) Close() error {
	var errs []error
	e.closeMu.Do(func() {
		if e.cancel != nil {
			e.cancel()
			<-e.done
		}
		if e.nc != nil {
			e.nc.Close()
		}
		if e.Health != nil {
			if err := e.Health.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		if e.srv != nil {
			e.srv.Shutdown()
			e.srv.WaitForShutdown()
		}
		if e.storeDir != "" {
			if err := os.RemoveAll(e.storeDir); err != nil {
				errs = append(errs, fmt.Errorf("demo: removing %s: %w", e.storeDir, err))
			}
		}
		if e.simErr != nil {
			errs = append(errs, fmt.Errorf("demo: simulator: %w", e.simErr))
		}
	})
	return errors.Join(errs...)
}
