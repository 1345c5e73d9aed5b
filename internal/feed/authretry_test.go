package feed

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/nsai/ingot-top/internal/ingest"
	"github.com/nsai/ingot-top/internal/testkit"
	"github.com/nsai/ingot-top/internal/wire"
)

// credPair is one authentication method with two sets of credentials: the feed always holds
// "mine"; the server is restarted between accepting "mine" and accepting only "theirs".
type credPair struct {
	name   string
	mine   func(*server.Options)
	theirs func(*server.Options)
	feed   func(url string) Options
	pub    []nats.Option // connects while the server accepts "mine"
}

func credPairs(t *testing.T) []credPair {
	writeSeed := func(name string) (file, public string) {
		seed, pub := newNKeyUser(t)
		file = filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(file, seed, 0o600); err != nil {
			t.Fatal(err)
		}
		return file, pub
	}
	mySeed, myPub := writeSeed("mine.nk")
	_, theirPub := writeSeed("theirs.nk")
	nkeyOpt, err := nats.NkeyOptionFromSeed(mySeed)
	if err != nil {
		t.Fatal(err)
	}
	return []credPair{
		{
			name:   "token",
			mine:   func(o *server.Options) { o.Authorization = "tok-mine" },
			theirs: func(o *server.Options) { o.Authorization = "tok-theirs" },
			feed:   func(url string) Options { return Options{Server: url, Token: "tok-mine"} },
			pub:    []nats.Option{nats.Token("tok-mine")},
		},
		{
			name:   "user password",
			mine:   func(o *server.Options) { o.Username, o.Password = "ingot", "pa55-mine" },
			theirs: func(o *server.Options) { o.Username, o.Password = "ingot", "pa55-theirs" },
			feed: func(url string) Options {
				return Options{Server: url, User: "ingot", Password: "pa55-mine"}
			},
			pub: []nats.Option{nats.UserInfo("ingot", "pa55-mine")},
		},
		{
			name:   "nkey",
			mine:   func(o *server.Options) { o.Nkeys = []*server.NkeyUser{{Nkey: myPub}} },
			theirs: func(o *server.Options) { o.Nkeys = []*server.NkeyUser{{Nkey: theirPub}} },
			feed:   func(url string) Options { return Options{Server: url, NKey: mySeed} },
			pub:    []nats.Option{nkeyOpt},
		},
	}
}

// The defect: after an authorization failure the client gave up (nats.go closes the
// connection on the second identical auth error) and the state said "nats: connection
// closed". The feed must keep retrying with the server's reason in the state, and resume
// once the server, restarted on the same port, accepts its credentials again — at start and
// after losing them while connected, in core and JetStream mode.
func TestAuthFailureKeepsReasonAndRecovers(t *testing.T) {
	for _, cp := range credPairs(t) {
		for _, durable := range []string{"", "authretry"} {
			mode := "core"
			if durable != "" {
				mode = "jetstream"
			}
			t.Run(cp.name+"/"+mode, func(t *testing.T) {
				t.Parallel()
				testAuthRecovery(t, cp, durable)
			})
		}
	}
}

