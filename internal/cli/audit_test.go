package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/nsai/ingot-top/internal/testkit"
)

// trailLine is an audit record as the daemon writes it.
func trailLine(seq uint64, received string) string {
	return fmt.Sprintf(`{"received":%q,"event":"anvil.label.submitted","seq":%d,"metadata":{"queue_id":"q1"},"measurements":{"duration_ms":200}}`+"\n", received, seq)
}

func writeTrailDir(t *testing.T, lines ...string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "audit-2026-12-07.jsonl"), []byte(strings.Join(lines, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// audit verify and merge, through the command line: exit status, report, merged file. A
// broken config file does not stop them (they read only their arguments).
func TestAuditVerifyAndMergeCommands(t *testing.T) {
	a := writeTrailDir(t, trailLine(1, "2026-12-07T10:00:00Z"), trailLine(2, "2026-12-07T10:00:00Z"), trailLine(4, "2026-12-07T10:00:01Z"))
	b := writeTrailDir(t, trailLine(3, "2026-12-07T10:00:00Z"), trailLine(2, "2026-12-07T10:00:05Z"))

	r := run(t, brokenConfig(t), "audit", "verify", a, b)
	if r.code != ExitOK || !strings.Contains(r.stdout, "records           4 (stream sequences 1..4)") ||
		!strings.Contains(r.stdout, "duplicates folded 1") || !strings.Contains(r.stdout, "missing           0") {
		t.Errorf("verify: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = run(t, nil, "audit", "verify", "--json", "--last", "6", a, b)
	var rep struct {
		Missing uint64 `json:"missing"`
		Ranges  []struct{ From, To uint64 }
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("verify --json: %v\n%s", err, r.stdout)
	}
	if r.code != ExitProblem || rep.Missing != 2 || !strings.Contains(r.stderr, "2 sequences missing") {
		t.Errorf("verify --last 6: exit %d, %+v\n%s", r.code, rep, r.stderr)
	}

	out := filepath.Join(t.TempDir(), "fleet.jsonl")
	r = run(t, nil, "audit", "merge", "-o", out, a, b)
	if r.code != ExitOK || !strings.Contains(r.stderr, "duplicates folded 1") {
		t.Errorf("merge: exit %d\n%s", r.code, r.stderr)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want := trailLine(1, "2026-12-07T10:00:00Z") + trailLine(2, "2026-12-07T10:00:00Z") + trailLine(3, "2026-12-07T10:00:00Z") + trailLine(4, "2026-12-07T10:00:01Z")
	if string(data) != want {
		t.Errorf("merged trail:\n%s\nwant:\n%s", data, want)
	}
	if r := run(t, nil, "audit", "merge", a, b); r.code != ExitOK || r.stdout != want {
		t.Errorf("merge to stdout: exit %d\n%s", r.code, r.stdout)
	}
	if r := run(t, nil, "audit", "verify", "--first", "5", "--last", "2", a); r.code != ExitUsage {
		t.Errorf("--last below --first: exit %d, %s", r.code, r.stderr)
	}
	if r := run(t, nil, "audit", "verify", filepath.Join(a, "nope")); r.code != ExitUsage {
		t.Errorf("missing trail: exit %d, %s", r.code, r.stderr)
	}
}

// snapshot --from-daemon with nobody publishing says so, after --duration, with exit 1.
func TestSnapshotFromDaemonWithoutDaemons(t *testing.T) {
	s := testkit.StartNATS(t, &server.Options{})
	start := time.Now()
	r := run(t, nil, "snapshot", "--from-daemon", "-s", s.ClientURL(), "--no-context", "--duration", "1s", "--format", "json", "-q")
	if r.code != ExitProblem || !strings.Contains(r.stderr, "no daemon published on ingot_top.snapshot") {
		t.Errorf("exit %d\n%s", r.code, r.stderr)
	}
	var doc struct {
		Title   string `json:"title"`
		Daemons []any  `json:"daemons"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || !strings.Contains(doc.Title, "merged from daemons") || len(doc.Daemons) != 0 {
		t.Errorf("report %+v %v\n%s", doc, err, r.stdout)
	}
	if time.Since(start) < time.Second {
		t.Errorf("returned before --duration")
	}
}
