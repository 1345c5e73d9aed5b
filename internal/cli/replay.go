package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nsai/ingot-top/internal/alerts"
	"github.com/nsai/ingot-top/internal/app"
	"github.com/nsai/ingot-top/internal/engine"
	"github.com/nsai/ingot-top/internal/ingest"
	"github.com/nsai/ingot-top/internal/replay"
	"github.com/nsai/ingot-top/internal/report"
	"github.com/nsai/ingot-top/internal/wire"
)

// ReplayCmd plays recordings (from `record`) through the decoder and engine on the recorded
// clock: into the dashboard, or headless to print the snapshot as `snapshot` would have
// printed it live.
type ReplayCmd struct {
	Files []string `arg:"" name:"FILE" type:"path" help:"Recordings written by 'ingot-top record'. Several (rotated files, a glob) are replayed in the order they were recorded."`

	Speed float64 `default:"1" placeholder:"N" help:"Dashboard: play N times as fast as recorded (10: ten minutes in one); 0 plays as fast as the engine takes it."`
	From  string  `placeholder:"TIME" help:"Dashboard: start showing at this recorded time (same forms as --at); what came before is fed at once, so the windows and alerts are as they were then."`

	ViewFlags  `embed:""`
	AlertFlags `embed:""`

	Format       string  `short:"f" placeholder:"FORMAT" help:"Run headless and print the snapshot at the end (or at --at) as text, json or markdown, like 'snapshot'. Without it the replay opens in the dashboard."`
	At           string  `placeholder:"TIME" help:"Print the snapshot as of this recorded time: RFC 3339 (2026-03-14T03:12:00Z), a local time of day on the recording's first day (03:12 or 03:12:30), or an offset from its start (+7m)."`
	Window       string  `enum:"auto,1m,5m,15m" default:"auto" help:"Aggregation window to print; auto picks the smallest that covers the replayed span."`
	Top          int     `default:"10" help:"Queues to list (the rest are summed in 'other')."`
	Errors       int     `name:"errors" default:"10" help:"Recent errors to list."`
	MaxErrorRate float64 `default:"0.05" help:"Exit 1 when the client error rate over the window exceeds this (0..1)."`
	MaxInvalid   int64   `default:"-1" help:"Exit 1 when more than this many invalid messages were replayed (-1: never)."`
	Quiet        bool    `short:"q" help:"Do not print progress to stderr."`
}

// Help is shown under the command's usage.
func (ReplayCmd) Help() string {
	return `Feeds every recorded message, valid or not, through the same decoder and aggregation
engine as the live dashboard, with the engine's clock set to the recorded receive times.

Without --format it opens the dashboard on the recorded clock at --speed, from --from. The
status bar says REPLAY beside the recorded time. Keys, besides the dashboard's: space
pauses and resumes the replay, ] plays the next minute at once (in look-back, after p, it
steps 10s as usual), q quits.

With --format it runs headless and prints the snapshot at the end of the recording or at
--at: the same counts a live 'snapshot' printed over the same messages. The alert rules run
on the recorded clock, so the report lists the alerts and, in markdown and json, a timeline
of their onsets, firings and resolutions and the first error of each signature.

A file cut by a crash or a full disk replays up to its last whole frame; stderr says where
it stopped. Damaged frames are skipped and counted.

Exit status: 0 nothing wrong; 1 client error rate above --max-error-rate, invalid
messages above --max-invalid, messages the recorder dropped as a slow consumer, damaged
frames skipped, or interrupted; 2 bad flags, a file that is missing or not a recording,
or --at before the recording.

Examples:
  ingot-top replay incident.itr --speed 10 --from 03:05
  ingot-top replay incident.itr --format markdown
  ingot-top replay incident.itr --format json --at 03:12
  ingot-top replay /var/lib/ingot-top/record/*.itr --format text --at +45m`
}

// Validate checks the flags that kong cannot.
func (c *ReplayCmd) Validate() error {
	if c.Speed < 0 {
		return fmt.Errorf("--speed %g: want 0 (as fast as possible) or more", c.Speed)
	}
	if c.Format == "" && c.At != "" {
		return errors.New("--at ends a headless replay: give --format too, or use --from to start the dashboard at a time")
	}
	if c.Format != "" && c.From != "" {
		return errors.New("--from starts the dashboard replay: with --format, use --at")
	}
	return nil
}

