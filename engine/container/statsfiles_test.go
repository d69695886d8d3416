package container

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/wharf-dev/wharf/internal/testutil"
)

// Kept files read the counters of the moment, and a cgroup removed and
// made again under the same path (a container that stopped and started
// between two scrapes) is read afresh.
func TestFilesFollowARecreatedCgroup(t *testing.T) {
	testutil.RequiresRoot(t)
	ctrl := "/sys/fs/cgroup/pids"
	file := "pids.max"
	if hostIsCgroup2() {
		ctrl = "/sys/fs/cgroup"
	}
	dir := filepath.Join(ctrl, fmt.Sprintf("wharffiles%d", os.Getpid()))
	mk := func(limit string) {
		t.Helper()
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, file), []byte(limit), 0); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _ = os.Remove(dir) })
	f := NewFiles(4)
	defer f.Close()
	read := func() uint64 { return readUint(f.read, filepath.Join(dir, file)) }
	mk("10")
	if v := read(); v != 10 || f.Open() != 1 {
		t.Fatalf("read %d with %d files open, want 10 with 1", v, f.Open())
	}
	if err := os.WriteFile(filepath.Join(dir, file), []byte("20"), 0); err != nil {
		t.Fatal(err)
	}
	if v := read(); v != 20 {
		t.Fatalf("after a change the kept file reads %d, want 20", v)
	}
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if v := read(); v != 0 || f.Open() != 0 {
		t.Fatalf("a removed cgroup reads %d with %d files open, want 0 with none", v, f.Open())
	}
	mk("30")
	if v := read(); v != 30 {
		t.Fatalf("the cgroup made again reads %d, want 30", v)
	}
	// Past its limit a Files reads without keeping.
	g := NewFiles(0)
	if v := readUint(g.read, filepath.Join(dir, file)); v != 30 || g.Open() != 0 {
		t.Fatalf("a Files of limit 0 read %d and keeps %d", v, g.Open())
	}
}
