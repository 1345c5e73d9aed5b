//go:build !linux

package testkit

import "testing"

// MountTmpfs needs Linux mount(2); elsewhere the test is skipped.
func MountTmpfs(t testing.TB, sizeBytes int64) string {
	t.Helper()
	t.Skipf("skipped: a %d-byte tmpfs needs Linux", sizeBytes)
	return ""
}

// FillDisk is only reachable after MountTmpfs, which skips outside Linux.
func FillDisk(t testing.TB, dir string) string {
	t.Helper()
	t.Skip("skipped: filling a disk needs a Linux tmpfs")
	return ""
}
