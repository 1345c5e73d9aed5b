// Package buildinfo owns the version string: set at release time with
// -X github.com/nsai/ingot-top/internal/buildinfo.version=v1.2.3, otherwise read from the
// module build info that `go install` and `go build` embed.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is overwritten by the linker at release time (see .goreleaser.yml).
var version = ""

// Version returns the release version, the module version, or "devel" plus the VCS revision.
func Version() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return "devel-" + rev
}

// String is the one-line `ingot-top version` output.
func String() string {
	return fmt.Sprintf("ingot-top %s (%s, %s/%s)", Version(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
