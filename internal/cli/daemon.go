package cli

import "errors"

// DaemonCmd is not built yet.
type DaemonCmd struct{}

// Run reports that the command is not built yet.
func (DaemonCmd) Run(env *Env) error { return errors.New("daemon: not implemented yet") }
