package promsrc

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/nsai/ingot-top/internal/wire"
)

// FuzzPromResponse feeds arbitrary bytes through everything that reads a Prometheus API
// answer: the envelope, the instant, range and alerts decoders, and then the figures built
// from what decoded. Nothing may panic, rows and histories stay within their caps, and every
// string shown is safe to print.
func FuzzPromResponse(f *testing.F) {
	// realistic and hostile Prometheus API answers
	for _, s := range []string{
		`{"status":"success","data":{"resultType":"vector","result":[{"metric":{"queue_id":"q1"},"value":[1764338400.123,"42.5"]},{"metric":{"op":"ingot.label.submit"},"value":[1764338400,"0.25"]}]}}`,
		`{"status":"success","data":{"resultType":"scalar","result":[1764338400,"1"]}}`,
		`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"queue_id":"q1"},"values":[[1764338390,"1"],[1764338400,"NaN"],[1764338410,"+Inf"]]}]}}`,
		`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"queue_id":"u"},"values":[[2000,"1"],[1000,"2"],[-9e15,"3"]]}]}}`,
		`{"status":"success","data":{"alerts":[{"labels":{"alertname":"IngotDown","severity":"page"},"annotations":{"summary":"\u001b[2J down"},"state":"firing","activeAt":"2026-11-28T14:00:00Z","value":"1e+00"},{"labels":{},"annotations":{},"state":"pending","activeAt":"0001-01-01T00:00:00Z","value":"x"}]}}`,
		`{"status":"success","warnings":["w"],"data":{"resultType":"vector","result":[{"metric":{"queue_id":"q"},"histogram":[1,{"count":"1","sum":"2","buckets":[[0,"0","1","1"]]}]}]}}`,
		`{"status":"ok"}`,
		`{"status":"error","errorType":"bad_data","error":"parse error"}`,
		`{"status":"success","data":{"resultType":"string","result":[1,"x"]}}`,
		`{"status":"success","data":{"resultType":"vector","result":[{"value":[1,5]}]}}`,
		`{"status":"success","data":{"resultType":"vector","result":{"a":1}}}`,
		`{"status":"success","data":{"alerts":null}}`,
		"<!DOCTYPE html><html>portal</html>",
		"",
	} {
		f.Add([]byte(s))
	}
	p := &promPoller{step: 10 * time.Second}
	at := time.Date(2026, 11, 28, 14, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		_, _ = decodeAnswer(502, "text/html", body)
		data, err := decodeAnswer(200, "application/json", body)
		if err != nil {
			return
		}
		vec, _ := decodeInstant(data)
		mat, _ := decodeRange(data)
		al, _ := decodeAlerts(data)
		_, _ = decodeExemplars(data)
		vecs := map[string]model.Vector{QueueRate: vec, QueueTotal: vec, QueuePending: vec, QueueP50: vec, OpRate: vec, OpErrorRatio: vec}
		ranges := map[string]model.Matrix{QueueRate + "@range": mat, QueueP50 + "@range": mat}
		queues := p.queueRows(at, vecs, ranges, promFigures{}, false)
		// a second round appends to the first's history
		queues = p.queueRows(at.Add(time.Minute), vecs, nil, promFigures{queues: queues}, true)
		ops := opRows(vecs, [3]model.Vector{vec, vec, vec})
		markTopBucket(ops, vec, vec)
		alerts := convertAlerts(al)
		if len(queues) > MaxSeries || len(alerts) > MaxAlerts {
			t.Fatalf("%d queues, %d alerts", len(queues), len(alerts))
		}
		for _, q := range queues {
			assertSafe(t, q.ID)
			if len(q.History.Values) > MaxHistoryPoints || len(q.P50History.Values) > MaxHistoryPoints {
				t.Fatalf("queue %q history of %d/%d points", q.ID, len(q.History.Values), len(q.P50History.Values))
			}
			for _, v := range []float64{q.LabelsPerMin, q.Total, q.Pending, q.P50MS} {
				if math.IsNaN(v) {
					t.Fatalf("queue %q: NaN figure", q.ID)
				}
			}
		}
		for _, o := range ops {
			assertSafe(t, o.Name)
		}
		for _, a := range alerts {
			assertSafe(t, a.Name)
			assertSafe(t, a.Summary)
			assertSafe(t, a.Severity)
			for k, v := range a.Labels {
				assertSafe(t, k)
				assertSafe(t, v)
			}
		}
	})
}

