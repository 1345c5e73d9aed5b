package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/nsai/ingot-top/internal/config"
)

// The packages install packaging/config.yaml as /etc/ingot-top/config.yaml, and
// ingot-top.service starts the daemon with it. As shipped (all commented out) and with
// every example setting uncommented, every mode must accept it: a conffile that breaks the
// daemon once an operator enables a line would be found at 3 a.m.
func TestShippedConfigFileIsAccepted(t *testing.T) {
	shipped, err := os.ReadFile(filepath.Join("..", "..", "packaging", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	setting := regexp.MustCompile(`^# ( *[a-z][a-z0-9.-]*:( .*)?)$`)
	var enabled []string
	for _, l := range strings.Split(string(shipped), "\n") {
		if m := setting.FindStringSubmatch(l); m != nil {
			enabled = append(enabled, m[1])
		}
	}
	if len(enabled) < 15 {
		t.Fatalf("found only %d example settings to enable:\n%s", len(enabled), strings.Join(enabled, "\n"))
	}
	getenv := func(string) string { return "" }
	for name, content := range map[string]string{
		"as shipped":           string(shipped),
		"examples uncommented": strings.Join(enabled, "\n") + "\n",
	} {
		path := filepath.Join(t.TempDir(), "config.yaml")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		file, err := config.Load(path, true)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if err := parseOnly([]string{"daemon"}, file, getenv); err != nil {
			t.Errorf("%s: ingot-top daemon rejects it: %v\n%s", name, err, content)
		}
		if err := checkFileForEveryMode(file, getenv); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if name == "examples uncommented" && !file.Has("web.config.file") {
			t.Errorf("the nested example web.config.file was not read:\n%s", content)
		}
	}
}
