package initproc_test

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildInit compiles testdata/wharf-init, a main that calls initproc.Main,
// as the static binary that --init bind-mounts into containers.
func buildInit(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "wharf-init")
	cmd := exec.Command("go", "build", "-o", bin, "./testdata/wharf-init")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("run: %v", err)
	}
	return ee.ExitCode()
}

func TestExitStatus(t *testing.T) {
	bin := buildInit(t)
	for _, tc := range []struct {
		name string
		args []string
		want int
	}{
		{"success", []string{"--", "true"}, 0},
		{"without dashes", []string{"sh", "-c", "exit 3"}, 3},
		{"exit code", []string{"--", "sh", "-c", "exit 42"}, 42},
		{"killed", []string{"--", "sh", "-c", "kill -9 $$"}, 128 + 9},
		{"not found", []string{"--", "/no/such/command"}, 127},
		{"no command", []string{"--"}, 2},
		{"not executable", []string{"--", "/etc/passwd"}, 126},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := exec.Command(bin, tc.args...).Run()
			if got := exitCode(t, err); got != tc.want {
				t.Fatalf("exit status %d, want %d", got, tc.want)
			}
		})
	}
}

func TestPassesStdio(t *testing.T) {
	bin := buildInit(t)
	cmd := exec.Command(bin, "--", "sh", "-c", "read x; echo got $x; echo err >&2")
	cmd.Stdin = strings.NewReader("hello\n")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "got hello\n" || stderr.String() != "err\n" {
		t.Fatalf("stdout %q stderr %q", out, stderr.String())
	}
}

// TestForwardsSignals sends signals to init and checks that the child, which
// traps them, receives each one.
func TestForwardsSignals(t *testing.T) {
	bin := buildInit(t)
	for _, tc := range []struct {
		sig  syscall.Signal
		name string
		want int
	}{
		{syscall.SIGTERM, "TERM", 43},
		{syscall.SIGINT, "INT", 44},
		{syscall.SIGHUP, "HUP", 45},
		{syscall.SIGUSR1, "USR1", 46},
	} {
		t.Run(tc.name, func(t *testing.T) {
			script := "trap 'exit " + strconv.Itoa(tc.want) + "' " + tc.name + "; echo ready; while :; do sleep 0.05; done"
			cmd := exec.Command(bin, "--", "sh", "-c", script)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cmd.Process.Kill() })
			line, err := bufio.NewReader(stdout).ReadString('\n')
			if err != nil || line != "ready\n" {
				t.Fatalf("read %q: %v", line, err)
			}
			if err := cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if got := exitCode(t, err); got != tc.want {
					t.Fatalf("exit status %d, want %d", got, tc.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("child did not exit after the signal was forwarded")
			}
		})
	}
}

// TestUntrappedSignal checks that a forwarded SIGTERM kills a child that
// does not handle it, and that init reports 128+15.
func TestUntrappedSignal(t *testing.T) {
	bin := buildInit(t)
	cmd := exec.Command(bin, "--", "sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	time.Sleep(200 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if got := exitCode(t, cmd.Wait()); got != 128+15 {
		t.Fatalf("exit status %d, want %d", got, 128+15)
	}
}

// TestReapsOrphans makes the child orphan grandchildren, which are
// re-parented to init (a subreaper outside a pid namespace), and checks that
// none of init's children is left a zombie.
func TestReapsOrphans(t *testing.T) {
	bin := buildInit(t)
	script := "for i in 1 2 3 4 5; do (sleep 0.1 &); done; echo ready; sleep 1"
	cmd := exec.Command(bin, "--", "sh", "-c", script)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	if _, err := bufio.NewReader(stdout).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond)
	children, zombies := childrenOf(t, cmd.Process.Pid)
	if zombies != 0 || children == 0 {
		t.Fatalf("init has %d children, %d zombies; want the shell alive and no zombie", children, zombies)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("init: %v", err)
	}
}

// childrenOf scans /proc for the processes whose parent is pid.
func childrenOf(t *testing.T, pid int) (children, zombies int) {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The command name, in parentheses, may hold spaces: split after it.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 2 || f[1] != strconv.Itoa(pid) {
			continue
		}
		children++
		if f[0] == "Z" {
			zombies++
		}
	}
	return children, zombies
}
