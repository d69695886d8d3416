package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/testutil"
)

// chatty is a shell loop printing "line 0" ... "line n-1", each padded to
// about 100 bytes (some 130 in the json-file log); every is a shell
// command run between lines ("" for none).
func chatty(n int, every string) string {
	return fmt.Sprintf(`i=0; while [ $i -lt %d ]; do echo "line $i padding-padding-padding-padding-padding-padding-padding-padding-padding"; %s i=$((i+1)); done`, n, every)
}

// logSampler watches the files of a log on disk (path and anything next
// to it starting with its name: rotated files) and records the most they
// held at once.
type logSampler struct {
	path     string
	stop     chan struct{}
	done     chan struct{}
	mu       sync.Mutex
	maxBytes int64
	maxFiles int
	names    []string
}

func sampleLog(path string) *logSampler {
	s := &logSampler{path: path, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			s.sample()
			select {
			case <-s.stop:
				s.sample()
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	return s
}

func (s *logSampler) sample() {
	names, _ := filepath.Glob(s.path + "*")
	var total int64
	for _, n := range names {
		if st, err := os.Stat(n); err == nil {
			total += st.Size()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if total > s.maxBytes {
		s.maxBytes = total
	}
	if len(names) > s.maxFiles {
		s.maxFiles, s.names = len(names), names
	}
}

// result stops the sampler and returns the most bytes and files seen.
func (s *logSampler) result() (int64, int, []string) {
	close(s.stop)
	<-s.done
	return s.maxBytes, s.maxFiles, s.names
}

// lineRun checks that out is "line N" lines (the padding aside) for
// consecutive N ending at last, and returns the first N.
func lineRun(t *testing.T, out string, last int) int {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	first := -1
	for i, l := range lines {
		f := strings.Fields(l)
		if len(f) < 2 || f[0] != "line" {
			t.Fatalf("line %d of the log is %q", i, l)
		}
		n, err := strconv.Atoi(f[1])
		if err != nil {
			t.Fatalf("line %d of the log is %q", i, l)
		}
		if i == 0 {
			first = n
		} else if n != first+i {
			t.Fatalf("line %d of the log is %q, want line %d: order across the rotated files broken", i, l, first+i)
		}
	}
	if first+len(lines)-1 != last {
		t.Fatalf("the log ends with %q, want line %d", lines[len(lines)-1], last)
	}
	return first
}

// TestLogRotation: a container that writes far more than max-size ×
// max-file never holds more than that on disk, its files are named as
// Docker names them, and `docker logs` reads across them in order, with
// --tail, --since and -f.
func TestLogRotation(t *testing.T) {
	t.Parallel()
	d := newDaemon(t)
	dk := newDockerCLI(t, d)

	t.Run("JSONFile", func(t *testing.T) {
		id := strings.TrimSpace(dk.must(t, "create", "--log-opt", "max-size=10k", "--log-opt", "max-file=3", busybox, "sh", "-c", chatty(3000, "")))
		path := filepath.Join(d.Root, "containers", id, id+"-json.log")
		s := sampleLog(path)
		dk.must(t, "start", id)
		if code := strings.TrimSpace(dk.must(t, "wait", id)); code != "0" {
			t.Fatalf("the container exited %s", code)
		}
		maxBytes, maxFiles, names := s.result()
		if maxBytes > 3*10_000 || maxFiles > 3 {
			t.Errorf("the log reached %d bytes in %d files %q, over max-size=10k × max-file=3", maxBytes, maxFiles, names)
		}
		if maxFiles != 3 || names[0] != path || names[1] != path+".1" || names[2] != path+".2" {
			t.Errorf("log files %q, want %s, .1, .2", names, path)
		}
		tail := dk.must(t, "logs", "--tail", "5", id)
		if lineRun(t, tail, 2999) != 2995 {
			t.Errorf("logs --tail 5: %q", tail)
		}
		if first := lineRun(t, dk.must(t, "logs", id), 2999); first == 0 {
			t.Errorf("the whole log is still there: nothing was rotated out")
		}
		if got := strings.TrimSpace(dk.must(t, "inspect", "--format", "{{.HostConfig.LogConfig.Type}} {{index .HostConfig.LogConfig.Config \"max-size\"}} {{index .HostConfig.LogConfig.Config \"max-file\"}} {{.LogPath}}", id)); got != "json-file 10k 3 "+path {
			t.Errorf("inspect: %q", got)
		}
	})

	t.Run("FollowAndSince", func(t *testing.T) {
		// A line every 10 ms, 2 kB files: the follower crosses many
		// rotations, each well within what the rotated files keep.
		id := strings.TrimSpace(dk.must(t, "run", "-d", "--log-opt", "max-size=2k", "--log-opt", "max-file=3", busybox, "sh", "-c", chatty(200, "sleep 0.01;")))
		out := dk.must(t, "logs", "-f", id)
		lineRun(t, out, 199)
		if n := strings.Count(out, "\n"); n < 3*2000/130 {
			t.Errorf("logs -f followed %d lines: it did not cross the rotations", n)
		}
		stamped := strings.Split(strings.TrimSpace(dk.must(t, "logs", "-t", "--tail", "20", id)), "\n")
		if len(stamped) != 20 {
			t.Fatalf("logs -t --tail 20: %q", stamped)
		}
		ts, line, _ := strings.Cut(stamped[5], " ")
		since := dk.must(t, "logs", "--since", ts, id)
		if !strings.HasPrefix(since, line) && !strings.Contains(since, "\n"+line+"\n") {
			t.Errorf("logs --since %s lacks %q:\n%s", ts, line, since)
		}
		if lineRun(t, since, 199) < 180 {
			t.Errorf("logs --since %s went back too far:\n%s", ts, since)
		}
	})

	t.Run("Local", func(t *testing.T) {
		id := strings.TrimSpace(dk.must(t, "create", "--log-driver", "local", "--log-opt", "max-size=5k", busybox, "sh", "-c", chatty(2000, "")))
		path := filepath.Join(d.Root, "containers", id, "local-logs", "container.log")
		s := sampleLog(path)
		dk.must(t, "start", "-a", id)
		maxBytes, maxFiles, names := s.result()
		if maxBytes > 5*5_000 || maxFiles != 5 {
			t.Errorf("the local log reached %d bytes in %q, want 5 files of at most 5k", maxBytes, names)
		}
		if lineRun(t, dk.must(t, "logs", "--tail", "3", id), 1999) != 1997 {
			t.Errorf("local logs --tail 3")
		}
		if got := strings.TrimSpace(dk.must(t, "inspect", "--format", "{{.HostConfig.LogConfig.Type}} {{json .HostConfig.LogConfig.Config}} [{{.LogPath}}]", id)); got != `local {"max-size":"5k"} []` {
			t.Errorf("inspect: %q", got)
		}
	})

	t.Run("None", func(t *testing.T) {
		if out := dk.must(t, "run", "--rm", "--log-driver", "none", busybox, "echo", "attached"); out != "attached\n" {
			t.Errorf("run --log-driver none printed %q", out)
		}
		id := strings.TrimSpace(dk.must(t, "run", "-d", "--log-driver", "none", busybox, "echo", "hi"))
		dk.must(t, "wait", id)
		_, errOut, code := dk.run(t, nil, "logs", id)
		if code == 0 || !strings.Contains(errOut, "configured logging driver does not support reading") {
			t.Errorf("logs of a none container: exit %d %q", code, errOut)
		}
		if files, _ := filepath.Glob(filepath.Join(d.Root, "containers", id, "*.log*")); len(files) != 0 {
			t.Errorf("driver none left log files %q", files)
		}
		if got := strings.TrimSpace(dk.must(t, "inspect", "--format", "{{.HostConfig.LogConfig.Type}}", id)); got != "none" {
			t.Errorf("inspect: %q", got)
		}
	})

	t.Run("Refused", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			msg  string
		}{
			{[]string{"--log-driver", "syslog"}, "logger: no log driver named 'syslog' is registered"},
			{[]string{"--log-driver", "journald", "--log-opt", "tag=x"}, "logger: no log driver named 'journald' is registered"},
			{[]string{"--log-opt", "max-size=lots"}, "invalid size: 'lots'"},
			{[]string{"--log-opt", "max-file=0"}, "max-file cannot be less than 1"},
			{[]string{"--log-opt", "maxsize=1m"}, "unknown log opt 'maxsize' for json-file log driver"},
			{[]string{"--log-opt", "max-size=1m", "--log-opt", "compress=true"}, "log opt 'compress' is not supported"},
		} {
			_, errOut, code := dk.run(t, nil, append(append([]string{"run", "--rm"}, tc.args...), busybox, "true")...)
			if code != 125 || !strings.Contains(errOut, tc.msg) {
				t.Errorf("run %v: exit %d %q, want 125 and %q", tc.args, code, errOut, tc.msg)
			}
		}
	})

	t.Run("WharfCLI", func(t *testing.T) {
		id := runD(t, d, "--log-driver", "json-file", "--log-opt", "max-size=4k", "--log-opt", "max-file=2", busybox, "sh", "-c", chatty(500, ""))
		path := filepath.Join(d.Root, "containers", id, id+"-json.log")
		waitStatus(t, d, id, "exited", 30*time.Second)
		if got := inspect(t, d, "{{.HostConfig.LogConfig.Type}} {{json .HostConfig.LogConfig.Config}}", id); got != `json-file {"max-file":"2","max-size":"4k"}` {
			t.Errorf("wharf inspect: %q", got)
		}
		if lineRun(t, d.MustWharf(t, "logs", "--tail", "2", id), 499) != 498 {
			t.Errorf("wharf logs --tail 2")
		}
		var total int64
		for _, n := range []string{path, path + ".1"} {
			st, err := os.Stat(n)
			if err != nil {
				t.Fatal(err)
			}
			total += st.Size()
		}
		if _, err := os.Stat(path + ".2"); err == nil || total > 2*4000 {
			t.Errorf("wharf run --log-opt: %d bytes, a .2 file: %v", total, err == nil)
		}
		none := runD(t, d, "--log-driver", "none", busybox, "true")
		if _, errOut, code := d.Wharf(t, "logs", none); code == 0 || !strings.Contains(errOut, "configured logging driver does not support reading") {
			t.Errorf("wharf logs of a none container: %d %q", code, errOut)
		}
	})
	assertNoLeaks(t, d)
}

// TestLogRotationAcrossDormancyAndRestart: the shim alone rotates, while
// it goes dormant and resumes between bursts of output and while the
// daemon is killed and started again; the bound holds throughout and the
// log stays in order.
func TestLogRotationAcrossDormancyAndRestart(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, testutil.WithDaemonArgs("--shim-dormant-after", "100ms"))
	// Five bursts of 100 lines, each after a quiet second.
	script := `i=0; while [ $i -lt 500 ]; do if [ $((i % 100)) -eq 0 ]; then sleep 1; fi; echo "line $i padding-padding-padding-padding-padding-padding-padding-padding-padding"; i=$((i+1)); done; sleep 1000`
	dk := newDockerCLI(t, d)
	id := strings.TrimSpace(dk.must(t, "run", "-d", "--log-opt", "max-size=3k", "--log-opt", "max-file=2", busybox, "sh", "-c", script))
	path := filepath.Join(d.Root, "containers", id, id+"-json.log")
	s := sampleLog(path)
	pid := shimPid(t, d, id)
	sawDormant := false
	restarted := false
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if isDormant(pid) {
			sawDormant = true
		}
		out, _, _ := d.Wharf(t, "logs", "--tail", "1", id)
		if strings.HasPrefix(out, "line 499 ") {
			break
		}
		if !restarted && strings.HasPrefix(out, "line 2") {
			// Mid-run, the daemon dies and comes back.
			d.Kill9()
			d.Restart(t)
			restarted = true
		}
		time.Sleep(20 * time.Millisecond)
	}
	maxBytes, maxFiles, names := s.result()
	if !sawDormant || !restarted {
		t.Fatalf("the test did not see the shim dormant (%v) or restart the daemon (%v)", sawDormant, restarted)
	}
	if maxBytes > 2*3000 || maxFiles > 2 {
		t.Errorf("the log reached %d bytes in %q, over 2 × 3k", maxBytes, names)
	}
	out := d.MustWharf(t, "logs", id)
	if first := lineRun(t, out, 499); first == 0 {
		t.Errorf("nothing was rotated out of the log")
	}
	d.MustWharf(t, "rm", "-f", id)
	assertNoLeaks(t, d)
}

