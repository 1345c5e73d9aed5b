package daemonsrc

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/nsai/ingot-top/internal/daemon"
	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/feed"
	"github.com/nsai/ingot-top/internal/ingest"
	"github.com/nsai/ingot-top/internal/sim"
	"github.com/nsai/ingot-top/internal/testkit"
	"github.com/nsai/ingot-top/internal/wire"
)

// startDaemon runs an in-process daemon consuming subject, republishing on the default
// subjects, with no audit trail and no log file.
func startDaemon(t *testing.T, natsURL, subject string) *daemon.Daemon {
	t.Helper()
	d, _ := startStoppableDaemon(t, natsURL, subject)
	return d
}

// startStoppableDaemon is startDaemon with a stop function that returns once the daemon
// has stopped (it stops at cleanup otherwise).
func startStoppableDaemon(t *testing.T, natsURL, subject string) (*daemon.Daemon, func()) {
	t.Helper()
	d, err := daemon.New(daemon.Config{
		Feed:  feed.Options{Server: natsURL, Subject: subject, ConnectTimeout: 2 * time.Second},
		Web:   daemon.WebConfig{ListenAddresses: []string{"127.0.0.1:0"}},
		Log:   daemon.LogConfig{Level: slog.LevelWarn, Format: daemon.LogFormatJSON, SampleRate: 0},
		Audit: daemon.AuditConfig{Disabled: true},
		Republish: daemon.RepublishConfig{
			ErrorsSubject: DefaultErrorsSubject, ErrorsPerSecond: 5, MaxErrorsPerMessage: 100,
			SnapshotSubject: DefaultSnapshotSubject,
		},
		ShutdownTimeout: 10 * time.Second,
		Version:         "test",
	}, daemon.Deps{Stderr: io.Discard})
	if err != nil {
		t.Fatalf("daemon.New: %v", err)
	}
	if d.Aggregate() == nil {
		t.Fatal("daemon has no aggregate snapshot source")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("daemon Run: %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Error("daemon did not stop within 15 s")
			}
		})
	}
	t.Cleanup(stop)
	return d, stop
}

func labelsIn15m(s *engine.Snapshot) (total float64) {
	for _, q := range s.Queues {
		for _, v := range q.History {
			total += v / 6 // History is labels per minute at 10 s resolution
		}
	}
	return total
}

