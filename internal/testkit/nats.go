package testkit

import (
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
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
