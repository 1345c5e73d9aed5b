// Command benchtool is the harness of scripts/bench-daemon.sh: an embedded nats-server (so
// the benchmark needs no system package), a publisher of pre-built contract-valid events
// (used when `ingot-top simulate --pregenerated` is not available), and a watcher that reads
// the daemon's /metrics until every published event has been counted.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchtool nats|publish|wait [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "nats":
		err = runNATS(os.Args[2:])
	case "publish":
		err = runPublish(os.Args[2:])
	case "wait":
		err = runWait(os.Args[2:])
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchtool %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

// runNATS serves an embedded nats-server with JetStream until SIGTERM/SIGINT and writes its
// client URL to --url-file once it accepts connections.
func runNATS(args []string) error {
	fs := flag.NewFlagSet("nats", flag.ExitOnError)
	store := fs.String("store", "", "JetStream store directory")
	urlFile := fs.String("url-file", "", "file to write the client URL to")
	_ = fs.Parse(args)
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: *store, NoSigs: true, NoLog: true,
		MaxPayload: 1 << 20,
	})
	if err != nil {
		return err
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		return errors.New("not ready within 10s")
	}
	if err := os.WriteFile(*urlFile, []byte(srv.ClientURL()+"\n"), 0o644); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	srv.Shutdown()
	return nil
}

type message struct {
	subject string
	data    []byte
}

// prebuilt returns n distinct contract-valid events with the mix of a busy labeling day:
// submissions (both sides, so the audit trail works), client calls with 2% errors, mounts.
// queues is how many distinct queue_ids the payloads cycle through (the flood bench sets it
// to n, so every message names a new queue).
func prebuilt(n, queues int) []message {
	out := make([]message, 0, n)
	at := time.Now().UTC()
	for i := range n {
		q := fmt.Sprintf("queue_%d", i%max(queues, 1))
		ts := at.Add(time.Duration(i) * time.Millisecond).Format("2006-01-02T15:04:05.000Z")
		trace := fmt.Sprintf(`"trace":{"trace_id":"%032x","span_id":"%016x"}`, i+1, i+1)
		var subject, body string
		switch i % 10 {
		case 0, 1, 2, 3:
			subject = "telemetry.ingot.label.submit"
			body = fmt.Sprintf(`{"v":1,"event":["ingot","label","submit"],"time":%q,"measurements":{"duration_ms":%d,"client_latency_ms":12},"metadata":{"queue_id":%q,"assignment_id":"asg_%d","user_id":"user_%d","method":"keyboard"},%s}`,
				ts, 100+i%900, q, i, i%50, trace)
		case 4, 5, 6:
			subject = "telemetry.anvil.label.submitted"
			body = fmt.Sprintf(`{"v":1,"event":["anvil","label","submitted"],"time":%q,"measurements":{"duration_ms":%d},"metadata":{"queue_id":%q,"assignment_id":"asg_%d","labeler_id":"user_%d"},"node":"anvil@10.0.0.5",%s}`,
				ts, 20+i%200, q, i, i%50, trace)
		case 7:
			result, reason := "ok", ""
			if i%50 == 7 {
				result, reason = "error", `,"reason":"timeout"`
			}
			subject = "telemetry.ingot.forge_client.get_sample"
			body = fmt.Sprintf(`{"v":1,"event":["ingot","forge_client","get_sample"],"time":%q,"measurements":{"duration_ms":%d,"payload_bytes":2048},"metadata":{"sample_id":"s_%d","result":%q%s},%s}`,
				ts, 5+i%100, i, result, reason, trace)
		case 8:
			subject = "telemetry.ingot.anvil_client.submit_label"
			body = fmt.Sprintf(`{"v":1,"event":["ingot","anvil_client","submit_label"],"time":%q,"measurements":{"duration_ms":%d},"metadata":{"assignment_id":"asg_%d","result":"ok"},%s}`,
				ts, 5+i%300, i, trace)
		default:
			subject = "telemetry.ingot.live_view.mount"
			body = fmt.Sprintf(`{"v":1,"event":["ingot","live_view","mount"],"time":%q,"measurements":{"duration_ms":%d},"metadata":{"view":"LabelingLive","queue_id":%q,"user_id":"user_%d"}}`,
				ts, 30+i%200, q, i%50)
		}
		out = append(out, message{subject: subject, data: []byte(body)})
	}
	return out
}

