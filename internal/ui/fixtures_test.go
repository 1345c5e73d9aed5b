package ui

import (
	"fmt"
	"strings"
	"time"

	"github.com/nsai/ingot-top/internal/alerts"
	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/health"
)

// hostileFrame puts wide, combining, control and very long strings everywhere a stream or
// probe string lands.
func hostileFrame(at time.Time) Frame {
	f := SampleFrame(at)
	evil := []string{
		"日本語のキュー名前がとても長い場合はどうなるでしょうか日本語のキュー名前",
		"e\u0301\u0301\u0301combining-marks-queue",
		"emoji-👩‍👩‍👧‍👦-🏳️‍🌈-queue-with-zwj-sequences",
		"esc\x1b[2Jclear\x1b]52;c;AAAA\x07bell\rcarriage\nnewline\ttab",
		strings.Repeat("x", 5000),
		"",
	}
	for i := range f.Stream.Queues {
		f.Stream.Queues[i].ID = evil[i%len(evil)] + fmt.Sprint(i)
		for j := range f.Stream.Queues[i].Labelers {
			f.Stream.Queues[i].Labelers[j].ID = evil[(i+j)%len(evil)]
		}
	}
	for i := range f.Stream.Errors {
		e := &f.Stream.Errors[i]
		e.Reason, e.Service, e.Operation, e.Node = evil[i%len(evil)], evil[(i+1)%len(evil)], evil[(i+2)%len(evil)], evil[(i+3)%len(evil)]
		e.Metadata = append(e.Metadata, engine.KVPair{Key: evil[i%len(evil)], Value: evil[(i+4)%len(evil)]})
	}
	for i := range f.Stream.ErrorGroups {
		g := &f.Stream.ErrorGroups[i]
		g.Signature, g.Service, g.Operation = evil[i%len(evil)], evil[(i+1)%len(evil)], evil[(i+2)%len(evil)]
		g.Latest.Reason, g.Latest.Node = evil[(i+3)%len(evil)], evil[(i+4)%len(evil)]
	}
	for k, spans := range f.Stream.Lineage {
		for j := range spans {
			spans[j].Event, spans[j].Reason = evil[j%len(evil)], evil[(j+3)%len(evil)]
		}
		f.Stream.Lineage[k] = spans
	}
	for i := range f.Stream.Ops {
		f.Stream.Ops[i].Name = evil[i%len(evil)]
	}
	f.Health = append(f.Health, health.Status{Name: "ingot/" + evil[0], State: health.StateUnhealthy, LastError: evil[3], Detail: evil[2]})
	f.Conn.Server, f.Conn.LastError = evil[3], evil[0]
	f.Alerts.Active = append(f.Alerts.Active, alerts.Alert{Name: evil[3], State: alerts.StateFiring, Summary: evil[4]})
	f.Sources = append(f.Sources, SourceInfo{Name: evil[2], Stale: true, Age: time.Hour, Detail: evil[3]})
	return f
}

// bigFrame has nQueues queues and nErrors errors, for folding and benchmarks.
func bigFrame(at time.Time, nQueues, nErrors int) Frame {
	f := SampleFrame(at)
	base := f.Stream.Queues
	qs := make([]engine.QueueStats, 0, nQueues)
	for i := 0; i < nQueues; i++ {
		q := base[i%len(base)]
		q.ID = fmt.Sprintf("queue-%04d", i)
		q.LabelsPerMin[engine.Window5m] = float64(nQueues-i) / 3
		qs = append(qs, q)
	}
	f.Stream.Queues = qs
	es := make([]engine.ErrorEntry, 0, nErrors)
	for i := 0; i < nErrors; i++ {
		e := f.Stream.Errors[i%len(f.Stream.Errors)]
		e.StreamSeq = uint64(1_000_000 - i)
		e.Time = at.Add(-time.Duration(i) * time.Second)
		es = append(es, e)
	}
	f.Stream.Errors = es
	// As many signatures as the engine keeps (100), from the errors.
	gs := make([]engine.ErrorGroup, 0, 100)
	for i := 0; i < min(nErrors, 100); i++ {
		e := es[i]
		n := uint64(1000 - 7*i)
		gs = append(gs, engine.ErrorGroup{Service: e.Service, Event: e.Event, Operation: e.Operation,
			Signature: fmt.Sprintf("%s #%d", e.Reason, i), Count: [engine.NumWindows]uint64{n / 5, n, 3 * n},
			Total: 10 * n, First: at.Add(-time.Hour), Last: e.Time, Latest: e})
	}
	engine.SortErrorGroups(gs, engine.Window5m)
	f.Stream.ErrorGroups = gs
	return f
}
