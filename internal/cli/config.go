package cli

import (
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/alecthomas/kong"

	"github.com/nsai/ingot-top/internal/config"
	"github.com/nsai/ingot-top/internal/feed"
	"github.com/nsai/ingot-top/internal/promsrc"
)

// ConfigCmd prints the dashboard's effective configuration. It takes the same flags as the
// dashboard, so `ingot-top config -s X` shows what `ingot-top -s X` would run with.
type ConfigCmd struct {
	feed.Options    `embed:""`
	ViewFlags       `embed:""`
	ProbeFlags      `embed:""`
	AlertFlags      `embed:""`
	FromDaemonFlags `embed:""`
	promsrc.Flags   `embed:""`
}

// Help is shown under the command's usage.
func (ConfigCmd) Help() string {
	return `Prints every dashboard setting, its value and where it came from: flag, env NAME,
file PATH, or default. Precedence is flags > environment > config file > defaults.
Secrets (passwords, tokens) are never printed.

The config file is YAML; keys are flag names, and dotted flags may be nested:
  server: nats://nats.prod:4222
  forge-health: http://forge:4000/health
  alert:
    error-rate: 0.02
  queries:            # PromQL overrides for --prometheus (see README)
    queue_rate: sum by (queue_id) (rate(ingot_labels_submitted_total[1m])) * 60`
}

// secretFlag reports whether a flag's value must never be printed.
func secretFlag(name string) bool {
	for _, s := range []string{"password", "token", "secret"} {
		if strings.Contains(name, s) {
			return true
		}
	}
	return false
}

// Run prints the table.
func (c *ConfigCmd) Run(kctx *kong.Context, file *config.File, env *Env) error {
	fromCLI := map[string]bool{}
	fromFile := map[string]bool{}
	for _, p := range kctx.Path {
		if p.Flag == nil {
			continue
		}
		if p.Resolved {
			fromFile[p.Flag.Name] = true
		} else {
			fromCLI[p.Flag.Name] = true
		}
	}
	type row struct{ name, value, source string }
	var rows []row
	for _, fl := range kctx.Flags() {
		{
			if fl.Name == "help" || fl.Name == "config" {
				continue
			}
			value := fmt.Sprint(kctx.FlagValue(fl))
			source := "default"
			switch {
			case fromCLI[fl.Name]:
				source = "flag --" + fl.Name
			case envSet(fl, env.Getenv) != "":
				source = "env " + envSet(fl, env.Getenv)
			case fromFile[fl.Name]:
				source = "file " + file.Path
			}
			if secretFlag(fl.Name) && value != "" {
				value = "<redacted>"
			}
			if value == "" {
				value = `""`
			}
			rows = append(rows, row{fl.Name, value, source})
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].name < rows[j].name })
	where := "none (using defaults)"
	if file.Loaded {
		where = file.Path
	} else if file.Path != "" {
		where = file.Path + " (absent)"
	}
	fmt.Fprintf(env.Stdout, "config file: %s\n\n", where)
	tw := tabwriter.NewWriter(env.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SETTING\tVALUE\tSOURCE")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.name, r.value, r.source)
	}
	if q := file.Section("queries"); len(q) > 0 {
		names := make([]string, 0, len(q))
		for k := range q {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			fmt.Fprintf(tw, "queries.%s\t%s\tfile %s\n", k, q[k], file.Path)
		}
	}
	return tw.Flush()
}

func envSet(fl *kong.Flag, getenv func(string) string) string {
	for _, e := range fl.Envs {
		if getenv(e) != "" {
			return e
		}
	}
	return ""
}
