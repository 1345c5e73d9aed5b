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
	"github.com/nsai/ingot-top/internal/testkit"
)

// TestFromDaemonLateViewerShowsDaemonOnset runs a real daemon fed failing submit calls over
// NATS until its republished aggregate carries the firing error-rate alert; only then does
// a --from-daemon viewer start. The viewer shows the daemon's alert (tagged daemon), with
// the daemon's onset and firing time, both before the viewer started: not an alert of its
// own that began when it joined.
func TestFromDaemonLateViewerShowsDaemonOnset(t *testing.T) {
	ns := testkit.StartNATS(t, nil)
	rules := alerts.DefaultRules()
	rules.ErrorRate.For = 0
	startRepublishingDaemon(t, ns.ClientURL(), func(c *daemon.Config) {
		c.AlertRules = &rules
	})

	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	aggs := make(chan *nats.Msg, 16)
	sub, err := nc.ChanSubscribe("fleet.snap", aggs)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	publish := func() {
		for i := range 20 {
			result := `"result":"ok"`
			if i%2 == 0 {
				result = `"result":"error","reason":"timeout"`
			}
			body := fmt.Sprintf(`{"v":1,"event":["ingot","anvil_client","submit_label"],"measurements":{"duration_ms":20},"metadata":{"queue_id":"q","user_id":"u%d",%s}}`, i, result)
			if err := nc.Publish("telemetry.ingot.anvil_client.submit_label", []byte(body)); err != nil {
				t.Fatal(err)
			}
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}

	// the daemon's own verdict, as it republishes it
	var daemonAlert engine.AggregateAlert
	deadline := time.After(30 * time.Second)
	for daemonAlert.Name == "" {
		publish() // once per aggregate: the daemon may not have subscribed at first
		select {
		case m := <-aggs:
			x, err := engine.DecodeAggregate(m.Data)
			if err != nil {
				t.Fatalf("the daemon's aggregate: %v", err)
			}
			if x.Alerts == nil {
				t.Fatal("the daemon's aggregate carries no alerts")
			}
			for _, a := range x.Alerts.Active {
				if a.Name == alerts.NameHighErrorRate && a.State == string(alerts.StateFiring) {
					daemonAlert = a
				}
			}
		case <-deadline:
			t.Fatal("the daemon never republished a firing error-rate alert")
		}
	}

	viewerStart := time.Now()
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
	defer func() {
		cancel()
		if err := sess.Wait(); err != nil {
			t.Errorf("Wait: %v", err)
		}
	}()
	deadline = time.After(30 * time.Second)
	for {
		select {
		case f := <-sess.Frames():
			var got *alerts.Alert
			for i := range f.Alerts.Active {
				if a := &f.Alerts.Active[i]; a.Name == alerts.NameHighErrorRate && a.State == alerts.StateFiring {
					got = a
				}
			}
			if got == nil {
				publish() // keep the fault going while the viewer connects
				continue
			}
			if f.Daemons != 1 {
				t.Errorf("frame merges %d daemons, want 1", f.Daemons)
			}
			if got.Source != alerts.SourceDaemon {
				rep, ok := sess.Fleet().Alerts()
				t.Fatalf("the viewer shows its own alert %+v, want the daemon's (daemons report %v: %+v)", *got, ok, rep)
			}
			if !got.Onset.Equal(daemonAlert.Onset) && got.Onset.After(daemonAlert.Onset) {
				t.Errorf("onset %s, want the daemon's %s or earlier", got.Onset, daemonAlert.Onset)
			}
			if !got.Onset.Before(viewerStart) || !got.FiredAt.Before(viewerStart) || got.FiredAt.After(daemonAlert.FiredAt) {
				t.Errorf("onset %s fired %s: want the daemon's (fired %s), before the viewer started at %s",
					got.Onset, got.FiredAt, daemonAlert.FiredAt, viewerStart)
			}
			for _, a := range f.Alerts.Active {
				if a.Name == alerts.NameHighErrorRate && a.Source == alerts.SourceLive {
					t.Errorf("the viewer's own alert shown next to the daemon's: %+v", a)
				}
			}
			return
		case <-deadline:
			t.Fatalf("the viewer never showed the daemon's alert: %+v", sess.Current().Alerts.Active)
		}
	}
}