// TestTwoDaemonsMergeToWhatWasPublished is the end-to-end path: simulator traffic split
// between two daemons, each republishing its aggregate, one fleet viewer merging them.
func TestTwoDaemonsMergeToWhatWasPublished(t *testing.T) {
	srv := testkit.StartNATS(t, nil)
	url := srv.ClientURL()
	daemons := []*daemon.Daemon{startDaemon(t, url, "half_a.>"), startDaemon(t, url, "half_b.>")}

	src, err := New(Config{Feed: feed.Options{Server: url, ConnectTimeout: 2 * time.Second}, ErrorsSubject: DefaultErrorsSubject})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- src.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-runDone; err != nil {
			t.Errorf("fleet Run: %v", err)
		}
	})

	// Both daemons are subscribed once their (empty) aggregates reach the viewer.
	testkit.Eventually(t, 15*time.Second, "both daemons heard", func() (bool, string) {
		return len(src.Producers()) == 2, fmt.Sprintf("%+v %+v", src.Producers(), src.State())
	})

	msgs, err := sim.Pregenerate(sim.Config{Seed: 42, Rate: 2000, ErrorRate: 0.05}, 6000)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	published := [2]uint64{}
	var errorsPublished uint64
	for i, m := range msgs {
		half := i % 2
		subject := []string{"half_a", "half_b"}[half] + strings.TrimPrefix(m.Subject, "telemetry")
		if err := pub.PublishMsg(&nats.Msg{Subject: subject, Header: m.Header, Data: m.Data}); err != nil {
			t.Fatal(err)
		}
		published[half]++
		var body struct {
			Metadata map[string]any `json:"metadata"`
		}
		if json.Unmarshal(m.Data, &body) == nil && body.Metadata["result"] == "error" {
			errorsPublished++
		}
	}
	if err := pub.Flush(); err != nil {
		t.Fatal(err)
	}
	if errorsPublished == 0 {
		t.Fatal("the simulator published no errors; the test would prove nothing about them")
	}

	// Each daemon's own engine has its half...
	var own [2]*engine.Snapshot
	for i, d := range daemons {
		testkit.Eventually(t, 20*time.Second, fmt.Sprintf("daemon %d consumed its half", i), func() (bool, string) {
			sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer scancel()
			s, err := d.Aggregate().Engine().Sync(sctx)
			if err != nil {
				return false, err.Error()
			}
			own[i] = s
			return s.Totals.Events+s.Totals.Invalid == published[i], fmt.Sprintf("%+v of %d", s.Totals, published[i])
		})
	}
	// ...and the viewer's merge of their republished aggregates adds up to everything.
	var merged *engine.Snapshot
	testkit.Eventually(t, 20*time.Second, "merged totals", func() (bool, string) {
		merged = src.Snapshot()
		return merged.Totals.Events+merged.Totals.Invalid == published[0]+published[1], fmt.Sprintf("%+v", merged.Totals)
	})
	if merged.Totals.Invalid != 0 {
		t.Errorf("%d invalid messages: the simulator's traffic should all be valid", merged.Totals.Invalid)
	}
	if got, want := merged.Totals.Errors, own[0].Totals.Errors+own[1].Totals.Errors; got != want || got != errorsPublished {
		t.Errorf("merged errors = %d, daemons counted %d, published %d", got, want, errorsPublished)
	}
	if got, want := merged.Totals.Unknown, own[0].Totals.Unknown+own[1].Totals.Unknown; got != want {
		t.Errorf("merged unknown = %d, want %d", got, want)
	}
	if got, want := labelsIn15m(merged), labelsIn15m(own[0])+labelsIn15m(own[1]); got != want || got == 0 {
		t.Errorf("merged labels in 15m = %v, daemons %v", got, want)
	}
	for _, op := range merged.Ops {
		var want uint64
		for _, s := range own {
			for _, o := range s.Ops {
				if o.Name == op.Name {
					want += o.Latency[engine.Window15m].Count
				}
			}
		}
		if op.Latency[engine.Window15m].Count != want {
			t.Errorf("op %s: %d timed calls merged, daemons %d", op.Name, op.Latency[engine.Window15m].Count, want)
		}
	}
	if len(merged.Errors) == 0 {
		t.Error("no errors in the merged log")
	}
	// Error signatures: the merged counts are the sums of the daemons' own.
	var groupsMerged, groupsOwn uint64
	for _, g := range merged.ErrorGroups {
		groupsMerged += g.Count[engine.Window15m]
	}
	for _, s := range own {
		for _, g := range s.ErrorGroups {
			groupsOwn += g.Count[engine.Window15m]
		}
	}
	if groupsMerged == 0 || groupsMerged != groupsOwn || groupsMerged != errorsPublished {
		t.Errorf("error signatures count %d merged, %d at the daemons, %d published", groupsMerged, groupsOwn, errorsPublished)
	}
	if st := src.State(); st.Phase != ingest.PhaseConnected || st.SinkErrors != 0 {
		t.Errorf("viewer state = %+v, want connected with nothing rejected", st)
	}
}

