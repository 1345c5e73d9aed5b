package app

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/nsai/ingot-top/internal/alerts"
	"github.com/nsai/ingot-top/internal/daemon"
	"github.com/nsai/ingot-top/internal/daemonsrc"
	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/feed"
	"github.com/nsai/ingot-top/internal/ingest"
	"github.com/nsai/ingot-top/internal/testkit"
	"github.com/nsai/ingot-top/internal/view"
)

// TestFromDaemonShowsImpactAndAlerts runs a real daemon fed failing submit calls over NATS
// and a --from-daemon viewer: the viewer's frames show the overall error rate, the users and
// the queue the failures hit, and each queue's error rate, from the daemon's republished
// aggregate (they were "?" before), tagged D; and the error-rate alert fires.
func TestFromDaemonShowsImpactAndAlerts(t *testing.T) {
	ns := testkit.StartNATS(t, nil)
	rules := alerts.DefaultRules()
	rules.ErrorRate.For = 0 // fire on the first evaluation that sees the rate
	startRepublishingDaemon(t, ns.ClientURL(), func(c *daemon.Config) {
		c.AlertRules = &rules
	})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sess, err := Start(ctx, Config{
		Refresh:    100 * time.Millisecond,
		Rules:      rules,
		FromDaemon: &daemonsrc.Config{Feed: feed.Options{Server: ns.ClientURL(), ConnectTimeout: 2 * time.Second}, SnapshotSubject: "fleet.snap"},
	})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// 40 submits on q-busy from 8 users, a quarter failing; q-calm's all succeed
	publish := func() {
		for i := range 40 {
			result := `"result":"ok"`
			if i%4 == 0 {
				result = `"result":"error","reason":"timeout"`
			}
			body := fmt.Sprintf(`{"v":1,"event":["ingot","anvil_client","submit_label"],"measurements":{"duration_ms":20},"metadata":{"queue_id":"q-busy","user_id":"u%d",%s}}`, i%8, result)
			if err := nc.Publish("telemetry.ingot.anvil_client.submit_label", []byte(body)); err != nil {
				t.Fatal(err)
			}
		}
		body := `{"v":1,"event":["ingot","anvil_client","submit_label"],"measurements":{"duration_ms":20},"metadata":{"queue_id":"q-calm","user_id":"u99","result":"ok"}}`
		if err := nc.Publish("telemetry.ingot.anvil_client.submit_label", []byte(body)); err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	frames := 0
	w := engine.Window5m
	deadline := time.After(30 * time.Second)
	for {
		select {
		case f := <-sess.Frames():
			// again every second until the figures show: the daemon may not have subscribed
			// yet (repeats keep every ratio and the set of failing users)
			if f.Conn.Phase == ingest.PhaseConnected && frames%10 == 0 {
				publish()
			}
			frames++
			im := f.Impact
			if !im.Known || im.Errors[w] == 0 || !firing(f.Alerts, alerts.NameHighErrorRate) {
				continue
			}
			if im.Src != view.Daemon || im.AffectedUsers[w] != 2 || im.AffectedQueues[w] != 1 {
				// u0 and u4 are the failing users (i%4==0 → i%8 ∈ {0,4})
				t.Errorf("impact %+v, want 2 users, 1 queue, tagged D", im)
			}
			var busy, calm *view.QueueRow
			for i := range f.Queues {
				switch f.Queues[i].ID {
				case "q-busy":
					busy = &f.Queues[i]
				case "q-calm":
					calm = &f.Queues[i]
				}
			}
			// A daemon's aggregate can be built between the busy queue's calls and the calm
			// one's (both are published in one burst): wait for the one that has both.
			if calm == nil || calm.Calls[w] == 0 {
				continue
			}
			if busy == nil || busy.Src != view.Daemon || busy.Errors[w] != im.Errors[w] || busy.ErrorRate[w] == 0 || calm.Errors[w] != 0 {
				t.Errorf("queue rows: busy %+v calm %+v", busy, calm)
			}
			cancel()
			if err := sess.Wait(); err != nil {
				t.Errorf("Wait: %v", err)
			}
			return
		case <-deadline:
			f := sess.Current()
			t.Fatalf("the viewer never showed the daemon's impact and the alert: impact %+v alerts %+v", f.Impact, f.Alerts.Active)
		}
	}
}

func firing(st alerts.State, name string) bool {
	for _, a := range st.Active {
		if a.Name == name && a.State == alerts.StateFiring {
			return true
		}
	}
	return false
}
