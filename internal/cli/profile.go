package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strings"
)

// startProfiles starts a CPU profile into dir and returns what writes the heap profile and
// stops the CPU one at exit. It exists for reports about cost ("ingot-top uses 5 % of a core
// on my laptop"): the user attaches two files, read with `go tool pprof`, instead of us
// guessing from a screenshot.
func startProfiles(dir string) (stop func() error, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("--profile-dir: %w", err)
	}
	// One sample per 64 KiB allocated instead of 512: the dashboard's live heap is ~15 MB, and
	// at the default a structure under 1 MB shows up or not by chance.
	runtime.MemProfileRate = 64 << 10
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
		return writeMemoryClasses(filepath.Join(dir, "memory.txt"))
	}, nil
}

// writeMemoryClasses writes where the process's memory from the Go runtime goes (heap
// objects, free heap, stacks, GC metadata, ...), and the GC's goal: the heap profile alone
// shows only live objects, and the resident set is often twice that.
func writeMemoryClasses(path string) error {
	var samples []metrics.Sample
	for _, d := range metrics.All() {
		if strings.HasPrefix(d.Name, "/memory/classes/") || d.Name == "/gc/heap/goal:bytes" || d.Name == "/gc/cycles/total:gc-cycles" {
			samples = append(samples, metrics.Sample{Name: d.Name})
		}
	}
	metrics.Read(samples)
	var b strings.Builder
	for _, s := range samples {
		if s.Value.Kind() == metrics.KindUint64 {
			fmt.Fprintf(&b, "%-55s %12d\n", s.Name, s.Value.Uint64())
		}
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("--profile-dir: %w", err)
	}
	return nil
}
