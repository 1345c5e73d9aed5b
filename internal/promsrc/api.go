package promsrc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/nsai/ingot-top/internal/wire"
)

// Every answer of the Prometheus HTTP API is untrusted input: a wrong URL, a captive portal
// or a proxy's error page answer 200 just as well. client_golang's API client reads bodies
// without a bound and returns a nil value (and no error) for an answer without "data", so
// the dashboard reads the API itself: a bounded body, the envelope checked field by field,
// results decoded element by element up to a cap. Every failure is an error naming what was
// wrong, which the source reports as its status.

// Bounds of one API answer by endpoint; a larger answer is refused rather than read. A round
// runs a dozen requests at once, so the bounds add up. An instant vector of 20000 queues is
// about 1.5 MB; an hour of history for 500 queues at the default step about 6 MB; 5000
// alerts with their labels and annotations a few MB.
const (
	maxInstantBytes = 4 << 20
	maxRangeBytes   = 16 << 20
	maxAlertsBytes  = 8 << 20
)

// maxAnswerSeries bounds the series (or alerts) decoded from one answer; MaxSeries of them
// are shown. An answer with more is refused: the query needs narrowing.
const maxAnswerSeries = 20000

// apiClient reads the Prometheus HTTP API with the configured client (auth, TLS).
type apiClient struct {
	hc   *http.Client
	base *url.URL
}

func (c *apiClient) endpoint(ep string) *url.URL {
	u := *c.base
	u.Path = path.Join(u.Path, "/api/v1", ep)
	u.RawPath = ""
	return &u
}

// call runs one API request and returns the answer's "data". Queries are POSTed as a form
// (a long PromQL does not fit every proxy's URL limit), falling back to GET on 403, 405 and
// 501 as Prometheus's own clients do.
func (c *apiClient) call(ctx context.Context, ep string, params url.Values, limit int64) ([]byte, error) {
	u := c.endpoint(ep)
	code, ctype, body, err := c.do(ctx, http.MethodPost, u, params, limit)
	if err == nil && (code == http.StatusForbidden || code == http.StatusMethodNotAllowed || code == http.StatusNotImplemented) {
		code, ctype, body, err = c.do(ctx, http.MethodGet, u, params, limit)
	}
	if err != nil {
		return nil, err
	}
	return decodeAnswer(code, ctype, body)
}

