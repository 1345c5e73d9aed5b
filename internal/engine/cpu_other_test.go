//go:build !unix

package engine

import "time"

// processCPU is not measured on this platform; cpu-ns/op then reads 0.
func processCPU() time.Duration { return 0 }
