package engine

import (
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

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
	// Every indexed trace lists exactly its spans, and no pool slot is listed twice: the
	// cursor overwrote only spans of dropped traces.
	owner := make(map[int32]int)
	for k := 0; k < ti.n; k++ {
		r := &ti.recs[(ti.head+k)%len(ti.recs)]
		n := 0
		for at := r.head; at >= 0; at = ti.pool[at].next {
			if o, dup := owner[at]; dup {
				t.Fatalf("slot %d listed by traces %d and %d", at, o, k)
			}
			owner[at] = k
			n++
		}
		if n != r.nSpans {
			t.Fatalf("record lists %d spans, counts %d", n, r.nSpans)
		}
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

// TestTraceSpanRingKeepsLineages interleaves the spans of many traces, with traces expiring
// as time passes, so the span ring grows (re-laying out live spans), wraps and overwrites
// the spans of dropped traces: every trace still indexed must list exactly the spans it was
// given, in order.
func TestTraceSpanRingKeepsLineages(t *testing.T) {
	ti := newTraceIndex(200, 16, maphash.MakeSeed())
	var dirty bool
	want := make(map[string][]string)
	rng := rand.New(rand.NewPCG(3, 4))
	const active = 12
	var open []string
	at := t0
	for tr := 0; tr < 4000; tr++ {
		at = at.Add(10 * time.Millisecond)
		id := fmt.Sprintf("%032x", tr+1)
		open = append(open, id)
		if len(open) > active {
			open = open[1:]
		}
		for k := rng.IntN(3); k >= 0; k-- {
			tid := open[rng.IntN(len(open))]
			if len(want[tid]) >= 16 {
				continue
			}
			sid := fmt.Sprintf("%016x", rng.Uint64()|1)
			ev := newEv(wire.EventLiveViewMount, at).trace(tid, sid, "").ev()
			ti.add(&ev, &evFields{}, false, at, &dirty)
			want[tid] = append(want[tid], sid)
		}
		// A short horizon first keeps the ring small while its cursor goes round many
		// times; the long one after makes it grow with the cursor anywhere.
		horizon := 500 * time.Millisecond
		if tr > 1000 {
			horizon = 20 * time.Second
		}
		if tr%10 == 0 {
			ti.expire(at.Add(-horizon), &dirty)
		}
		if tr%25 == 0 {
			checkLineages(t, &ti, want)
		}
	}
	if len(ti.pool) > 200*spansPerTrace {
		t.Fatalf("pool grew to %d spans, cap %d", len(ti.pool), 200*spansPerTrace)
	}
	if n := checkLineages(t, &ti, want); n < 100 {
		t.Fatalf("only %d traces indexed at the end", n)
	}
}

// checkLineages checks every indexed trace that lost nothing against the spans it was
// given, and returns how many traces are indexed.
func checkLineages(t *testing.T, ti *traceIndex, want map[string][]string) int {
	t.Helper()
	checked := 0
	idOf := make(map[uint64]string, len(want))
	for id := range want {
		idOf[maphash.String(ti.seed, id)] = id
	}
	for k := 0; k < ti.n; k++ {
		r := &ti.recs[(ti.head+k)%len(ti.recs)]
		var got []string
		for i := r.head; i >= 0; i = ti.pool[i].next {
			s, _ := ti.pool[i].ids()
			got = append(got, s)
		}
		tid := idOf[r.key]
		if r.dropped == 0 && !slices.Equal(got, want[tid]) {
			t.Fatalf("trace %s lists %q, was given %q", tid, got, want[tid])
		}
		checked++
	}
	return checked
}
