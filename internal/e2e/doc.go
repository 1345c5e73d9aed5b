// Package e2e owns the end-to-end tests of the built ingot-top binary: it builds the
// binary, runs it in a private tmux server against a real (embedded) nats-server fed by
// the simulator, reads the screen with capture-pane and drives it with send-keys; and it
// runs a fleet of `ingot-top daemon` processes on a 3-node cluster of real nats-server
// processes, killing a node and a daemon (cluster_test.go, docs/scale-out.md). It has no
// non-test code beyond this comment.
package e2e
