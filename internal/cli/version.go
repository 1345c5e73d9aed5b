package cli

import (
	"fmt"

	"github.com/nsai/ingot-top/internal/buildinfo"
)

// VersionCmd prints the version.
type VersionCmd struct{}

// Run prints the version line.
func (VersionCmd) Run(env *Env) error {
	_, err := fmt.Fprintln(env.Stdout, buildinfo.String())
	return err
}
