package promsrc

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Exemplars link a latency bucket to a trace: the daemon attaches the trace_id of an
// observation to the ADR histograms' buckets (OpenMetrics exemplars), and a Prometheus run
// with --enable-feature=exemplar-storage keeps them. The dashboard asks for an operation's
// when its chart is open, and opens the slowest ones' traces.

// Exemplar is one traced observation of an operation.
type Exemplar struct {
	TraceID string
	ValueMS float64
	At      time.Time
	// BucketMS is the upper bound of the bucket it was attached to, in ms (+Inf for the
	// top one).
	BucketMS float64
}

// maxExemplars bounds what Exemplars returns.
const maxExemplars = 50

// ErrNoPrometheus is returned by Exemplars without a --prometheus server.
var ErrNoPrometheus = errors.New("no Prometheus server configured (--prometheus)")

// exemplarSelector is the bucket series of op's ADR histogram, "" when op has none.
func exemplarSelector(op string) string {
	for _, f := range histFamilies {
		switch {
		case f.label == "" && op == f.prefix:
			return f.metric + "_bucket"
		case f.label != "" && strings.HasPrefix(op, f.prefix) && len(op) > len(f.prefix):
			return f.metric + "_bucket{" + f.label + "=" + strconv.Quote(op[len(f.prefix):]) + "}"
		}
	}
	return ""
}

// Exemplars returns op's exemplars between from and to, slowest first, at most n (and
// maxExemplars); only those carrying a well-formed trace_id.
func (s *Source) Exemplars(ctx context.Context, op string, from, to time.Time, n int) ([]Exemplar, error) {
	if s == nil || s.prom == nil {
		return nil, ErrNoPrometheus
	}
	sel := exemplarSelector(op)
	if sel == "" {
		return nil, fmt.Errorf("%s has no ADR-008 histogram to take exemplars from", safe(op, 80))
	}
	p := s.prom
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	data, err := p.client.call(ctx, "query_exemplars", url.Values{"query": {sel},
		"start": {formatTime(from)}, "end": {formatTime(to)}}, maxInstantBytes)
	if err != nil {
		return nil, fmt.Errorf("query_exemplars %s: %w", shorten(sel), err)
	}
	out, err := decodeExemplars(data)
	if err != nil {
		return nil, fmt.Errorf("query_exemplars %s: %w", shorten(sel), err)
	}
	slices.SortFunc(out, func(a, b Exemplar) int {
		if c := cmp.Compare(b.ValueMS, a.ValueMS); c != 0 {
			return c
		}
		return b.At.Compare(a.At)
	})
	return out[:min(len(out), max(min(n, maxExemplars), 0))], nil
}

type exemplarSeries struct {
	SeriesLabels map[string]string `json:"seriesLabels"`
	Exemplars    []struct {
		Labels    map[string]string `json:"labels"`
		Value     string            `json:"value"`
		Timestamp float64           `json:"timestamp"`
	} `json:"exemplars"`
}

// decodeExemplars reads a query_exemplars answer, bounded like every answer, keeping the
// exemplars with a 32-hex-digit trace_id and a finite, non-negative value.
func decodeExemplars(data []byte) ([]Exemplar, error) {
	series, err := decodeList[exemplarSeries](json.RawMessage(data), "exemplar series")
	if err != nil {
		return nil, err
	}
	var out []Exemplar
	for _, s := range series {
		bucket := math.Inf(1)
		if le, err := strconv.ParseFloat(s.SeriesLabels["le"], 64); err == nil && !math.IsNaN(le) {
			bucket = le * 1000
		}
		for _, e := range s.Exemplars {
			if len(out) >= maxAnswerSeries {
				return out, nil
			}
			id := e.Labels["trace_id"]
			v, err := strconv.ParseFloat(e.Value, 64)
			if !isTraceID(id) || err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 ||
				math.IsNaN(e.Timestamp) || math.IsInf(e.Timestamp, 0) {
				continue
			}
			sec, frac := math.Modf(e.Timestamp)
			out = append(out, Exemplar{TraceID: id, ValueMS: v * 1000, BucketMS: bucket,
				At: time.Unix(int64(sec), int64(frac*1e9)).UTC()})
		}
	}
	return out, nil
}

func isTraceID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
