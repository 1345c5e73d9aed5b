package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// errWriter remembers the first write error so renderers can write unconditionally.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}

// daemonsLine counts the merged and stale daemons, then names each with its silence.
func daemonsLine(ds []Daemon) string {
	merged := 0
	names := make([]string, 0, len(ds))
	for _, d := range ds {
		if d.State == DaemonMerged {
			merged++
		}
		name := d.Producer
		if d.Host != "" {
			name += " on " + d.Host
		}
		names = append(names, fmt.Sprintf("%s %s (heard %.1fs ago)", name, d.State, d.AgeS))
	}
	line := fmt.Sprintf("%d merged", merged)
	if stale := len(ds) - merged; stale > 0 {
		line += fmt.Sprintf(", %d stale (left out of every figure)", stale)
	}
	return line + ": " + strings.Join(names, "; ")
}

func connLine(d Document) string {
	c := d.Connection
	line := fmt.Sprintf("%s to %s (subject %s) since %s; %d messages, %d reconnects, %d slow-consumer drops",
		c.State, c.Server, c.Subject, c.Since.Format(time.RFC3339), c.Received, c.Reconnects, c.SlowConsumerDrops)
	if c.LastError != "" {
		line += "; last error: " + c.LastError
	}
	return line
}

func pct(f float64) string { return fmt.Sprintf("%.1f%%", f*100) }

func pendingCell(q Queue) (pending, eta string) {
	pending, eta = "-", "-"
	if q.Pending != nil {
		pending = fmt.Sprintf("%.0f", *q.Pending)
	}
	if q.BacklogETA != "" {
		eta = q.BacklogETA
	}
	return pending, eta
}

func queueName(q Queue) string {
	if q.Folded > 1 {
		return fmt.Sprintf("%s (%d queues)", q.ID, q.Folded)
	}
	return q.ID
}

