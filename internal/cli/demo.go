package cli

import "errors"

// DemoCmd is not built yet.
type DemoCmd struct{}

// Run reports that the command is not built yet.
func (DemoCmd) Run(env *Env) error { return errors.New("demo: not implemented yet") }