// runPublish publishes --count events as fast as the connection takes them, core NATS or
// JetStream (async publish with a bounded window, into a stream it creates if missing).
func runPublish(args []string) error {
	fs := flag.NewFlagSet("publish", flag.ExitOnError)
	url := fs.String("server", nats.DefaultURL, "NATS URL")
	count := fs.Int("count", 1_000_000, "events to publish")
	distinct := fs.Int("distinct", 10_000, "distinct pre-built payloads, cycled")
	rate := fs.Float64("rate", 0, "publish at most this many messages per second (0: as fast as possible)")
	queues := fs.Int("queues", 20, "distinct queue_ids across the payloads (set to --distinct for a flood of new ids)")
	js := fs.Bool("jetstream", false, "publish into a JetStream stream")
	stream := fs.String("stream", "TELEMETRY", "stream to create/use with --jetstream")
	replicas := fs.Int("replicas", 1, "replicas of the stream created with --jetstream (3 on a 3-node cluster)")
	_ = fs.Parse(args)

	msgs := prebuilt(*distinct, *queues)
	nc, err := nats.Connect(*url, nats.Name("benchtool publisher"), nats.ReconnectBufSize(-1))
	if err != nil {
		return err
	}
	defer nc.Close()
	start := time.Now()
	if *js {
		err = publishJetStream(nc, *stream, *replicas, msgs, *count)
	} else {
		// Paced in 10 ms steps when --rate is set, so a test measures what the daemon keeps
		// for a sustained load rather than the client buffer a burst fills.
		perStep := *count
		if *rate > 0 {
			perStep = max(int(*rate/100), 1)
		}
		for i := 0; i < *count && err == nil; {
			stepStart := time.Now()
			for end := min(i+perStep, *count); i < end; i++ {
				m := msgs[i%len(msgs)]
				if err = nc.Publish(m.subject, m.data); err != nil {
					break
				}
			}
			if *rate > 0 {
				time.Sleep(time.Until(stepStart.Add(10 * time.Millisecond)))
			}
		}
		if err == nil {
			err = nc.Flush()
		}
	}
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	fmt.Printf("published=%d seconds=%.3f rate=%.0f/s\n", *count, elapsed.Seconds(), float64(*count)/elapsed.Seconds())
	return nil
}

func publishJetStream(nc *nats.Conn, stream string, replicas int, msgs []message, count int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		return err
	}
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: stream, Subjects: []string{"telemetry.>"}, Storage: jetstream.FileStorage, Replicas: replicas,
	}); err != nil {
		return fmt.Errorf("create stream %s: %w", stream, err)
	}
	for i := range count {
		m := msgs[i%len(msgs)]
		if _, err := js.PublishAsync(m.subject, m.data); err != nil {
			return fmt.Errorf("publish %d: %w", i, err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		return errors.New("publish acks not complete in time")
	}
	info, err := js.Stream(ctx, stream)
	if err != nil {
		return err
	}
	if got := info.CachedInfo().State.Msgs; got < uint64(count) {
		return fmt.Errorf("stream holds %d messages, want at least %d", got, count)
	}
	return nil
}

// runWait polls the daemon's /metrics until the messages it counted (valid and invalid)
// reach --expect or stop growing for --stall, then prints received, drops and the sustained
// rate between the first and the last count change.
func runWait(args []string) error {
	fs := flag.NewFlagSet("wait", flag.ExitOnError)
	url := fs.String("metrics", "http://127.0.0.1:9464/metrics", "daemon /metrics URL; several, comma separated, are summed (a group of daemons)")
	expect := fs.Float64("expect", 1_000_000, "events to wait for")
	stall := fs.Duration("stall", 15*time.Second, "give up after no progress for this long")
	_ = fs.Parse(args)

	var first, last time.Time
	var firstCount, received, dropped float64
	urls := strings.Split(*url, ",")
	shares := make([]float64, len(urls))
	lastChange := time.Now()
	for {
		var r, d float64
		for i, u := range urls {
			ri, di, err := scrape(u)
			if err != nil {
				return err
			}
			r, d, shares[i] = r+ri, d+di, ri
		}
		now := time.Now()
		if r != received {
			if first.IsZero() {
				first, firstCount = now, r
			}
			received, last, lastChange = r, now, now
		}
		dropped = d
		if received >= *expect || now.Sub(lastChange) > *stall {
			break
		}
		time.Sleep(100 * time.Millisecond) // polling interval of an external observer
	}
	rate := 0.0
	if span := last.Sub(first).Seconds(); span > 0 {
		rate = (received - firstCount) / span
	}
	fmt.Printf("received=%.0f expected=%.0f lost=%.0f slow_consumer_drops=%.0f rate=%.0f/s",
		received, *expect, *expect-received, dropped, rate)
	if len(urls) > 1 {
		fmt.Printf(" shares=")
		for i, s := range shares {
			if i > 0 {
				fmt.Printf(",")
			}
			fmt.Printf("%.0f", s)
		}
	}
	fmt.Println()
	return nil
}

func scrape(url string) (received, dropped float64, err error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "ingot_top_events_received_total{"),
			strings.HasPrefix(line, "ingot_top_invalid_events_total{"):
			received += lastValue(line)
		case strings.HasPrefix(line, "ingot_top_dropped_events_total "):
			dropped += lastValue(line)
		}
	}
	return received, dropped, sc.Err()
}

func lastValue(line string) float64 {
	f := strings.Fields(line)
	v, _ := strconv.ParseFloat(f[len(f)-1], 64)
	return v
}