func testAuthRecovery(t *testing.T, cp credPair, durable string) {
	storeDir := t.TempDir()
	serverOpts := func(creds func(*server.Options)) *server.Options {
		o := &server.Options{JetStream: durable != "", StoreDir: storeDir}
		creds(o)
		return o
	}
	s := testkit.StartNATS(t, serverOpts(cp.theirs))
	url := s.ClientURL()
	port := portOf(t, url)
	// The server is restarted on the same port rather than reloaded: a reload re-checks the
	// credentials of clients still in their handshake, which races in nats-server itself
	// (seen by -race), and a restart is what the issue describes.
	restartWith := func(creds func(*server.Options)) {
		t.Helper()
		s.Shutdown()
		s.WaitForShutdown()
		o := serverOpts(creds)
		o.Port = port
		s = testkit.StartNATS(t, o)
	}
	attempts := func() uint64 {
		v, err := s.Varz(nil)
		if err != nil {
			t.Fatalf("varz: %v", err)
		}
		return v.TotalConnections
	}

	sink := newRecordingSink()
	opts := cp.feed(url)
	opts.Subject = "telemetry.>"
	opts.ConnectTimeout = 2 * time.Second
	f, err := New(opts, Config{ClientName: "authretry", Durable: durable, CreateStream: durable != ""}, sink)
	if err != nil {
		t.Fatal(err)
	}
	runFeed(t, f)

	// keepsRetrying waits for several refused attempts (nats.go gave up after two) and
	// checks the state carries the server's reason, not "connection closed".
	keepsRetrying := func(when string) {
		t.Helper()
		base := attempts()
		testkit.Eventually(t, 20*time.Second, when+": the feed keeps retrying", func() (bool, string) {
			return attempts() >= base+4, fmt.Sprintf("attempts %d since %d; state %+v", attempts(), base, f.State())
		})
		st := f.State()
		if !strings.Contains(strings.ToLower(st.LastError), "authorization violation") ||
			strings.Contains(st.LastError, "connection closed") {
			t.Errorf("%s: last error %q, want the server's reason (Authorization Violation)", when, st.LastError)
		}
		if st.Phase == ingest.PhaseConnected || st.Phase == ingest.PhaseDisconnected {
			t.Errorf("%s: phase %s while refused, want connecting or reconnecting", when, st.Phase)
		}
	}
	// flows waits for the connection and for an event published after it to reach the sink.
	flows := func(when string) {
		t.Helper()
		testkit.Eventually(t, 20*time.Second, when+": connected", func() (bool, string) {
			st := f.State()
			return st.Phase == ingest.PhaseConnected, fmt.Sprintf("%+v", st)
		})
		pub := connectPublisher(t, url, cp.pub...)
		ev, _, _ := sink.snapshot()
		had := len(ev)
		i := 0
		// Publish until one arrives: the resubscription after a reconnect is asynchronous.
		testkit.Eventually(t, 20*time.Second, when+": an event at the sink", func() (bool, string) {
			i++
			if err := pub.Publish("telemetry.anvil.label.submitted", eventBody("anvil.label.submitted", i)); err != nil {
				t.Fatal(err)
			}
			ev, _, _ := sink.snapshot()
			return len(ev) > had, fmt.Sprintf("%+v", f.State())
		})
		pub.Close()
	}

	keepsRetrying("wrong credentials at start")
	restartWith(cp.mine)
	flows("credentials accepted")

	restartWith(cp.theirs) // the connection drops, and the credentials are refused
	keepsRetrying("credentials revoked while connected")
	if st := f.State(); st.Phase != ingest.PhaseReconnecting {
		t.Errorf("phase %s after losing an established connection, want reconnecting", st.Phase)
	}
	restartWith(cp.mine)
	flows("credentials accepted again")
	if st := f.State(); st.Reconnects == 0 {
		t.Errorf("reconnects %d after coming back, want > 0", st.Reconnects)
	}
}

func portOf(t *testing.T, url string) int {
	t.Helper()
	var port int
	if _, err := fmt.Sscanf(url[strings.LastIndexByte(url, ':')+1:], "%d", &port); err != nil {
		t.Fatalf("port of %s: %v", url, err)
	}
	return port
}

// When nats.go closes the connection for good (it gives up, or something closes it), the
// feed builds a new connection itself instead of waiting for its caller to stop.
func TestFeedRedialsAfterTheClientLibraryClosed(t *testing.T) {
	for _, durable := range []string{"", "redial"} {
		t.Run(map[bool]string{true: "core", false: "jetstream"}[durable == ""], func(t *testing.T) {
			var s *server.Server
			if durable == "" {
				s = testkit.StartNATS(t, nil)
			} else {
				s = testkit.StartJetStream(t)
			}
			sink := newRecordingSink()
			f, err := New(Options{Server: s.ClientURL(), Subject: "telemetry.>"},
				Config{Durable: durable, CreateStream: durable != ""}, sink)
			if err != nil {
				t.Fatal(err)
			}
			runFeed(t, f)
			testkit.EventuallyTrue(t, 10*time.Second, "connected", func() bool { return f.State().Phase == ingest.PhaseConnected })
			first := f.Conn()
			first.Close()
			testkit.Eventually(t, 20*time.Second, "a new connection", func() (bool, string) {
				nc := f.Conn()
				return nc != first && nc.IsConnected() && f.State().Phase == ingest.PhaseConnected, fmt.Sprintf("%+v", f.State())
			})
			pub := connectPublisher(t, s.ClientURL())
			i := 0
			testkit.Eventually(t, 20*time.Second, "an event on the new connection", func() (bool, string) {
				i++
				if err := pub.Publish("telemetry.anvil.label.submitted", eventBody("anvil.label.submitted", i)); err != nil {
					t.Fatal(err)
				}
				ev, _, _ := sink.snapshot()
				return len(ev) > 0, fmt.Sprintf("%+v", f.State())
			})
		})
	}
}

