package audit

import (
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/wire"
)

// BenchmarkAuditBatch measures the daemon's configuration: batches of 256 events of which
// about a third are audit events, one write and one fsync per batch, on the test's disk.
func BenchmarkAuditBatch(b *testing.B) {
	for _, policy := range []FsyncPolicy{FsyncBatch, FsyncInterval} {
		b.Run(string(policy), func(b *testing.B) {
			w, err := New(Config{Dir: b.TempDir(), Fsync: policy})
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			received := time.Now()
			others := [...]string{wire.EventLabelSubmit, wire.ExampleAnvilClientSubmit}
			audits := [...]string{wire.EventLabelSubmitted, wire.EventQueueModified, wire.EventExportCompleted}
			batch := make([]wire.Event, 256)
			for i := range batch {
				name := others[i%2]
				if i%3 == 0 {
					name = audits[i%len(audits)]
				}
				batch[i] = event(name, 0, received)
			}
			seq := uint64(0)
			b.ReportAllocs()
			for b.Loop() {
				for i := range batch {
					seq++
					batch[i].StreamSeq = seq
				}
				if err := w.HandleBatch(batch); err != nil {
					b.Fatal(err)
				}
			}
			s := w.Stats()
			b.ReportMetric(float64(s.Records)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(s.Records)/float64(b.N), "records/batch")
		})
	}
}
