package promsrc

import (
	"fmt"
	"sort"
	"strings"
)

// Query names. Each default is PromQL over the ADR-008 metric names, summed across every
// Ingot node; the config file can replace any of them under `queries:` (an empty string
// turns a query off).
const (
	// QueueRate is labels per minute by queue_id. It is also run with query_range at start
	// for the history behind sparklines and the drill-down chart.
	QueueRate = "queue_rate"
	// QueueTotal is labels submitted since the counters started, by queue_id.
	QueueTotal = "queue_total"
	// QueuePending is the pending assignments Anvil last reported, by queue_id.
	QueuePending = "queue_pending"
	// QueueP50 is the median time per sample in seconds by queue_id; also loaded as history.
	QueueP50 = "queue_p50"
	// OpLatency is one latency quantile in seconds by op, the live stream's operation name
	// (e.g. "ingot.anvil_client.submit_label"). It must contain $quantile, which is replaced
	// by 0.5, 0.95 and 0.99 in turn.
	OpLatency = "op_latency"
	// OpRate is calls per second by op.
	OpRate = "op_rate"
	// OpErrorRatio is the share of calls with result="error" by op, 0..1.
	OpErrorRatio = "op_error_ratio"
)

// QuantilePlaceholder is replaced by the quantile in the op_latency query.
const QuantilePlaceholder = "$quantile"

// rangeWindow is the rate() window of the default queries, the live stream's default window.
const rangeWindow = "5m"

// histFamily is one ADR-008 histogram and how its series map to the live stream's
// operation names: label's value appended to prefix, or prefix alone when label is "".
type histFamily struct {
	metric, label, prefix string
	hasResult             bool // carries result="ok"|"error"
}

var histFamilies = []histFamily{
	{metric: "ingot_label_submit_duration_seconds", prefix: "ingot.label.submit"},
	{metric: "ingot_live_view_mount_duration_seconds", prefix: "ingot.live_view.mount"},
	{metric: "ingot_component_render_duration_seconds", prefix: "ingot.component.render_sample"},
	{metric: "ingot_forge_client_duration_seconds", label: "operation", prefix: "ingot.forge_client.", hasResult: true},
	{metric: "ingot_anvil_client_duration_seconds", label: "operation", prefix: "ingot.anvil_client.", hasResult: true},
	{metric: "anvil_label_submit_duration_seconds", prefix: "anvil.label.submitted"},
	{metric: "forge_pipeline_duration_seconds", prefix: "forge.pipeline.executed", hasResult: true},
}

// opUnion evaluates expr for every family, names each result with an "op" label (the
// family label's value appended to the prefix), and joins them with `or` (op values never
// collide). label_replace is applied to the float results only: Prometheus 2.42's
// label_replace drops native histogram samples.
func opUnion(families []histFamily, expr func(f histFamily, by string) string) string {
	parts := make([]string, 0, len(families))
	for _, f := range families {
		src, regex, repl := "op", ".*", f.prefix // "op" is absent here: "" matches ".*"
		if f.label != "" {
			src, regex, repl = f.label, "(.+)", f.prefix+"$1"
		}
		parts = append(parts, fmt.Sprintf(`label_replace(%s, "op", %q, %q, %q)`, expr(f, f.label), repl, src, regex))
	}
	return strings.Join(parts, " or ")
}

func byClause(labels ...string) string {
	var kept []string
	for _, l := range labels {
		if l != "" {
			kept = append(kept, l)
		}
	}
	return "sum by (" + strings.Join(kept, ", ") + ") "
}

