package alertrules

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const (
	rulesDir  = "../../deploy/prometheus"
	rulesFile = "ingot-alerts.yml"
	testsFile = "ingot-alerts_test.yml"
	runbook   = "../../RUNBOOK.md"
	promtool  = "/usr/bin/promtool"
)

// requirePromtool skips without promtool on a developer machine and fails in CI, where
// scripts/install-test-deps.sh must have installed it.
func requirePromtool(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(promtool); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("%s not installed (apt-get install prometheus); set CI=true to make this fail", promtool)
		}
		t.Fatalf("%s not installed in CI: %v", promtool, err)
	}
	return promtool
}

func runPromtool(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(requirePromtool(t), args...)
	cmd.Dir = rulesDir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestPromtoolCheckRules(t *testing.T) {
	out := runPromtool(t, "check", "rules", rulesFile)
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool check rules did not report success:\n%s", out)
	}
}

func TestPromtoolUnitTests(t *testing.T) {
	out := runPromtool(t, "test", "rules", testsFile)
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool test rules did not report success:\n%s", out)
	}
}

// ruleFile is the part of a Prometheus rule file these checks read.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// unitTestFile is the part of a promtool unit test file these checks read.
type unitTestFile struct {
	Tests []struct {
		Name          string `yaml:"name"`
		AlertRuleTest []struct {
			Alertname string           `yaml:"alertname"`
			ExpAlerts []map[string]any `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

func readYAML(t *testing.T, path string, into any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, into); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
}

// wantAlerts are the ADR-008 runbook alerts; the dashboard's live alerts share the names.
var wantAlerts = []string{"IngotHighErrorRate", "IngotSlowLabelSubmit", "IngotStreamLag", "IngotServiceUnhealthy", "IngotTopNatsDown"}

func TestEveryAlertIsCompleteAndTestedBothWays(t *testing.T) {
	var rules ruleFile
	readYAML(t, filepath.Join(rulesDir, rulesFile), &rules)
	var tests unitTestFile
	readYAML(t, filepath.Join(rulesDir, testsFile), &tests)
	anchors := runbookAnchors(t)

	firing, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, art := range tc.AlertRuleTest {
			if len(art.ExpAlerts) > 0 {
				firing[art.Alertname] = true
			} else {
				quiet[art.Alertname] = true
			}
		}
	}

	defined := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			defined[r.Alert] = true
			if r.For == "" {
				t.Errorf("%s: no `for` duration", r.Alert)
			}
			if s := r.Labels["severity"]; s != "page" && s != "ticket" {
				t.Errorf("%s: severity %q, want page or ticket", r.Alert, s)
			}
			for _, key := range []string{"summary", "description", "runbook_url"} {
				if r.Annotations[key] == "" {
					t.Errorf("%s: no %s annotation", r.Alert, key)
				}
			}
			url := r.Annotations["runbook_url"]
			_, anchor, ok := strings.Cut(url, "RUNBOOK.md#")
			if !ok || !anchors[anchor] {
				t.Errorf("%s: runbook_url %q has no matching heading in RUNBOOK.md (anchors: %v)", r.Alert, url, keys(anchors))
			}
			if anchor != strings.ToLower(r.Alert) {
				t.Errorf("%s: runbook anchor %q, want #%s", r.Alert, anchor, strings.ToLower(r.Alert))
			}
			if !firing[r.Alert] {
				t.Errorf("%s: no unit test in which it fires", r.Alert)
			}
			if !quiet[r.Alert] {
				t.Errorf("%s: no unit test in which it stays quiet", r.Alert)
			}
		}
	}
	for _, name := range wantAlerts {
		if !defined[name] {
			t.Errorf("alert %s is missing from %s", name, rulesFile)
		}
	}
}

var headingRE = regexp.MustCompile(`(?m)^#{1,6}\s+(.+?)\s*$`)

// runbookAnchors returns the GitHub-style anchors of RUNBOOK.md's headings.
func runbookAnchors(t *testing.T) map[string]bool {
	t.Helper()
	raw, err := os.ReadFile(runbook)
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, m := range headingRE.FindAllStringSubmatch(string(raw), -1) {
		anchors[githubAnchor(m[1])] = true
	}
	return anchors
}

// githubAnchor lower-cases a heading, drops punctuation and turns spaces into dashes, as
// GitHub does.
func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9'):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// aggregated is how a PromQL line over counters or histograms must start so that a fleet of
// daemons (docs/scale-out.md), each exporting its share, reads right: summed (or maxed)
// across instances, or split by instance on purpose. A continuation line may start with an
// operator.
var aggregated = regexp.MustCompile(`^\s*([-+*/]\s*)?(histogram_quantile\([^,]+,\s*)?(sum|max|min|avg|count|topk|bottomk)\b`)

// Every query the RUNBOOK gives an operator aggregates over instance: with several daemons a
// bare rate() lists one series per daemon, and each shows only its share.
func TestRunbookQueriesAggregateAcrossDaemons(t *testing.T) {
	data, err := os.ReadFile(runbook)
	if err != nil {
		t.Fatal(err)
	}
	in, checked := false, 0
	for i, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "```promql":
			in = true
			continue
		case strings.HasPrefix(trimmed, "```"):
			in = false
			continue
		}
		if !in || trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if !strings.Contains(trimmed, "rate(") && !strings.Contains(trimmed, "increase(") {
			continue
		}
		checked++
		if !aggregated.MatchString(trimmed) {
			t.Errorf("RUNBOOK.md:%d: %q does not aggregate over instance (sum by (...), sum without (instance), or by (instance) on purpose)", i+1, trimmed)
		}
	}
	if checked == 0 {
		t.Fatal("no PromQL queries found in RUNBOOK.md: the check would pass on anything")
	}
}