// TestFunctionLogRotation: a function that logs far more than its log's
// bound keeps its files under the cap, and `wharf fn logs` reads across
// them in order, the latest invocation included.
func TestFunctionLogRotation(t *testing.T) {
	e := startFnEnv(t, "--fn-log-max-size", "16KiB", "--fn-log-max-file", "3")
	e.deploy(t, "chatty", 128, 10, nil)
	path := filepath.Join(e.d.Root, "functions", "logs", "chatty.log")
	s := sampleLog(path)
	const n = 40
	for i := 0; i < n; i++ {
		line := fmt.Sprintf("fnline-%02d-", i) + strings.Repeat("x", 2000)
		if out, _ := e.invoke(t, "chatty", `{"print":"`+line+`"}`); out.FunctionError != nil {
			t.Fatalf("invoke %d: %s", i, out.Payload)
		}
	}
	maxBytes, maxFiles, names := s.result()
	if maxBytes > 3*16<<10 || maxFiles > 3 {
		t.Errorf("the function's log reached %d bytes in %q, over 3 × 16 KiB", maxBytes, names)
	}
	if maxFiles != 3 {
		t.Errorf("the function's log was not rotated: %q", names)
	}
	// A function's output reaches its log file after the invocation
	// answers (as on Lambda, where CloudWatch lags the response): read
	// until the last invocation is there.
	var out string
	last := -1
	for deadline := time.Now().Add(15 * time.Second); ; {
		out = e.d.MustWharf(t, "fn", "logs", "chatty")
		last = -1
		for _, l := range strings.Split(out, "\n") {
			if rest, ok := strings.CutPrefix(l, "fnline-"); ok {
				k, err := strconv.Atoi(rest[:2])
				if err != nil || k != last+1 && last != -1 {
					t.Fatalf("fn logs out of order at %q after %d", l[:12], last)
				}
				last = k
			}
		}
		if last == n-1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if last != n-1 || strings.Contains(out, "fnline-00-") {
		t.Errorf("fn logs: last invocation %d, first one still there: %v", last, strings.Contains(out, "fnline-00-"))
	}
}