// nats.go reports a handshake the server refuses through no callback while it retries a
// first connect: a feed started while the server was down kept showing "connection
// refused" once the server was up and refusing its token.
func TestAuthReasonShownWhenTheServerComesUpRefusing(t *testing.T) {
	port := testkit.FreePort(t)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	f, err := New(Options{Server: url, Token: "tok-mine", Subject: "telemetry.>"}, Config{}, newRecordingSink())
	if err != nil {
		t.Fatal(err)
	}
	runFeed(t, f)
	testkit.Eventually(t, 10*time.Second, "a refused dial in the state", func() (bool, string) {
		st := f.State()
		return strings.Contains(st.LastError, "refused"), fmt.Sprintf("%+v", st)
	})
	s := testkit.StartNATS(t, &server.Options{Port: port, Authorization: "tok-theirs"})
	base := func() uint64 { v, _ := s.Varz(nil); return v.TotalConnections }
	testkit.Eventually(t, 20*time.Second, "the server's reason in the state", func() (bool, string) {
		st := f.State()
		return base() >= 2 && strings.Contains(st.LastError, "Authorization Violation"), fmt.Sprintf("attempts %d; %+v", base(), st)
	})
	if st := f.State(); st.Phase != ingest.PhaseConnecting {
		t.Errorf("phase %s, want connecting", st.Phase)
	}
}

// closingSink accepts batches but closes the feed's connection during the first, so the
// acknowledgements of that batch never reach the server.
type closingSink struct {
	*recordingSink
	f    *Feed
	once sync.Once
}

func (s *closingSink) HandleBatch(events []wire.Event) error {
	s.once.Do(func() { s.f.Conn().Close() })
	return s.recordingSink.HandleBatch(events)
}

// A new connection must not forget what the sinks already accepted: acks lost with the old
// connection make the server redeliver, and those events must not reach the sinks twice.
func TestJetStreamRedialKeepsTheDeduplication(t *testing.T) {
	s := testkit.StartJetStream(t)
	js := jsClient(t, s.ClientURL())
	sink := &closingSink{recordingSink: newRecordingSink()}
	f, err := New(Options{Server: s.ClientURL(), Subject: "telemetry.>"},
		Config{Durable: "ingot", CreateStream: true, AckWait: 200 * time.Millisecond}, sink)
	if err != nil {
		t.Fatal(err)
	}
	sink.f = f
	runFeed(t, f)
	testkit.EventuallyTrue(t, 10*time.Second, "consumer created", func() bool {
		_, err := js.Consumer(context.Background(), DefaultStream, "ingot")
		return err == nil
	})
	seq := publishJS(t, js, "telemetry.ingot.label.submit", eventBody("ingot.label.submit", 0))
	testkit.Eventually(t, 20*time.Second, "redelivered on a new connection and acknowledged", func() (bool, string) {
		info := consumerInfo(t, js, "ingot")
		st := f.State()
		return st.Received >= 2 && info.AckFloor.Stream == seq && info.NumAckPending == 0,
			fmt.Sprintf("state %+v; ack floor %d, pending %d", st, info.AckFloor.Stream, info.NumAckPending)
	})
	if events, _, _ := sink.snapshot(); len(events) != 1 {
		t.Fatalf("sink got %d events, want 1 (de-duplicated across connections)", len(events))
	}
}
