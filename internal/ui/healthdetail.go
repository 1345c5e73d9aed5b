package ui

import (
	"strconv"
	"strings"
	"time"

	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/health"
	"github.com/nsai/ingot-top/internal/ingest"
)

// The Health detail is one row in full: the table cuts the last error to what is left of the
// line, which is rarely the part that explains it.

// healthLabelW is the label column of the detail ("last error" and a space).
const healthLabelW = 11

// detailName is the title of the row on display in the detail.
func (p *healthPane) detailName() string {
	switch p.detailKey {
	case "nats":
		return "NATS"
	case "prometheus":
		return "Prometheus"
	}
	return p.detailKey
}

func (p *healthPane) probe(name string) (*health.Status, bool) {
	for i := range p.probes {
		if p.probes[i].Name == name {
			return &p.probes[i], true
		}
	}
	return nil, false
}

func (p *healthPane) detailView() string {
	d := healthDetail{c: p.c, w: p.w}
	switch {
	case p.detailKey == "nats":
		d.conn(p.conn)
	case p.detailKey == "prometheus" || strings.HasPrefix(p.detailKey, "scrape") || strings.HasPrefix(p.detailKey, DaemonSourcePrefix):
		d.source(p.detailKey, p.srcs)
	default:
		s, ok := p.probe(p.detailKey)
		if !ok {
			d.text("", "not probed (no URL configured), or no longer reported; esc to go back")
			break
		}
		d.status(s, p.h)
	}
	lines := d.lines
	if len(lines) > p.h {
		lines = lines[:p.h]
	}
	return strings.Join(lines, "\n")
}

// healthDetail accumulates the detail's lines: a label column, values wrapped beside it.
type healthDetail struct {
	c     *Common
	w     int
	lines []string
}

// text adds a labelled value, wrapped to the width, continuation lines under the value.
func (d *healthDetail) text(label, value string) {
	valueW := max(d.w-healthLabelW, 1)
	parts := wrap(clean(value), valueW)
	if len(parts) == 0 {
		parts = []string{"—"}
	}
	for i, part := range parts {
		head := spaces(healthLabelW)
		if i == 0 {
			head = d.c.Styles.Header.S(fit(label, healthLabelW))
		}
		d.lines = append(d.lines, head+part)
	}
}

func (d *healthDetail) stateText(s health.State) string {
	st := d.c.Styles
	switch s {
	case health.StateHealthy:
		return st.OK.S(string(s))
	case health.StateUnhealthy:
		return st.Bad.S(string(s))
	}
	return st.Dim.S(string(s))
}

// since is "since 05:34:28 (12m)", or "" without a time.
func (d *healthDetail) since(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	out := " since " + t.Format(clockLayout)
	if !d.c.Now.IsZero() && !d.c.Now.Before(t) {
		out += " (" + fmtDur(d.c.Now.Sub(t)) + ")"
	}
	return out
}

// status is a probed service: state and since, URL, the full last error and detail, latency,
// uptime per window, then the recent checks, newest first, as many as fit in h lines.
func (d *healthDetail) status(s *health.Status, h int) {
	st := d.c.Styles
	d.lines = append(d.lines, st.Header.S(fit("state", healthLabelW))+d.stateText(s.State)+d.since(s.Since))
	d.text("url", orDash(s.URL))
	lastErr := "none"
	if s.LastError != "" {
		lastErr = s.LastError
		if !s.LastErrorAt.IsZero() {
			lastErr = s.LastErrorAt.Format(clockLayout) + " " + lastErr
		}
	}
	d.text("last error", lastErr)
	if s.Detail != "" {
		d.text("detail", s.Detail)
	}
	latency := "—"
	if s.Latency > 0 {
		latency = "last " + fmtMS(float64(s.Latency)/float64(time.Millisecond))
		if len(s.LatencyHistory) > 1 {
			latency += "  " + sparkline(s.LatencyHistory, min(len(s.LatencyHistory), max(d.w-healthLabelW-14, 0)), d.c.ASCII)
		}
	}
	d.lines = append(d.lines, st.Header.S(fit("latency", healthLabelW))+cut(latency, max(d.w-healthLabelW, 0)))
	var up []string
	for i, u := range s.Uptime {
		v := "—"
		if u >= 0 {
			v = fmtPct(u)
		}
		up = append(up, engine.Window(i).String()+" "+v)
	}
	d.lines = append(d.lines, st.Header.S(fit("uptime", healthLabelW))+cut(strings.Join(up, "  "), max(d.w-healthLabelW, 0)))

	d.lines = append(d.lines, st.Header.S(cut("recent checks, newest first", d.w)))
	if len(s.Recent) == 0 {
		d.lines = append(d.lines, "  none yet")
		return
	}
	room := h - len(d.lines)
	for i := len(s.Recent) - 1; i >= 0 && room > 0; i, room = i-1, room-1 {
		c := s.Recent[i]
		code := "—"
		if c.Code != 0 {
			code = strconv.Itoa(c.Code)
		}
		line := "  " + c.At.Format(clockLayout) + " " + fit(string(c.State), 9) + " " +
			fitRight(fmtMS(float64(c.Latency)/float64(time.Millisecond)), 6) + " " + fitRight(code, 3)
		if c.Error != "" {
			line += "  " + clean(c.Error)
		}
		d.lines = append(d.lines, cut(line, d.w))
	}
}

// conn is the NATS connection.
func (d *healthDetail) conn(c ingest.ConnState) {
	st := d.c.Styles
	state := health.StateUnknown
	switch c.Phase {
	case ingest.PhaseConnected:
		state = health.StateHealthy
	case ingest.PhaseReconnecting, ingest.PhaseDisconnected:
		state = health.StateUnhealthy
	}
	d.lines = append(d.lines, st.Header.S(fit("state", healthLabelW))+d.stateText(state)+" "+clean(string(c.Phase))+d.since(c.Since))
	d.text("server", orDash(c.Server))
	d.text("subject", orDash(c.Subject))
	lastErr := "none"
	if c.LastError != "" {
		lastErr = c.LastError
		if !c.LastErrorAt.IsZero() {
			lastErr = c.LastErrorAt.Format(clockLayout) + " " + lastErr
		}
	}
	d.text("last error", lastErr)
	d.text("received", strconv.FormatUint(c.Received, 10)+" messages")
	d.text("reconnects", strconv.FormatUint(c.Reconnects, 10))
	d.text("drops", strconv.FormatUint(c.SlowConsumerDrops, 10)+" (slow consumer)")
	d.text("sink errors", strconv.FormatUint(c.SinkErrors, 10))
}

// source is a fleet data source (Prometheus, a scrape endpoint or a daemon).
func (d *healthDetail) source(name string, srcs []SourceInfo) {
	st := d.c.Styles
	for _, s := range srcs {
		if s.Name != name {
			continue
		}
		state := health.StateHealthy
		if s.Stale {
			state = health.StateUnhealthy
		}
		d.lines = append(d.lines, st.Header.S(fit("state", healthLabelW))+d.stateText(state))
		d.text("source", s.Name)
		d.text("data age", fmtAge(s.Age))
		d.text("detail", orDash(s.Detail))
		return
	}
	d.text("", name+" is not configured")
}