// Run replays into the dashboard, or headless and prints.
func (c *ReplayCmd) Run(env *Env) error {
	switch report.Format(c.Format) {
	case report.FormatText, report.FormatJSON, report.FormatMarkdown:
	case "":
		return c.runDashboard(env)
	default:
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("replay: --format %q: want text, json or markdown", c.Format)}
	}
	infos, err := replay.Scan(c.Files)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("replay: %w", err)}
	}
	start := infos[0].Header.Created
	at, err := parseAt(c.At, start)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("replay: --at %q: %w", c.At, err)}
	}
	if !at.IsZero() && at.Before(start) {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("replay: --at %s is before the recording starts (%s)", at.Format(time.RFC3339), start.Format(time.RFC3339))}
	}

	rules, err := c.AlertFlags.Rules()
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	// The engine's clock is the recorded one: windows, rates and ages come out as they were.
	// Only the final Sync is read, so periodic builds are kept rare.
	clock := engine.NewManualClock(start)
	engCfg := engine.DefaultConfig()
	engCfg.SnapshotEvery = time.Hour
	eng := engine.New(engCfg, clock)
	ctx, cancel := context.WithCancel(context.WithoutCancel(env.Ctx))
	defer cancel()
	engDone := make(chan error, 1)
	go func() { engDone <- eng.Run(ctx) }()

	if !c.Quiet {
		fmt.Fprintf(env.Stderr, "replaying %d file(s) recorded from %s...\n", len(infos), start.Format(time.RFC3339))
	}
	began := time.Now()
	// The alert rules run on the recorded clock, so the report's alerts and timeline have the
	// onsets and firings they had live: every recorded second while an alert is pending,
	// firing or resolving, as in 'snapshot' and the dashboard; every calmEvery seconds
	// while none is, because each evaluation costs an engine build (a fifth of the replay's
	// CPU at one a second). Onsets come from per-second data either way; only the start of
	// pending (and so the firing) of a new alert can be up to calmEvery late.
	evaluator := alerts.NewEvaluator(rules, 0)
	var nextEval time.Time
	setClock := func(t time.Time) {
		clock.Set(t)
		if t.Before(nextEval) {
			return
		}
		step := replayCalmEvery
		if snap, err := eng.Fresh(ctx); err == nil {
			if st := evaluator.Evaluate(alerts.Input{At: t, Stream: snap}); len(st.Active) > 0 {
				step = time.Second
			}
		}
		nextEval = t.Truncate(time.Second).Add(step)
	}
	res, runErr := replay.Run(env.Ctx, infos, replay.Options{At: at, SetClock: setClock}, eng)
	took := time.Since(began)
	interrupted := runErr != nil && env.Ctx.Err() != nil
	if runErr != nil && !interrupted {
		cancel()
		<-engDone
		return &ExitError{Code: ExitInternal, Err: runErr}
	}
	syncCtx, syncCancel := context.WithTimeout(context.Background(), 30*time.Second)
	snap, err := eng.Sync(syncCtx)
	syncCancel()
	cancel()
	<-engDone
	if err != nil {
		return &ExitError{Code: ExitInternal, Err: fmt.Errorf("replay: aggregating: %w", err)}
	}

	var notes, problems []string
	for _, f := range res.Files {
		name := wire.SafeString(f.Path, wire.MaxValueRunes)
		if !f.Stop.Complete {
			notes = append(notes, name+": "+f.Stop.String())
		}
		if f.Unfinished > 0 {
			notes = append(notes, fmt.Sprintf("%s: %d session(s) without a stop mark: the recorder was killed or crashed; they end at their last whole frame", name, f.Unfinished))
		}
	}
	if frames, bytes := res.Damaged(); frames > 0 {
		problems = append(problems, fmt.Sprintf("%d damaged frames skipped (%d bytes)", frames, bytes))
	}
	for _, n := range notes {
		fmt.Fprintf(env.Stderr, "replay: %s\n", n)
	}
	if !at.IsZero() && !res.ReachedAt && !interrupted {
		fmt.Fprintf(env.Stderr, "replay: --at %s is after the last recorded time: the snapshot shows the windows aged with no new data\n", at.Format(time.RFC3339))
	}
	if !c.Quiet {
		fmt.Fprintf(env.Stderr, "replayed %d messages (%d events, %d invalid) recorded %s to %s in %s (%.0f messages/s)\n",
			res.Messages, res.Events, res.Invalid, res.Start.Format(time.RFC3339), res.End.Format(time.RFC3339),
			took.Round(time.Millisecond), float64(res.Messages)/max(took.Seconds(), 1e-9))
	}

	names := make([]string, len(infos))
	for i, f := range infos {
		names[i] = f.Path
	}
	collected := res.End.Sub(res.Start)
	in := report.Input{
		Title: "ingot-top replay",
		At:    snap.At, Collected: collected, Window: pickWindow(c.Window, collected),
		Conn: ingest.ConnState{
			Phase: "recorded", Server: wire.SafeString(strings.Join(names, ", "), wire.MaxValueRunes),
			Subject: wire.SafeString(res.Subject, wire.MaxValueRunes), Since: res.Start,
			Received: res.Messages, SlowConsumerDrops: res.Drops, LastError: wire.SafeString(strings.Join(notes, "; "), wire.MaxReasonRunes),
		},
		Stream: snap, TopQueues: c.Top, MaxErrors: c.Errors,
		Alerts: evaluator.Evaluate(alerts.Input{At: snap.At, Stream: snap}), MaxErrorRate: c.MaxErrorRate,
	}
	if err := report.Write(env.Stdout, report.Format(c.Format), in); err != nil {
		return &ExitError{Code: ExitInternal, Err: err}
	}
	if interrupted {
		return &ExitError{Code: ExitProblem, Err: errors.New("interrupted before the end of the recording; printed what was replayed")}
	}
	return streamVerdict(in, c.MaxErrorRate, c.MaxInvalid, problems...)
}

