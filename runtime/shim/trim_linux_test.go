package shim

import (
	"strings"
	"testing"
)

func TestDroppableMappings(t *testing.T) {
	smaps := `00400000-0137e000 r-xp 00000000 fe:01 123 /usr/bin/wharf
Size:              15864 kB
Rss:                8760 kB
Anonymous:             0 kB
VmFlags: rd ex mr mw me
0137e000-023c8000 r--p 00f7e000 fe:01 123 /usr/bin/wharf
Rss:                8296 kB
Anonymous:             0 kB
023c8000-02459000 rw-p 01fc8000 fe:01 123 /usr/bin/wharf
Anonymous:           124 kB
02459000-046cc000 rw-p 00000000 00:00 0
Anonymous:           136 kB
7f24d066b000-7f24d06be000 r--p 00155000 fe:01 456 /usr/lib/x86_64-linux-gnu/libc.so.6
Anonymous:             0 kB
7f24d06be000-7f24d06c2000 r--p 001a8000 fe:01 456 /usr/lib/x86_64-linux-gnu/libc.so.6
Anonymous:            16 kB
7f24d06c2000-7f24d06c4000 rw-p 001ac000 fe:01 456 /usr/lib/x86_64-linux-gnu/libc.so.6
Anonymous:             8 kB
7ffd1000-7ffd3000 r--s 00000000 00:05 9 /dev/shm/x
Anonymous:             0 kB
7ffe0000-7ffe2000 r--p 00000000 00:00 0                  [vvar]
Anonymous:             0 kB
`
	got := droppableMappings(strings.NewReader(smaps))
	want := [][2]uintptr{{0x400000, 0x137e000}, {0x137e000, 0x23c8000}, {0x7f24d066b000, 0x7f24d06be000}}
	if len(got) != len(want) {
		t.Fatalf("got %x, want %x", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("mapping %d: got %x, want %x", i, got[i], want[i])
		}
	}
}

// The shim's own process survives dropping its file pages and keeps
// running code that faults them back in.
func TestDropFilePagesSelf(t *testing.T) {
	dropFilePages()
	if s := strings.Repeat("ok", 3); s != "okokok" {
		t.Fatal(s)
	}
}
