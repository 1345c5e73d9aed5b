package buildinfo

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The release build sets the version with -X; the path must match the module path exactly,
// or the flag silently does nothing. Build the real binary the way .goreleaser.yml does.
func TestLinkerFlagSetsVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "ingot-top")
	cmd := exec.Command("go", "build", "-o", bin, "-ldflags", "-X github.com/nsai/ingot-top/internal/buildinfo.version=v9.8.7", "github.com/nsai/ingot-top/cmd/ingot-top")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("version: %v\n%s", err, out)
	}
	if !strings.HasPrefix(string(out), "ingot-top v9.8.7 ") {
		t.Errorf("version printed %q, want it to start with ingot-top v9.8.7", out)
	}
}

func TestVersionWithoutLinkerFlag(t *testing.T) {
	if v := Version(); v == "" {
		t.Error("empty version")
	}
}
