package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/nsai/ingot-top/internal/demo"
	"github.com/nsai/ingot-top/internal/feed"
	"github.com/nsai/ingot-top/internal/sim"
)

// DemoCmd runs the dashboard on a self-contained simulated platform.
type DemoCmd struct {
	ViewFlags  `embed:""`
	AlertFlags `embed:""`

	Rate     float64 `default:"400" help:"Simulated events per second."`
	Queues   int     `default:"12" help:"Simulated labeling queues."`
	Labelers int     `default:"40" help:"Simulated labelers."`
	Scenario string  `enum:"normal,degraded-anvil,error-burst,forge-down" default:"normal" help:"Scenario to start in: ${enum} (keys D, E, F, N switch it live)."`
	Port     int     `default:"0" help:"Port of the embedded NATS server (0 picks a free one)."`
	NoUI     bool    `name:"no-ui" help:"Run only the simulated platform and print its addresses; attach dashboards, daemons or nats CLIs yourself."`
}

// Help is shown under the command's usage.
func (DemoCmd) Help() string {
	return `Starts an embedded NATS server (JetStream: stream TELEMETRY, durable consumer demo),
simulated Forge, Anvil and Ingot traffic and /health endpoints, all on 127.0.0.1, then
opens the dashboard on them. Nothing to install, nothing left behind.

In the dashboard: D degrades Anvil (slow, failing calls, health red), E starts an error
burst, F takes Forge down, N goes back to normal. Watch the alert banner, the Health
pane, and the Errors pane (Enter shows a trace lineage).

The NATS URL is printed, so other tools can join:
  nats sub 'telemetry.>' -s <URL>
  ingot-top -s <URL>
  ingot-top daemon -s <URL> --durable demo`
}

// Run starts the demo environment and the dashboard.
func (c *DemoCmd) Run(env *Env) error {
	env, stopHangup := endOnHangup(env)
	defer stopHangup()
	sc, err := sim.ParseScenario(c.Scenario)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	ctx, cancel := context.WithCancel(env.Ctx)
	defer cancel()
	d, err := demo.Start(ctx, demo.Config{Port: c.Port, Rate: c.Rate, Queues: c.Queues, Labelers: c.Labelers, Scenario: sc})
	if err != nil {
		return &ExitError{Code: ExitInternal, Err: err}
	}
	defer func() {
		if err := d.Close(); err != nil {
			fmt.Fprintf(env.Stderr, "ingot-top demo: %v\n", err)
		}
	}()
	fmt.Fprintf(env.Stderr, "ingot-top demo: NATS at %s (subject telemetry.>, stream TELEMETRY)\n", d.URL)
	fmt.Fprintf(env.Stderr, "ingot-top demo: health  forge %s  anvil %s  ingot %s\n", d.Health.ForgeURL, d.Health.AnvilURL, d.Health.IngotURL)
	if c.NoUI {
		fmt.Fprintf(env.Stderr, "ingot-top demo: running without the dashboard; Ctrl-C stops it.\n  try: ingot-top -s %s --forge-health %s --anvil-health %s\n", d.URL, d.Health.ForgeURL, d.Health.AnvilURL)
		<-ctx.Done()
		return nil
	}
	opts := feed.Options{Server: d.URL, Subject: "telemetry.>", ConnectTimeout: 2 * time.Second}
	err = runDashboard(env, dashboardSetup{
		feed:   opts,
		view:   c.ViewFlags,
		probes: ProbeFlags{ForgeHealth: d.Health.ForgeURL, AnvilHealth: d.Health.AnvilURL, IngotHealth: d.Health.IngotURL, HealthInterval: 2 * time.Second, HealthTimeout: 2 * time.Second},
		alerts: c.AlertFlags,
		demo:   true, scenario: d.SetScenario,
	})
	fmt.Fprintf(env.Stderr, "ingot-top demo: NATS was at %s; stopped.\n", d.URL)
	return err
}
