package cli

import "errors"

// SimulateCmd is not built yet.
type SimulateCmd struct{}

// Run reports that the command is not built yet.
func (SimulateCmd) Run(env *Env) error { return errors.New("simulate: not implemented yet") }
