package cli

import (
	"os"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

const smapsSample = `00400000-013cf000 r-xp 00000000 fe:00 10879391                           /opt/ingot top/ingot-top
Rss:               16244 kB
Anonymous:             0 kB
013cf000-024be000 r--p 00fcf000 fe:00 10879391                           /opt/ingot top/ingot-top
Rss:                 400 kB
Anonymous:             8 kB
024be000-0259f000 rw-p 020be000 fe:00 10879391                           /opt/ingot top/ingot-top
Rss:                 876 kB
Anonymous:           200 kB
7f1556bf2000-7f1556d48000 r-xp 00026000 fe:00 326269                     /usr/lib/x86_64-linux-gnu/libc.so.6
Rss:                1076 kB
Anonymous:             0 kB
7ffc0000-7ffd0000 rw-p 00000000 00:00 0                                  [stack]
Rss:                  64 kB
Anonymous:            64 kB
`

// Only the executable's read-only mappings without a private page are released: a written
// page (relocations) would lose its contents, another file's pages are not ours to drop.
func TestReadOnlyMappingsOfTheExecutableOnly(t *testing.T) {
	got := readOnlyMappingsOf("/opt/ingot top/ingot-top", []byte(smapsSample))
	if len(got) != 1 {
		t.Fatalf("got %d mappings, want the code mapping only: %+v", len(got), got)
	}
	if got[0].start != 0x400000 || got[0].end != 0x13cf000 || got[0].rss != 16244<<10 {
		t.Errorf("code mapping = %+v", got[0])
	}
}

// releaseCodePages in this very process: the code mappings' resident size falls, and the
// process goes on running code from them (the test's own functions after the call).
func TestReleaseCodePagesKeepsTheProcessRunning(t *testing.T) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Skipf("no /proc/self/exe: %v", err)
	}
	resident := func() uint64 {
		smaps, err := os.ReadFile("/proc/self/smaps")
		if err != nil {
			t.Fatal(err)
		}
		var n uint64
		for _, m := range readOnlyMappingsOf(exe, smaps) {
			n += m.rss
		}
		return n
	}
	before := resident()
	released := releaseCodePages(false)
	after := resident()
	if released <= 0 || after >= before {
		t.Fatalf("released %d bytes; resident read-only pages of the executable %d -> %d", released, before, after)
	}
	if got := strings.Repeat("ok", 2); got != "okok" { // code that must fault back in
		t.Fatalf("strings.Repeat = %q", got)
	}
	t.Logf("released %d KiB; resident %d -> %d KiB", released>>10, before>>10, after>>10)
}

// With dropCache, the executable's cached pages that nothing maps leave the page cache, so
// that later faults map only what is used. The file is read whole first (all of it cached),
// so that the fall is the drop's doing; the test binary was just linked, so its pages are
// dirty unless the drop syncs them.
func TestReleaseCodePagesDropsTheUnmappedCache(t *testing.T) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Skipf("no /proc/self/exe: %v", err)
	}
	f, err := os.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := os.ReadFile(exe); err != nil {
		t.Fatal(err)
	}
	before := cachedPages(t, f)
	releaseCodePages(true)
	after := cachedPages(t, f)
	if after >= before/2 {
		t.Fatalf("cached pages of %s: %d -> %d, want fewer than half left", exe, before, after)
	}
	if got := strings.Repeat("ok", 2); got != "okok" { // code that must come back from the disk
		t.Fatalf("strings.Repeat = %q", got)
	}
	t.Logf("cached pages of the executable: %d -> %d", before, after)
}

// cachedPages counts f's pages in the page cache (mincore over a mapping of the whole file).
func cachedPages(t *testing.T, f *os.File) int {
	t.Helper()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	data, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(data)
	vec := make([]byte, (len(data)+os.Getpagesize()-1)/os.Getpagesize())
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&data[0])), uintptr(len(data)),
		uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatalf("mincore: %v", errno)
	}
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n
}
