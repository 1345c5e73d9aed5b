package testkit

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// recordingTB stands in for a test whose failure is the thing under test: Fatalf records
// the message and ends the goroutine, as testing.T's does.
type recordingTB struct {
	testing.TB
	mu     sync.Mutex
	failed string
}

func (r *recordingTB) Helper() {}
func (r *recordingTB) Fatalf(format string, args ...any) {
	r.mu.Lock()
	r.failed = fmt.Sprintf(format, args...)
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *recordingTB) Skipf(format string, args ...any) {
	r.mu.Lock()
	r.failed = "SKIP " + fmt.Sprintf(format, args...)
	r.mu.Unlock()
	runtime.Goexit()
}

func runRecording(f func(tb testing.TB)) string {
	r := &recordingTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

func TestEventuallyReturnsOnceTheConditionHolds(t *testing.T) {
	calls := 0
	Eventually(t, 10*time.Second, "third call", func() (bool, string) {
		calls++
		return calls == 3, ""
	})
	if calls != 3 {
		t.Fatalf("cond called %d times, want 3", calls)
	}
}

func TestEventuallyFailsAtTheDeadlineWithTheLastState(t *testing.T) {
	start := time.Now()
	msg := runRecording(func(tb testing.TB) {
		n := 0
		Eventually(tb, 50*time.Millisecond, "never", func() (bool, string) { n++; return false, fmt.Sprintf("try %d", n) })
	})
	if !strings.HasPrefix(msg, "never: not reached within 50ms; last: try ") {
		t.Fatalf("failure message %q", msg)
	}
	if elapsed := time.Since(start); elapsed < 50*time.Millisecond {
		t.Fatalf("gave up after %v, before the deadline", elapsed)
	}
	if msg := runRecording(func(tb testing.TB) { EventuallyTrue(tb, time.Millisecond, "plain", func() bool { return false }) }); msg != "plain: not reached within 1ms" {
		t.Fatalf("failure message %q", msg)
	}
}

func TestRequireToolSkipsLocallyAndFailsInCI(t *testing.T) {
	t.Setenv("CI", "true")
	if msg := runRecording(func(tb testing.TB) { RequireTool(tb, "frob is absent") }); !strings.HasPrefix(msg, "frob is absent (CI=true") {
		t.Errorf("with CI=true: %q, want a failure", msg)
	}
	os.Unsetenv("CI") // t.Setenv restores it after the test
	if msg := runRecording(func(tb testing.TB) { RequireTool(tb, "frob is absent") }); !strings.HasPrefix(msg, "SKIP skipped: frob is absent") {
		t.Errorf("without CI: %q, want a skip", msg)
	}
}

func TestFreePortIsFreeAndLoopback(t *testing.T) {
	addr := FreeLoopbackAddr(t)
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("address %q is not loopback", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("port of %s is not free: %v", addr, err)
	}
	l.Close()
}

func TestStartNATSServesAndCountsSubscribers(t *testing.T) {
	s := StartNATS(t, nil)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	before := s.NumSubscriptions()
	sub, err := nc.SubscribeSync("testkit.>")
	if err != nil {
		t.Fatal(err)
	}
	WaitForSubscriber(t, s, before)
	if err := nc.Publish("testkit.ping", []byte("pong")); err != nil {
		t.Fatal(err)
	}
	msg, err := sub.NextMsg(5 * time.Second)
	if err != nil || string(msg.Data) != "pong" {
		t.Fatalf("message %v, %v", msg, err)
	}
	js := StartJetStream(t)
	if !js.JetStreamEnabled() {
		t.Fatal("StartJetStream runs without JetStream")
	}
}

func TestQueryAPIDecodesResultOrDataAndRejectsErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/query":
			fmt.Fprint(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"b"},"value":[1,"2"]}]}}`)
		case "/api/v1/query_exemplars":
			fmt.Fprint(w, `{"status":"success","data":[{"exemplars":[]}]}`)
		default:
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"status":"error","error":"bad query"}`)
		}
	}))
	defer srv.Close()
	var vector []struct {
		Metric map[string]string `json:"metric"`
		Value  [2]any            `json:"value"`
	}
	if err := QueryAPI(srv.URL+"/api/v1/query", &vector); err != nil || len(vector) != 1 || vector[0].Value[1] != "2" {
		t.Fatalf("query: %+v, %v", vector, err)
	}
	var data []map[string]any
	if err := QueryAPI(srv.URL+"/api/v1/query_exemplars", &data); err != nil || len(data) != 1 {
		t.Fatalf("exemplars: %+v, %v", data, err)
	}
	if err := QueryAPI(srv.URL+"/api/v1/nope", &data); err == nil || !strings.Contains(err.Error(), "bad query") {
		t.Fatalf("error answer: %v", err)
	}
}

func TestSyncBufferKeepsConcurrentWrites(t *testing.T) {
	var b SyncBuffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				fmt.Fprint(&b, "x")
			}
		})
	}
	wg.Wait()
	if got := len(b.String()); got != 800 {
		t.Fatalf("%d bytes, want 800", got)
	}
}

func TestPrometheusAndPromtoolRunForReal(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "# HELP testkit_up A constant.\n# TYPE testkit_up gauge\ntestkit_up 1\n")
	}))
	defer target.Close()
	out, err := PromtoolCheckMetrics(t, strings.NewReader("# HELP testkit_up A constant.\n# TYPE testkit_up gauge\ntestkit_up 1\n"))
	if err != nil || strings.TrimSpace(out) != "" {
		t.Fatalf("promtool on a clean exposition: %v\n%s", err, out)
	}
	if _, err := PromtoolCheckMetrics(t, strings.NewReader("testkit_total_seconds_total 1\n")); err == nil {
		t.Fatal("promtool accepted a badly named counter")
	}
	p := StartPrometheus(t, PrometheusConfig{Target: target.URL})
	var up []struct {
		Value [2]any `json:"value"`
	}
	EventuallyTrue(t, 30*time.Second, "testkit_up scraped", func() bool {
		return QueryAPI(p.URL+"/api/v1/query?query=testkit_up", &up) == nil && len(up) == 1
	})
	if up[0].Value[1] != "1" {
		t.Fatalf("testkit_up = %v, want 1", up[0].Value[1])
	}
}