func TestSourceRejectsHostileMessagesAndKeepsGoing(t *testing.T) {
	srv := testkit.StartNATS(t, nil)
	url := srv.ClientURL()
	src, err := New(Config{Feed: feed.Options{Server: url, ConnectTimeout: 2 * time.Second}, ErrorsSubject: DefaultErrorsSubject})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- src.Run(ctx) }()
	defer func() { cancel(); <-runDone }()
	testkit.Eventually(t, 10*time.Second, "connected", func() (bool, string) {
		return src.State().Phase == ingest.PhaseConnected, string(src.State().Phase)
	})
	pub, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	// The subscription is in place once a message round-trips.
	testkit.Eventually(t, 10*time.Second, "subscribed", func() (bool, string) {
		_ = pub.Publish(DefaultSnapshotSubject, []byte(`{"v":99,"producer":"future"}`))
		_ = pub.Flush()
		return src.Rejected() > 0, src.State().LastError
	})
	if msg := src.State().LastError; !strings.Contains(msg, "version 99") {
		t.Errorf("last error = %q, want the version mismatch", msg)
	}
	for _, bad := range []string{"{", `{"v":1}`, "\x1b[2J"} {
		_ = pub.Publish(DefaultSnapshotSubject, []byte(bad))
	}
	hostile := ingest.ErrorBatch{V: 1, Errors: []ingest.ErrorRecord{{
		Type: "x", Event: "ingot.anvil_client.submit_label\x1b]0;pwned\x07", Operation: "submit_label",
		Reason: "boom\x1b[31m", Timestamp: time.Now(), Metadata: map[string]string{"queue_id": "q\x9b1", "user_id": "u"},
	}}}
	data, _ := json.Marshal(hostile)
	_ = pub.Publish(DefaultErrorsSubject, data)
	_ = pub.Flush()
	testkit.Eventually(t, 10*time.Second, "hostile error record merged safely", func() (bool, string) {
		s := src.Snapshot()
		if len(s.Errors) != 1 {
			return false, fmt.Sprintf("%d errors", len(s.Errors))
		}
		e := s.Errors[0]
		for _, v := range []string{e.Event, e.Reason, e.Metadata[0].Value, e.Metadata[1].Value} {
			if !wire.IsSafe(v) {
				t.Fatalf("unsafe string %q in merged error", v)
			}
		}
		if len(e.IDs) != 2 || e.IDs[0].Key != "queue_id" {
			t.Errorf("ids = %+v, want queue_id and user_id lifted", e.IDs)
		}
		return true, ""
	})
	// The two subscriptions deliver independently: wait for the bad snapshots too.
	testkit.Eventually(t, 10*time.Second, "bad snapshots rejected", func() (bool, string) {
		return src.Rejected() >= 4, fmt.Sprint(src.Rejected())
	})
	if s := src.Snapshot(); s.Totals.Events != 0 || len(src.Producers()) != 0 {
		t.Errorf("hostile messages produced data: %+v producers %v", s.Totals, src.Producers())
	}
}

// TestErrorBatchRefusesAmplification: an error batch whose arrays or maps decode into far
// more memory than their bytes is refused before decoding. 4 MiB of empty records used to
// allocate hundreds of MB before the record cap was checked.
func TestErrorBatchRefusesAmplification(t *testing.T) {
	fill := func(elem string, n int) string { return strings.TrimSuffix(strings.Repeat(elem, n), ",") }
	n := (maxErrorBatchBytes - 100) / 3
	for name, data := range map[string]string{
		"empty records": `{"v":1,"errors":[` + fill("{},", n) + `]}`,
		"numbers":       `{"v":1,"errors":[` + fill("0,", (maxErrorBatchBytes-100)/2) + `]}`,
		"metadata keys": `{"v":1,"errors":[{"metadata":{"":""` + fillKeys((maxErrorBatchBytes-100)/12) + `}}]}`,
	} {
		msg := []byte(data)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := decodeErrorBatch(msg)
		runtime.ReadMemStats(&after)
		if err == nil || !strings.Contains(err.Error(), "refused before decoding") {
			t.Errorf("%s: err = %v, want a refusal before decoding", name, err)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
			t.Errorf("%s: %d bytes allocated for a %d-byte batch", name, alloc, len(data))
		}
	}
}

// fillKeys is n distinct metadata members, each preceded by a comma.
func fillKeys(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `,"%x":""`, i)
	}
	return b.String()
}