// runDashboard opens the dashboard on the recordings, paced on the recorded clock.
func (c *ReplayCmd) runDashboard(env *Env) error {
	infos, err := replay.Scan(c.Files)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("replay: %w", err)}
	}
	start := infos[0].Header.Created
	from, err := parseAt(c.From, start)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("replay: --from %q: %w", c.From, err)}
	}
	env, stopHangup := endOnHangup(env)
	defer stopHangup()
	return runDashboard(env, dashboardSetup{
		view: c.ViewFlags, alerts: c.AlertFlags,
		replay: &app.ReplayConfig{Files: infos, Pacer: replay.NewPacer(c.Speed, from, nil, nil)},
	})
}

// replayCalmEvery is how often a headless replay evaluates the alert rules while none is
// active.
const replayCalmEvery = 5 * time.Second

// parseAt reads --at: RFC 3339, a local date and time, a local time of day on the day the
// recording started (the next day when that is more than 12 hours before the start: the
// recording crossed midnight), or +DURATION from the start. "" is the zero time.
func parseAt(s string, start time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if d, ok := strings.CutPrefix(s, "+"); ok {
		off, err := time.ParseDuration(d)
		if err != nil || off < 0 {
			return time.Time{}, errors.New("want an offset like +7m or +1h30m")
		}
		return start.Add(off), nil
	}
	for _, layout := range []string{time.RFC3339Nano, time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	for _, layout := range []string{time.DateTime, "2006-01-02T15:04:05", "2006-01-02 15:04"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	for _, layout := range []string{time.TimeOnly, "15:04", "15:04:05.999999999"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			day := start.In(time.Local)
			at := time.Date(day.Year(), day.Month(), day.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.Local)
			// Far before the start means "after midnight" of a recording that crossed it;
			// just before the start is a mistake that the caller reports.
			if start.Sub(at) > 12*time.Hour {
				at = at.AddDate(0, 0, 1)
			}
			return at, nil
		}
	}
	return time.Time{}, errors.New("want RFC 3339 (2026-03-14T03:12:00Z), a time of day (03:12, 03:12:30) or an offset (+7m)")
}
