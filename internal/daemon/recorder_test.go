package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/nsai/ingot-top/internal/ingest"
	"github.com/nsai/ingot-top/internal/record"
	"github.com/nsai/ingot-top/internal/replay"
	"github.com/nsai/ingot-top/internal/testkit"
	"github.com/nsai/ingot-top/internal/wire"
)

// countSink counts what a replay feeds.
type countSink struct {
	mu      sync.Mutex
	events  map[string]int
	invalid map[wire.Reason]int
}

func (c *countSink) HandleBatch(evs []wire.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range evs {
		c.events[e.Name]++
	}
	return nil
}

func (c *countSink) HandleInvalid(bad ingest.Invalid) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.invalid[bad.Reason]++
	return nil
}

func replayDir(t *testing.T, dir string) (*countSink, replay.Result) {
	t.Helper()
	files, err := record.DirFiles(dir)
	if err != nil || len(files) == 0 {
		t.Fatalf("recordings in %s: %v %v", dir, files, err)
	}
	infos, err := replay.Scan(files)
	if err != nil {
		t.Fatal(err)
	}
	sink := &countSink{events: map[string]int{}, invalid: map[wire.Reason]int{}}
	res, err := replay.Run(context.Background(), infos, replay.Options{}, sink)
	if err != nil {
		t.Fatal(err)
	}
	return sink, res
}

// warmRecorder publishes markers until the recorder has written one, so its subscription is
// known to be in place; it returns how many markers the recording holds by then.
func warmRecorder(t *testing.T, nc *nats.Conn, url string) float64 {
	t.Helper()
	var got float64
	testkit.Eventually(t, 20*time.Second, "the recorder subscribed", func() (bool, string) {
		mustPublish(t, nc, "telemetry.forge.sample.created", []byte(`{"v":1,"event":["forge","sample","created"],"measurements":{},"metadata":{"sample_id":"warm","pipeline_id":"p"}}`))
		_ = nc.Flush()
		got = sumMetric(scrapeFamilies(t, url), "ingot_top_record_messages_total", nil)
		return got > 0, fmt.Sprint(got)
	})
	return got
}

// --record.dir: what the daemon saw, valid or not, is on disk in files `replay` reads, with
// the counts the daemon's counters show; /health reports the recording; the stop is marked.
func TestDaemonRecordDirReplaysWhatItSaw(t *testing.T) {
	srv := testkit.StartNATS(t, nil)
	cfg := testConfig(t, srv.ClientURL())
	cfg.Record = RecordConfig{Dir: filepath.Join(t.TempDir(), "record"), MaxFileSize: 8 << 10, Retention: time.Hour}
	rd := startDaemon(t, cfg, Deps{Stderr: &testkit.SyncBuffer{}})
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	warm := warmRecorder(t, nc, rd.url)

	const valid, invalid = 3000, 3
	for i := range valid {
		mustPublish(t, nc, "telemetry.anvil.label.submitted", anvilSubmittedPayload(i))
	}
	for range invalid {
		mustPublish(t, nc, "telemetry.anvil.label.submitted", []byte("{not json"))
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	want := warm + valid + invalid
	testkit.Eventually(t, 20*time.Second, "every message recorded", func() (bool, string) {
		got := sumMetric(scrapeFamilies(t, rd.url), "ingot_top_record_messages_total", nil)
		return got == want, fmt.Sprintf("%v of %v", got, want)
	})
	if code, rep := getHealth(t, rd.url); rep.Services["record"].Status != "healthy" || rep.Services["record"].Detail != cfg.Record.Dir {
		t.Fatalf("/health %d record entry %+v", code, rep.Services["record"])
	}
	if err := rd.stop(); err != nil {
		t.Fatal(err)
	}
	sink, res := replayDir(t, cfg.Record.Dir)
	if sink.events["anvil.label.submitted"] != valid || sink.invalid[wire.ReasonNotJSON] != invalid || float64(res.Messages) != want {
		t.Fatalf("replayed %d messages: %v, invalid %v; want %d submitted, %d bad JSON, %v in all", res.Messages, sink.events, sink.invalid, valid, invalid, want)
	}
	if len(res.Files) < 2 {
		t.Fatalf("%d files: 3000 messages should pass a max file size of 8KiB", len(res.Files))
	}
	for _, f := range res.Files {
		if !f.Stop.Complete || f.Unfinished != 0 {
			t.Fatalf("%s: %s, %d unfinished sessions", f.Path, f.Stop, f.Unfinished)
		}
	}
}

// A full disk: every message is either in the recording or counted lost with reason
// write_failed, /health says so, and once space returns a new file is written.
func TestDaemonRecordDirOnAFullDisk(t *testing.T) {
	disk := testkit.MountTmpfs(t, 2<<20)
	srv := testkit.StartNATS(t, nil)
	cfg := testConfig(t, srv.ClientURL())
	cfg.Record = RecordConfig{Dir: filepath.Join(disk, "record")}
	rd := startDaemon(t, cfg, Deps{Stderr: &testkit.SyncBuffer{}})
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	published := warmRecorder(t, nc, rd.url)
	publish := func(n int) {
		for i := range n {
			mustPublish(t, nc, "telemetry.anvil.label.submitted", anvilSubmittedPayload(i))
		}
		published += float64(n)
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		testkit.Eventually(t, 20*time.Second, "every message written or counted lost", func() (bool, string) {
			mfs := scrapeFamilies(t, rd.url)
			w, l := sumMetric(mfs, "ingot_top_record_messages_total", nil), sumMetric(mfs, "ingot_top_record_messages_lost_total", map[string]string{"reason": "write_failed"})
			return w+l == published, fmt.Sprintf("%v written + %v lost of %v", w, l, published)
		})
	}
	filler := testkit.FillDisk(t, disk)
	// Incompressible enough to fill frames: 1 MiB of recording would not fail on a full
	// disk if it all fitted in the writer's buffer.
	publish(20000)
	lost := sumMetric(scrapeFamilies(t, rd.url), "ingot_top_record_messages_lost_total", map[string]string{"reason": "write_failed"})
	if lost == 0 {
		t.Fatal("a full disk lost nothing: the test did not fill it")
	}
	testkit.Eventually(t, 10*time.Second, "/health: the recording failing", func() (bool, string) {
		_, rep := getHealth(t, rd.url)
		r := rep.Services["record"]
		return r.Status == "unhealthy" && strings.Contains(r.Reason, "no space left"), fmt.Sprintf("%+v", r)
	})
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "/health: recording again", func() (bool, string) {
		_, rep := getHealth(t, rd.url)
		return rep.Services["record"].Status == "healthy", fmt.Sprintf("%+v", rep.Services["record"])
	})
	publish(100)
	if err := rd.stop(); err != nil {
		t.Fatal(err)
	}
	_, res := replayDir(t, cfg.Record.Dir)
	// The file cut by the full disk replays up to its last whole frame; what it lacks
	// beyond the counted losses is at most the frame in flight when the disk filled.
	if float64(res.Messages)+lost > published || float64(res.Messages) < published-lost-float64(record.DefaultChunkBytes/50) {
		t.Fatalf("replayed %d + %v lost, %v published", res.Messages, lost, published)
	}
}
