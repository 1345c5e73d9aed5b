package cli

import "errors"

// SnapshotCmd is not built yet.
type SnapshotCmd struct{}

// Run reports that the command is not built yet.
func (SnapshotCmd) Run(env *Env) error { return errors.New("snapshot: not implemented yet") }