// publishTo publishes n simulated events (seed) on prefix.<subject tail> and returns how
// many it published.
func publishTo(t *testing.T, url, prefix string, seed int64, n int) uint64 {
	t.Helper()
	msgs, err := sim.Pregenerate(sim.Config{Seed: seed, Rate: 2000, ErrorRate: 0.05}, n)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	for _, m := range msgs {
		subject := prefix + strings.TrimPrefix(m.Subject, "telemetry")
		if err := pub.PublishMsg(&nats.Msg{Subject: subject, Header: m.Header, Data: m.Data}); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Flush(); err != nil {
		t.Fatal(err)
	}
	return uint64(len(msgs))
}

func producerState(ps []engine.ProducerStatus) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "%s stale=%v silent=%s; ", p.Producer, p.Stale, p.Silent)
	}
	return b.String()
}

// TestSilentDaemonGoesStaleAndLeavesTotals: a daemon that stops publishing is listed as
// stale once the viewer has not heard it for ExpireAfter, its share leaves the merged
// totals, and the daemon started in its place (a new producer id) is counted once. The
// viewer's clock is manual: the test, not the machine's load, decides when a daemon has
// been silent long enough.
func TestSilentDaemonGoesStaleAndLeavesTotals(t *testing.T) {
	srv := testkit.StartNATS(t, nil)
	url := srv.ClientURL()
	a, stopA := startStoppableDaemon(t, url, "half_a.>")
	b := startDaemon(t, url, "half_b.>")
	clock := engine.NewManualClock(time.Now())
	const expireAfter = 3 * time.Second
	src, err := New(Config{Feed: feed.Options{Server: url, ConnectTimeout: 2 * time.Second}, ExpireAfter: expireAfter, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- src.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-runDone; err != nil {
			t.Errorf("fleet Run: %v", err)
		}
	})
	testkit.Eventually(t, 15*time.Second, "both daemons heard", func() (bool, string) {
		return len(src.Producers()) == 2, producerState(src.Producers())
	})
	sentA, sentB := publishTo(t, url, "half_a", 1, 3000), publishTo(t, url, "half_b", 2, 2000)
	total := func(s *engine.Snapshot) uint64 { return s.Totals.Events + s.Totals.Invalid }
	testkit.Eventually(t, 20*time.Second, "merged totals of both", func() (bool, string) {
		s := src.Snapshot()
		return total(s) == sentA+sentB, fmt.Sprintf("%+v", s.Totals)
	})

	stopA()
	// a is silent for good (an aggregate it sent before stopping may still arrive: then it
	// has been heard again, and the clock moves on again); b publishes every second and is
	// heard again within one.
	idA, idB := a.Aggregate().Producer(), b.Aggregate().Producer()
	testkit.Eventually(t, 15*time.Second, "a stale, b live, totals b's", func() (bool, string) {
		for _, p := range src.Producers() {
			if p.Producer == idA && !p.Stale {
				clock.Advance(expireAfter + time.Second - p.Silent)
			}
		}
		ps, s := src.Producers(), src.Snapshot()
		ok := len(ps) == 2 && total(s) == sentB
		for _, p := range ps {
			switch p.Producer {
			case idA:
				ok = ok && p.Stale && p.Silent > expireAfter
			case idB:
				ok = ok && !p.Stale
			}
		}
		return ok, fmt.Sprintf("%s totals %+v", producerState(ps), s.Totals)
	})

	// A daemon started in a's place has its own id: a stays stale, nothing is counted twice.
	a2 := startDaemon(t, url, "half_a.>")
	testkit.Eventually(t, 15*time.Second, "the new daemon heard", func() (bool, string) {
		for _, p := range src.Producers() {
			if p.Producer == a2.Aggregate().Producer() && !p.Stale {
				return true, ""
			}
		}
		return false, producerState(src.Producers())
	})
	sentA2 := publishTo(t, url, "half_a", 3, 1000)
	testkit.Eventually(t, 20*time.Second, "merged totals of b and the new daemon", func() (bool, string) {
		ps, s := src.Producers(), src.Snapshot()
		stale := 0
		for _, p := range ps {
			if p.Stale {
				stale++
				if p.Producer != idA {
					return false, producerState(ps)
				}
			}
		}
		return len(ps) == 3 && stale == 1 && total(s) == sentB+sentA2, fmt.Sprintf("%s totals %+v", producerState(ps), s.Totals)
	})
}
