// Package buildinfo owns what a binary says about its build: the version, the commit, the
// build date and the Go version, set at release time with
//
//	-X github.com/nsai/ingot-top/internal/buildinfo.version=v1.2.3
//	-X github.com/nsai/ingot-top/internal/buildinfo.commit=<full hash>
//	-X github.com/nsai/ingot-top/internal/buildinfo.date=<RFC 3339>
//	-X github.com/nsai/ingot-top/internal/buildinfo.branch=<branch>
//
// (see .goreleaser.yml and the Makefile), otherwise read from the module build info that
// `go install` and `go build` embed (vcs.revision, vcs.time). It also owns the
// ingot_top_build_info metric, which carries the same facts to Prometheus.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Set by the linker at release time; each stays empty in a plain `go build`.
var (
	version = ""
	commit  = ""
	date    = ""
	branch  = ""
)

// Info is everything known about this build. Unknown fields are empty strings, except
// Version, which is never empty.
type Info struct {
	Version   string // v1.2.3, a module version, or devel[-<short commit>[-dirty]]
	Commit    string // full VCS revision
	Date      string // build (or commit) time, RFC 3339
	Branch    string
	GoVersion string
	Platform  string // GOOS/GOARCH
	Tags      string // build tags, comma separated
	Dirty     bool   // built from a modified tree (known only from the Go build info)
}

// Get assembles Info from the linker flags, falling back to the Go build info.
func Get() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return assemble(linked{version: version, commit: commit, date: date, branch: branch}, bi)
}

// linked holds the values the linker may have set, so that assemble can be tested without
// rebuilding the binary.
type linked struct{ version, commit, date, branch string }

func assemble(l linked, bi *debug.BuildInfo) Info {
	info := Info{
		Commit:    l.commit,
		Date:      l.date,
		Branch:    l.branch,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
	moduleVersion := ""
	if bi != nil {
		if bi.GoVersion != "" {
			info.GoVersion = bi.GoVersion
		}
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			moduleVersion = v
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if info.Commit == "" {
					info.Commit = s.Value
				}
			case "vcs.time":
				if info.Date == "" {
					info.Date = s.Value
				}
			case "vcs.modified":
				info.Dirty = s.Value == "true"
			case "-tags":
				info.Tags = s.Value
			}
		}
	}
	switch {
	case l.version != "":
		info.Version = l.version
	case moduleVersion != "":
		info.Version = moduleVersion
	case info.Commit != "":
		info.Version = "devel-" + shortCommit(info.Commit)
		if info.Dirty {
			info.Version += "-dirty"
		}
	default:
		info.Version = "devel"
	}
	return info
}

func shortCommit(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}

// Version returns the release version, the module version, or "devel" plus the VCS revision.
func Version() string { return Get().Version }

// String is the output of `ingot-top version` and `ingot-top --version`: one line that
// starts with the name and the version, so scripts can take the second field, and holds
// the commit, the build date and the Go version for bug reports.
func String() string { return Get().String() }

// String formats the build as one line.
func (i Info) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ingot-top %s (commit %s, built %s, %s, %s", i.Version, orUnknown(i.Commit), orUnknown(i.Date), i.GoVersion, i.Platform)
	if i.Tags != "" {
		fmt.Fprintf(&b, ", tags %s", i.Tags)
	}
	b.WriteString(")")
	return b.String()
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
