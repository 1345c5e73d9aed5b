package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/nsai/ingot-top/internal/daemon"
	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/feed"
	"github.com/nsai/ingot-top/internal/report"
	"github.com/nsai/ingot-top/internal/testkit"
	"github.com/nsai/ingot-top/internal/ui"
)

// startFleetDaemon runs an in-process daemon consuming subject and republishing its
// aggregate on the default subjects; stop returns once it has stopped.
func startFleetDaemon(t *testing.T, natsURL, subject string) (d *daemon.Daemon, stop func()) {
	t.Helper()
	d, err := daemon.New(daemon.Config{
		Feed:  feed.Options{Server: natsURL, Subject: subject, ConnectTimeout: 2 * time.Second},
		Web:   daemon.WebConfig{ListenAddresses: []string{"127.0.0.1:0"}},
		Log:   daemon.LogConfig{Level: slog.LevelWarn, Format: daemon.LogFormatJSON},
		Audit: daemon.AuditConfig{Disabled: true},
		Republish: daemon.RepublishConfig{
			ErrorsSubject: "ingot_top.errors", ErrorsPerSecond: 5, MaxErrorsPerMessage: 100,
			SnapshotSubject: "ingot_top.snapshot",
		},
		ShutdownTimeout: 10 * time.Second,
		Version:         "test",
	}, daemon.Deps{Stderr: io.Discard})
	if err != nil {
		t.Fatalf("daemon.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	stop = func() {
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

func snapshotDoc(t *testing.T, res cmdResult) report.Document {
	t.Helper()
	var doc report.Document
	if err := json.Unmarshal([]byte(res.stdout), &doc); err != nil {
		t.Fatalf("exit %d: output is not the JSON document: %v\n%s\nstderr: %s", res.code, err, res.stdout, res.stderr)
	}
	return doc
}

// TestSnapshotFromDaemonPrintsFleetTotals: two real daemons take disjoint halves of the
// stream; `snapshot --from-daemon --format json` prints the fleet's exact totals (events,
// invalid by reason, labels per queue) and both daemons as merged. Then one daemon stops:
// a snapshot that heard it before lists it as stale, and only the other's share is counted.
func TestSnapshotFromDaemonPrintsFleetTotals(t *testing.T) {
	srv := testkit.StartNATS(t, nil)
	url := srv.ClientURL()
	a, stopA := startFleetDaemon(t, url, "half_a.>")
	b, _ := startFleetDaemon(t, url, "half_b.>")

	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	aggs, err := nc.SubscribeSync("ingot_top.snapshot")
	if err != nil {
		t.Fatal(err)
	}
	// nextAggregateOf waits for an aggregate of producer on aggs.
	nextAggregateOf := func(aggs *nats.Subscription, producer string) {
		t.Helper()
		testkit.Eventually(t, 15*time.Second, "an aggregate of "+producer, func() (bool, string) {
			m, err := aggs.NextMsg(5 * time.Second)
			if err != nil {
				return false, err.Error()
			}
			x, err := engine.DecodeAggregate(m.Data)
			return err == nil && x.Producer == producer, fmt.Sprint(err)
		})
	}
	// A daemon publishes aggregates once it has subscribed to its half.
	nextAggregateOf(aggs, a.Aggregate().Producer())
	nextAggregateOf(aggs, b.Aggregate().Producer())
	if err := aggs.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	// Each half: labels on its own queue and on a shared one, and invalid messages.
	want := map[string]uint64{}
	var valid, invalid [2]uint64
	for half, prefix := range []string{"half_a", "half_b"} {
		own := fmt.Sprintf("q_%s", prefix)
		for i := 0; i < 40+20*half; i++ {
			q := own
			if i%3 == 0 {
				q = "q_shared"
			}
			want[q]++
			if err := nc.Publish(prefix+".anvil.label.submitted", []byte(submitted(q, fmt.Sprintf("%s-%d", prefix, i)))); err != nil {
				t.Fatal(err)
			}
			valid[half]++
		}
		for i := 0; i < 3+half; i++ {
			if err := nc.Publish(prefix+".anvil.label.submitted", []byte("not json")); err != nil {
				t.Fatal(err)
			}
			invalid[half]++
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	// Each daemon consumed its half, so every aggregate it publishes from now on has it.
	for i, d := range []*daemon.Daemon{a, b} {
		testkit.Eventually(t, 20*time.Second, fmt.Sprintf("daemon %d consumed its half", i), func() (bool, string) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			s, err := d.Aggregate().Engine().Sync(ctx)
			if err != nil {
				return false, err.Error()
			}
			return s.Totals.Events == valid[i] && s.Totals.Invalid == invalid[i], fmt.Sprintf("%+v", s.Totals)
		})
	}

	subsWithoutSnapshot := srv.NumSubscriptions()
	res := runCmd(context.Background(), "snapshot", "--from-daemon", "-s", url, "--duration", "3s", "--format", "json", "--quiet", "--max-invalid=-1")
	if res.code != ExitOK {
		t.Errorf("exit %d, want 0; stderr %s", res.code, res.stderr)
	}
	doc := snapshotDoc(t, res)
	if doc.Totals.Events != valid[0]+valid[1] || doc.Totals.Invalid != invalid[0]+invalid[1] {
		t.Errorf("totals = %+v, want %d events and %d invalid (both daemons)", doc.Totals, valid[0]+valid[1], invalid[0]+invalid[1])
	}
	if len(doc.Invalid) != 1 || doc.Invalid[0].Count != invalid[0]+invalid[1] {
		t.Errorf("invalid by reason = %+v, want one reason counting %d", doc.Invalid, invalid[0]+invalid[1])
	}
	got := map[string]uint64{}
	for _, q := range doc.Queues {
		got[q.ID] = q.Labels
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("labels per queue = %v, want %v", got, want)
	}
	ids := map[string]bool{a.Aggregate().Producer(): true, b.Aggregate().Producer(): true}
	if len(doc.Daemons) != 2 || !ids[doc.Daemons[0].Producer] || !ids[doc.Daemons[1].Producer] ||
		doc.Daemons[0].State != report.DaemonMerged || doc.Daemons[1].State != report.DaemonMerged {
		t.Errorf("producers = %+v, want both daemons merged", doc.Daemons)
	}

	// a stops while a snapshot is merging: once it has been silent for the merger's 5 s,
	// it is listed stale and only b's share is counted.
	// The first snapshot's connection closes asynchronously on the server: counting from
	// while its subscriptions are still there would miss the second snapshot's.
	testkit.Eventually(t, 10*time.Second, "the first snapshot's subscriptions gone", func() (bool, string) {
		return srv.NumSubscriptions() <= subsWithoutSnapshot, fmt.Sprintf("%d, want %d", srv.NumSubscriptions(), subsWithoutSnapshot)
	})
	base := srv.NumSubscriptions()
	done := make(chan cmdResult, 1)
	go func() {
		done <- runCmd(context.Background(), "snapshot", "--from-daemon", "-s", url, "--duration", "10s", "--format", "json", "--quiet", "--max-invalid=-1")
	}()
	testkit.Eventually(t, 10*time.Second, "the snapshot subscribed to aggregates and errors", func() (bool, string) {
		return srv.NumSubscriptions() >= base+2, fmt.Sprint(srv.NumSubscriptions())
	})
	// An aggregate of a's published after that reached the snapshot too.
	later, err := nc.SubscribeSync("ingot_top.snapshot")
	if err != nil {
		t.Fatal(err)
	}
	nextAggregateOf(later, a.Aggregate().Producer())
	stopA()
	res = <-done
	if res.code != ExitOK {
		t.Errorf("exit %d, want 0 (b is merged); stderr %s", res.code, res.stderr)
	}
	doc = snapshotDoc(t, res)
	if doc.Totals.Events != valid[1] || doc.Totals.Invalid != invalid[1] {
		t.Errorf("totals with a stale = %+v, want b's %d events and %d invalid", doc.Totals, valid[1], invalid[1])
	}
	states := map[string]string{}
	for _, p := range doc.Daemons {
		states[p.Producer] = p.State
		if p.Producer == a.Aggregate().Producer() && p.AgeS <= 5 {
			t.Errorf("stale daemon silent %.1fs, want more than the merger's 5 s", p.AgeS)
		}
	}
	if states[a.Aggregate().Producer()] != report.DaemonStale || states[b.Aggregate().Producer()] != report.DaemonMerged || len(states) != 2 {
		t.Errorf("producers = %+v, want a stale and b merged", doc.Daemons)
	}
}

// TestIncidentReportListsDaemons: the dashboard's incident report of a --from-daemon view
// says which daemons its figures merge and which are stale, left out of them.
func TestIncidentReportListsDaemons(t *testing.T) {
	f := ui.SampleFrame(time.Date(2026, 12, 1, 14, 30, 0, 0, time.UTC))
	f.Sources = append(f.Sources,
		ui.SourceInfo{Name: ui.DaemonSourcePrefix + "vm1:42:a1b2c3", Age: time.Second},
		ui.SourceInfo{Name: ui.DaemonSourcePrefix + "vm2:7:d4e5f6", Age: 95 * time.Second, Stale: true})
	path, err := writeIncidentReport(t.TempDir(), f, 0.05)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := "- **Daemons:** 1 merged, 1 stale (left out of every figure): vm1:42:a1b2c3 merged (heard 1.0s ago); vm2:7:d4e5f6 stale (heard 95.0s ago)"
	if !strings.Contains(string(data), want) {
		t.Errorf("report lacks %q:\n%s", want, data)
	}
}
