package buildinfo

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The release build sets the version, commit, date and branch with -X; the path must match
// the module path exactly, or the flag silently does nothing. Build the real binary the way
// .goreleaser.yml does, and read the line back from both `version` and `--version`.
func TestLinkerFlagsSetVersionCommitAndDate(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "ingot-top")
	const pkg = "github.com/nsai/ingot-top/internal/buildinfo"
	ldflags := strings.Join([]string{
		"-X " + pkg + ".version=v9.8.7",
		"-X " + pkg + ".commit=0123456789abcdef0123456789abcdef01234567",
		"-X " + pkg + ".date=2026-12-07T10:11:12Z",
		"-X " + pkg + ".branch=main",
	}, " ")
	cmd := exec.Command("go", "build", "-o", bin, "-ldflags", ldflags, "github.com/nsai/ingot-top/cmd/ingot-top")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	want := "ingot-top v9.8.7 (commit 0123456789abcdef0123456789abcdef01234567, built 2026-12-07T10:11:12Z, " + runtime.Version() + ", " + runtime.GOOS + "/" + runtime.GOARCH + ")\n"
	for _, args := range [][]string{{"version"}, {"--version"}, {"daemon", "--version"}} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("ingot-top %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		if string(out) != want {
			t.Errorf("ingot-top %s printed\n%q, want\n%q", strings.Join(args, " "), out, want)
		}
	}
}

// Without linker flags (go install, go build from a clone) the commit and the date come from
// the VCS stamp Go embeds, and the version names the commit.
func TestAssembleFallsBackToTheGoBuildInfo(t *testing.T) {
	bi := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/nsai/ingot-top", Version: "(devel)"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "aabbccddeeff00112233445566778899aabbccdd"},
			{Key: "vcs.time", Value: "2026-12-01T08:00:00Z"},
			{Key: "vcs.modified", Value: "true"},
			{Key: "-tags", Value: "netgo"},
		},
	}
	got := assemble(linked{}, bi)
	want := Info{
		Version: "devel-aabbccddeeff-dirty", Commit: "aabbccddeeff00112233445566778899aabbccdd",
		Date: "2026-12-01T08:00:00Z", GoVersion: "go1.26.8", Platform: runtime.GOOS + "/" + runtime.GOARCH,
		Tags: "netgo", Dirty: true,
	}
	if got != want {
		t.Errorf("assemble from build info:\n got %+v\nwant %+v", got, want)
	}

	// The linker's values win over the stamp; a module version (go install m@v1.2.3) wins
	// over the devel name.
	got = assemble(linked{version: "v1.0.0", commit: "c0ffee", date: "2026-12-02T00:00:00Z", branch: "release"}, bi)
	if got.Version != "v1.0.0" || got.Commit != "c0ffee" || got.Date != "2026-12-02T00:00:00Z" || got.Branch != "release" {
		t.Errorf("linker values lost: %+v", got)
	}
	bi.Main.Version = "v1.2.3"
	if got := assemble(linked{}, bi); got.Version != "v1.2.3" {
		t.Errorf("module version: got %q, want v1.2.3", got.Version)
	}
	if got := assemble(linked{}, nil); got.Version != "devel" || got.Commit != "" {
		t.Errorf("no build info at all: %+v", got)
	}
}

func TestStringSaysUnknownForWhatTheBuildDoesNotKnow(t *testing.T) {
	got := Info{Version: "devel", GoVersion: "go1.26.8", Platform: "linux/arm"}.String()
	want := "ingot-top devel (commit unknown, built unknown, go1.26.8, linux/arm)"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestVersionWithoutLinkerFlag(t *testing.T) {
	if v := Version(); v == "" {
		t.Error("empty version")
	}
}

// ingot_top_build_info follows prometheus/common/version: value 1, the same label names.
func TestBuildInfoMetric(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(newCollector(Info{
		Version: "v1.2.3", Commit: "0123abcd", Date: "2026-12-07T10:11:12Z", Branch: "main",
		GoVersion: "go1.26.8", Platform: "linux/arm64",
	}))
	const want = `
# HELP ingot_top_build_info A metric with a constant '1' value labeled by version, revision, branch, goversion from which ingot-top was built, and the goos and goarch for the build.
# TYPE ingot_top_build_info gauge
ingot_top_build_info{branch="main",goarch="arm64",goos="linux",goversion="go1.26.8",revision="0123abcd",tags="unknown",version="v1.2.3"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), MetricName); err != nil {
		t.Error(err)
	}
	problems, err := testutil.GatherAndLint(reg, MetricName)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	// The real collector registers and reports this build's version.
	reg = prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector())
	if n := testutil.CollectAndCount(NewCollector(), MetricName); n != 1 {
		t.Errorf("NewCollector yields %d series, want 1", n)
	}
}
