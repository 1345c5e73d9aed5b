package view_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/history"
	"github.com/nsai/ingot-top/internal/ui"
	"github.com/nsai/ingot-top/internal/view"
)

var at = time.Date(2026, 11, 28, 14, 30, 0, 0, time.UTC)

func fleetParts() view.Frame {
	f := ui.SampleFrame(at)
	f.Prom = ui.SampleFleet(at)
	return f
}

func queueRow(t *testing.T, f view.Frame, id string) view.QueueRow {
	t.Helper()
	for _, r := range f.Queues {
		if r.ID == id {
			return r
		}
	}
	t.Fatalf("no queue row %q", id)
	return view.QueueRow{}
}

func opRow(t *testing.T, f view.Frame, name string) view.OpRow {
	t.Helper()
	for _, r := range f.Ops {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no op row %q", name)
	return view.OpRow{}
}

// TestBuildTagsEveryFigure: each joined figure says where it came from: the stream's rows
// L, a queue the stream has no velocity for and fleet-only rows P with the fleet's figures,
// an operation per window (P only in the windows the stream has no calls in), and the
// stream's rows D when the stream is the daemons' aggregate.
func TestBuildTagsEveryFigure(t *testing.T) {
	parts := fleetParts()
	idle := parts.Stream.Queues[1].ID
	parts.Stream.Queues[1].LabelsPerMin = [engine.NumWindows]float64{}
	submit := -1
	for i := range parts.Stream.Ops {
		if parts.Stream.Ops[i].Name == "ingot.anvil_client.submit_label" {
			submit = i
		}
	}
	parts.Stream.Ops[submit].Latency[engine.Window1m] = engine.Quantiles{}
	f := view.Build(parts)
	if !f.Joined || f.Fleet.Tag() != "P" {
		t.Fatalf("joined %v, fleet tag %q", f.Joined, f.Fleet.Tag())
	}
	busy := queueRow(t, f, parts.Stream.Queues[0].ID)
	fq, _ := parts.Prom.Queue(busy.ID)
	if busy.Src != view.Live || busy.FleetRate != fq.LabelsPerMin || busy.FleetSrc != view.Prometheus || busy.Fleet != fq {
		t.Errorf("live row: src %q fleet %v·%q", busy.Src, busy.FleetRate, busy.FleetSrc)
	}
	filled := queueRow(t, f, idle)
	fq, _ = parts.Prom.Queue(idle)
	if filled.Src != view.Prometheus || filled.LabelsPerMin[engine.Window1m] != fq.LabelsPerMin || !filled.FromFleet() {
		t.Errorf("idle live row: src %q velocity %v, want P %v", filled.Src, filled.LabelsPerMin, fq.LabelsPerMin)
	}
	if only := queueRow(t, f, "zz-fleet-only-a"); only.Src != view.Prometheus || only.LabelsPerMin[engine.Window5m] <= 0 {
		t.Errorf("fleet-only row: src %q velocity %v", only.Src, only.LabelsPerMin)
	}
	if last := f.Queues[len(f.Queues)-1]; last.ID != engine.OtherID && hasOther(parts.Stream.Queues) {
		t.Errorf("the folded row is not last: %q", last.ID)
	}
	op := opRow(t, f, "ingot.anvil_client.submit_label")
	fo, _ := parts.Prom.Op(op.Name)
	if op.Src[engine.Window5m] != view.Live || op.Src[engine.Window1m] != view.Prometheus ||
		op.Latency[engine.Window1m].P95 != fo.P95 || op.Latency[engine.Window5m] != parts.Stream.Ops[submit].Latency[engine.Window5m] {
		t.Errorf("op sources per window %v, 1m p95 %v (fleet %v)", op.Src, op.Latency[engine.Window1m].P95, fo.P95)
	}
	if op.FleetP95 != fo.P95 || op.Fleet != fo {
		t.Errorf("op fleet p95 %v, want %v", op.FleetP95, fo.P95)
	}
	if only := opRow(t, f, "ingot.forge_client.list_samples"); only.Src != [engine.NumWindows]view.Source{view.Prometheus, view.Prometheus, view.Prometheus} {
		t.Errorf("fleet-only op sources %v", only.Src)
	}

	daemons := ui.SampleFrame(at)
	daemons.StreamSrc = view.Daemon
	d := view.Build(daemons)
	for _, r := range d.Queues {
		if r.Src != view.Daemon {
			t.Fatalf("daemon aggregate row %q tagged %q", r.ID, r.Src)
		}
	}
	if d.Ops[0].Src[engine.Window5m] != view.Daemon || d.Impact.Src != view.Daemon || d.Fleet.Source != "" {
		t.Errorf("daemon frame: op %v impact %q fleet %q", d.Ops[0].Src, d.Impact.Src, d.Fleet.Source)
	}
}

func hasOther(qs []engine.QueueStats) bool {
	for _, q := range qs {
		if q.ID == engine.OtherID {
			return true
		}
	}
	return false
}

// TestBuildLeavesPartsAlone: the stream and fleet snapshots are shared with history and
// other viewers; building must not change them.
func TestBuildLeavesPartsAlone(t *testing.T) {
	parts := fleetParts()
	parts.Stream.Queues[0].LabelsPerMin = [engine.NumWindows]float64{}
	before := mustJSON(t, parts.Stream, parts.Prom, parts.Sources)
	f := view.Build(parts)
	if after := mustJSON(t, parts.Stream, parts.Prom, parts.Sources); after != before {
		t.Fatal("Build changed the parts it joined")
	}
	if f.Queues[0].ID != parts.Stream.Queues[0].ID || !f.Queues[0].FromFleet() {
		t.Errorf("a live row without velocity should take the fleet's: %+v", f.Queues[0].Src)
	}
	if len(f.Queues) != len(parts.Stream.Queues)+2 {
		t.Errorf("%d rows, want the %d live plus 2 fleet-only", len(f.Queues), len(parts.Stream.Queues))
	}
	if n := len(f.Sources); n != len(parts.Sources)-1+len(parts.Prom.Sources) && n != len(parts.Sources)+len(parts.Prom.Sources) {
		t.Errorf("%d sources from %d and %d fleet", n, len(parts.Sources), len(parts.Prom.Sources))
	}
}

func mustJSON(t *testing.T, v ...any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestImpactFromServicesWhenUnknown: a merged aggregate without per-call impact still gives
// the overall error rate, summed over services, and says users and queues are unknown.
func TestImpactFromServicesWhenUnknown(t *testing.T) {
	parts := ui.SampleFrame(at)
	parts.Stream.Impact = engine.Impact{}
	f := view.Build(parts)
	var calls, errs uint64
	for _, s := range parts.Stream.Services {
		calls, errs = calls+s.Calls[engine.Window5m], errs+s.Errors[engine.Window5m]
	}
	if f.Impact.Known || f.Impact.Calls[engine.Window5m] != calls || f.Impact.Errors[engine.Window5m] != errs || calls == 0 {
		t.Errorf("impact %+v, want %d/%d from services", f.Impact, errs, calls)
	}
}

// TestLookBackGoesThroughBuild: a past moment is rebuilt with the same joins, marked past,
// with the fleet's sources as that moment had them.
func TestLookBackGoesThroughBuild(t *testing.T) {
	ring := history.New(history.Config{})
	parts := fleetParts()
	ring.Record(history.Input{At: at, Stream: parts.Stream, Conn: parts.Conn, Health: parts.Health, Alerts: parts.Alerts, Prom: parts.Prom})
	parts.History = ring
	latest := view.Build(parts)
	mo, ok := ring.Moment(at)
	if !ok {
		t.Fatal("no moment")
	}
	past := view.FromMoment(mo, latest)
	if !past.Joined || !past.Past || past.History != ring {
		t.Fatalf("past frame: joined %v past %v", past.Joined, past.Past)
	}
	if only := queueRow(t, past, "zz-fleet-only-b"); only.Src != view.Prometheus {
		t.Errorf("past fleet-only row tagged %q", only.Src)
	}
	n := 0
	for _, s := range past.Sources {
		if s.Name == "prometheus" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("prometheus listed %d times in the past frame's sources", n)
	}
}

// BenchmarkBuild is the join of one frame: 1000 live queues and the catalogue's operations
// against SampleFleet. It runs once per refresh for every viewer together.
func BenchmarkBuild(b *testing.B) {
	parts := ui.SampleFrame(at)
	base := parts.Stream.Queues
	qs := make([]engine.QueueStats, 0, 1000)
	for i := 0; i < 1000; i++ {
		q := base[i%len(base)]
		q.ID = "queue-" + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676))
		qs = append(qs, q)
	}
	parts.Stream.Queues = qs
	parts.Prom = ui.SampleFleet(at)
	for b.Loop() {
		_ = view.Build(parts)
	}
}
