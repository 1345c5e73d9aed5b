package testkit

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// StartNATS runs an embedded nats-server on 127.0.0.1 with opts (nil for defaults), on a
// free port unless opts.Port is set, and shuts it down when the test ends. Shutting it down
// earlier is fine: shutdown is idempotent.
func StartNATS(t testing.TB, opts *server.Options) *server.Server {
	t.Helper()
	if opts == nil {
		opts = &server.Options{}
	}
	opts.Host = "127.0.0.1"
	if opts.Port == 0 {
		opts.Port = server.RANDOM_PORT
	}
	opts.NoLog, opts.NoSigs = true, true
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("nats-server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		t.Fatal("nats-server not ready within 10s")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// StartJetStream is StartNATS with JetStream on, storing in a directory of the test's own.
func StartJetStream(t testing.TB) *server.Server {
	t.Helper()
	return StartNATS(t, &server.Options{JetStream: true, StoreDir: t.TempDir()})
}

// WaitForSubscriber returns once s has more subscriptions than before, i.e. a subscription
// made since before was counted is registered and a publish will reach it.
func WaitForSubscriber(t testing.TB, s *server.Server, before uint32) {
	t.Helper()
	Eventually(t, 10*time.Second, "a new subscription on the nats-server", func() (bool, string) {
		n := s.NumSubscriptions()
		return n > before, "subscriptions: " + strconv.FormatUint(uint64(n), 10)
	})
}

// StartTelemetryStream is StartJetStream plus a connection to it and the stream the
// daemon's durable mode keeps (TELEMETRY on telemetry.>), for tests that publish history
// into a stream and read it back. The connection closes when the test ends.
func StartTelemetryStream(t testing.TB) (*server.Server, jetstream.JetStream) {
	t.Helper()
	srv := StartJetStream(t)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatalf("connect to the JetStream server: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("JetStream context: %v", err)
	}
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "TELEMETRY", Subjects: []string{"telemetry.>"}}); err != nil {
		t.Fatalf("create the TELEMETRY stream: %v", err)
	}
	return srv, js
}
