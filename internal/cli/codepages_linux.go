package cli

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// releaseCodePages gives back the pages of the executable's read-only mappings (code, and
// constant data such as type and line tables) that are mapped but no longer used, and keeps
// the kernel from mapping them again in 2 MiB pieces; it returns the bytes released. With
// dropCache it also drops the executable's page-cache pages that no process maps any more.
//
// Why: the binary is 35 MB, most of it nats-server (for the demo) and the libraries of other
// modes, and package initialisation touches pages all over it. Where the page cache holds
// the file in large folios (ext4 and xfs on current kernels), the kernel maps whole 2 MiB
// folios on a fault, so after start-up about 32 MiB of the binary stayed resident in every
// dashboard, for code that ran once. Dropping the mappings costs nothing that is still in
// use: a later fault maps the page again from the page cache (4 KiB, or the kernel's 64 KiB
// fault-around), without reading the disk.
//
// Why dropCache: fault-around maps every cached page in the 64 KiB around a fault, so while
// the whole file is cached each type or line-table lookup brings 15 neighbours it does not
// use; the dashboard's line and type tables stayed 8.5 MB resident for 2.5 MB in use. Once
// the cache holds only what was used since, a fault maps that and little else (measured: the
// file-backed RSS fell from 14.0 to 7.7 MB). It is done once (see shedCodePages): each drop
// makes the pages in use come back from the disk. Code pages gain less, because the kernel
// reads ahead around a fault in executable code whatever the mapping's advice. Other
// processes running the same binary keep every page they map; a page they later need is
// read again.
//
// Only mappings of the executable that are read-only and hold no private (copy-on-write)
// page are touched: a relocated page there (a dynamically linked build's RELRO) is anonymous
// and would lose its relocation if dropped.
func releaseCodePages(dropCache bool) int64 {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0
	}
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return 0
	}
	var released int64
	ms := readOnlyMappingsOf(exe, smaps)
	var file *os.File
	if dropCache && len(ms) > 0 {
		// Written back before the mappings go, not after: a binary run right after it was
		// built takes a while to write (hundreds of ms for 35 MB), and meanwhile the program
		// maps its still-cached pages again 64 KiB at a time, which then cannot be dropped
		// (measured: the first run after a build stayed at 28 MB of file pages, the next
		// ones at 13).
		file = syncedFile(exe)
	}
	for _, m := range ms {
		size := m.end - m.start
		// RANDOM: no read-ahead into the cache on a fault (data pages; code is read ahead
		// regardless). NOHUGEPAGE before DONTNEED, so that the faults after it map small pages.
		unix.Syscall(unix.SYS_MADVISE, m.start, size, unix.MADV_RANDOM)
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, m.start, size, unix.MADV_NOHUGEPAGE); errno != 0 {
			continue
		}
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, m.start, size, unix.MADV_DONTNEED); errno != 0 {
			continue
		}
		released += int64(m.rss)
	}
	if file != nil {
		dropPageCache(file)
		file.Close()
	}
	return released
}

// syncedFile opens file and writes its dirty pages back: a dirty page cannot be dropped
// from the cache. Best effort: nil when it cannot be opened.
func syncedFile(file string) *os.File {
	f, err := os.Open(file)
	if err != nil {
		return nil
	}
	_ = unix.Fdatasync(int(f.Fd()))
	return f
}

// dropPageCache asks the kernel to drop the cached pages of f that nothing maps (synced
// first, by syncedFile). Best effort: a failure leaves the cache as it was.
func dropPageCache(f *os.File) {
	_ = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
}

type mapping struct {
	start, end uintptr
	rss        uint64 // bytes
}

// readOnlyMappingsOf parses /proc/self/smaps: the mappings of the file exe that are not
// writable and have no anonymous pages.
func readOnlyMappingsOf(exe string, smaps []byte) []mapping {
	var (
		out     []mapping
		cur     mapping
		curOK   bool
		curAnon bool
	)
	flush := func() {
		if curOK && !curAnon {
			out = append(out, cur)
		}
		curOK, curAnon = false, false
	}
	sc := bufio.NewScanner(bytes.NewReader(smaps))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if addr, ok := strings.CutSuffix(fields[0], ":"); ok { // "Rss:", "Anonymous:", ...
			if !curOK || len(fields) < 2 {
				continue
			}
			kb, err := strconv.ParseUint(fields[1], 10, 64)
			if err != nil {
				continue
			}
			switch addr {
			case "Rss":
				cur.rss = kb << 10
			case "Anonymous":
				curAnon = kb > 0
			}
			continue
		}
		// A mapping's header: "start-end perms offset dev inode path".
		flush()
		if len(fields) < 6 || strings.Join(fields[5:], " ") != exe || strings.ContainsRune(fields[1], 'w') || fields[1][0] != 'r' {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		cur, curOK = mapping{start: uintptr(start), end: uintptr(end)}, true
	}
	flush()
	return out
}