// DefaultQueries returns the built-in queries by name.
//
// Histograms: each latency query reads native histograms (X) first and falls back to the
// classic buckets (X_bucket) with `or`. Native histograms are preferred because they are
// exact to a few per cent where the ADR's classic buckets are off by up to a quarter
// between bounds, and cannot say more than "above 2 s" past the top one. A Prometheus that
// ingests the ADR-008 histograms as native only (2.42 with
// --enable-feature=native-histograms stores no _bucket, _count or _sum series then) is
// answered by the first half; without the feature, by the second; when both exist the
// native figure wins, so a result never mixes the two for one op.
func DefaultQueries() map[string]string {
	rate := func(sel string) string { return "rate(" + sel + "[" + rangeWindow + "])" }
	latency := opUnion(histFamilies, func(f histFamily, by string) string {
		return "histogram_quantile(" + QuantilePlaceholder + ", " + byClause(by) + "(" + rate(f.metric) + "))" +
			" or histogram_quantile(" + QuantilePlaceholder + ", " + byClause("le", by) + "(" + rate(f.metric+"_bucket") + "))"
	})
	calls := func(families []histFamily, matcher string) string {
		return "sum by (op) (" + opUnion(families, func(f histFamily, by string) string {
			return "(histogram_count(" + byClause(by) + "(" + rate(f.metric+matcher) + "))" +
				" or " + byClause(by) + "(" + rate(f.metric+"_count"+matcher) + "))"
		}) + ")"
	}
	var withResult []histFamily
	for _, f := range histFamilies {
		if f.hasResult {
			withResult = append(withResult, f)
		}
	}
	// With INGOT_METRICS_SAMPLE_RATE below 1 the daemon observes only a sample of successful
	// calls but every error (ADR-008: "100% for errors"), so successes are scaled back up by
	// the exported ratio before rates and error ratios are taken, as the shipped alert rules do.
	ratio := "(max(ingot_top_metrics_sample_ratio) or vector(1))"
	oks := func(families []histFamily) string {
		return "(" + calls(families, `{result!="error"}`) + " / on () group_left () " + ratio + ")"
	}
	errs := calls(withResult, `{result="error"}`)
	opRate := oks(histFamilies) + " + on (op) (" + errs + " or 0 * " + oks(histFamilies) + ")"
	submit := "ingot_label_submit_duration_seconds"
	return map[string]string{
		QueueRate:    "sum by (queue_id) (" + rate("ingot_labels_submitted_total") + ") * 60",
		QueueTotal:   "sum by (queue_id) (ingot_labels_submitted_total)",
		QueuePending: "max by (queue_id) (anvil_queue_pending_assignments)",
		QueueP50: "histogram_quantile(0.5, sum by (queue_id) (" + rate(submit) + "))" +
			" or histogram_quantile(0.5, sum by (le, queue_id) (" + rate(submit+"_bucket") + "))",
		OpLatency: latency,
		OpRate:    opRate,
		// ops without errors read 0, not absent: the denominator fills the gaps
		OpErrorRatio: "(" + errs + " or 0 * " + oks(withResult) + ") / (" + oks(withResult) + " + on (op) (" + errs + " or 0 * " + oks(withResult) + "))",
	}
}

// QueryNames lists the known query names, sorted.
func QueryNames() []string {
	names := make([]string, 0, len(histFamilies))
	for n := range DefaultQueries() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ValidateQueries checks the config file's `queries:` section as the dashboard will use it,
// so that every mode and `ingot-top config` reject the same file.
func ValidateQueries(overrides map[string]string) error {
	_, err := resolveQueries(overrides)
	return err
}

// resolveQueries overlays the config file's queries on the defaults, rejecting unknown
// names with an error naming the key.
func resolveQueries(overrides map[string]string) (map[string]string, error) {
	out := DefaultQueries()
	keys := make([]string, 0, len(overrides))
	for k := range overrides {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, ok := out[k]; !ok {
			return nil, fmt.Errorf("queries.%s: unknown query (known: %s)", k, strings.Join(QueryNames(), ", "))
		}
		v := strings.TrimSpace(overrides[k])
		if k == OpLatency && v != "" && !strings.Contains(v, QuantilePlaceholder) {
			return nil, fmt.Errorf("queries.%s: must contain %s, replaced by 0.5, 0.95 and 0.99", k, QuantilePlaceholder)
		}
		out[k] = v
	}
	return out, nil
}

// quantiles are what op_latency is evaluated at.
var quantiles = [3]string{"0.5", "0.95", "0.99"}

func withQuantile(q, quantile string) string {
	return strings.ReplaceAll(q, QuantilePlaceholder, quantile)
}

// Internal queries, fixed to the ADR-008 metric names (not configurable): which operations
// have native histograms, and the bucket bounds of the classic ones, so that a quantile
// that histogram_quantile clamped to the top finite bound is shown as "≥ bound".
var (
	opNativeQuery = opUnion(histFamilies, func(f histFamily, by string) string {
		return "histogram_count(" + byClause(by) + "(" + f.metric + "))"
	})
	opBucketsQuery = opUnion(histFamilies, func(f histFamily, by string) string {
		return "count " + strings.TrimPrefix(byClause("le", by), "sum ") + "(" + f.metric + "_bucket)"
	})
)
