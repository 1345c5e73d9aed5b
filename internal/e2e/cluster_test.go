package e2e

// The scale-out acceptance (issue 13, docs/scale-out.md): a 3-node nats-server cluster on
// loopback (routes, JetStream, an R3 telemetry stream) and three `ingot-top daemon`
// processes in one --group, all real processes so that a node and a daemon can be killed
// with SIGKILL. The nats-server binary is built from the module's own nats-server
// dependency, so the test needs no installed server and runs in `make test` everywhere.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nsai/ingot-top/internal/daemonsrc"
	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/feed"
	"github.com/nsai/ingot-top/internal/testkit"
)

const (
	clusterEvents  = 30000
	clusterStream  = "TELEMETRY"
	clusterGroup   = "fleet"
	clusterQueues  = 4
	clusterBatch   = 512
	faultAckWait   = 2 * time.Second
	viewerExpiry   = 5 * time.Second // engine.Merger's default, what every viewer uses
	staleBound     = viewerExpiry + 5*time.Second
	clusterPatient = 60 * time.Second
)

// buildNATSServer builds the nats-server of go.mod into dir.
func buildNATSServer(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "nats-server")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/nats-io/nats-server/v2")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building nats-server from the module: %v\n%s", err, out)
	}
	return bin
}

// proc is a child process whose output is kept for the failure message.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *testkit.SyncBuffer
	done chan struct{}
}

func startProc(t *testing.T, name string, bin string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, cmd: exec.Command(bin, args...), out: &testkit.SyncBuffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.Env = append(isolatedEnv(), env...)
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("--- output of %s:\n%s", p.name, tailOf(p.out.String(), 4000))
		}
	})
	return p
}

// isolatedEnv is the test's environment without the settings of ingot-top and NATS that
// a developer may have exported.
func isolatedEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "INGOT_") && !strings.HasPrefix(kv, "NATS_") {
			env = append(env, kv)
		}
	}
	return env
}

func tailOf(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// stop ends the process gracefully (SIGTERM), then for good.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// kill is SIGKILL: no flush, no ack, no goodbye.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL %s: %v", p.name, err)
	}
	<-p.done
}

// natsCluster is three nats-server processes routed to each other.
type natsCluster struct {
	nodes    []*proc
	urls     []string
	monitors []string // each node's monitoring endpoint (/subsz)
}

func (c *natsCluster) allURLs() string { return strings.Join(c.urls, ",") }

// startCluster starts the three nodes on free loopback ports. A free port can be taken by
// another test's process between the probe and the node's bind (the packages run in
// parallel), and a node whose route port was taken exits: the cluster is then started
// again on new ports, up to three times.
func startCluster(t *testing.T, natsBin string) *natsCluster {
	t.Helper()
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		var c *natsCluster
		if c, err = tryStartCluster(t, natsBin); err == nil {
			return c
		}
		t.Logf("cluster start, attempt %d: %v", attempt, err)
	}
	t.Fatalf("no 3-node cluster after 3 attempts: %v", err)
	return nil
}

