package engine

import (
	"fmt"
	"hash/maphash"
	"testing"

	"github.com/nsai/ingot-top/internal/wire"
)

// TestTraceSpanPoolIsBounded fills a 10-trace index with traces of 8 spans: the shared pool
// (4 spans a trace) runs out, the oldest traces make room, and every trace still indexed
// keeps a consistent lineage; the newest keeps all its spans.
func TestTraceSpanPoolIsBounded(t *testing.T) {
	ti := newTraceIndex(10, 16, maphash.MakeSeed())
	var dirty bool
	for tr := 0; tr < 30; tr++ {
		for k := 0; k < 8; k++ {
			ev := newEv(wire.EventLiveViewMount, t0).m("duration_ms", float64(k)).trace(fmt.Sprintf("%032x", tr+1), fmt.Sprintf("%016x", k+1), "").ev()
			ti.add(&ev, &evFields{}, false, t0, &dirty)
		}
	}
	if len(ti.pool) > 10*spansPerTrace {
		t.Fatalf("pool grew to %d spans, cap %d", len(ti.pool), 10*spansPerTrace)
	}
	if ti.n > 10 || len(ti.byID) != ti.n {
		t.Fatalf("%d traces indexed, %d in the map", ti.n, len(ti.byID))
	}
	newest, ok := ti.lineage(fmt.Sprintf("%032x", 30))
	if !ok || len(newest) != 8 {
		t.Fatalf("newest trace has %d spans (indexed %v), want 8", len(newest), ok)
	}
	held := 0
	for k := 0; k < ti.n; k++ {
		r := &ti.recs[(ti.head+k)%len(ti.recs)]
		n := 0
		for at := r.head; at >= 0; at = ti.pool[at].next {
			n++
		}
		if n != r.nSpans {
			t.Fatalf("record lists %d spans, counts %d", n, r.nSpans)
		}
		held += n
	}
	free := 0
	for at := ti.free; at >= 0; at = ti.pool[at].next {
		free++
	}
	if held+free != len(ti.pool) {
		t.Fatalf("%d spans held + %d free != pool of %d", held, free, len(ti.pool))
	}
}

// TestTraceSpanIDsRoundTrip: hex ids are kept as numbers, anything else as text, and the
// lineage shows each exactly as it arrived.
func TestTraceSpanIDsRoundTrip(t *testing.T) {
	ti := newTraceIndex(10, 16, maphash.MakeSeed())
	var dirty bool
	cases := [][2]string{
		{"00f067aa0ba902b7", ""},
		{"00f067aa0ba902b7", "a000000000000001"},
		{"0000000000000000", "a000000000000001"},
		{"s1", "00f067aa0ba902b7"},
		{"ABCDEF0123456789", ""},
		{"", ""},
	}
	for _, c := range cases {
		ev := newEv(wire.EventLiveViewMount, t0).trace("4bf92f3577b34da6a3ce929d0e0e4736", c[0], c[1]).ev()
		ti.add(&ev, &evFields{result: "ok"}, false, t0, &dirty)
	}
	got, _ := ti.lineage("4bf92f3577b34da6a3ce929d0e0e4736")
	if len(got) != len(cases) {
		t.Fatalf("%d spans, want %d", len(got), len(cases))
	}
	for i, c := range cases {
		if got[i].SpanID != c[0] || got[i].ParentSpanID != c[1] || got[i].Result != "ok" {
			t.Errorf("span %d = %q/%q/%q, want %q/%q/ok", i, got[i].SpanID, got[i].ParentSpanID, got[i].Result, c[0], c[1])
		}
	}
}
