package integration

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// TestBasic covers the thinnest slice: import, run, exit statuses and the
// errors a user meets first.
func TestBasic(t *testing.T) {
	t.Parallel()
	d := newDaemon(t)

	t.Run("EchoHello", func(t *testing.T) {
		out, errOut, code := d.Wharf(t, "run", "--rm", busybox, "echo", "hello")
		if code != 0 || out != "hello\n" {
			t.Fatalf("run echo hello: exit %d, stdout %q, stderr %q; want exit 0, %q", code, out, errOut, "hello\n")
		}
	})
	t.Run("ExitCode", func(t *testing.T) {
		if _, errOut, code := d.Wharf(t, "run", "--rm", busybox, "sh", "-c", "exit 3"); code != 3 {
			t.Fatalf("run sh -c 'exit 3': exit %d, want 3 (stderr %q)", code, errOut)
		}
	})
	t.Run("CommandNotFound", func(t *testing.T) {
		_, errOut, code := d.Wharf(t, "run", "--rm", busybox, "nosuchcmd")
		if code != 127 {
			t.Fatalf("run nosuchcmd: exit %d, want 127 (stderr %q)", code, errOut)
		}
		if !strings.Contains(errOut, "nosuchcmd") {
			t.Errorf("stderr %q does not name the missing command", errOut)
		}
		// As with docker, a --rm container that could not start is gone,
		// attached, detached or with a TTY.
		for _, mode := range []string{"-d", "-t"} {
			if _, errOut, code := d.Wharf(t, "run", mode, "--rm", busybox, "nosuchcmd"); code != 127 {
				t.Errorf("run %s --rm nosuchcmd: exit %d, want 127 (stderr %q)", mode, code, errOut)
			}
		}
		if out := d.MustWharf(t, "ps", "-aq", "--filter", "status=exited"); strings.TrimSpace(out) != "" {
			t.Errorf("a --rm container that did not start is left: %q", out)
		}
	})
	t.Run("NotExecutable", func(t *testing.T) {
		if _, errOut, code := d.Wharf(t, "run", "--rm", busybox, "/etc/passwd"); code != 126 {
			t.Fatalf("run /etc/passwd: exit %d, want 126 (stderr %q)", code, errOut)
		}
	})
	t.Run("UnknownImage", func(t *testing.T) {
		// A registry on a port nothing listens on keeps the test off the
		// internet while still going through the pull path.
		ref := "127.0.0.1:9/nosuch/image:none"
		_, errOut, code := d.Wharf(t, "run", "--rm", ref, "true")
		if code == 0 {
			t.Fatalf("run of unknown image %s succeeded", ref)
		}
		if code != 125 {
			t.Errorf("run of unknown image: exit %d, want 125", code)
		}
		if !strings.Contains(errOut, ref) {
			t.Errorf("stderr %q does not name the image %s", errOut, ref)
		}
	})
	t.Run("BadMemoryFlag", func(t *testing.T) {
		_, errOut, code := d.Wharf(t, "run", "--rm", "--memory", "10x", busybox, "true")
		if code != 125 || !strings.Contains(errOut, "10x") {
			t.Fatalf("run --memory 10x: exit %d, stderr %q; want 125 and a message naming 10x", code, errOut)
		}
	})
	t.Run("NameConflict", func(t *testing.T) {
		id := runD(t, d, "--name", "conflict", busybox, "sleep", "30")
		_, errOut, code := d.Wharf(t, "run", "-d", "--name", "conflict", busybox, "true")
		if code == 0 || !strings.Contains(errOut, "already in use") {
			t.Fatalf("second run --name conflict: exit %d, stderr %q; want failure mentioning \"already in use\"", code, errOut)
		}
		if code != 125 {
			t.Errorf("name conflict: exit %d, want 125", code)
		}
		d.MustWharf(t, "rm", "-f", id)
	})
	t.Run("ExecStopped", func(t *testing.T) {
		id := runD(t, d, busybox, "true")
		d.MustWharf(t, "wait", id)
		out, errOut, code := d.Wharf(t, "exec", id, "echo", "hi")
		if code == 0 {
			t.Fatalf("exec into a stopped container succeeded: stdout %q", out)
		}
		if !strings.Contains(strings.ToLower(errOut), "not running") {
			t.Errorf("exec into stopped container: stderr %q does not say it is not running", errOut)
		}
		d.MustWharf(t, "rm", id)
	})
	t.Run("ConcurrentRunRm", func(t *testing.T) {
		// Short-lived --rm containers started side by side must each print
		// their output and exit 0: the attach, the wait and the removal of
		// one must not race with the start of another.
		const workers, each = 4, 10
		errs := make(chan string, workers*each)
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < each; i++ {
					args := []string{"run", "--rm", busybox, "echo", "hello"}
					if i%2 == 0 {
						args = []string{"run", "--rm", "--init", busybox, "echo", "hello"}
					}
					out, errOut, code := d.Wharf(t, args...)
					if code != 0 || out != "hello\n" {
						errs <- fmt.Sprintf("%s: exit %d, stdout %q, stderr %q", strings.Join(args, " "), code, out, errOut)
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
	})
	t.Run("NoLeaks", func(t *testing.T) { assertNoLeaks(t, d) })
}
