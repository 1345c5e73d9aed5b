//go:build !race

package engine

// raceDetector is true in a -race build, where the merge property runs fewer iterations.
const raceDetector = false