func writeText(w io.Writer, d Document) error {
	ew := &errWriter{w: w}
	ew.printf("%s at %s (collected %.1fs, window %s)\n", d.Title, d.At.Format(time.RFC3339), d.CollectedS, d.Window)
	ew.printf("verdict: %s\n", d.Verdict)
	ew.printf("connection: %s\n", connLine(d))
	if len(d.Daemons) > 0 {
		ew.printf("daemons: %s\n", daemonsLine(d.Daemons))
	}
	ew.printf("events: %d valid, %d invalid, %d unknown, %d errors, %.1f/s; stream lag p50 %s p95 %s p99 %s\n",
		d.Totals.Events, d.Totals.Invalid, d.Totals.Unknown, d.Totals.Errors, d.Totals.RatePerSec,
		FormatMS(d.Lag.P50), FormatMS(d.Lag.P95), FormatMS(d.Lag.P99))
	if im := d.Impact; im != nil {
		ew.printf("impact: %s and %s hit in %s; %d failed calls named no user, %d no queue\n",
			countWord(im.AffectedUsers, im.UsersLowerBound, im.UsersEstimated, "user"),
			countWord(uint64(im.AffectedQueues), im.QueuesLowerBound, false, "queue"), d.Window, im.ErrorsWithoutUser, im.ErrorsWithoutQueue)
	}
	if len(d.Alerts) > 0 {
		ew.printf("\nALERTS\n")
		for _, a := range d.Alerts {
			ew.printf("  %-9s %-6s %-24s %s (%s; %s%s)\n", strings.ToUpper(a.State), a.Severity, a.Name+labelTag(a), a.Summary, alertTimes(a), a.Source, runbookSuffix(a))
		}
	}
	if len(d.Resolved) > 0 {
		ew.printf("\nRESOLVED ALERTS\n")
		for _, a := range d.Resolved {
			ew.printf("  %-6s %-24s %s (%s; %s%s)\n", a.Severity, a.Name+labelTag(a), a.Summary, alertTimes(a), a.Source, runbookSuffix(a))
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	tab := &errWriter{w: tw}
	ew.printf("\nQUEUES (top %d by labels/min)\n", len(d.Queues))
	tab.printf("queue\tlabels\tlabels/min\terr%%\tp50/sample\tabandon\tkbd/mouse/api\tlabelers\tpending\tETA\t\n")
	for _, q := range d.Queues {
		p, eta := pendingCell(q)
		tab.printf("%s\t%d\t%.1f\t%s\t%s\t%s\t%d/%d/%d\t%d\t%s\t%s\t\n", queueName(q), q.Labels, q.LabelsPerMin, queueErrCell(q), FormatMS(q.TimePerSampleP50),
			pct(q.Abandonment), q.Keyboard, q.Mouse, q.API, q.ActiveLabelers, p, eta)
	}
	ew.err = firstErr(ew.err, tab.err, tw.Flush())
	ew.printf("\nLATENCY (ms)\n")
	tab.printf("operation\tcount\terrors\terr%%\tp50\tp90\tp95\tp99\tmax\t\n")
	for _, o := range d.Operations {
		tab.printf("%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t\n", o.Name, o.Count, o.Errors, pct(o.ErrorRate),
			FormatMS(o.P50), FormatMS(o.P90), FormatMS(o.P95), FormatMS(o.P99), FormatMS(o.Max))
	}
	ew.err = firstErr(ew.err, tab.err, tw.Flush())
	if len(d.Services) > 0 {
		ew.printf("\nCLIENT ERROR RATE\n")
		for _, s := range d.Services {
			ew.printf("  %-6s %s of %d calls (%d errors)\n", s.Name, pct(s.ErrorRate), s.Calls, s.Errors)
		}
	}
	if len(d.Health) > 0 {
		ew.printf("\nHEALTH\n")
		for _, h := range d.Health {
			ew.printf("  %-14s %-9s %7.1fms since %s %s\n", h.Name, h.State, h.LatencyMS, h.Since.Format(time.RFC3339), h.LastError)
		}
	}
	ew.printf("\nERROR SIGNATURES (%s window, numbers as #)\n", d.Window)
	if len(d.ErrorSigs) == 0 {
		ew.printf("  none\n")
	}
	for _, g := range d.ErrorSigs {
		ew.printf("  %7d %-6s %-36s %s  last %s\n", g.Count, g.Service, g.Event, g.Signature, g.Last.Format("15:04:05"))
	}
	ew.printf("\nRECENT ERRORS (%d total)\n", d.Totals.Errors)
	if len(d.Errors) == 0 {
		ew.printf("  none\n")
	}
	for _, e := range d.Errors {
		ew.printf("  %s %-36s %s", e.Time.Format("15:04:05.000"), e.Event, e.Reason)
		if e.TraceID != "" {
			ew.printf(" trace=%s", e.TraceID)
		}
		if e.IDs != "" {
			ew.printf(" %s", e.IDs)
		}
		ew.printf("\n")
	}
	ew.printf("\nINVALID MESSAGES\n")
	if len(d.Invalid) == 0 {
		ew.printf("  none\n")
	}
	for _, c := range d.Invalid {
		ew.printf("  %-18s %d\n", c.Name, c.Count)
	}
	if len(d.Unknown) > 0 {
		ew.printf("\nUNKNOWN EVENTS\n")
		for _, c := range d.Unknown {
			ew.printf("  %-36s %d\n", c.Name, c.Count)
		}
	}
	return ew.err
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// md escapes text for a Markdown table cell: pipes would split the cell, and emphasis or
// link syntax from hostile event text must not change the rendering.
func md(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `|`, `\|`, "`", "\\`", `*`, `\*`, `_`, `\_`, `[`, `\[`, `]`, `\]`, `<`, `\<`, `>`, `\>`)
	return r.Replace(s)
}

func writeMarkdown(w io.Writer, d Document) error {
	ew := &errWriter{w: w}
	// the verdict is the first line, and the one top-level heading: what a reader of the
	// incident channel sees first
	ew.printf("# %s\n\n", md(d.Verdict))
	ew.printf("- **Report:** %s, %s\n", md(d.Title), d.At.Format(time.RFC3339))
	ew.printf("- **Window:** %s (collected %.1fs)\n", d.Window, d.CollectedS)
	ew.printf("- **Stream:** %s\n", md(connLine(d)))
	if len(d.Daemons) > 0 {
		ew.printf("- **Daemons:** %s\n", md(daemonsLine(d.Daemons)))
	}
	ew.printf("- **Events:** %d valid, %d invalid, %d unknown, %d errors, %.1f/s\n", d.Totals.Events, d.Totals.Invalid, d.Totals.Unknown, d.Totals.Errors, d.Totals.RatePerSec)
	ew.printf("- **Client error rate:** %s of %d calls\n", pct(d.ErrorRate), d.CallCount)
	if im := d.Impact; im != nil {
		ew.printf("- **Hit:** %s, %s (%d failed calls named no user, %d no queue)\n",
			countWord(im.AffectedUsers, im.UsersLowerBound, im.UsersEstimated, "user"),
			countWord(uint64(im.AffectedQueues), im.QueuesLowerBound, false, "queue"), im.ErrorsWithoutUser, im.ErrorsWithoutQueue)
	}
	ew.printf("- **Stream lag:** p50 %s, p95 %s, p99 %s\n\n", FormatMS(d.Lag.P50), FormatMS(d.Lag.P95), FormatMS(d.Lag.P99))
	alertTable := func(title string, list []Alert) {
		if len(list) == 0 {
			return
		}
		ew.printf("## %s\n\n| state | severity | alert | fault | summary | onset | fired | stopped | runbook | source |\n|---|---|---|---|---|---|---|---|---|---|\n", title)
		for _, a := range list {
			onset := a.Onset.Format(time.RFC3339)
			if a.OnsetApprox {
				onset = "≤ " + onset
			}
			ew.printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", a.State, md(a.Severity), md(a.Name+labelTag(a)), md(orDash(a.Group)),
				md(a.Summary), onset, stampOrDash(a.FiredAt), stampOrDash(a.StoppedAt), runbookLink(a.Runbook), a.Source)
		}
		ew.printf("\n")
	}
	alertTable("Alerts", d.Alerts)
	alertTable("Resolved alerts", d.Resolved)
	if len(d.Timeline) > 0 {
		ew.printf("## Timeline\n\n| time | what happened | alert or error | detail |\n|---|---|---|---|\n")
		for _, e := range d.Timeline {
			at := e.Time.Format(time.RFC3339)
			if e.Approx {
				at = "≤ " + at
			}
			ew.printf("| %s | %s | %s | %s |\n", at, timelineWords[e.Kind], md(e.What), md(e.Detail))
		}
		ew.printf("\n")
	}
	if len(d.Health) > 0 {
		ew.printf("## Health\n\n| service | state | latency | since | last error |\n|---|---|---:|---|---|\n")
		for _, h := range d.Health {
			ew.printf("| %s | %s | %.1f ms | %s | %s |\n", md(h.Name), h.State, h.LatencyMS, h.Since.Format(time.RFC3339), md(h.LastError))
		}
		ew.printf("\n")
	}
	ew.printf("## Queues\n\n| queue | labels | labels/min | err%% | p50/sample | abandon | kbd/mouse/api | labelers | pending | ETA |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, q := range d.Queues {
		p, eta := pendingCell(q)
		ew.printf("| %s | %d | %.1f | %s | %s | %s | %d/%d/%d | %d | %s | %s |\n", md(queueName(q)), q.Labels, q.LabelsPerMin, queueErrCell(q), FormatMS(q.TimePerSampleP50), pct(q.Abandonment), q.Keyboard, q.Mouse, q.API, q.ActiveLabelers, p, eta)
	}
	ew.printf("\n## Latency\n\n| operation | count | errors | p50 | p95 | p99 | max |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, o := range d.Operations {
		ew.printf("| %s | %d | %d (%s) | %s | %s | %s | %s |\n", md(o.Name), o.Count, o.Errors, pct(o.ErrorRate), FormatMS(o.P50), FormatMS(o.P95), FormatMS(o.P99), FormatMS(o.Max))
	}
	ew.printf("\n## Error signatures (%s, numbers as #)\n\n", d.Window)
	if len(d.ErrorSigs) == 0 {
		ew.printf("None.\n")
	} else {
		ew.printf("| count | service | event | signature | last seen | last trace_id |\n|---:|---|---|---|---|---|\n")
		for _, g := range d.ErrorSigs {
			ew.printf("| %d | %s | %s | %s | %s | %s |\n", g.Count, md(g.Service), md(g.Event), md(g.Signature), g.Last.Format("15:04:05"), md(g.LastTraceID))
		}
	}
	ew.printf("\n## Recent errors\n\n")
	if len(d.Errors) == 0 {
		ew.printf("None.\n")
	} else {
		ew.printf("| time | event | reason | trace_id | ids |\n|---|---|---|---|---|\n")
		for _, e := range d.Errors {
			ew.printf("| %s | %s | %s | %s | %s |\n", e.Time.Format("15:04:05.000"), md(e.Event), md(e.Reason), md(e.TraceID), md(e.IDs))
		}
	}
	if len(d.Invalid) > 0 || len(d.Unknown) > 0 {
		ew.printf("\n## Bad input\n\n")
		for _, c := range d.Invalid {
			ew.printf("- invalid `%s`: %d\n", c.Name, c.Count)
		}
		for _, c := range d.Unknown {
			ew.printf("- unknown event %s: %d\n", md(c.Name), c.Count)
		}
	}
	return ew.err
}

// timelineWords say a timeline kind in a postmortem's words.
var timelineWords = map[string]string{
	TimelineOnset: "alert onset", TimelineFired: "alert fired", TimelineStopped: "alert condition stopped",
	TimelineResolved: "alert resolved", TimelineFirstError: "first error of signature",
}

// queueErrCell is a queue's client error rate, "-" without calls.
func queueErrCell(q Queue) string {
	if q.ClientCalls == 0 {
		return "-"
	}
	return pct(float64(q.ClientErrors) / float64(q.ClientCalls))
}

// labelTag is an alert's distinguishing labels, "{anvil/submit_label}".
func labelTag(a Alert) string {
	var vals []string
	for _, k := range []string{"service", "operation"} {
		if v := a.Labels[k]; v != "" {
			vals = append(vals, v)
		}
	}
	if len(vals) == 0 {
		return ""
	}
	return "{" + strings.Join(vals, "/") + "}"
}

// alertTimes is "onset 10:16:28Z, fired 10:17:00Z, stopped 10:20:03Z" (onset "≤" when a bound).
func alertTimes(a Alert) string {
	onset := "onset " + a.Onset.Format(time.RFC3339)
	if a.OnsetApprox {
		onset = "onset ≤ " + a.Onset.Format(time.RFC3339)
	}
	parts := []string{onset}
	if a.FiredAt != nil {
		parts = append(parts, "fired "+a.FiredAt.Format(time.RFC3339))
	}
	if a.StoppedAt != nil {
		parts = append(parts, "stopped "+a.StoppedAt.Format(time.RFC3339))
	}
	if a.ResolvedAt != nil {
		parts = append(parts, "resolved "+a.ResolvedAt.Format(time.RFC3339))
	}
	return strings.Join(parts, ", ")
}

func runbookSuffix(a Alert) string {
	if a.Runbook == "" {
		return ""
	}
	return "; " + a.Runbook
}

// runbookLink is the runbook section as text: a relative link would not resolve where the
// report is pasted.
func runbookLink(section string) string {
	if section == "" {
		return "—"
	}
	return md(section)
}

func stampOrDash(t *time.Time) string {
	if t == nil {
		return "—"
	}
	return t.Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
