package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
)

// startProfiles starts a CPU profile into dir and returns what writes the heap profile and
// stops the CPU one at exit. It exists for reports about cost ("ingot-top uses 5 % of a core
// on my laptop"): the user attaches two files, read with `go tool pprof`, instead of us
// guessing from a screenshot.
func startProfiles(dir string) (stop func() error, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("--profile-dir: %w", err)
	}
	cpuPath := filepath.Join(dir, "cpu.pprof")
	cpu, err := os.Create(cpuPath)
	if err != nil {
		return nil, fmt.Errorf("--profile-dir: %w", err)
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		cpu.Close()
		return nil, fmt.Errorf("--profile-dir: starting the CPU profile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		if err := cpu.Close(); err != nil {
			return fmt.Errorf("--profile-dir: writing %s: %w", cpuPath, err)
		}
		heapPath := filepath.Join(dir, "heap.pprof")
		heap, err := os.Create(heapPath)
		if err != nil {
			return fmt.Errorf("--profile-dir: %w", err)
		}
		runtime.GC() // the heap profile shows what the last collection kept
		if err := pprof.WriteHeapProfile(heap); err != nil {
			heap.Close()
			return fmt.Errorf("--profile-dir: writing %s: %w", heapPath, err)
		}
		if err := heap.Close(); err != nil {
			return fmt.Errorf("--profile-dir: writing %s: %w", heapPath, err)
		}
		return nil
	}, nil
}
