package cli

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/nsai/ingot-top/internal/testkit"
	"github.com/nsai/ingot-top/internal/wire"
)

// subscribe collects every message on telemetry.> into a channel large enough to never drop.
func subscribe(t *testing.T, url string, capacity int) (*nats.Conn, chan *nats.Msg) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ch := make(chan *nats.Msg, capacity)
	if _, err := nc.ChanSubscribe("telemetry.>", ch); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return nc, ch
}

type cmdResult struct {
	code           int
	stdout, stderr string
}

func runSimulate(ctx context.Context, args ...string) cmdResult {
	var stdout, stderr testkit.SyncBuffer
	code := Main(append([]string{"simulate"}, args...), Env{Ctx: ctx, Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }})
	return cmdResult{code, stdout.String(), stderr.String()}
}

// drainExactly checks that exactly n messages arrived: the publisher flushed before exiting,
// so after a round trip on the subscriber's connection every message is in the channel.
func drainExactly(t *testing.T, sub *nats.Conn, ch chan *nats.Msg, n int) []*nats.Msg {
	t.Helper()
	if err := sub.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := len(ch); got != n {
		t.Fatalf("subscriber received %d messages, want exactly %d", got, n)
	}
	out := make([]*nats.Msg, 0, n)
	for range n {
		out = append(out, <-ch)
	}
	return out
}

func decodeAllMsgs(t *testing.T, msgs []*nats.Msg) {
	t.Helper()
	dec := wire.NewDecoder("telemetry")
	for i, m := range msgs {
		if _, err := dec.Decode(m.Subject, m.Data, m.Header.Get("traceparent"), time.Now()); err != nil {
			t.Fatalf("message %d on %s: %v", i, m.Subject, err)
		}
	}
}

func TestSimulateCountIsExact(t *testing.T) {
	s := testkit.StartNATS(t, nil)
	for _, rate := range []string{"0", "4000"} {
		sub, ch := subscribe(t, s.ClientURL(), 50_000)
		res := runSimulate(context.Background(), "-s", s.ClientURL(), "--count", "3000", "--rate", rate, "--quiet", "--seed", "7")
		if res.code != ExitOK {
			t.Fatalf("rate %s: exit %d\nstdout: %s\nstderr: %s", rate, res.code, res.stdout, res.stderr)
		}
		if !strings.Contains(res.stdout, "published 3000 events") {
			t.Fatalf("summary: %q", res.stdout)
		}
		if res.stderr != "" {
			t.Fatalf("--quiet printed to stderr: %q", res.stderr)
		}
		decodeAllMsgs(t, drainExactly(t, sub, ch, 3000))
	}
}

func TestSimulatePregenerated(t *testing.T) {
	s := testkit.StartNATS(t, nil)
	sub, ch := subscribe(t, s.ClientURL(), 50_000)
	res := runSimulate(context.Background(), "-s", s.ClientURL(), "--pregenerated", "--count", "20000")
	if res.code != ExitOK {
		t.Fatalf("exit %d: %s %s", res.code, res.stdout, res.stderr)
	}
	if !strings.Contains(res.stdout, "published 20000 pre-generated messages") || !strings.Contains(res.stdout, "msg/s") {
		t.Fatalf("summary: %q", res.stdout)
	}
	if !strings.Contains(res.stderr, "pre-generated 20000 messages") {
		t.Fatalf("stderr: %q", res.stderr)
	}
	decodeAllMsgs(t, drainExactly(t, sub, ch, 20000))
}

func TestSimulateUnreachableServer(t *testing.T) {
	url := "nats://127.0.0.1:" + strconv.Itoa(testkit.FreePort(t))
	done := make(chan cmdResult, 1)
	go func() {
		done <- runSimulate(context.Background(), "-s", url, "--count", "10", "--connect-wait", "300ms", "--connect-timeout", "100ms")
	}()
	var res cmdResult
	select {
	case res = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("simulate hung on an unreachable server")
	}
	if res.code != ExitNoConnect {
		t.Fatalf("exit %d, want %d (stderr %q)", res.code, ExitNoConnect, res.stderr)
	}
	if !strings.Contains(res.stderr, url) {
		t.Fatalf("stderr does not name the server: %q", res.stderr)
	}
}

func TestSimulateUntilInterruptedWithHealth(t *testing.T) {
	s := testkit.StartNATS(t, nil)
	sub, ch := subscribe(t, s.ClientURL(), 100_000)
	forgeAddr := "127.0.0.1:" + strconv.Itoa(testkit.FreePort(t))
	ingotAddr := "127.0.0.1:" + strconv.Itoa(testkit.FreePort(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan cmdResult, 1)
	go func() {
		done <- runSimulate(ctx, "-s", s.ClientURL(), "--rate", "200", "--scenario", "forge-down",
			"--forge-health-listen", forgeAddr, "--ingot-health-listen", ingotAddr)
	}()
	client := &http.Client{Timeout: 3 * time.Second}
	// forge-down: Forge's /health fails and Ingot's composite reports 503.
	deadline := time.Now().Add(10 * time.Second)
	for {
		fr, ferr := client.Get("http://" + forgeAddr + "/health")
		ir, ierr := client.Get("http://" + ingotAddr + "/health")
		if ferr == nil && ierr == nil {
			fr.Body.Close()
			ir.Body.Close()
			if fr.StatusCode == 503 && ir.StatusCode == 503 {
				break
			}
			t.Fatalf("forge %d, ingot %d, want 503 both", fr.StatusCode, ir.StatusCode)
		}
		if time.Now().After(deadline) {
			t.Fatalf("health endpoints never answered: %v %v", ferr, ierr)
		}
		time.Sleep(10 * time.Millisecond) // polling a server that is starting up
	}
	for len(ch) < 50 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d messages arrived", len(ch))
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	var res cmdResult
	select {
	case res = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("simulate did not stop on cancel")
	}
	if res.code != ExitOK {
		t.Fatalf("exit %d: %s %s", res.code, res.stdout, res.stderr)
	}
	if !strings.Contains(res.stderr, "running until Ctrl-C") || !strings.Contains(res.stderr, "health endpoints:") {
		t.Fatalf("stderr: %q", res.stderr)
	}
	var published int
	if _, err := fmtSscanPublished(res.stdout, &published); err != nil {
		t.Fatalf("summary %q: %v", res.stdout, err)
	}
	drainExactly(t, sub, ch, published)
	if _, err := client.Get("http://" + forgeAddr + "/health"); err == nil {
		t.Fatal("forge health still serving after the command returned")
	}
}

func fmtSscanPublished(s string, n *int) (int, error) {
	i := strings.Index(s, "published ")
	if i < 0 {
		return 0, strconv.ErrSyntax
	}
	f := strings.Fields(s[i+len("published "):])
	v, err := strconv.Atoi(f[0])
	*n = v
	return v, err
}

func TestSimulateUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--error-rate", "2"},
		{"--rate", "-1"},
		{"--scenario", "meltdown"},
		{"--subject", ">"},
		{"--duration", "0s"},
		{"--count", "0"},
	} {
		res := runSimulate(context.Background(), append(args, "-s", "nats://127.0.0.1:1")...)
		if res.code != ExitUsage {
			t.Fatalf("%v: exit %d, want %d (%s)", args, res.code, ExitUsage, res.stderr)
		}
	}
}
