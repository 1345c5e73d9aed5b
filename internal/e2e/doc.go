// Package e2e owns the end-to-end tests of the built ingot-top binary: it builds the
// binary, runs it in a private tmux server against a real (embedded) nats-server fed by
// the simulator, reads the screen with capture-pane and drives it with send-keys. It has
// no non-test code beyond this comment.
package e2e
