package audit

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/nsai/ingot-top/internal/testkit"
	"github.com/nsai/ingot-top/internal/wire"
)

// countAuditEvents is how many events of batch belong on the trail.
func countAuditEvents(batch []wire.Event) uint64 {
	var n uint64
	for i := range batch {
		if wire.IsAudit(batch[i].Name) {
			n++
		}
	}
	return n
}

// On a real full file system the writer must say how many records a refused batch held, not
// only that a batch failed: core NATS cannot redeliver, so those records are the loss the
// operator has to be told about (issue 9, defect 3).
func TestFullDiskCountsRefusedRecordsNotBatches(t *testing.T) {
	for _, policy := range []FsyncPolicy{FsyncBatch, FsyncAlways} {
		t.Run(string(policy), func(t *testing.T) {
			dir := testkit.MountTmpfs(t, 2<<20)
			clock := &testClock{now: day1}
			w := newWriter(t, Config{Dir: dir, Fsync: policy, Clock: clock.Now})

			first := helperBatch(1, day1)[:30]
			if err := w.HandleBatch(first); err != nil {
				t.Fatalf("batch before the disk filled: %v", err)
			}
			filler := testkit.FillDisk(t, dir)

			offered := countAuditEvents(first)
			seq := uint64(1 + len(first))
			var failedBatches uint64
			for range 3 {
				batch := helperBatch(seq, day1)
				seq += uint64(len(batch))
				offered += countAuditEvents(batch)
				err := w.HandleBatch(batch)
				if err == nil {
					t.Fatalf("a %d-event batch fitted on a full disk", len(batch))
				}
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("want a wrapped ENOSPC, got %v", err)
				}
				failedBatches++
			}
			st := w.Stats()
			if st.Records+st.FailedRecords != offered {
				t.Fatalf("written %d + failed %d records != %d audit records offered (write errors %d)",
					st.Records, st.FailedRecords, offered, st.WriteErrors)
			}
			if st.FailedRecords <= failedBatches {
				t.Fatalf("FailedRecords = %d after %d refused batches of ~680 records: counts batches, not records", st.FailedRecords, failedBatches)
			}

			// Space is back: the next batch is written whole and the trail holds exactly the
			// records counted as written.
			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
			batch := helperBatch(seq, day1)
			if err := w.HandleBatch(batch); err != nil {
				t.Fatalf("batch after space returned: %v", err)
			}
			offered += countAuditEvents(batch)
			st = w.Stats()
			if st.Records+st.FailedRecords != offered {
				t.Fatalf("after recovery: written %d + failed %d != offered %d", st.Records, st.FailedRecords, offered)
			}
			if lines := readLines(t, filepath.Join(dir, plainName(dayOf(day1)))); uint64(len(lines)) != st.Records {
				t.Fatalf("trail has %d lines, Stats.Records = %d", len(lines), st.Records)
			}
		})
	}
}
