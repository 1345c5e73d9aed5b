package report

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/ingest"
)

func TestArrivalGivesTheConsumersOwnRate(t *testing.T) {
	first := time.Date(2026, 11, 28, 5, 0, 0, 0, time.UTC)
	in := Input{
		At: first.Add(time.Minute), Stream: &engine.Snapshot{}, Conn: ingest.ConnState{Received: 500_000},
		FirstBatch: first, LastBatch: first.Add(2500 * time.Millisecond),
	}
	var out bytes.Buffer
	if err := Write(&out, FormatJSON, in); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Arrival *Arrival `json:"arrival"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if doc.Arrival == nil {
		t.Fatalf("no arrival in %s", out.String())
	}
	if doc.Arrival.SpanS != 2.5 || doc.Arrival.ReceivedRate != 200_000 {
		t.Errorf("arrival = %+v, want span 2.5 s and 200000/s", *doc.Arrival)
	}

	in.FirstBatch, in.LastBatch = time.Time{}, time.Time{}
	out.Reset()
	if err := Write(&out, FormatJSON, in); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out.Bytes(), []byte(`"arrival"`)) {
		t.Errorf("arrival printed without batch times:\n%s", out.String())
	}
}
