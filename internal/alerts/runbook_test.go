package alerts

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// shippedRule is one alerting rule of deploy/prometheus/ingot-alerts.yml.
type shippedRule struct {
	Alert       string            `yaml:"alert"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func readShippedRules(t *testing.T) []shippedRule {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "deploy", "prometheus", "ingot-alerts.yml"))
	if err != nil {
		t.Fatalf("reading the shipped rules: %v", err)
	}
	var file struct {
		Groups []struct {
			Rules []shippedRule `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(data, &file); err != nil {
		t.Fatalf("parsing the shipped rules: %v", err)
	}
	var out []shippedRule
	for _, g := range file.Groups {
		out = append(out, g.Rules...)
	}
	return out
}

// runbookTable reads RUNBOOK.md's alert table ("| [Name](#anchor) | severity | ... |") and
// its section headings.
func runbookTable(t *testing.T) (severity, anchor map[string]string, headings map[string]bool) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "RUNBOOK.md"))
	if err != nil {
		t.Fatalf("reading RUNBOOK.md: %v", err)
	}
	row := regexp.MustCompile(`^\| \[(\w+)\]\(#([\w-]+)\) \| (\w+) \|`)
	severity, anchor, headings = map[string]string{}, map[string]string{}, map[string]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		if m := row.FindStringSubmatch(line); m != nil {
			anchor[m[1]], severity[m[1]] = m[2], m[3]
		}
		if h, ok := strings.CutPrefix(line, "## "); ok {
			// GitHub's anchor of a heading: lower case, spaces as '-', punctuation dropped
			headings[strings.ToLower(strings.ReplaceAll(strings.TrimSpace(h), " ", "-"))] = true
		}
	}
	return severity, anchor, headings
}

// The dashboard said `ticket` for IngotSlowLabelSubmit where the shipped rules and the
// runbook said `page`. Every live rule's severity must be what both say, and its runbook
// section must exist and be the one the shipped rule links to.
func TestSeveritiesMatchShippedRules(t *testing.T) {
	r := DefaultRules()
	live := map[string]string{
		NameHighErrorRate:    r.ErrorRate.Severity,
		NameSlowLabelSubmit:  r.LabelSubmitP95.Severity,
		NameStreamLag:        r.StreamLagP95.Severity,
		NameServiceUnhealthy: r.ServiceUnhealthy.Severity,
	}
	shipped := map[string][]shippedRule{}
	for _, sr := range readShippedRules(t) {
		shipped[sr.Alert] = append(shipped[sr.Alert], sr)
	}
	bookSeverity, bookAnchor, headings := runbookTable(t)
	for name, sev := range live {
		rules := shipped[name]
		if len(rules) == 0 {
			t.Errorf("%s: no rule of that name in deploy/prometheus/ingot-alerts.yml", name)
		}
		link := Runbook(name)
		anchor, ok := strings.CutPrefix(link, "RUNBOOK.md#")
		if !ok {
			t.Errorf("%s: runbook %q, want RUNBOOK.md#<section>", name, link)
		}
		for _, sr := range rules {
			if got := sr.Labels["severity"]; got != sev {
				t.Errorf("%s: live severity %q, shipped rule says %q", name, sev, got)
			}
			if url := sr.Annotations["runbook_url"]; !strings.HasSuffix(url, "RUNBOOK.md#"+anchor) {
				t.Errorf("%s: shipped runbook_url %q does not end in %s", name, url, link)
			}
		}
		if got := bookSeverity[name]; got != sev {
			t.Errorf("%s: live severity %q, RUNBOOK.md's table says %q", name, sev, got)
		}
		if bookAnchor[name] != anchor {
			t.Errorf("%s: RUNBOOK.md's table links #%s, the dashboard #%s", name, bookAnchor[name], anchor)
		}
		if !headings[anchor] {
			t.Errorf("%s: RUNBOOK.md has no section #%s", name, anchor)
		}
	}
	// Every shipped alert has a runbook section the dashboard can name.
	for name := range shipped {
		if Runbook(name) == "" {
			t.Errorf("shipped alert %s has no runbook section in the dashboard", name)
		}
	}
}
