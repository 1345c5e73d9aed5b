package cli

import "errors"

// DashboardCmd is not built yet.
type DashboardCmd struct{}

// Run reports that the command is not built yet.
func (DashboardCmd) Run(env *Env) error { return errors.New("dashboard: not implemented yet") }
