package promsrc

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/nsai/ingot-top/internal/daemon"
	"github.com/nsai/ingot-top/internal/feed"
	"github.com/nsai/ingot-top/internal/sim"
	"github.com/nsai/ingot-top/internal/testkit"
	"github.com/nsai/ingot-top/internal/wire"
)

// TestAgainstDaemon runs the real daemon (in-process, embedded NATS) fed by the simulator
// over NATS, then reads its /metrics endpoint both ways: --scrape directly, and a real
// Prometheus scraping it. Both must report exactly the totals the simulator published, and
// the scrape rates must be the published increase over the controlled clock's interval.
func TestAgainstDaemon(t *testing.T) {
	ns := testkit.StartNATS(t, nil)

	dir := t.TempDir()
	d, err := daemon.New(daemon.Config{
		Feed:            feed.Options{Server: ns.ClientURL(), Subject: "telemetry.>", ConnectTimeout: 2 * time.Second},
		Web:             daemon.WebConfig{ListenAddresses: []string{"127.0.0.1:0"}},
		Log:             daemon.LogConfig{Level: slog.LevelWarn, Format: daemon.LogFormatJSON, File: filepath.Join(dir, "daemon.log"), MaxSizeMB: 10, SampleRate: 0.1},
		Audit:           daemon.AuditConfig{Disabled: true},
		ShutdownTimeout: 10 * time.Second,
		Version:         "test",
	}, daemon.Deps{Stderr: io.Discard})
	if err != nil {
		t.Fatalf("daemon.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("daemon did not stop")
		}
	})
	metricsURL := "http://" + d.Addrs()[0].String() + "/metrics"

	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	cfg := sim.DefaultConfig()
	cfg.Seed, cfg.Queues = 11, 5
	msgs, err := sim.Pregenerate(cfg, 3000)
	if err != nil {
		t.Fatal(err)
	}
	published := func(ms []sim.Message) map[string]float64 {
		dec := wire.NewDecoder(cfg.Prefix)
		var events []wire.Event
		for _, m := range ms {
			ev, derr := dec.Decode(m.Subject, m.Data, "", time.Now())
			if derr == nil {
				events = append(events, ev)
			}
		}
		return submitsByQueue(events)
	}
	publish := func(ms []sim.Message, want map[string]float64) {
		t.Helper()
		for _, m := range ms {
			if err := nc.PublishMsg(&nats.Msg{Subject: m.Subject, Data: m.Data, Header: m.Header}); err != nil {
				t.Fatal(err)
			}
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		testkit.EventuallyTrue(t, 30*time.Second, "daemon counted the published labels", func() bool {
			return mapsEqual(scrapeTotalsByHand(t, metricsURL), want)
		})
	}
	half := len(msgs) / 2
	firstHalf, all := published(msgs[:half]), published(msgs)
	// the daemon's subscription is up once its feed reports connected; until then publish
	// would be lost, so wait for the exporter's own NATS gauge
	testkit.EventuallyTrue(t, 30*time.Second, "daemon subscribed", func() bool { return natsUp(t, metricsURL) })
	publish(msgs[:half], firstHalf)

	clock := &fakeClock{now: time.Date(2026, 11, 28, 14, 0, 0, 0, time.UTC)}
	s, err := New(Flags{Scrape: []string{metricsURL}}, nil, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	s.pollAll(ctx)
	publish(msgs[half:], all)
	clock.Add(30 * time.Second)
	s.pollAll(ctx)
	snap := s.Snapshot()
	if len(snap.Queues) != len(all) {
		t.Fatalf("scrape: %d queues, want %d: %+v", len(snap.Queues), len(all), snap.Sources)
	}
	for _, q := range snap.Queues {
		wantRate := (all[q.ID] - firstHalf[q.ID]) / 30 * 60
		if q.Total != all[q.ID] || !nearlyEqual(q.LabelsPerMin, wantRate) {
			t.Errorf("scrape queue %s: total %v rate %v, want %v and %v", q.ID, q.Total, q.LabelsPerMin, all[q.ID], wantRate)
		}
	}
	if op, ok := snap.Op("ingot.anvil_client.submit_label"); !ok || op.P95 <= 0 || op.PerSec <= 0 {
		t.Errorf("scrape op: %+v", op)
	}

	t.Run("prometheus", func(t *testing.T) {
		testkit.RequirePrometheus(t)
		base := testkit.StartPrometheus(t, testkit.PrometheusConfig{Target: d.Addrs()[0].String()}).URL
		src, err := New(Flags{Prometheus: base, PrometheusTimeout: 10 * time.Second}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		testkit.EventuallyTrue(t, 60*time.Second, "prometheus totals equal the published ones", func() bool {
			src.pollAll(ctx)
			return totalsEqual(src.Snapshot(), all)
		})
	})
}

func mapsEqual(a, b map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// scrapeTotalsByHand reads ingot_labels_submitted_total by queue_id with expfmt directly.
func scrapeTotalsByHand(t *testing.T, u string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	families := scrapeByHand(t, u)
	if mf, ok := families["ingot_labels_submitted_total"]; ok {
		for _, m := range mf.GetMetric() {
			out[labelOf(m, "queue_id")] += m.GetCounter().GetValue()
		}
	}
	return out
}

func natsUp(t *testing.T, u string) bool {
	mf, ok := scrapeByHand(t, u)["ingot_top_nats_up"]
	return ok && len(mf.GetMetric()) == 1 && mf.GetMetric()[0].GetGauge().GetValue() == 1
}

func scrapeByHand(t *testing.T, u string) map[string]*dtoFamily {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", u, err)
	}
	return families
}

type dtoFamily = dto.MetricFamily
