package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/nsai/ingot-top/internal/testkit"
)

// `snapshot --format markdown` is what gets pasted into the incident channel: its first
// line is the verdict, and it has the health table and the alerts with their onsets, as the
// dashboard's `r` report has.
func TestSnapshotMarkdownHasVerdictHealthAndAlerts(t *testing.T) {
	anvil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"status":"degraded"}`)
	}))
	defer anvil.Close()
	forge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `{"status":"ok"}`)
	}))
	defer forge.Close()

	s := testkit.StartNATS(t, nil)
	base := s.NumSubscriptions()
	done := make(chan cmdResult, 1)
	go func() {
		done <- runCmd(context.Background(), "snapshot", "-s", s.ClientURL(), "--duration", "3s", "--format", "markdown", "--quiet",
			"--anvil-health", anvil.URL, "--forge-health", forge.URL, "--health.interval", "500ms", "--alert.unhealthy-for", "0s")
	}()
	testkit.WaitForSubscriber(t, s, base)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for i := 0; i < 40; i++ {
		result := `"result":"ok"`
		if i%4 == 0 {
			result = `"result":"error","reason":"timeout"`
		}
		body := fmt.Sprintf(`{"v":1,"event":["ingot","anvil_client","submit_label"],"measurements":{"duration_ms":20},"metadata":{"queue_id":"q%d","user_id":"u%d",%s}}`, i%3, i%7, result)
		if err := nc.Publish("telemetry.ingot.anvil_client.submit_label", []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if res.code != ExitProblem {
		t.Errorf("exit %d with 25%% errors, want %d; stderr %s", res.code, ExitProblem, res.stderr)
	}
	first, _, _ := strings.Cut(res.stdout, "\n")
	// anvil was down at the first probe: since when is only a bound ("~")
	if !strings.HasPrefix(first, "# FIRING: anvil down, submit\\_label 25.0% errors since ~") || !strings.Contains(first, "25.0% of 40 client calls failed (1m), hitting 7 users and 3 queues") {
		t.Errorf("first line is not the verdict: %q\n%s", first, res.stdout)
	}
	for _, want := range []string{"## Alerts", "| firing | page | IngotServiceUnhealthy{anvil} | anvil |", "RUNBOOK.md#ingotserviceunhealthy",
		"## Health", "| anvil | unhealthy |", "| forge | healthy |", "- **Hit:** 7 users, 3 queues"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("markdown lacks %q:\n%s", want, res.stdout)
		}
	}
}
