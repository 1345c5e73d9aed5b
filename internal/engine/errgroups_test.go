package engine

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/nsai/ingot-top/internal/wire"
)

var (
	anvilSubmit = wire.AnvilClientPrefix + "submit_label"
	forgeGet    = wire.ForgeClientPrefix + "get_sample"
)

func failure(name, reason, trace string, at time.Time) wire.Event {
	b := newEv(name, at).m("duration_ms", 5).meta("result", "error", "reason", reason, "queue_id", "q")
	if trace != "" {
		b.trace(trace, "a000000000000001", "")
	}
	return b.ev()
}

func findGroup(s *Snapshot, event, signature string) *ErrorGroup {
	for i := range s.ErrorGroups {
		if g := &s.ErrorGroups[i]; g.Event == event && g.Signature == signature {
			return g
		}
	}
	return nil
}

func TestMaskDigits(t *testing.T) {
	for in, want := range map[string]string{
		"timeout after 5000ms":       "timeout after #ms",
		"payload too large: 12.4 MB": "payload too large: # MB",
		"econnrefused anvil:4000":    "econnrefused anvil:#",
		"1,024 rows. Done":           "# rows. Done",
		"no digits":                  "no digits",
		"version 1.":                 "version #.",
		"s3: AccessDenied on bucket": "s3: AccessDenied on bucket",
		"label schema v2":            "label schema v2",
		"sample 9f8e7d6c not found":  "sample # not found",
		"sample not found: smp_4411": "sample not found: smp_#",
		"trace=4bf92f35-77b3-4da6":   "trace=#-#-#",
		"deadbeef and facade":        "deadbeef and facade",
		"":                           "",
	} {
		if got := string(maskDigits(nil, in)); got != want {
			t.Errorf("maskDigits(%q) = %q, want %q", in, got, want)
		}
	}
	long := string(maskDigits(nil, fmt.Sprintf("%0200d é", 0)+string(make([]byte, 200))))
	if len(long) > maxSignatureBytes {
		t.Errorf("signature of %d bytes, cap %d", len(long), maxSignatureBytes)
	}
	cut := string(maskDigits(nil, "x"+string(make([]byte, maxSignatureBytes-2))+"é"))
	if len(cut) != maxSignatureBytes-1 {
		t.Errorf("a signature cut inside a rune kept %d bytes, want %d", len(cut), maxSignatureBytes-1)
	}
}

// TestErrorGroupLongEventName: an error event whose service and event name together take
// more than the signature's byte budget used to cut the group key inside its prefix and
// panic slicing the signature out of it, taking the engine (daemon or dashboard) down. The
// event comes through the real wire decoder, so the name is one the stream can carry.
func TestErrorGroupLongEventName(t *testing.T) {
	op := strings.Repeat("very_long_operation_name_", 8)
	name := wire.AnvilClientPrefix + op
	msg := `{"v":1,"event":["ingot","anvil_client","` + op + `"],"time":"2026-12-01T10:00:00Z",` +
		`"measurements":{"duration_ms":5},"metadata":{"result":"error","reason":"timeout after 5000ms","queue_id":"q"}}`
	ev, derr := wire.NewDecoder("telemetry").Decode("telemetry."+name, []byte(msg), "", t0)
	if derr != nil {
		t.Fatalf("the wire decoder rejects a %d-byte event name: %v", len(name), derr)
	}
	h := newHarness(t, Config{})
	h.send(ev)
	s := h.sync()
	if g := findGroup(s, name, "timeout after #ms"); g == nil || g.Count[Window1m] != 1 {
		t.Fatalf("no group for the long event name in %+v", s.ErrorGroups)
	}
}

// TestSignatureBudgetIsTheReasons: the signature keeps maxSignatureBytes of the masked reason
// whatever the length of the service and event names in front of it in the group key.
func TestSignatureBudgetIsTheReasons(t *testing.T) {
	reason := strings.Repeat("word ", 40)
	h := newHarness(t, Config{})
	h.send(failure(anvilSubmit, reason, "", t0))
	s := h.sync()
	if len(s.ErrorGroups) != 1 {
		t.Fatalf("groups %+v", s.ErrorGroups)
	}
	if got := s.ErrorGroups[0].Signature; got != reason[:maxSignatureBytes] {
		t.Errorf("signature %q (%d bytes), want the reason's first %d bytes", got, len(got), maxSignatureBytes)
	}
}

// TestMaskDigitsBoundedWork: masking reads a bounded prefix of the reason and appends no
// more than the signature, so a long reason costs no allocation into a buffer sized for the
// signature, and reasons that differ only past maxSignatureInput share a signature.
func TestMaskDigitsBoundedWork(t *testing.T) {
	long := "1" + strings.Repeat("g", 1<<20) // a digit, then one 1 MiB word
	buf := make([]byte, 0, 16+maxSignatureBytes+utf8.UTFMax)
	buf = append(buf, "anvil\x00event\x00"...)
	if n := testing.AllocsPerRun(10, func() { _ = maskDigits(buf, long) }); n != 0 {
		t.Errorf("%v allocations masking a 1 MiB reason into a signature-sized buffer", n)
	}
	if got := maskDigits(buf, long); len(got)-len(buf) != maxSignatureBytes {
		t.Errorf("signature of %d bytes, want %d", len(got)-len(buf), maxSignatureBytes)
	}
	head := strings.Repeat("a1 ", maxSignatureInput/3+1)[:maxSignatureInput]
	a, b := maskDigits(nil, head+" tail 1"), maskDigits(nil, head+" other 2")
	if string(a) != string(b) {
		t.Errorf("reasons equal in their first %d bytes got signatures %q and %q", maxSignatureInput, a, b)
	}
}