func tryStartCluster(t *testing.T, natsBin string) (*natsCluster, error) {
	t.Helper()
	dir := t.TempDir()
	const n = 3
	client, route, monitor := make([]int, n), make([]int, n), make([]int, n)
	for i := range n {
		client[i], route[i], monitor[i] = testkit.FreePort(t), testkit.FreePort(t), testkit.FreePort(t)
	}
	c := &natsCluster{}
	for i := range n {
		var routes []string
		for j := range n {
			if j != i {
				routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", route[j]))
			}
		}
		conf := fmt.Sprintf(`server_name: n%d
listen: 127.0.0.1:%d
http: 127.0.0.1:%d
jetstream {
  store_dir: %q
  max_memory_store: 64MB
  max_file_store: 1GB
}
cluster {
  name: ingot
  listen: 127.0.0.1:%d
  routes: [%s]
}
`, i+1, client[i], monitor[i], filepath.Join(dir, fmt.Sprintf("n%d", i+1)), route[i], strings.Join(routes, ", "))
		path := filepath.Join(dir, fmt.Sprintf("n%d.conf", i+1))
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		c.nodes = append(c.nodes, startProc(t, fmt.Sprintf("nats-server n%d", i+1), natsBin, nil, "-c", path))
		c.urls = append(c.urls, fmt.Sprintf("nats://127.0.0.1:%d", client[i]))
		c.monitors = append(c.monitors, fmt.Sprintf("http://127.0.0.1:%d", monitor[i]))
	}
	routed := func(m string) (bool, string) {
		resp, err := http.Get(m + "/routez")
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		var body struct {
			Routes int `json:"num_routes"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			return false, err.Error()
		}
		return body.Routes >= n-1, fmt.Sprintf("%d routes", body.Routes)
	}
	deadline := time.Now().Add(clusterPatient)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := 0; i < n; {
		for _, node := range c.nodes {
			select {
			case <-node.done:
				for _, other := range c.nodes {
					other.stop()
				}
				return nil, fmt.Errorf("%s exited while the cluster formed: %s", node.name, tailOf(node.out.String(), 300))
			default:
			}
		}
		ok, state := routed(c.monitors[i])
		if ok {
			i++
			continue
		}
		if time.Now().After(deadline) {
			for _, node := range c.nodes {
				node.stop()
			}
			return nil, fmt.Errorf("node n%d not routed to the other two within %s: %s", i+1, clusterPatient, state)
		}
		<-tick.C
	}
	return c, nil
}

// createStream makes the R3 stream and the group's durable consumer, once the cluster has a
// JetStream meta leader (the first attempts fail while it elects one).
func createStream(t *testing.T, js jetstream.JetStream, ackWait time.Duration) {
	t.Helper()
	testkit.Eventually(t, clusterPatient, "an R3 stream and the group's consumer", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
			Name: clusterStream, Subjects: []string{"telemetry.>"}, Replicas: 3, Storage: jetstream.FileStorage,
			Duplicates: 5 * time.Minute,
		})
		if err != nil {
			return false, "stream: " + err.Error()
		}
		_, err = s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
			Durable: clusterGroup, AckPolicy: jetstream.AckExplicitPolicy, AckWait: ackWait,
			DeliverPolicy: jetstream.DeliverAllPolicy, FilterSubject: "telemetry.>", MaxAckPending: 4 * clusterBatch,
		})
		if err != nil {
			return false, "consumer: " + err.Error()
		}
		return true, ""
	})
}

// fleetDaemon is one `ingot-top daemon` of the group.
type fleetDaemon struct {
	*proc
	auditDir string
	metrics  string // base URL of its HTTP endpoints
}

func startFleetDaemon(t *testing.T, bin, name, servers, auditDir string, durable bool) *fleetDaemon {
	t.Helper()
	addr := testkit.FreeLoopbackAddr(t)
	args := []string{"daemon", "-s", servers, "--no-context", "--group", clusterGroup,
		"--audit.dir", auditDir, "--no-audit.compress", "--web.listen-address", addr,
		"--batch-size", strconv.Itoa(clusterBatch), "--log.sample-rate", "0", "--log.level", "warn"}
	if durable {
		args = append(args, "--durable", clusterGroup, "--stream", clusterStream)
	}
	env := []string{"XDG_CONFIG_HOME=" + t.TempDir()}
	d := &fleetDaemon{proc: startProc(t, name, bin, env, args...), auditDir: auditDir, metrics: "http://" + addr}
	testkit.Eventually(t, clusterPatient, name+" ready (/-/ready 200)", func() (bool, string) {
		select {
		case <-d.done:
			t.Fatalf("%s exited:\n%s", name, d.out.String())
		default:
		}
		resp, err := http.Get(d.metrics + "/-/ready")
		if err != nil {
			return false, err.Error()
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	return d
}

// labels sums anvil_labels_submitted_total over every series of the daemon's /metrics.
func (d *fleetDaemon) labels() (uint64, error) {
	resp, err := http.Get(d.metrics + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "anvil_labels_submitted_total{") {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			return 0, fmt.Errorf("metric line %q: %w", line, err)
		}
		sum += v
	}
	return uint64(sum), sc.Err()
}

func sumLabels(t *testing.T, ds ...*fleetDaemon) (uint64, []uint64) {
	t.Helper()
	var total uint64
	var shares []uint64
	for _, d := range ds {
		n, err := d.labels()
		if err != nil {
			t.Fatalf("%s /metrics: %v", d.name, err)
		}
		total += n
		shares = append(shares, n)
	}
	return total, shares
}

// labelEvent is event i: an audit event (anvil.label.submitted), so that every one is both
// counted in the metrics and written to the audit trail.
func labelEvent(i int) []byte {
	return []byte(fmt.Sprintf(`{"v":1,"event":["anvil","label","submitted"],"time":%q,"measurements":{"duration_ms":%d},"metadata":{"queue_id":"queue_%d","assignment_id":"asg_%d","labeler_id":"user_%d"}}`,
		time.Now().UTC().Format(time.RFC3339Nano), 100+i%400, i%clusterQueues, i, i%20))
}

// publishAcked publishes events from..to-1 with JetStream acks, each with a message id so
// that a publish retried after a lost ack (a node died) is stored once. acked counts the
// acknowledged ones.
func publishAcked(ctx context.Context, js jetstream.JetStream, from, to int, acked *atomic.Int64) error {
	const window = 256
	type pending struct {
		i int
		f jetstream.PubAckFuture
	}
	var inflight []pending
	publish := func(i int) (jetstream.PubAckFuture, error) {
		msg := &nats.Msg{Subject: "telemetry.anvil.label.submitted", Data: labelEvent(i), Header: nats.Header{}}
		return js.PublishMsgAsync(msg, jetstream.WithMsgID("evt-"+strconv.Itoa(i)))
	}
	// settle waits for p's ack, publishing it again (synchronously, same id) until it is
	// acknowledged: during a leader election publishes time out.
	settle := func(p pending) error {
		// An ack lost with a dead node's connection never comes: the publisher's async
		// timeout (publisherJS) fails the future, and this bound covers it too.
		lost := time.NewTimer(5 * time.Second)
		defer lost.Stop()
		select {
		case <-p.f.Ok():
			acked.Add(1)
			return nil
		case <-p.f.Err():
		case <-lost.C:
		case <-ctx.Done():
			return ctx.Err()
		}
		for ctx.Err() == nil {
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, err := js.PublishMsg(pctx, &nats.Msg{Subject: "telemetry.anvil.label.submitted", Data: labelEvent(p.i), Header: nats.Header{}},
				jetstream.WithMsgID("evt-"+strconv.Itoa(p.i)))
			cancel()
			if err == nil {
				acked.Add(1)
				return nil
			}
		}
		return ctx.Err()
	}
	for i := from; i < to; i++ {
		f, err := publish(i)
		for err != nil {
			// The async window is full or the connection is reconnecting: settle the oldest.
			if len(inflight) == 0 {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				_, perr := js.PublishMsg(pctx, &nats.Msg{Subject: "telemetry.anvil.label.submitted", Data: labelEvent(i), Header: nats.Header{}},
					jetstream.WithMsgID("evt-"+strconv.Itoa(i)))
				cancel()
				if perr == nil {
					acked.Add(1)
					f, err = nil, nil
					break
				}
				continue
			}
			if serr := settle(inflight[0]); serr != nil {
				return serr
			}
			inflight = inflight[1:]
			f, err = publish(i)
		}
		if f != nil {
			inflight = append(inflight, pending{i: i, f: f})
		}
		if len(inflight) >= window {
			if err := settle(inflight[0]); err != nil {
				return err
			}
			inflight = inflight[1:]
		}
	}
	for _, p := range inflight {
		if err := settle(p); err != nil {
			return err
		}
	}
	return nil
}

func publisherJS(t *testing.T, nc *nats.Conn) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(3*time.Second), jetstream.WithPublishAsyncMaxPending(1024))
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// waitDrained waits until the group's consumer has handed out and seen acknowledged every
// message of the stream.
func waitDrained(t *testing.T, js jetstream.JetStream, want uint64) {
	t.Helper()
	testkit.Eventually(t, clusterPatient, "the consumer drained (nothing pending, nothing awaiting ack)", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, clusterStream)
		if err != nil {
			return false, err.Error()
		}
		c, err := s.Consumer(ctx, clusterGroup)
		if err != nil {
			return false, err.Error()
		}
		ci, err := c.Info(ctx)
		if err != nil {
			return false, err.Error()
		}
		st := s.CachedInfo().State
		return st.Msgs == want && ci.NumPending == 0 && ci.NumAckPending == 0 && ci.AckFloor.Stream == st.LastSeq,
			fmt.Sprintf("stream %d msgs (last %d), consumer pending %d ack-pending %d ack floor %d redelivered %d",
				st.Msgs, st.LastSeq, ci.NumPending, ci.NumAckPending, ci.AckFloor.Stream, ci.NumRedelivered)
	})
}

// snapshotDoc is what the test reads of `snapshot --from-daemon --format json`.
type snapshotDoc struct {
	Totals struct {
		Events uint64 `json:"events"`
	} `json:"totals"`
	Queues []struct {
		ID     string `json:"queue_id"`
		Labels uint64 `json:"labels"`
	} `json:"queues"`
	Daemons []struct {
		Producer string  `json:"producer"`
		AgeS     float64 `json:"heard_seconds_ago"`
	} `json:"daemons"`
}

func (s snapshotDoc) labels() uint64 {
	var n uint64
	for _, q := range s.Queues {
		n += q.Labels
	}
	return n
}

func (s snapshotDoc) producers() []string {
	var p []string
	for _, d := range s.Daemons {
		p = append(p, d.Producer)
	}
	return p
}

// fleetSnapshot runs the CLI viewer for scripts.
func fleetSnapshot(t *testing.T, bin, servers string) (snapshotDoc, string) {
	t.Helper()
	cmd := exec.Command(bin, "snapshot", "--from-daemon", "-s", servers, "--no-context", "--duration", "3s",
		"--window", "15m", "--format", "json", "--quiet", "--top", "20")
	cmd.Env = append(isolatedEnv(), "XDG_CONFIG_HOME="+t.TempDir())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
		t.Fatalf("snapshot --from-daemon: %v\n%s", err, stderr.String())
	}
	var doc snapshotDoc
	if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
		t.Fatalf("snapshot --from-daemon JSON: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	return doc, stdout.String()
}

// auditReport is what the test reads of `audit verify --json`.
type auditReport struct {
	Records     uint64 `json:"records"`
	Duplicates  uint64 `json:"duplicates_folded"`
	Conflicts   uint64 `json:"conflicts"`
	Unsequenced uint64 `json:"unsequenced"`
	Damaged     uint64 `json:"damaged"`
	FirstSeq    uint64 `json:"first_seq"`
	LastSeq     uint64 `json:"last_seq"`
	Missing     uint64 `json:"missing"`
	Runs        int    `json:"runs"`
}

// auditVerify runs `ingot-top audit verify --json ARGS...`; exitCode is its status.
func auditVerify(t *testing.T, bin string, args ...string) (auditReport, int) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"audit", "verify", "--json"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatalf("audit verify: %v", err)
	}
	var rep auditReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("audit verify %v: %v\n%s\n%s", args, err, stdout.String(), stderr.String())
	}
	return rep, code
}

// viewer is a --from-daemon viewer running since before the faults: the daemon source every
// viewer uses (dashboard, snapshot), in process so the test can watch it continuously.
func startViewer(t *testing.T, servers string) *daemonsrc.Source {
	t.Helper()
	src, err := daemonsrc.New(daemonsrc.Config{Feed: feed.Options{Server: servers, NoContext: true, ConnectTimeout: 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return src
}

func hasPID(producers []engine.ProducerStatus, pid int) bool {
	for _, p := range producers {
		if strings.Contains(p.Producer, ":"+strconv.Itoa(pid)+":") {
			return true
		}
	}
	return false
}

// liveProducers are the producers merged now; the viewer lists stale ones too.
func liveProducers(producers []engine.ProducerStatus) []engine.ProducerStatus {
	var out []engine.ProducerStatus
	for _, p := range producers {
		if !p.Stale {
			out = append(out, p)
		}
	}
	return out
}

func viewerLabels(s *engine.Snapshot) uint64 {
	var n uint64
	for _, q := range s.Queues {
		n += q.Labels[engine.Window15m]
	}
	return n
}

// clusterBinaries builds ingot-top and nats-server once for every variant.
func clusterBinaries(t *testing.T) (ingotTop, natsServer string) {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatalf("the cluster test builds nats-server with the go command: %v", err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); natsServer = buildNATSServer(t, t.TempDir()) }()
	ingotTop = buildBinary(t)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return ingotTop, natsServer
}

func TestFleetOnNATSCluster(t *testing.T) {
	bin, natsBin := clusterBinaries(t)
	t.Run("durable with a daemon and a node killed", func(t *testing.T) { durableWithFaults(t, bin, natsBin) })
	t.Run("durable without faults", func(t *testing.T) { withoutFaults(t, bin, natsBin, true) })
	t.Run("core queue group without faults", func(t *testing.T) { withoutFaults(t, bin, natsBin, false) })
}

// withoutFaults: the merged totals are exact, and every daemon took a share.
func withoutFaults(t *testing.T, bin, natsBin string, durable bool) {
	cluster := startCluster(t, natsBin)
	servers := cluster.allURLs()
	nc, err := nats.Connect(servers, nats.Name("e2e publisher"), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js := publisherJS(t, nc)
	if durable {
		createStream(t, js, 30*time.Second)
	}
	root := t.TempDir()
	var daemons []*fleetDaemon
	for i := range 3 {
		name := fmt.Sprintf("daemon %c", 'A'+i)
		// Core mode: a server hands a queue group's message to a member connected to it when
		// it has one, so each node gets its own member (see docs/scale-out.md).
		at := servers
		if !durable {
			at = cluster.urls[i]
		}
		daemons = append(daemons, startFleetDaemon(t, bin, name, at, filepath.Join(root, fmt.Sprintf("audit-%c", 'a'+i)), durable))
	}
	if durable {
		var acked atomic.Int64
		ctx, cancel := context.WithTimeout(context.Background(), clusterPatient)
		defer cancel()
		if err := publishAcked(ctx, js, 0, clusterEvents, &acked); err != nil {
			t.Fatalf("publishing: %v (%d acknowledged)", err, acked.Load())
		}
		waitDrained(t, js, clusterEvents)
	} else {
		// Core NATS delivers only to the interest there is when it publishes: wait until
		// each node has its member, and publish a third of the events on each node.
		var pubs []*nats.Conn
		for i, url := range cluster.urls {
			waitInterest(t, cluster.monitors[i], 1)
			pc, err := nats.Connect(url, nats.Name("e2e core publisher"))
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			pubs = append(pubs, pc)
		}
		for i := range clusterEvents {
			if err := pubs[i%len(pubs)].Publish("telemetry.anvil.label.submitted", labelEvent(i)); err != nil {
				t.Fatal(err)
			}
		}
		for _, pc := range pubs {
			if err := pc.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	testkit.Eventually(t, clusterPatient, "the daemons' /metrics counting every event", func() (bool, string) {
		total, shares := sumLabels(t, daemons...)
		return total == clusterEvents, fmt.Sprintf("sum %d, shares %v", total, shares)
	})
	total, shares := sumLabels(t, daemons...)
	for i, n := range shares {
		if n == 0 {
			t.Errorf("daemon %c took no share: %v", 'A'+i, shares)
		}
	}
	t.Logf("shares of %d events: %v", total, shares)
	// Aggregates are republished once a second: the merged view converges on the counters.
	var doc snapshotDoc
	var raw string
	deadline := time.Now().Add(30 * time.Second)
	for {
		doc, raw = fleetSnapshot(t, bin, servers)
		if doc.labels() == clusterEvents && len(doc.Daemons) == 3 || time.Now().After(deadline) {
			break
		}
	}
	if doc.labels() != clusterEvents || doc.Totals.Events != clusterEvents || len(doc.Daemons) != 3 {
		t.Errorf("snapshot --from-daemon: %d labels, %d events, %d daemons (%v); want %d, %d, 3\n%s",
			doc.labels(), doc.Totals.Events, len(doc.Daemons), doc.producers(), clusterEvents, clusterEvents, tailOf(raw, 3000))
	}
	dirs := []string{daemons[0].auditDir, daemons[1].auditDir, daemons[2].auditDir}
	rep, code := auditVerify(t, bin, dirs...)
	if durable {
		if code != 0 || rep.Records != clusterEvents || rep.Duplicates != 0 || rep.Missing != 0 || rep.FirstSeq != 1 || rep.LastSeq != clusterEvents {
			t.Errorf("audit verify (exit %d): %+v; want %d records 1..%d, none folded or missing", code, rep, clusterEvents, clusterEvents)
		}
	} else if code != 0 || rep.Records != clusterEvents || rep.Unsequenced != clusterEvents {
		// Core NATS has no stream sequence: the trails can be merged and counted, not checked for gaps.
		t.Errorf("audit verify (exit %d): %+v; want %d unsequenced records", code, rep, clusterEvents)
	}
}

// waitInterest waits until n of a node's own clients subscribe in the group to the
// telemetry subject.
func waitInterest(t *testing.T, monitor string, n int) {
	t.Helper()
	testkit.Eventually(t, clusterPatient, fmt.Sprintf("%d group members' interest at %s", n, monitor), func() (bool, string) {
		resp, err := http.Get(monitor + "/subsz?subs=1&limit=1000&test=telemetry.anvil.label.submitted")
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		var body struct {
			Subs []struct {
				Queue string `json:"qgroup"`
			} `json:"subscriptions_list"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			return false, err.Error()
		}
		members := 0
		for _, s := range body.Subs {
			if s.Queue == clusterGroup {
				members++
			}
		}
		return members >= n, fmt.Sprintf("%d members of %d matching subscriptions", members, len(body.Subs))
	})
}

