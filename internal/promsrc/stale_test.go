package promsrc

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/testkit"
)

// snapshotPromptly calls Snapshot from another goroutine and fails if it does not return
// while a poll is stuck: Snapshot must never wait for I/O.
func snapshotPromptly(t *testing.T, s *Source) *Snapshot {
	t.Helper()
	got := make(chan *Snapshot, 1)
	go func() { got <- s.Snapshot() }()
	select {
	case snap := <-got:
		return snap
	case <-time.After(5 * time.Second):
		t.Fatal("Snapshot blocked while a poll was outstanding")
		return nil
	}
}

func TestPrometheusDownIsStale(t *testing.T) {
	addr := testkit.FreeLoopbackAddr(t) // nothing listens there any more
	s, err := New(Flags{Prometheus: "http://" + addr, PrometheusTimeout: 2 * time.Second}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.pollAll(context.Background())
	st := s.Snapshot().Sources[0]
	if !st.Stale || st.OK || !strings.Contains(st.LastError, "connection refused") {
		t.Fatalf("status %+v: want stale with a connection-refused error", st)
	}
	if st.URL != "http://"+addr || st.Name != "prometheus" {
		t.Errorf("status names %q %q", st.Name, st.URL)
	}
}

func TestPrometheusErrorIsStale(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"status":"error","errorType":"internal","error":"tsdb on fire"}`))
	}))
	defer srv.Close()
	s, err := New(Flags{Prometheus: srv.URL}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.pollAll(context.Background())
	snap := s.Snapshot()
	st := snap.Sources[0]
	if !st.Stale || st.OK || !strings.Contains(st.LastError, "HTTP 500") || !strings.Contains(st.LastError, "more failed requests") {
		t.Fatalf("status %+v: want stale with the server's error", st)
	}
	if len(snap.Queues) != 0 || len(snap.Alerts) != 0 {
		t.Errorf("figures from an erroring server: %+v", snap)
	}
}

// TestPrometheusHangingIsStale: a server that never answers. Run keeps polling in its own
// goroutine; Snapshot answers at once throughout, reports the source stale while the request
// is still outstanding past the timeout, and then with a timeout error.
func TestPrometheusHangingIsStale(t *testing.T) {
	arrived := make(chan struct{}, 64)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	clock := &fakeClock{now: time.Date(2026, 11, 28, 14, 0, 0, 0, time.UTC)}
	s, err := New(Flags{Prometheus: srv.URL, PrometheusTimeout: 300 * time.Millisecond, PrometheusInterval: time.Hour}, nil, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	<-arrived // a request is outstanding now

	// In the source's clock the request has been outstanding for longer than the timeout:
	// stale already, before the HTTP client gives up.
	clock.Add(time.Second)
	st := snapshotPromptly(t, s).Sources[0]
	if !st.Stale || !strings.Contains(st.LastError, "no answer") {
		t.Fatalf("outstanding request: status %+v, want stale with 'no answer'", st)
	}
	// The context deadline (real time) ends the request; the error names the timeout.
	testkit.EventuallyTrue(t, 10*time.Second, "timeout error", func() bool {
		st = snapshotPromptly(t, s).Sources[0]
		return strings.Contains(st.LastError, "no answer within 300ms") && !st.OK
	})
	if !st.Stale {
		t.Errorf("status %+v, want stale", st)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// TestStaleAfterSilence: a source that answered once and then nothing for longer than two
// intervals plus the timeout is stale even with no failure recorded (a stuck poll loop).
func TestStaleAfterSilence(t *testing.T) {
	at := time.Date(2026, 11, 28, 14, 0, 0, 0, time.UTC)
	st := SourceStatus{OK: true, LastSuccess: at}
	if got := finishStatus(st, at.Add(5*time.Second), time.Time{}, 5*time.Second, 3*time.Second, at); got.Stale || got.Age != 5*time.Second {
		t.Errorf("fresh: %+v", got)
	}
	if got := finishStatus(st, at.Add(14*time.Second), time.Time{}, 5*time.Second, 3*time.Second, at); !got.Stale {
		t.Errorf("silent for 14s at 5s/3s: %+v, want stale", got)
	}
}

func TestNewValidates(t *testing.T) {
	s, err := New(Flags{}, nil, nil)
	if s != nil || err != nil {
		t.Fatalf("nothing configured: %v %v, want nil, nil", s, err)
	}
	if s.Snapshot() != nil || s.Run(context.Background()) != nil {
		t.Error("nil Source methods must be no-ops")
	}
	_, err = New(Flags{}, map[string]string{"thruput": "up"}, nil)
	if err == nil || !strings.Contains(err.Error(), "queries.thruput: unknown query (known: ") || !strings.Contains(err.Error(), QueueRate) {
		t.Errorf("unknown query name: %v", err)
	}
	_, err = New(Flags{Prometheus: "http://p:9090"}, map[string]string{OpLatency: "histogram_quantile(0.9, x)"}, nil)
	if err == nil || !strings.Contains(err.Error(), "$quantile") {
		t.Errorf("op_latency without $quantile: %v", err)
	}
	for _, bad := range []string{"prometheus:9090", "ftp://p", "http://"} {
		if _, err := New(Flags{Prometheus: bad}, nil, nil); err == nil || !strings.Contains(err.Error(), "--prometheus") {
			t.Errorf("URL %q: %v", bad, err)
		}
	}
	if _, err := New(Flags{Scrape: []string{"localhost:9101/metrics"}}, nil, nil); err == nil || !strings.Contains(err.Error(), "--scrape") {
		t.Errorf("scrape URL without scheme: %v", err)
	}
	if _, err := New(Flags{Prometheus: "http://p:9090", PrometheusBearerTokenFile: "/tmp/t", PrometheusUsername: "u"}, nil, nil); err == nil {
		t.Error("bearer token and basic auth together: want an error")
	}
	s, err = New(Flags{Prometheus: "http://u:secret@p:9090"}, map[string]string{QueueRate: "sum(up)"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(s.Snapshot().Sources[0].URL, "secret") {
		t.Errorf("password shown: %s", s.Snapshot().Sources[0].URL)
	}
	if s.prom.queries[QueueRate] != "sum(up)" || s.prom.queries[QueueTotal] != DefaultQueries()[QueueTotal] {
		t.Error("override not applied over the defaults")
	}
}

// TestBearerAndBasicAuthSent checks the standard client config reaches the wire.
func TestBearerAndBasicAuthSent(t *testing.T) {
	got := make(chan string, 64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case got <- r.Header.Get("Authorization"):
		default:
		}
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, "/alerts"):
			_, _ = w.Write([]byte(`{"status":"success","data":{"alerts":[]}}`))
			return
		case strings.HasSuffix(r.URL.Path, "/query_range"):
			_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"matrix","result":[]}}`))
			return
		}
		_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[]}}`))
	}))
	defer srv.Close()
	tokenFile := t.TempDir() + "/token"
	if err := writeFile(tokenFile, "s3cret-token\n"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		flags Flags
		want  string
	}{
		{Flags{Prometheus: srv.URL, PrometheusBearerTokenFile: tokenFile}, "Bearer s3cret-token"},
		{Flags{Prometheus: srv.URL, PrometheusUsername: "ops", PrometheusPassword: "pw"}, "Basic b3BzOnB3"},
	} {
		s, err := New(tc.flags, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		s.pollAll(context.Background())
		if st := s.Snapshot().Sources[0]; !st.OK {
			t.Fatalf("status %+v", st)
		}
		if h := <-got; h != tc.want {
			t.Errorf("Authorization %q, want %q", h, tc.want)
		}
		for len(got) > 0 {
			<-got
		}
	}
}
