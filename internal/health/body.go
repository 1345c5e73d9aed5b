package health

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nsai/ingot-top/internal/wire"
)

// maxDetailDepth bounds how deep nested objects of a body are flattened into Detail.
const maxDetailDepth = 3

// parseBody decodes a JSON object body; anything else (empty, text, HTML, an array, broken
// JSON) reports false.
func parseBody(body []byte) (map[string]any, bool) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return nil, false
	}
	return obj, true
}

// describeObject renders a body as "status=degraded db=slow queue.depth=3": status first,
// then the other keys sorted, nested objects flattened with dots, skipKey left out. The
// result is sanitised and capped.
func describeObject(obj map[string]any, skipKey string) string {
	var b strings.Builder
	if st, ok := obj["status"]; ok {
		b.WriteString("status=")
		writeValue(&b, st)
	}
	for _, k := range sortedKeys(obj) {
		if k == "status" || k == skipKey {
			continue
		}
		if b.Len() > 4*maxShownRunes {
			break // already more than can be shown
		}
		writePair(&b, k, obj[k], 1)
	}
	return wire.SafeString(b.String(), maxShownRunes)
}

func writePair(b *strings.Builder, key string, v any, depth int) {
	if nested, ok := v.(map[string]any); ok && depth < maxDetailDepth {
		for _, k := range sortedKeys(nested) {
			writePair(b, key+"."+k, nested[k], depth+1)
		}
		return
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	b.WriteString(key)
	b.WriteByte('=')
	writeValue(b, v)
}

func writeValue(b *strings.Builder, v any) {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case string:
		b.WriteString(x)
	case json.Number:
		b.WriteString(x.String())
	case bool:
		fmt.Fprint(b, x)
	case []any:
		fmt.Fprintf(b, "[%d items]", len(x))
	case map[string]any:
		fmt.Fprintf(b, "{%d keys}", len(x))
	default:
		fmt.Fprintf(b, "%v", x)
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// textExcerpt shows the first line of a non-JSON body (e.g. "maintenance until 10:00").
func textExcerpt(body []byte) string {
	line, _, _ := bytes.Cut(bytes.TrimSpace(body), []byte("\n"))
	return wire.SafeString(string(bytes.TrimSpace(line)), 120)
}

// ingotServices reads the "services" object of Ingot's /health body (contract shape). It
// returns nil when the body has no such object; extra lists service keys beyond the known
// ones, sorted.
func ingotServices(obj map[string]any) (reports map[string]serviceReport, extra []string) {
	services, ok := obj["services"].(map[string]any)
	if !ok {
		return nil, nil
	}
	reports = make(map[string]serviceReport, len(services))
	for _, key := range sortedKeys(services) {
		reports[key] = serviceFrom(services[key])
		if !slices.Contains(knownIngotServices(), key) {
			extra = append(extra, key)
		}
	}
	return reports, extra
}

func serviceFrom(v any) serviceReport {
	var rep serviceReport
	var obj map[string]any
	switch x := v.(type) {
	case map[string]any:
		obj = x
	case string: // tolerate the short form "forge": "healthy"
		obj = map[string]any{"status": x}
	default:
		rep.state = StateUnknown
		rep.err = "unreadable service entry"
		return rep
	}
	rep.detail = describeObject(obj, "")
	if n, ok := obj["latency_ms"].(json.Number); ok {
		if ms, err := n.Float64(); err == nil && ms >= 0 && ms < 1e9 {
			rep.latency = time.Duration(ms * float64(time.Millisecond))
		}
	}
	status, hasStatus := obj["status"].(string)
	switch {
	case !hasStatus:
		rep.state = StateUnknown
		rep.err = "no status reported"
	case isHealthyWord(status):
		rep.state = StateHealthy
	default:
		rep.state = StateUnhealthy
		if reason, ok := obj["reason"]; ok && reason != nil {
			var b strings.Builder
			writeValue(&b, reason)
			rep.err = wire.SafeString(b.String(), maxShownRunes)
		} else {
			rep.err = wire.SafeString("status="+status, maxShownRunes)
		}
	}
	return rep
}

// isHealthyWord accepts the healthy spellings seen in /health bodies; the contract uses
// "healthy", Phoenix apps commonly say "ok".
func isHealthyWord(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "healthy", "ok", "up", "pass":
		return true
	}
	return false
}
