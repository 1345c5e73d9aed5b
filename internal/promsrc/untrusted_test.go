package promsrc

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

const (
	emptyVector = `{"status":"success","data":{"resultType":"vector","result":[]}}`
	emptyMatrix = `{"status":"success","data":{"resultType":"matrix","result":[]}}`
	noAlerts    = `{"status":"success","data":{"alerts":[]}}`
)

// answer is what the fake Prometheus sends for one endpoint.
type answer struct {
	code  int
	ctype string
	body  string
}

// promServer is a real HTTP server answering the API endpoints the source calls; the
// endpoints not named in bad answer as an empty, healthy Prometheus would. Bodies are
// streamed (chunked) unless announce, which sends their Content-Length.
func promServer(t *testing.T, bad map[string]answer, announce bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ep := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
		a, ok := bad[ep]
		if !ok {
			a = answer{200, "application/json", map[string]string{"query": emptyVector, "query_range": emptyMatrix, "alerts": noAlerts}[ep]}
		}
		if a.ctype != "" {
			w.Header().Set("Content-Type", a.ctype)
		}
		if announce {
			w.Header().Set("Content-Length", fmt.Sprint(len(a.body)))
		}
		w.WriteHeader(a.code)
		_, _ = w.Write([]byte(a.body))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestPrometheusUntrustedAnswers: a server at the --prometheus URL that is not (quite) a
// Prometheus API, for instant queries and for the query_range history: the source is marked
// failing with a reason that says what was wrong, and nothing panics. The first case used
// to panic on a nil value and exit the dashboard within seconds.
func TestPrometheusUntrustedAnswers(t *testing.T) {
	const html = "<!DOCTYPE html>\n<html><body>Sign in to the guest Wi-Fi</body></html>"
	manySeries := `{"status":"success","data":{"resultType":"vector","result":[` + strings.TrimSuffix(strings.Repeat(`{},`, maxAnswerSeries+1), ",") + `]}}`
	huge := `{"status":"success","data":{"resultType":"vector","result":[` + strings.Repeat(`{"metric":{"queue_id":"q"},"value":[1,"1"]},`, maxRangeBytes/40) + `{}]}}`
	for _, tc := range []struct {
		name            string
		instant, ranged answer // ranged: nil body means the same as instant
		want            string // in the status for both
		wantInstant     string // when the reasons differ
		wantRange       string
		announce        bool // send Content-Length
	}{
		{name: "status ok without data", instant: answer{200, "application/json", `{"status":"ok"}`},
			want: `no "data" in the answer (status "ok")`},
		{name: "success without data", instant: answer{200, "application/json", `{"status":"success"}`},
			want: `no "data" in the answer (status "success")`},
		{name: "null data", instant: answer{200, "application/json", `{"status":"success","data":null}`},
			want: `no "data" in the answer`},
		{name: "no status", instant: answer{200, "application/json", `{"data":{"resultType":"vector","result":[]}}`},
			want: `status "<none>" in the answer, want "success"`},
		{name: "captive portal HTML", instant: answer{200, "text/html; charset=utf-8", html},
			want: `not a Prometheus API answer: text/html, body starts "<!DOCTYPE html>"`},
		{name: "empty body", instant: answer{200, "", ""},
			want: `not a Prometheus API answer: empty body`},
		{name: "truncated JSON", instant: answer{200, "application/json", `{"status":"success","data":{"resultType":"vector","result":[`},
			want: `not a Prometheus API answer`},
		{name: "error with 200", instant: answer{200, "application/json", `{"status":"error","errorType":"bad_data","error":"parse error at char 3"}`},
			want: `error bad_data: parse error at char 3`},
		{name: "error with 400", instant: answer{400, "application/json", `{"status":"error","errorType":"bad_data","error":"parse error at char 3"}`},
			want: `HTTP 400 bad_data: parse error at char 3`},
		{name: "proxy 502 page", instant: answer{502, "text/html", "<html>Bad Gateway</html>"},
			want: `HTTP 502, text/html, body starts "<html>Bad Gateway</html>"`},
		{name: "unknown resultType", instant: answer{200, "application/json", `{"status":"success","data":{"resultType":"streams","result":[]}}`},
			wantInstant: "got a streams, want an instant vector", wantRange: "got a streams, want a matrix"},
		{name: "no resultType", instant: answer{200, "application/json", `{"status":"success","data":{"result":[]}}`},
			want: `no "resultType" in the answer`},
		{name: "result not a list", instant: answer{200, "application/json", `{"status":"success","data":{"resultType":"vector","result":{"a":1}}}`},
			ranged:      answer{200, "application/json", `{"status":"success","data":{"resultType":"matrix","result":"x"}}`},
			wantInstant: "series: got an object, want a list", wantRange: "series: got a string, want a list"},
		{name: "number where a string value", instant: answer{200, "application/json", `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"queue_id":"q"},"value":[1,5]}]}}`},
			ranged:      answer{200, "application/json", `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"queue_id":"q"},"values":[[1,5]]}]}}`},
			wantInstant: "series 0: sample value must be a quoted string", wantRange: "series 0: sample value must be a quoted string"},
		{name: "too many series", instant: answer{200, "application/json", manySeries},
			ranged: answer{200, "application/json", strings.Replace(manySeries, `"vector"`, `"matrix"`, 1)},
			want:   fmt.Sprintf("more than %d series in one answer", maxAnswerSeries)},
		{name: "body over the bound", instant: answer{200, "application/json", huge},
			wantInstant: "answer too large: more than 4 MiB, not read", wantRange: "answer too large: more than 16 MiB, not read"},
		{name: "announced body over the bound", instant: answer{200, "application/json", huge}, announce: true,
			wantInstant: "bytes announced, more than 4 MiB, not read", wantRange: "bytes announced, more than 16 MiB, not read"},
	} {
		for _, kind := range []string{"query", "query_range"} {
			t.Run(tc.name+"/"+kind, func(t *testing.T) {
				a := tc.instant
				want := tc.want
				if kind == "query_range" {
					if tc.ranged.body != "" {
						a = tc.ranged
					}
					want += tc.wantRange
				} else {
					want += tc.wantInstant
				}
				srv := promServer(t, map[string]answer{kind: a}, tc.announce)
				s, err := New(Flags{Prometheus: srv.URL, PrometheusTimeout: 10 * time.Second}, nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				s.pollAll(context.Background())
				snap := s.Snapshot()
				st := snap.Sources[0]
				if st.OK || !st.Stale || !strings.Contains(st.LastError, want) {
					t.Fatalf("status OK=%v stale=%v error %q\nwant failing with %q", st.OK, st.Stale, st.LastError, want)
				}
				// the reason first (the Health pane has room for one clause), then the request
				if !strings.HasPrefix(st.LastError, want) && !strings.Contains(st.LastError, "("+kind+" ") {
					t.Errorf("error %q does not say which request failed (%s)", st.LastError, kind)
				}
				if strings.HasPrefix(st.LastError, kind+" ") {
					t.Errorf("error %q puts the request before the reason", st.LastError)
				}
				if len(snap.Queues) != 0 || len(snap.Ops) != 0 {
					t.Errorf("figures from a failing source: %+v %+v", snap.Queues, snap.Ops)
				}
			})
		}
	}
}

// TestPrometheusOddButValidAnswers: answers that are valid API but odd are taken without
// harm: NaN and infinite values are dropped, unsorted and far-apart timestamps in the
// history (which used to size the history slice, negative or gigabytes) keep the history
// within MaxHistoryPoints.
func TestPrometheusOddButValidAnswers(t *testing.T) {
	srv := promServer(t, map[string]answer{
		"query": {200, "application/json", `{"status":"success","data":{"resultType":"vector","result":[` +
			`{"metric":{"queue_id":"nan"},"value":[1,"NaN"]},{"metric":{"queue_id":"inf"},"value":[1,"+Inf"]},` +
			`{"metric":{"queue_id":"ok"},"value":[1,"12"]}]}}`},
		"query_range": {200, "application/json", `{"status":"success","data":{"resultType":"matrix","result":[` +
			`{"metric":{"queue_id":"unsorted"},"values":[[2000,"1"],[1000,"2"]]},` +
			`{"metric":{"queue_id":"far"},"values":[[0,"1"],[100000000,"2"]]},` +
			`{"metric":{"queue_id":"ancient"},"values":[[-9000000000000000,"1"],[1,"2"]]}]}}`},
	}, true)
	s, err := New(Flags{Prometheus: srv.URL, PrometheusTimeout: 10 * time.Second}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.pollAll(context.Background())
	snap := s.Snapshot()
	if st := snap.Sources[0]; !st.OK {
		t.Fatalf("status %+v, want OK", st)
	}
	for _, q := range snap.Queues {
		for _, v := range []float64{q.LabelsPerMin, q.Total, q.Pending, q.P50MS} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Errorf("queue %s: figure %v", q.ID, v)
			}
		}
		if len(q.History.Values) > MaxHistoryPoints || len(q.P50History.Values) > MaxHistoryPoints {
			t.Errorf("queue %s: history of %d points", q.ID, len(q.History.Values))
		}
	}
	if q, ok := snap.Queue("ok"); !ok || q.LabelsPerMin != 12 {
		t.Errorf("queue ok: %+v", q)
	}
}

// TestPrometheusSlowBodyIsStale: a server that sends headers and part of the body and then
// stalls is cut off by the timeout, like one that never answers.
func TestPrometheusSlowBodyIsStale(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vec`))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()
	s, err := New(Flags{Prometheus: srv.URL, PrometheusTimeout: 300 * time.Millisecond}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { s.pollAll(context.Background()); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a stalled body held the poll past its timeout")
	}
	st := s.Snapshot().Sources[0]
	if st.OK || !st.Stale || !strings.Contains(st.LastError, "no answer within 300ms") {
		t.Fatalf("status %+v, want stale with the timeout named", st)
	}
}

// TestPanicWhilePollingMarksTheSourceFailing: a panic in a request goroutine or in a poll (a
// decoding bug some answer meets) is recovered into the source's failing status, naming
// where it happened, instead of ending the dashboard.
func TestPanicWhilePollingMarksTheSourceFailing(t *testing.T) {
	res := guarded("query", func() vecResult { panic("decoder bug") })
	if res.err == nil || !strings.Contains(res.err.Error(), "decoder bug at promsrc.TestPanicWhilePollingMarksTheSourceFailing") {
		t.Errorf("guarded: %v", res.err)
	}
	srv := promServer(t, nil, false)
	s, err := New(Flags{Prometheus: srv.URL}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // one round, then loop returns
	var nilMap map[string]int
	s.loop(ctx, time.Hour, func(context.Context) { nilMap["x"]++ }, func(err error) { _ = s.prom.fail(s.clock(), err) })
	if st := s.Snapshot().Sources[0]; st.OK || !strings.Contains(st.LastError, "internal error reading the answer (a bug, please report): assignment to entry in nil map at promsrc.") {
		t.Errorf("status %+v", st)
	}
}