func (c *apiClient) do(ctx context.Context, method string, u *url.URL, params url.Values, limit int64) (int, string, []byte, error) {
	var req *http.Request
	var err error
	if method == http.MethodPost {
		req, err = http.NewRequestWithContext(ctx, method, u.String(), strings.NewReader(params.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	} else {
		g := *u
		g.RawQuery = params.Encode()
		req, err = http.NewRequestWithContext(ctx, method, g.String(), nil)
	}
	if err != nil {
		return 0, "", nil, fmt.Errorf("request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, "", nil, withoutURL(err)
	}
	defer resp.Body.Close()
	body, err := readBounded(resp.Body, resp.ContentLength, limit)
	if err != nil {
		return 0, "", nil, err
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), body, nil
}

// errTooLarge is wrapped by the error for a body over its bound.
var errTooLarge = errors.New("answer too large")

// readBounded reads all of r, or fails once it has more than limit bytes. size is the
// announced length (-1 when unknown): over the limit it fails without reading, within it
// the buffer is allocated once.
func readBounded(r io.Reader, size, limit int64) ([]byte, error) {
	if size > limit {
		return nil, fmt.Errorf("%w: %d bytes announced, more than %d MiB, not read", errTooLarge, size, limit>>20)
	}
	var buf bytes.Buffer
	if size > 0 {
		buf.Grow(int(size) + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(io.LimitReader(r, limit+1)); err != nil {
		return nil, fmt.Errorf("reading the answer: %w", withoutURL(err))
	}
	if int64(buf.Len()) > limit {
		return nil, fmt.Errorf("%w: more than %d MiB, not read", errTooLarge, limit>>20)
	}
	return buf.Bytes(), nil
}

// decodeAnswer checks an API answer's envelope and returns its "data": the HTTP status,
// that the body is JSON at all, status "success", and data present.
func decodeAnswer(code int, contentType string, body []byte) ([]byte, error) {
	var env struct {
		Status    *string         `json:"status"`
		Data      json.RawMessage `json:"data"`
		ErrorType string          `json:"errorType"`
		Error     string          `json:"error"`
	}
	jsonErr := json.Unmarshal(body, &env)
	// Reasons are short and lead with what is wrong: the Health pane shows one narrow clause.
	if code/100 != 2 {
		if jsonErr == nil && env.Error != "" {
			return nil, fmt.Errorf("HTTP %d %s: %s", code, safe(env.ErrorType, 40), safe(env.Error, 200))
		}
		return nil, fmt.Errorf("HTTP %d, %s", code, describeBody(contentType, body))
	}
	if jsonErr != nil {
		return nil, fmt.Errorf("not a Prometheus API answer: %s", describeBody(contentType, body))
	}
	status := "<none>"
	if env.Status != nil {
		status = *env.Status
	}
	if status == "error" {
		return nil, fmt.Errorf("error %s: %s", safe(env.ErrorType, 40), safe(env.Error, 200))
	}
	if len(env.Data) == 0 || string(env.Data) == "null" {
		return nil, fmt.Errorf("no %q in the answer (status %q)", "data", safe(status, 40))
	}
	if status != "success" {
		return nil, fmt.Errorf("status %q in the answer, want %q", safe(status, 40), "success")
	}
	return env.Data, nil
}

func safe(s string, n int) string { return wire.SafeString(s, n) }

// describeBody says what a body that is not an API answer looks like: its type and start.
func describeBody(contentType string, body []byte) string {
	if len(bytes.TrimSpace(body)) == 0 {
		return "empty body"
	}
	media, _, err := mime.ParseMediaType(contentType)
	if err != nil || media == "" {
		media = "no Content-Type"
	}
	start, _, _ := bytes.Cut(bytes.TrimSpace(body), []byte("\n"))
	return fmt.Sprintf("%s, body starts %q", safe(media, 40), safe(string(start[:min(len(start), 60)]), 60))
}

// decodeQueryData splits the data of a query or query_range answer.
func decodeQueryData(data []byte) (string, json.RawMessage, error) {
	var d struct {
		ResultType *string         `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return "", nil, fmt.Errorf("data is not a query result: %w", err)
	}
	if d.ResultType == nil {
		return "", nil, errors.New(`no "resultType" in the answer`)
	}
	if len(d.Result) == 0 {
		return "", nil, errors.New(`no "result" in the answer`)
	}
	return *d.ResultType, d.Result, nil
}

// decodeInstant reads an instant query's data: a vector, or a scalar as a one-sample vector.
func decodeInstant(data []byte) (model.Vector, error) {
	rt, result, err := decodeQueryData(data)
	if err != nil {
		return nil, err
	}
	switch rt {
	case model.ValVector.String():
		samples, err := decodeList[model.Sample](result, "series")
		if err != nil {
			return nil, err
		}
		vec := make(model.Vector, len(samples))
		for i := range samples {
			vec[i] = &samples[i]
		}
		return vec, nil
	case model.ValScalar.String():
		var s model.Scalar
		if err := json.Unmarshal(result, &s); err != nil {
			return nil, fmt.Errorf("scalar result: %w", err)
		}
		return model.Vector{{Value: s.Value, Timestamp: s.Timestamp}}, nil
	}
	return nil, fmt.Errorf("got a %s, want an instant vector", safe(rt, 20))
}

// decodeRange reads a range query's data: a matrix.
func decodeRange(data []byte) (model.Matrix, error) {
	rt, result, err := decodeQueryData(data)
	if err != nil {
		return nil, err
	}
	if rt != model.ValMatrix.String() {
		return nil, fmt.Errorf("got a %s, want a matrix", safe(rt, 20))
	}
	streams, err := decodeList[model.SampleStream](result, "series")
	if err != nil {
		return nil, err
	}
	m := make(model.Matrix, len(streams))
	for i := range streams {
		m[i] = &streams[i]
	}
	return m, nil
}

// decodeAlerts reads the alerts endpoint's data.
func decodeAlerts(data []byte) ([]v1.Alert, error) {
	var d struct {
		Alerts json.RawMessage `json:"alerts"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("data is not an alerts list: %w", err)
	}
	if len(d.Alerts) == 0 {
		return nil, errors.New(`no "alerts" in the answer`)
	}
	return decodeList[v1.Alert](d.Alerts, "alerts")
}

// decodeList decodes a JSON list one element at a time, refusing more than maxAnswerSeries
// elements: memory follows what is kept, not what a server sends. null is an empty list.
func decodeList[T any](raw json.RawMessage, what string) ([]T, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if tok == nil {
		return nil, nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, fmt.Errorf("%s: got %s, want a list", what, jsonKind(tok))
	}
	var out []T
	for dec.More() {
		if len(out) >= maxAnswerSeries {
			return nil, fmt.Errorf("more than %d %s in one answer", maxAnswerSeries, what)
		}
		var v T
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("%s %d: %w", what, len(out), err)
		}
		out = append(out, v)
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

func jsonKind(tok json.Token) string {
	switch tok.(type) {
	case json.Delim:
		return "an object"
	case string:
		return "a string"
	case float64, json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return "something else"
}
