package sandbox

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/testutil"
)

// The sandbox's freezer, written through its kept-open file, really
// freezes and thaws the processes of its cgroup.
func TestContainerSandboxFreezer(t *testing.T) {
	testutil.RequiresRoot(t)
	name := fmt.Sprintf("wharf-frz-test-%d", os.Getpid())
	dir := filepath.Join("/sys/fs/cgroup/freezer", name)
	state := filepath.Join(dir, "freezer.state")
	frozenWord, thawedWord := "FROZEN", "THAWED"
	if _, err := os.Stat("/sys/fs/cgroup/freezer"); err != nil {
		// cgroup v2
		dir = filepath.Join("/sys/fs/cgroup", name)
		state = filepath.Join(dir, "cgroup.freeze")
		frozenWord, thawedWord = "1", "0"
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("no freezer cgroup to test with: %v", err)
	}
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
		for i := 0; i < 50 && os.Remove(dir) != nil; i++ {
			time.Sleep(20 * time.Millisecond)
		}
	})
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &containerSandbox{cgroup: name, memFD: -1}
	read := func() string {
		b, _ := os.ReadFile(state)
		return strings.TrimSpace(string(b))
	}
	for i := 0; i < 2; i++ { // twice: the second time through the open file
		if err := s.Freeze(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(2 * time.Second)
		for read() != frozenWord && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if got := read(); got != frozenWord {
			t.Fatalf("after Freeze the state is %q", got)
		}
		if err := s.Thaw(); err != nil {
			t.Fatal(err)
		}
		if got := read(); got != thawedWord {
			t.Fatalf("after Thaw the state is %q", got)
		}
	}
	s.closeFreezer()
	if err := s.Freeze(); err == nil {
		t.Fatal("Freeze after closeFreezer succeeded")
	}
}
