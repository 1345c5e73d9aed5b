package engine

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkBuildErrorsLineage is a build after one new error, with a full error log whose
// entries each name a trace: the lineage map is rebuilt for every entry.
func BenchmarkBuildErrorsLineage(b *testing.B) {
	st := newState(DefaultConfig(), t0)
	now := t0
	errAt := func(i int) {
		now = now.Add(time.Millisecond)
		e := newEv("ingot.anvil_client.submit_label", now).m("duration_ms", 5).
			meta("queue_id", "q1", "result", "error", "reason", "timeout").
			trace(fmt.Sprintf("%032x", i+1), fmt.Sprintf("%016x", i+1), "").received(now).ev()
		st.event(&e)
	}
	for i := 0; i < 1200; i++ {
		errAt(i)
	}
	st.build(now, false)
	b.ReportAllocs()
	i := 1200
	for b.Loop() {
		errAt(i)
		i++
		st.build(now, false)
	}
}
