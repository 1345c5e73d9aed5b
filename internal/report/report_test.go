package report

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/engine"
)

func TestErrorSignaturesAreListedByCountInTheWindow(t *testing.T) {
	at := time.Date(2026, 11, 28, 5, 0, 0, 0, time.UTC)
	snap := &engine.Snapshot{At: at, ErrorGroups: []engine.ErrorGroup{
		{Service: "anvil", Event: "ingot.anvil_client.submit_label", Signature: "timeout after #ms", Count: [engine.NumWindows]uint64{1, 9, 9}, Last: at, Latest: engine.ErrorEntry{TraceID: "4bf92f3577b34da6a3ce929d0e0e4736"}},
		{Service: "forge", Event: "ingot.forge_client.get_sample", Signature: "not_found | purged", Count: [engine.NumWindows]uint64{5, 5, 5}, Last: at},
		{Service: "forge", Event: "forge.pipeline.executed", Signature: "old", Count: [engine.NumWindows]uint64{0, 0, 3}, Last: at},
	}}
	in := Input{At: at, Stream: snap, Window: engine.Window1m}
	var out bytes.Buffer
	if err := Write(&out, FormatJSON, in); err != nil {
		t.Fatal(err)
	}
	var doc Document
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.ErrorSigs) != 2 || doc.ErrorSigs[0].Signature != "not_found | purged" || doc.ErrorSigs[1].Count != 1 {
		t.Fatalf("1m signatures %+v, want the two with occurrences in 1m, most frequent first", doc.ErrorSigs)
	}
	out.Reset()
	if err := Write(&out, FormatMarkdown, in); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## Error signatures (1m, numbers as #)", `| 5 | forge | ingot.forge\_client.get\_sample | not\_found \| purged |`, "4bf92f3577b34da6a3ce929d0e0e4736"} {
		if !bytes.Contains(out.Bytes(), []byte(want)) {
			t.Errorf("markdown lacks %q:\n%s", want, out.String())
		}
	}
}
