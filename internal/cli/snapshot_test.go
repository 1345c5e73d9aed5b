package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/nsai/ingot-top/internal/report"
	"github.com/nsai/ingot-top/internal/testkit"
)

func runCmd(ctx context.Context, args ...string) cmdResult {
	var stdout, stderr testkit.SyncBuffer
	code := Main(args, Env{Ctx: ctx, Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }})
	return cmdResult{code, stdout.String(), stderr.String()}
}

func submitted(queue, asg string) string {
	return fmt.Sprintf(`{"v":1,"event":["anvil","label","submitted"],"measurements":{"duration_ms":12},"metadata":{"queue_id":%q,"assignment_id":%q,"labeler_id":"u1"}}`, queue, asg)
}

// The acceptance check: events published by hand, valid and invalid, are counted
// exactly — so many labels for a queue, so many invalid of each reason.
func TestSnapshotCountsExactly(t *testing.T) {
	s := testkit.StartNATS(t, nil)
	base := s.NumSubscriptions()
	done := make(chan cmdResult, 1)
	go func() {
		done <- runCmd(context.Background(), "snapshot", "-s", s.ClientURL(), "--duration", "3s", "--format", "json", "--quiet")
	}()
	testkit.WaitForSubscriber(t, s, base)

	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	pub := func(subject, body string) {
		t.Helper()
		if err := nc.Publish(subject, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 7; i++ {
		pub("telemetry.anvil.label.submitted", submitted("q_exact", fmt.Sprintf("a%d", i)))
	}
	for i := 0; i < 3; i++ {
		pub("telemetry.anvil.label.submitted", submitted("q_other", fmt.Sprintf("b%d", i)))
	}
	pub("telemetry.anvil.label.submitted", "not json")
	pub("telemetry.anvil.label.submitted", "not json either")
	pub("telemetry.anvil.label.submitted", `[1,2]`)
	pub("telemetry.anvil.label.submitted", `{"v":2,"event":["anvil","label","submitted"],"measurements":{},"metadata":{}}`)
	pub("telemetry.anvil.label.oops", `{"v":1,"event":["anvil","label","submitted"],"measurements":{},"metadata":{}}`)
	pub("telemetry.anvil.label.submitted", `{"v":1,"event":["anvil","label","submitted"],"measurements":{}}`)
	pub("telemetry.anvil.label.submitted", "{\"v\":1,\"bad\":\"\xff\"}")
	pub("telemetry.foo.bar.baz", `{"v":1,"event":["foo","bar","baz"],"measurements":{},"metadata":{"x":"\u001b[31mred"}}`)
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	res := <-done
	if res.code != ExitProblem && res.code != ExitOK {
		t.Fatalf("exit %d, stderr %s", res.code, res.stderr)
	}
	var doc report.Document
	if err := json.Unmarshal([]byte(res.stdout), &doc); err != nil {
		t.Fatalf("output is not the JSON document: %v\n%s", err, res.stdout)
	}
	labels := map[string]uint64{}
	for _, q := range doc.Queues {
		labels[q.ID] = q.Labels
	}
	if labels["q_exact"] != 7 || labels["q_other"] != 3 {
		t.Errorf("labels per queue = %v, want q_exact 7, q_other 3", labels)
	}
	invalid := map[string]uint64{}
	for _, c := range doc.Invalid {
		invalid[c.Name] = c.Count
	}
	want := map[string]uint64{"not_json": 2, "not_object": 1, "bad_version": 1, "subject_mismatch": 1, "missing_field": 1, "bad_utf8": 1}
	for reason, n := range want {
		if invalid[reason] != n {
			t.Errorf("invalid %s = %d, want %d (all: %v)", reason, invalid[reason], n, invalid)
		}
	}
	if doc.Totals.Invalid != 7 || doc.Totals.Events != 11 || doc.Totals.Unknown != 1 {
		t.Errorf("totals = %+v, want 11 valid, 7 invalid, 1 unknown", doc.Totals)
	}
	if doc.Connection.State != "connected" || doc.Connection.Received != 18 {
		t.Errorf("connection = %+v, want connected with 18 messages", doc.Connection)
	}
	// Invalid messages are a problem only past --max-invalid, which defaults to never.
	if res.code != ExitOK {
		t.Errorf("exit %d with default thresholds, want 0: %s", res.code, res.stderr)
	}
}

func TestSnapshotNoServerExitsWithinDuration(t *testing.T) {
	url := fmt.Sprintf("nats://127.0.0.1:%d", testkit.FreePort(t))
	start := time.Now()
	res := runCmd(context.Background(), "snapshot", "-s", url, "--duration", "1s", "--quiet")
	if res.code != ExitNoConnect {
		t.Fatalf("exit %d, want %d (no connection); stderr: %s", res.code, ExitNoConnect, res.stderr)
	}
	if !strings.Contains(res.stderr, "could not connect to "+url) {
		t.Errorf("stderr does not say what it could not reach: %q", res.stderr)
	}
	// Bounded by the duration plus shutdown, never a hang; a generous margin for a loaded CI.
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("took %s for a 1s snapshot", took)
	}
}

func TestSnapshotErrorRateThresholdAndFormats(t *testing.T) {
	s := testkit.StartNATS(t, nil)
	for _, format := range []string{"text", "markdown"} {
		// The previous run's connections must be gone before counting: the server may drop
		// their subscriptions after base is read, hiding the new one.
		testkit.EventuallyTrue(t, 10*time.Second, "earlier clients disconnected", func() bool { return s.NumClients() == 0 })
		base := s.NumSubscriptions()
		done := make(chan cmdResult, 1)
		go func() {
			done <- runCmd(context.Background(), "snapshot", "-s", s.ClientURL(), "--duration", "2s", "--format", format, "--quiet", "--max-error-rate", "0.2")
		}()
		testkit.WaitForSubscriber(t, s, base)
		nc, err := nats.Connect(s.ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 10; i++ {
			result := `"result":"ok"`
			if i < 3 {
				result = `"result":"error","reason":"timeout | *boom*"`
			}
			body := fmt.Sprintf(`{"v":1,"event":["ingot","anvil_client","submit_label"],"measurements":{"duration_ms":20},"metadata":{"assignment_id":"a%d",%s}}`, i, result)
			if err := nc.Publish("telemetry.ingot.anvil_client.submit_label", []byte(body)); err != nil {
				t.Fatal(err)
			}
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		nc.Close()
		res := <-done
		if res.code != ExitProblem {
			t.Errorf("%s: exit %d with 30%% errors over a 20%% threshold, want %d; stderr %s", format, res.code, ExitProblem, res.stderr)
		}
		if !strings.Contains(res.stderr, "client error rate 30.0% > 20.0%") {
			t.Errorf("%s: stderr does not explain the exit: %q", format, res.stderr)
		}
		row := "ingot.anvil_client.submit_label"
		if format == "markdown" {
			row = `ingot.anvil\_client.submit\_label`
		}
		if !strings.Contains(res.stdout, row) {
			t.Errorf("%s: output lacks the operation row:\n%s", format, res.stdout)
		}
		if format == "markdown" && !strings.Contains(res.stdout, `timeout \| \*boom\*`) {
			t.Errorf("markdown does not escape the hostile reason:\n%s", res.stdout)
		}
	}
}

// Ctrl-C during collection prints what was collected and exits 1, not an internal error.
func TestSnapshotInterruptedPrintsWhatItHas(t *testing.T) {
	s := testkit.StartNATS(t, nil)
	base := s.NumSubscriptions()
	ctx, interrupt := context.WithCancel(context.Background())
	done := make(chan cmdResult, 1)
	go func() {
		done <- runCmd(ctx, "snapshot", "-s", s.ClientURL(), "--duration", "1m", "--format", "json", "--quiet")
	}()
	testkit.WaitForSubscriber(t, s, base)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for i := 0; i < 4; i++ {
		if err := nc.Publish("telemetry.anvil.label.submitted", []byte(submitted("q_int", fmt.Sprintf("a%d", i)))); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	// The command counts what arrived before the interrupt; wait until the server has
	// delivered all four to its subscription.
	testkit.Eventually(t, 10*time.Second, "server delivered the events", func() (bool, string) {
		if s.NumSubscriptions() == 0 {
			return true, ""
		}
		v, err := s.Varz(nil)
		if err != nil {
			return false, err.Error()
		}
		return v.OutMsgs >= 4, fmt.Sprintf("%d messages delivered", v.OutMsgs)
	})
	interrupt()
	res := <-done
	if res.code != ExitProblem || !strings.Contains(res.stderr, "interrupted") {
		t.Fatalf("exit %d, stderr %q; want %d and an explanation", res.code, res.stderr, ExitProblem)
	}
	var doc report.Document
	if err := json.Unmarshal([]byte(res.stdout), &doc); err != nil {
		t.Fatalf("nothing printed after the interrupt: %v\n%s", err, res.stdout)
	}
	if len(doc.Queues) == 0 || doc.Queues[0].Labels != 4 {
		t.Errorf("queues = %+v, want q_int with 4 labels", doc.Queues)
	}
}
