package shim

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// dropFilePages unmaps from this process the pages of read-only file
// mappings (the binary's code and read-only data, shared libraries) that
// start-up faulted in. They stay in the page cache, shared with the
// other shims and CLI calls of the same binary; an idle shim touches few of them, and
// those few fault back in on use. A shim's resident set is then what it
// uses, not the 15-20 MB that package initialisation and the kernel's
// fault-around mapped while the process started.
//
// Only mappings that are file-backed, not writable and hold no anonymous
// (copy-on-write) page are dropped — a relocated read-only segment (RELRO)
// holds such pages and is skipped. For the others MADV_DONTNEED removes
// page-table entries only; nothing can be lost.
func dropFilePages() {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return
	}
	ranges := droppableMappings(f)
	f.Close()
	for _, r := range ranges {
		_, _, _ = unix.Syscall(unix.SYS_MADVISE, r[0], r[1]-r[0], unix.MADV_DONTNEED)
	}
}

// droppableMappings reads smaps and returns the [start, end) ranges of
// file mappings that are private, not writable and have no anonymous
// pages.
func droppableMappings(r io.Reader) [][2]uintptr {
	var out [][2]uintptr
	var cur [2]uintptr
	candidate := false
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Bytes()
		if start, end, ok, isHeader := mappingHeader(line); isHeader {
			cur, candidate = [2]uintptr{start, end}, ok
			continue
		}
		if candidate && bytes.HasPrefix(line, []byte("Anonymous:")) {
			if kb, err := strconv.Atoi(string(bytes.Fields(line)[1])); err == nil && kb == 0 {
				out = append(out, cur)
			}
			candidate = false
		}
	}
	return out
}

// mappingHeader parses an smaps header line ("start-end perms offset dev
// inode path"). isHeader reports whether it is one; ok whether the mapping
// is a private, non-writable file mapping.
func mappingHeader(line []byte) (start, end uintptr, ok, isHeader bool) {
	fields := bytes.Fields(line)
	if len(fields) < 5 {
		return 0, 0, false, false
	}
	lo, hi, found := bytes.Cut(fields[0], []byte{'-'})
	if !found {
		return 0, 0, false, false
	}
	s, err1 := strconv.ParseUint(string(lo), 16, 64)
	e, err2 := strconv.ParseUint(string(hi), 16, 64)
	if err1 != nil || err2 != nil || e <= s {
		return 0, 0, false, false
	}
	perms := fields[1]
	ok = len(fields) >= 6 && fields[5][0] == '/' && len(perms) == 4 && perms[1] == '-' && perms[3] == 'p'
	return uintptr(s), uintptr(e), ok, true
}
