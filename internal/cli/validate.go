package cli

import (
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"time"

	"github.com/alecthomas/kong"

	"github.com/nsai/ingot-top/internal/config"
	"github.com/nsai/ingot-top/internal/promsrc"
)

// Validate runs at parse time for every command that embeds the alert thresholds (the
// dashboard, the demo, `config`), so a bad threshold is a usage error wherever it is set.
// Errors name the flag, which is also the config key, so the user can find the setting.
func (a AlertFlags) Validate() error {
	if math.IsNaN(a.ErrorRate) || a.ErrorRate < 0 || a.ErrorRate >= 1 {
		return fmt.Errorf("--alert.error-rate %v: want a fraction in [0, 1)", a.ErrorRate)
	}
	for _, d := range []struct {
		flag     string
		value    time.Duration
		positive bool
	}{
		{"alert.error-rate-for", a.ErrorRateFor, false},
		{"alert.label-submit-p95", a.LabelSubmitP95, true},
		{"alert.label-submit-for", a.LabelSubmitFor, false},
		{"alert.stream-lag-p95", a.StreamLagP95, true},
		{"alert.stream-lag-for", a.StreamLagFor, false},
		{"alert.unhealthy-for", a.UnhealthyFor, false},
	} {
		if d.value < 0 || d.positive && d.value == 0 {
			return fmt.Errorf("--%s %s: want a positive duration", d.flag, d.value)
		}
	}
	_, err := a.Rules() // the evaluator's own checks, should a rule grow one the flags lack
	return err
}

// minRefresh keeps a mistyped --refresh (1ms) from spinning the terminal.
const minRefresh = 50 * time.Millisecond

// Validate checks the drawing flags at parse time.
func (v ViewFlags) Validate() error {
	if v.Refresh < minRefresh {
		return fmt.Errorf("--refresh %s is too short (at least %s)", v.Refresh, minRefresh)
	}
	return nil
}

// Validate checks the snapshot's own flags at parse time.
func (c *SnapshotCmd) Validate() error {
	if c.Duration <= 0 {
		return errors.New("--duration must be positive")
	}
	return nil
}

// fileModes are the commands that read settings from the config file. One file serves all
// of them, so a value any of them would reject is rejected by every one, and by `config`.
// Each is given the arguments it cannot parse without; they are only parsed, never used.
var fileModes = [][]string{
	{"dashboard"}, {"demo"}, {"daemon"}, {"snapshot"}, {"simulate"},
	{"record", "-o", "parse-only.itr"}, {"replay", "parse-only.itr"},
}

// checkFileForEveryMode parses each mode with the config file, exactly as that mode would
// (types, enums, validators), and fails on the first mode that rejects it. A mode that also
// fails without the file is left out: its problem is a flag default or an environment
// variable of that mode, which that mode reports itself when it runs.
func checkFileForEveryMode(file *config.File, getenv func(string) string) error {
	if queries := file.Section("queries"); len(queries) > 0 {
		if err := promsrc.ValidateQueries(queries); err != nil {
			return fmt.Errorf("config file %s: %w", file.Path, err)
		}
	}
	if !file.SetsFlags() {
		return nil
	}
	for _, args := range fileModes {
		err := parseOnly(args, file, getenv)
		if err == nil || parseOnly(args, config.Empty(), getenv) != nil {
			continue
		}
		return fmt.Errorf("config file %s: `ingot-top %s` rejects it: %w%s", file.Path, args[0], err, fromFileHint(err, file))
	}
	return nil
}

// parseOnly parses `ingot-top ARGS...` with the file's settings, running every decoder and
// validator but no command.
func parseOnly(args []string, file *config.File, getenv func(string) string) error {
	var root Root
	parser, err := kong.New(&root,
		kong.Resolvers(file.Resolver(getenv)),
		kong.Name("ingot-top"),
		kong.Writers(io.Discard, io.Discard),
		kong.Exit(func(int) {}),
	)
	if err != nil {
		return err
	}
	_, err = parser.Parse(args)
	return err
}

// flagInMessage finds the flag names an error message mentions.
var flagInMessage = regexp.MustCompile(`--([a-z][a-z0-9.-]*[a-z0-9])`)
