package engine

import (
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
	"unsafe"

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
	if ti.n > 10 || ti.byID.len() != ti.n {
		t.Fatalf("%d traces indexed, %d in the map", ti.n, ti.byID.len())
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
		for at := r.newest; at >= 0; at = ti.pool[at].next {
			if o, dup := owner[at]; dup {
				t.Fatalf("slot %d listed by traces %d and %d", at, o, k)
			}
			owner[at] = k
			n++
		}
		if n != int(r.nSpans) {
			t.Fatalf("record lists %d spans, counts %d", n, r.nSpans)
		}
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

// TestTraceSpanRingKeepsLineages interleaves the spans of many traces, with traces expiring
// as time passes, so the span ring grows (re-laying out live spans), wraps and overwrites
// the spans of dropped traces: every trace still indexed must list exactly the spans it was
// given, in order.
func TestTraceSpanRingKeepsLineages(t *testing.T) {
	ti := newTraceIndex(200, 16, 50, maphash.MakeSeed())
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
			f := evFields{}
			if rng.IntN(20) == 0 { // failed traces' lineages are kept when they are dropped
				f.result = "error"
			}
			ti.add(&ev, &f, f.result == "error", at, &dirty)
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
	if n := checkLineages(t, &ti, want); n < 100 || ti.failed.n == 0 {
		t.Fatalf("only %d traces indexed and %d failed ones kept at the end", n, ti.failed.n)
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
		for i := r.newest; i >= 0; i = ti.pool[i].next {
			s, _ := ti.pool[i].ids()
			got = append(got, s)
		}
		slices.Reverse(got) // the list runs newest first
		tid := idOf[r.key]
		if r.dropped == 0 && !slices.Equal(got, want[tid]) {
			t.Fatalf("trace %s lists %q, was given %q", tid, got, want[tid])
		}
		checked++
	}
	// A failed trace's lineage is taken when it is dropped, before the cursor reuses its
	// slots.
	for k := 0; k < ti.failed.n; k++ {
		ft := &ti.failed.ring[(ti.failed.head+k)%len(ti.failed.ring)]
		var got []string
		for _, sp := range ft.spans {
			got = append(got, sp.SpanID)
		}
		if tid := idOf[ft.key]; !slices.Equal(got, want[tid]) {
			t.Fatalf("failed trace %s kept %q, was given %q", tid, got, want[tid])
		}
	}
	return checked
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
	if _, ok := ti.byID.get(maphash.String(ti.seed, id(1))); ok {
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

// hexSpanIDByChar is hexSpanID one character at a time, the reference the word-at-a-time
// version must match.
func hexSpanIDByChar(id string) (uint64, bool) {
	if len(id) != 16 {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | uint64(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | uint64(c-'a'+10)
		default:
			return 0, false
		}
	}
	return v, v != 0
}

func TestHexSpanIDMatchesByChar(t *testing.T) {
	check := func(id string) {
		t.Helper()
		got, ok := hexSpanID(id)
		want, wantOK := hexSpanIDByChar(id)
		if ok != wantOK || ok && got != want {
			t.Fatalf("hexSpanID(%q) = %x, %v; want %x, %v", id, got, ok, want, wantOK)
		}
	}
	// Every byte value at every position of a valid id, so each lane's bounds are hit.
	base := []byte("0123456789abcdef")
	for pos := range base {
		for c := 0; c < 256; c++ {
			id := append([]byte(nil), base...)
			id[pos] = byte(c)
			check(string(id))
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "0123456789abcdefABCDEF/:`g@G\x00\x7f\x80\xff"
	for i := 0; i < 100000; i++ {
		b := make([]byte, 16)
		for k := range b {
			if rng.IntN(4) == 0 {
				b[k] = alphabet[rng.IntN(len(alphabet))]
			} else {
				b[k] = "0123456789abcdef"[rng.IntN(16)]
			}
		}
		check(string(b))
	}
	for _, id := range []string{"", "0000000000000000", "ffffffffffffffff", "00000000000000001", "0123456789abcde"} {
		check(id)
	}
}

// TestTraceRecLayout keeps what every traced event touches in a record's first cache line,
// and records 128 bytes long so that no record straddles two lines there.
func TestTraceRecLayout(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("the layout is tuned for 64-bit platforms")
	}
	var r traceRec
	if size := unsafe.Sizeof(r); size != 128 {
		t.Errorf("traceRec is %d bytes, want 128", size)
	}
	if end := unsafe.Offsetof(r.link) + unsafe.Offsetof(r.link.pendUErr) + unsafe.Sizeof(r.link.pendUErr); end > 64 {
		t.Errorf("the hot part of traceRec ends at byte %d, past the first cache line", end)
	}
}
