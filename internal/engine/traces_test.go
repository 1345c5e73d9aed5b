package engine

import (
	"fmt"
	"hash/maphash"
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/wire"
)

// TestTraceSpanPoolIsBounded fills a 10-trace index with traces of 8 spans: the shared pool
// (4 spans a trace) runs out, the oldest traces make room, and every trace still indexed
// keeps a consistent lineage; the newest keeps all its spans.
func TestTraceSpanPoolIsBounded(t *testing.T) {
	ti := newTraceIndex(10, 16, 4, maphash.MakeSeed())
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
	ti := newTraceIndex(10, 16, 4, maphash.MakeSeed())
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

// TestFailedTracesOutliveTheIndex: a trace with an error keeps its lineage after newer
// traces push it out of the index, one without does not; the kept ones are capped (oldest
// dropped first) and expire at the horizon like the index.
func TestFailedTracesOutliveTheIndex(t *testing.T) {
	ti := newTraceIndex(10, 16, 4, maphash.MakeSeed())
	var dirty bool
	id := func(n int) string { return fmt.Sprintf("%032x", n) }
	addTrace := func(n int, failed bool) {
		for k := range 3 {
			ev := newEv(wire.EventLiveViewMount, t0).m("duration_ms", float64(k)).trace(id(n), fmt.Sprintf("%016x", k+1), "").ev()
			f := evFields{}
			if failed && k == 2 {
				f.result, f.reason = "error", "timeout"
			}
			ti.add(&ev, &f, f.result == "error", t0.Add(time.Duration(n)*time.Second), &dirty)
		}
	}
	addTrace(1, true)
	addTrace(2, false)
	for n := 3; n <= 12; n++ { // ten more traces push 1 and 2 out
		addTrace(n, false)
	}
	if _, ok := ti.byID[maphash.String(ti.seed, id(1))]; ok {
		t.Fatal("trace 1 is still in the index: the test does not evict it")
	}
	spans, ok := ti.lineage(id(1))
	if !ok || len(spans) != 3 || spans[2].Result != "error" || spans[2].Reason != "timeout" {
		t.Fatalf("failed trace 1 after eviction: %v %+v", ok, spans)
	}
	if _, ok := ti.lineage(id(2)); ok {
		t.Fatal("trace 2 had no error but is still served after eviction")
	}
	for n := 13; n <= 30; n++ { // 18 failed traces: only the newest 4 of those evicted stay
		addTrace(n, true)
	}
	if ti.failed.n != 4 || len(ti.failed.byID) != 4 {
		t.Fatalf("%d failed traces kept (%d in the map), cap 4", ti.failed.n, len(ti.failed.byID))
	}
	if _, ok := ti.lineage(id(1)); ok {
		t.Fatal("the oldest failed trace was not dropped past the cap")
	}
	ti.expire(t0.Add(time.Hour), &dirty)
	if ti.failed.n != 0 || ti.n != 0 {
		t.Fatalf("after the horizon: %d kept, %d indexed", ti.failed.n, ti.n)
	}
}

// TestDedupeSetRemembersItsCapacity: every hash of the last half-capacity is remembered
// whatever the generation switches, older ones are forgotten, and a hash of 0 is a hash.
func TestDedupeSetRemembersItsCapacity(t *testing.T) {
	d := newDedupeSet(64) // two generations of 32
	hash := func(i int) uint64 { return mix64(uint64(i)) }
	if !d.firstSeen(0) || d.firstSeen(0) {
		t.Fatal("a hash of 0 is not remembered")
	}
	for i := 1; i <= 1000; i++ {
		if !d.firstSeen(hash(i)) {
			t.Fatalf("hash %d reported as seen before", i)
		}
		for back := 0; back < 32 && back < i; back++ {
			if d.firstSeen(hash(i - back)) {
				t.Fatalf("after %d: hash %d (%d back) forgotten", i, i-back, back)
			}
		}
		if d.len() > 64 {
			t.Fatalf("holds %d, cap 64", d.len())
		}
	}
	if !d.firstSeen(hash(1)) {
		t.Fatal("hash 1 still remembered 999 inserts later")
	}
}
