package integration

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair: a client CLI needs a terminal
// for -it.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	unlock := 0
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, m.Fd(), unix.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatal(e)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

// syncBuffer collects a terminal's output while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runOnTTY runs a client on a new terminal, waits for want in its output,
// types keys and returns its exit code once it ends. An attach to a
// running container prints nothing of its own: want "" types a line until
// the container's terminal echoes it, so that the client's terminal is
// raw when the keys come.
func runOnTTY(t *testing.T, cmd *exec.Cmd, want, keys string) int {
	t.Helper()
	m, s := openPTY(t)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = s, s, s
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	var out syncBuffer
	go func() { _, _ = ioCopy(&out, m) }()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	probe := ""
	if want == "" {
		want, probe = "probe-echo", "probe-echo\r"
	}
	if !waitFor(30*time.Second, func() bool {
		if probe == "" {
			return strings.Contains(out.String(), want)
		}
		// The container's echo and cat's copy, beyond the local
		// terminal's own echo: the client read the line, so it had
		// made its terminal raw.
		if strings.Count(out.String(), want) >= 2 {
			return true
		}
		_, _ = m.WriteString(probe)
		time.Sleep(300 * time.Millisecond)
		return strings.Count(out.String(), want) >= 2
	}) {
		_ = cmd.Process.Kill()
		t.Fatalf("%v never printed %q: %q", cmd.Args, want, out.String())
	}
	if _, err := m.WriteString(keys); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("%v did not detach after %q: %q", cmd.Args, keys, out.String())
	}
	return -1
}

func ioCopy(w *syncBuffer, r *os.File) (int64, error) {
	buf := make([]byte, 4096)
	var n int64
	for {
		k, err := r.Read(buf)
		if k > 0 {
			_, _ = w.Write(buf[:k])
			n += int64(k)
		}
		if err != nil {
			return n, err
		}
	}
}

// The detach keys let a terminal client go and leave the container (or
// the exec) running, with the docker CLI (which watches for the keys and
// ends its input, as against dockerd) and with the wharf CLI (whose keys
// the daemon sees), default and custom keys.
func TestDetachKeys(t *testing.T) {
	t.Parallel()
	d := newDaemon(t)
	dk := newDockerCLI(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	docker := func(args ...string) *exec.Cmd {
		c := exec.CommandContext(ctx, dk.bin, args...)
		c.Env = append(os.Environ(), "DOCKER_HOST="+dk.host, "DOCKER_CONFIG="+dk.config, "DOCKER_CLI_HINTS=false")
		return c
	}
	running := func(name string) {
		t.Helper()
		time.Sleep(300 * time.Millisecond)
		if got := strings.TrimSpace(dk.must(t, "inspect", "-f", "{{.State.Status}}", name)); got != "running" {
			t.Errorf("%s after the client detached: %s", name, got)
		}
	}
	if code := runOnTTY(t, docker("run", "-it", "--name", "dk1", busybox, "sh", "-c", "echo ready; cat"), "ready", "\x10\x11"); code != 0 {
		t.Errorf("docker run -it, ctrl-p ctrl-q: exit %d", code)
	}
	running("dk1")
	// The docker CLI ends an attach or exec its user detached from
	// with "read escape sequence" and status 1, as against dockerd.
	if code := runOnTTY(t, docker("attach", "--detach-keys", "ctrl-x", "dk1"), "", "x\x18"); code != 1 {
		t.Errorf("docker attach --detach-keys: exit %d", code)
	}
	running("dk1")
	if code := runOnTTY(t, d.Command(ctx, "run", "-it", "--name", "wh1", busybox, "sh", "-c", "echo ready; cat"), "ready", "\x10\x11"); code != 0 {
		t.Errorf("wharf run -it, ctrl-p ctrl-q: exit %d", code)
	}
	running("wh1")
	if code := runOnTTY(t, d.Command(ctx, "exec", "-it", "--detach-keys", "ctrl-a,a", "wh1", "sh", "-c", "echo in-exec; cat"), "in-exec", "\x01a"); code != 1 {
		t.Errorf("wharf exec -it --detach-keys: exit %d", code)
	}
	if code := runOnTTY(t, docker("exec", "-it", "dk1", "sh", "-c", "echo in-exec; cat"), "in-exec", "\x10\x11"); code != 1 {
		t.Errorf("docker exec -it, ctrl-p ctrl-q: exit %d", code)
	}
	running("wh1")
	if code := runOnTTY(t, d.Command(ctx, "attach", "wh1"), "", "\x10\x11"); code != 1 {
		t.Errorf("wharf attach, ctrl-p ctrl-q: exit %d", code)
	}
	running("wh1")
	removeAll(t, d)
	assertNoLeaks(t, d)
}