// durableWithFaults: a daemon SIGKILLed and a NATS node (the stream's leader) SIGKILLed
// mid-stream; nothing acknowledged is lost, the dead daemon leaves every view, and the
// merged audit trail holds every event once.
func durableWithFaults(t *testing.T, bin, natsBin string) {
	cluster := startCluster(t, natsBin)
	servers := cluster.allURLs()
	nc, err := nats.Connect(servers, nats.Name("e2e publisher"), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js := publisherJS(t, nc)
	createStream(t, js, faultAckWait)
	root := t.TempDir()
	dirA, dirB, dirC := filepath.Join(root, "audit-a"), filepath.Join(root, "audit-b"), filepath.Join(root, "audit-c")
	a := startFleetDaemon(t, bin, "daemon A", servers, dirA, true)
	b := startFleetDaemon(t, bin, "daemon B", servers, dirB, true)
	c := startFleetDaemon(t, bin, "daemon C", servers, dirC, true)
	viewer := startViewer(t, servers)
	testkit.Eventually(t, 20*time.Second, "the viewer merging 3 daemons", func() (bool, string) {
		p := viewer.Producers()
		return len(liveProducers(p)) == 3, fmt.Sprintf("%+v", p)
	})

	// Phase 1 and 2: 20,000 events; B and the stream leader die at 12,000 acknowledged.
	ctx, cancel := context.WithTimeout(context.Background(), 2*clusterPatient)
	defer cancel()
	var acked atomic.Int64
	published := make(chan error, 1)
	go func() { published <- publishAcked(ctx, js, 0, 20000, &acked) }()
	testkit.Eventually(t, clusterPatient, "12,000 events acknowledged and B consuming", func() (bool, string) {
		n, err := b.labels()
		return acked.Load() >= 12000 && err == nil && n > 0, fmt.Sprintf("acked %d, B counted %d (%v)", acked.Load(), n, err)
	})
	leader := streamLeader(t, js)
	bPID := b.cmd.Process.Pid
	b.kill(t)
	killedAt := time.Now()
	cluster.nodes[leader].kill(t)
	t.Logf("SIGKILL daemon B (pid %d) and node n%d (the stream leader) at %d acknowledged", bPID, leader+1, acked.Load())

	// The viewer marks B stale, out of the merge, within a bounded time.
	testkit.Eventually(t, staleBound, "the viewer marking the killed daemon stale", func() (bool, string) {
		p := viewer.Producers()
		live := liveProducers(p)
		return hasPID(p, bPID) && !hasPID(live, bPID) && len(live) == 2, fmt.Sprintf("%+v", p)
	})
	t.Logf("killed daemon stale in the viewer after %s (bound %s)", time.Since(killedAt).Round(100*time.Millisecond), staleBound)
	if err := <-published; err != nil {
		t.Fatalf("publishing through the node's death: %v (%d acknowledged)", err, acked.Load())
	}
	waitDrained(t, js, 20000)

	// Its share has left the totals: the merged view is exactly what A and C counted.
	testkit.Eventually(t, 20*time.Second, "the merged totals equal A's and C's counters", func() (bool, string) {
		survivors, shares := sumLabels(t, a, c)
		merged := viewerLabels(viewer.Snapshot())
		return merged == survivors && survivors > 0, fmt.Sprintf("viewer %d, A+C %d %v", merged, survivors, shares)
	})
	survivors, _ := sumLabels(t, a, c)
	doc, raw := fleetSnapshot(t, bin, servers)
	if doc.labels() != survivors || len(doc.Daemons) != 2 {
		t.Errorf("snapshot --from-daemon after the kill: %d labels from %v; want A+C = %d from 2 daemons\n%s", doc.labels(), doc.producers(), survivors, tailOf(raw, 2000))
	}
	if survivors >= 20000 {
		t.Errorf("A and C counted %d of 20000: B's share did not leave the totals (or B took none)", survivors)
	}
	before, _ := auditVerify(t, bin, dirB)
	if before.Records == 0 {
		t.Fatalf("B's trail is empty: it was killed before consuming anything")
	}

	// Phase 3: B restarts on its audit directory (a new process: a new producer) and the
	// last 10,000 events are shared by three daemons again.
	b2 := startFleetDaemon(t, bin, "daemon B (restarted)", servers, dirB, true)
	if err := publishAcked(ctx, js, 20000, clusterEvents, &acked); err != nil {
		t.Fatalf("publishing phase 3: %v", err)
	}
	waitDrained(t, js, clusterEvents)
	testkit.Eventually(t, 20*time.Second, "the merged totals equal the three live daemons' counters", func() (bool, string) {
		live, shares := sumLabels(t, a, b2, c)
		merged := viewerLabels(viewer.Snapshot())
		p := liveProducers(viewer.Producers())
		return merged == live && len(p) == 3 && !hasPID(p, bPID), fmt.Sprintf("viewer %d from %d producers, A+B'+C %d %v", merged, len(p), live, shares)
	})

	// The audit trails: every event once, after folding B's unacknowledged records that
	// JetStream redelivered to another daemon.
	rep, code := auditVerify(t, bin, dirA, dirB, dirC, "--first", "1", "--last", strconv.Itoa(clusterEvents))
	if code != 0 || rep.Records != clusterEvents || rep.Missing != 0 || rep.Conflicts != 0 || rep.Damaged != 0 || rep.FirstSeq != 1 || rep.LastSeq != clusterEvents {
		t.Errorf("audit verify of the three trails (exit %d): %+v; want %d records 1..%d, none missing", code, rep, clusterEvents, clusterEvents)
	}
	// What is folded is at most what B held unacknowledged when it died: the consumer's
	// MaxAckPending bounds it.
	if rep.Duplicates > 4*clusterBatch {
		t.Errorf("%d duplicates folded: more than the %d B could hold unacknowledged", rep.Duplicates, 4*clusterBatch)
	}
	t.Logf("audit: %d records, %d duplicates folded (B's in-flight records redelivered elsewhere), %d sorted runs", rep.Records, rep.Duplicates, rep.Runs)
	// No trail holds an event twice: B's restarted writer skips what its trail already holds.
	for _, dir := range []string{dirA, dirB, dirC} {
		if r, _ := auditVerify(t, bin, dir); r.Duplicates != 0 || r.Conflicts != 0 || r.Damaged != 0 {
			t.Errorf("trail %s on its own: %+v; want no sequence twice", filepath.Base(dir), r)
		}
	}
	// The merged trail, written once, verifies on its own as one sorted run.
	merged := filepath.Join(root, "fleet.jsonl")
	out, err := exec.Command(bin, "audit", "merge", "-q", "-o", merged, dirA, dirB, dirC).CombinedOutput()
	if err != nil {
		t.Fatalf("audit merge: %v\n%s", err, out)
	}
	if r, code := auditVerify(t, bin, merged, "--first", "1", "--last", strconv.Itoa(clusterEvents)); code != 0 || r.Records != clusterEvents || r.Duplicates != 0 || r.Runs != 1 {
		t.Errorf("merged trail (exit %d): %+v; want %d records in one run", code, r, clusterEvents)
	}
	if n := countLines(t, merged); n != clusterEvents {
		t.Errorf("merged trail has %d lines, want %d", n, clusterEvents)
	}
}

// streamLeader returns the index of the node leading the stream.
func streamLeader(t *testing.T, js jetstream.JetStream) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, clusterStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil || info.Cluster == nil {
		t.Fatalf("stream cluster info: %v %+v", err, info)
	}
	var i int
	if _, err := fmt.Sscanf(info.Cluster.Leader, "n%d", &i); err != nil || i < 1 || i > 3 {
		t.Fatalf("stream leader %q", info.Cluster.Leader)
	}
	return i - 1
}

func countLines(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	r := bufio.NewReader(f)
	for {
		_, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err == io.EOF {
			return n
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
}
