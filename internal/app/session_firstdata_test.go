package app

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/nsai/ingot-top/internal/feed"
	"github.com/nsai/ingot-top/internal/promsrc"
	"github.com/nsai/ingot-top/internal/testkit"
	"github.com/nsai/ingot-top/internal/view"
)

// waitFrame reads frames until one satisfies ok, failing after the deadline. With an hour's
// refresh, only the first-data path can deliver such a frame in time.
func waitFrame(t *testing.T, sess *Session, deadline time.Duration, what string, ok func(view.Frame) bool) view.Frame {
	t.Helper()
	timeout := time.After(deadline)
	for {
		select {
		case f := <-sess.Frames():
			if ok(f) {
				return f
			}
		case <-timeout:
			t.Fatalf("no frame with %s within %s", what, deadline)
		}
	}
}

// TestFirstEventsAreDrawnAtOnce: the refresh is an hour, so a frame holding the first events
// can only come from the session noticing them, not from its ticker.
func TestFirstEventsAreDrawnAtOnce(t *testing.T) {
	srv := testkit.StartNATS(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	before := srv.NumSubscriptions()
	sess, err := Start(ctx, Config{Refresh: time.Hour,
		Feed: feed.Options{Server: srv.ClientURL(), Subject: "telemetry.>", ConnectTimeout: 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	first := waitFrame(t, sess, 10*time.Second, "the start", func(view.Frame) bool { return true })
	if first.Stream != nil && first.Stream.Totals.Events != 0 {
		t.Fatalf("first frame already has %d events", first.Stream.Totals.Events)
	}
	testkit.WaitForSubscriber(t, srv, before)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	body := `{"v":1,"event":["anvil","label","submitted"],"measurements":{"duration_ms":12},"metadata":{"queue_id":"q1","assignment_id":"a1"}}`
	if err := nc.Publish("telemetry.anvil.label.submitted", []byte(body)); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	waitFrame(t, sess, 10*time.Second, "the first event", func(f view.Frame) bool {
		return f.Stream != nil && f.Stream.Totals.Events == 1
	})
	cancel()
	if err := sess.Wait(); err != nil {
		t.Errorf("Wait: %v", err)
	}
}

// TestFirstPrometheusAnswerIsDrawnAtOnce: the same for the first answer of a real Prometheus.
func TestFirstPrometheusAnswerIsDrawnAtOnce(t *testing.T) {
	prom := testkit.StartPrometheus(t, testkit.PrometheusConfig{Target: testkit.FreeLoopbackAddr(t)})
	srv := testkit.StartNATS(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sess, err := Start(ctx, Config{Refresh: time.Hour,
		Feed:       feed.Options{Server: srv.ClientURL(), Subject: "telemetry.>", ConnectTimeout: 2 * time.Second},
		Prometheus: promsrc.Flags{Prometheus: prom.URL, PrometheusInterval: time.Hour, PrometheusTimeout: 10 * time.Second, PrometheusHistory: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	waitFrame(t, sess, 20*time.Second, "Prometheus figures", func(f view.Frame) bool {
		return f.Prom != nil && !f.Prom.FiguresAt.IsZero()
	})
	cancel()
	if err := sess.Wait(); err != nil {
		t.Errorf("Wait: %v", err)
	}
}