func TestErrorGroupsCountBySignatureAndWindow(t *testing.T) {
	h := newHarness(t, Config{})
	old := t0.Add(-4 * time.Minute)
	// The clock moves first: Run may take the batch at once, and an arrival stamped after
	// engine time would be clamped to it (t0), whatever the test meant.
	h.clock.Advance(2 * time.Second)
	h.send(failure(anvilSubmit, "timeout after 5000ms", "", old))
	h.send(
		failure(anvilSubmit, "timeout after 5012ms", "", t0),
		failure(anvilSubmit, "timeout after 4990ms", "0123456789abcdef0123456789abcdef", t0.Add(time.Second)),
		failure(forgeGet, "timeout after 5000ms", "", t0),
	)
	s := h.sync()
	g := findGroup(s, anvilSubmit, "timeout after #ms")
	if g == nil {
		t.Fatalf("no anvil timeout group in %+v", s.ErrorGroups)
	}
	if g.Count != [NumWindows]uint64{2, 3, 3} || g.Total != 3 || g.Service != "anvil" {
		t.Errorf("anvil group counts %v total %d service %q, want [2 3 3] 3 anvil", g.Count, g.Total, g.Service)
	}
	if !g.First.Equal(old) || !g.Last.Equal(t0.Add(time.Second)) || g.Latest.Reason != "timeout after 4990ms" {
		t.Errorf("first %v last %v latest %q", g.First, g.Last, g.Latest.Reason)
	}
	if len(g.Latest.IDs) == 0 || g.Latest.IDs[0].Value != "q" {
		t.Errorf("latest ids %v", g.Latest.IDs)
	}
	if _, ok := s.Lineage[g.Latest.TraceID]; !ok {
		t.Error("the newest occurrence's trace has no lineage")
	}
	if f := findGroup(s, forgeGet, "timeout after #ms"); f == nil || f.Count[Window1m] != 1 {
		t.Errorf("forge group %+v: the same reason on another event is another group", f)
	}
	if s.ErrorGroups[0].Event != anvilSubmit {
		t.Errorf("most frequent group first: got %s", s.ErrorGroups[0].Event)
	}

	// After the longest window without occurrences, groups leave.
	h.clock.Advance(groupExpiry + time.Second)
	if s := h.sync(); len(s.ErrorGroups) != 0 {
		t.Errorf("groups after expiry: %+v", s.ErrorGroups)
	}
}

func TestErrorGroupsAreCapped(t *testing.T) {
	h := newHarness(t, Config{MaxErrorGroups: 3})
	var evs []wire.Event
	for i := range 50 {
		evs = append(evs, failure(fmt.Sprintf("forge.op%c.failed", 'a'+i%26)+fmt.Sprint(i/26), "boom", "", t0))
	}
	h.send(evs...)
	s := h.sync()
	if len(s.ErrorGroups) != 4 {
		t.Fatalf("%d groups, want 3 plus other", len(s.ErrorGroups))
	}
	other := findGroup(s, OtherID, "signatures past the cap")
	if other == nil || other.Count[Window1m] != 47 {
		t.Fatalf("other group %+v, want 47 folded occurrences", other)
	}
	if s.Totals.FoldedIDs < 40 {
		t.Errorf("folded ids %d, want about 47 distinct signatures counted", s.Totals.FoldedIDs)
	}
}

func TestErrorGroupsMerge(t *testing.T) {
	a, b := newHarness(t, Config{}), newHarness(t, Config{})
	a.send(failure(anvilSubmit, "timeout after 5000ms", "", t0))
	b.clock.Advance(time.Second)
	b.send(failure(anvilSubmit, "timeout after 7000ms", "", t0.Add(time.Second)),
		failure(forgeGet, "gone", "", t0))
	a.clock.Advance(2 * time.Second)
	b.clock.Advance(time.Second)
	xa, xb := aggregateOf(t, a.eng, "a", DefaultAggregateLimits()), aggregateOf(t, b.eng, "b", DefaultAggregateLimits())
	snap, err := Merge(xa, xb)
	if err != nil {
		t.Fatal(err)
	}
	g := findGroup(snap, anvilSubmit, "timeout after #ms")
	if g == nil || g.Count[Window1m] != 2 || g.Total != 2 || g.Latest.Reason != "timeout after 7000ms" || !g.First.Equal(t0) {
		t.Fatalf("merged group %+v", g)
	}
	if len(snap.ErrorGroups) != 2 {
		t.Errorf("%d merged groups, want 2", len(snap.ErrorGroups))
	}
}

func FuzzMaskDigits(f *testing.F) {
	for _, s := range []string{"timeout after 5000ms", "1,024 rows", "trace=4bf92f35-77b3", "é1é", "\xff9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := maskDigits(nil, s)
		if len(out) > maxSignatureBytes {
			t.Fatalf("%d bytes", len(out))
		}
		if utf8.ValidString(s) && !utf8.Valid(out) {
			t.Fatalf("invalid UTF-8 from valid input %q: %q", s, out)
		}
		if again := maskDigits(nil, string(out)); string(again) != string(out) && len(out) < maxSignatureBytes {
			t.Fatalf("not stable: %q → %q → %q", s, out, again)
		}
	})
}
