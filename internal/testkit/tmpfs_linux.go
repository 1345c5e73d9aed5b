//go:build linux

package testkit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// MountTmpfs mounts a tmpfs of sizeBytes on a fresh directory and unmounts it when the test
// ends, so a test can fill a real file system and see the real ENOSPC a full disk gives
// (short writes, failed fsyncs), not an imitation of it. Mounting needs root (CAP_SYS_ADMIN);
// without it the test is skipped with the reason, as on a developer's machine.
func MountTmpfs(t testing.TB, sizeBytes int64) string {
	t.Helper()
	dir := t.TempDir()
	if os.Geteuid() != 0 {
		t.Skipf("skipped: mounting a %d-byte tmpfs needs root (CI runs as root)", sizeBytes)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, fmt.Sprintf("size=%d,mode=0755", sizeBytes)); err != nil {
		t.Skipf("skipped: cannot mount a tmpfs on %s: %v (needs CAP_SYS_ADMIN)", dir, err)
	}
	// Registered after TempDir's own cleanup, so it runs first: the directory is unmounted
	// before it is removed.
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			// Something still holds a file open (a child process the test killed): detach so
			// the directory can go, the kernel frees the tmpfs when the last file closes.
			if err2 := syscall.Unmount(dir, syscall.MNT_DETACH); err2 != nil {
				t.Errorf("unmount tmpfs %s: %v; detach: %v", dir, err, err2)
			}
		}
	})
	return dir
}

// FillDisk writes a filler file into dir until the file system reports it is full, and
// returns the filler's path: removing it gives the space back.
func FillDisk(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatalf("create filler: %v", err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for written := 0; ; {
		n, err := f.Write(chunk)
		written += n
		if errors.Is(err, syscall.ENOSPC) {
			// Small writes may still fit into the last, partly used page; fill it too.
			for _, size := range []int{4096, 512, 1} {
				for {
					if _, err := f.Write(chunk[:size]); err != nil {
						break
					}
				}
			}
			return path
		}
		if err != nil {
			t.Fatalf("fill %s after %d bytes: %v", dir, written, err)
		}
		if written > 1<<30 {
			t.Fatalf("filled 1 GiB of %s without ENOSPC: not a small file system", dir)
		}
	}
}