func assertSafe(t *testing.T, s string) {
	t.Helper()
	if !wire.IsSafe(s) {
		t.Fatalf("unsafe string shown: %q", s)
	}
}

// scrapeSeed is a realistic /metrics body of the families the dashboard reads.
const scrapeSeed = `# HELP ingot_labels_submitted_total Labels submitted.
# TYPE ingot_labels_submitted_total counter
ingot_labels_submitted_total{queue_id="q1"} 120
ingot_labels_submitted_total{queue_id="q2"} 7
# TYPE anvil_queue_pending_assignments gauge
anvil_queue_pending_assignments{queue_id="q1"} 33
# TYPE ingot_top_metrics_sample_ratio gauge
ingot_top_metrics_sample_ratio 0.5
# TYPE ingot_anvil_client_duration_seconds histogram
ingot_anvil_client_duration_seconds_bucket{operation="submit_label",result="ok",le="0.1"} 10
ingot_anvil_client_duration_seconds_bucket{operation="submit_label",result="ok",le="1"} 19
ingot_anvil_client_duration_seconds_bucket{operation="submit_label",result="ok",le="+Inf"} 20
ingot_anvil_client_duration_seconds_sum{operation="submit_label",result="ok"} 4.5
ingot_anvil_client_duration_seconds_count{operation="submit_label",result="ok"} 20
ingot_anvil_client_duration_seconds_bucket{operation="submit_label",result="error",le="+Inf"} 2
ingot_anvil_client_duration_seconds_count{operation="submit_label",result="error"} 2
# TYPE ingot_label_submit_duration_seconds histogram
ingot_label_submit_duration_seconds_bucket{queue_id="q1",le="5"} 50
ingot_label_submit_duration_seconds_bucket{queue_id="q1",le="+Inf"} 60
ingot_label_submit_duration_seconds_count{queue_id="q1"} 60
other_metric{a="b"} 1
`

// FuzzScrape feeds arbitrary /metrics bodies (and Content-Types) through the whole scrape
// path: parseScrape, reduce, the delta against a previous realistic scrape, the window and
// the fleet figures. Nothing may panic, every figure is finite, rows stay within MaxSeries,
// and every name shown is safe to print.
func FuzzScrape(f *testing.F) {
	f.Add([]byte(scrapeSeed), textPlain)
	f.Add([]byte(strings.ReplaceAll(scrapeSeed, "120", "NaN")), textPlain)
	f.Add([]byte(strings.ReplaceAll(scrapeSeed, `le="1"`, `le="NaN"`)), "")
	f.Add([]byte(scrapeSeed+"# EOF\n"), "application/openmetrics-text; version=1.0.0; charset=utf-8")
	f.Add([]byte("ingot_labels_submitted_total{queue_id=\"\\u001b[2J\"} 1e308\ningot_labels_submitted_total{queue_id=\"\\u001b[2J\"} 1e308\n"), textPlain)
	f.Add([]byte("{\"ingot.labels\",queue_id=\"q\"} 1\n"), textPlain)
	f.Add([]byte("<html>portal</html>"), "text/html")
	f.Add([]byte("\xff\xff\xff\xff\x0f"), "application/vnd.google.protobuf; encoding=delimited")
	prevFamilies, err := parseScrape(strings.NewReader(scrapeSeed), textPlain)
	if err != nil {
		f.Fatal(err)
	}
	at := time.Date(2026, 11, 28, 14, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		families, err := parseScrape(bytes.NewReader(body), contentType)
		if err != nil {
			return
		}
		sc := &scraper{}
		sc.record(reduce(prevFamilies, at))
		sc.record(reduce(families, at.Add(5*time.Second)))
		_, w := sc.state(at.Add(5 * time.Second))
		queues, ops, _ := scrapeFigures([]window{w, w})
		if len(queues) > MaxSeries {
			t.Fatalf("%d queues", len(queues))
		}
		for _, q := range queues {
			assertSafe(t, q.ID)
			for _, v := range []float64{q.LabelsPerMin, q.Total, q.Pending, q.P50MS} {
				if !isFinite(v) {
					t.Fatalf("queue %q: figure %v in %+v", q.ID, v, q)
				}
			}
		}
		for _, o := range ops {
			assertSafe(t, o.Name)
			for _, v := range []float64{o.P50, o.P95, o.P99, o.PerSec, o.ErrorRatio} {
				if !isFinite(v) {
					t.Fatalf("op %q: figure %v in %+v", o.Name, v, o)
				}
			}
		}
	})
}
