package integration

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestLifecycle walks containers through logs, stop, kill, restart, pause,
// wait, rename, top, stats, rm and exec.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	d := newDaemon(t)

	t.Run("LogsStreamsApart", func(t *testing.T) {
		id := runD(t, d, busybox, "sh", "-c", "echo out1; echo err1 >&2; echo out2")
		d.MustWharf(t, "wait", id)
		out, errOut, code := d.Wharf(t, "logs", id)
		if code != 0 || out != "out1\nout2\n" || errOut != "err1\n" {
			t.Errorf("logs: exit %d, stdout %q, stderr %q; want stdout %q and stderr %q", code, out, errOut, "out1\nout2\n", "err1\n")
		}
		// Lines of stdout and stderr come through two pipes, so their order
		// across streams is not defined; --tail is checked on one stream.
		one := runD(t, d, busybox, "sh", "-c", "echo a; echo b; echo c")
		d.MustWharf(t, "wait", one)
		for n, want := range map[string]string{"1": "c\n", "2": "b\nc\n", "all": "a\nb\nc\n", "0": ""} {
			if out := d.MustWharf(t, "logs", "--tail", n, one); out != want {
				t.Errorf("logs --tail %s: stdout %q, want %q", n, out, want)
			}
		}
		d.MustWharf(t, "rm", one)
		out, _, _ = d.Wharf(t, "logs", "-t", id)
		stamp := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d) out\d$`)
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if len(lines) != 2 {
			t.Errorf("logs -t: %q, want two stdout lines", out)
		}
		for _, l := range lines {
			if !stamp.MatchString(l) {
				t.Errorf("logs -t line %q has no RFC 3339 timestamp", l)
			}
		}
		d.MustWharf(t, "rm", id)
	})
	t.Run("LogsFollowUntilExit", func(t *testing.T) {
		id := runD(t, d, busybox, "sh", "-c", "for i in 1 2 3 4; do echo line$i; sleep 0.3; done")
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		start := time.Now()
		out, err := d.Command(ctx, "logs", "-f", id).Output()
		if ctx.Err() != nil {
			t.Fatalf("logs -f did not return after the container exited; got %q", out)
		}
		if err != nil {
			t.Fatalf("logs -f: %v", err)
		}
		if string(out) != "line1\nline2\nline3\nline4\n" {
			t.Errorf("logs -f printed %q, want all four lines", out)
		}
		if el := time.Since(start); el < 500*time.Millisecond {
			t.Errorf("logs -f returned after %v, before the container could have finished (did it follow?)", el)
		}
		d.MustWharf(t, "rm", id)
	})
	t.Run("StopTimeoutKills", func(t *testing.T) {
		// sleep as pid 1 has no TERM handler, so the kernel ignores TERM.
		id := runD(t, d, busybox, "sleep", "100")
		start := time.Now()
		d.MustWharf(t, "stop", "-t", "1", id)
		el := time.Since(start)
		if el < 900*time.Millisecond || el > 5*time.Second {
			t.Errorf("stop -t 1 of a TERM-ignoring pid 1 took %v, want about 1s", el)
		}
		if got := inspect(t, d, "{{.State.ExitCode}}", id); got != "137" {
			t.Errorf("exit code after stop -t 1: %s, want 137", got)
		}
		if got := inspect(t, d, "{{.State.Running}}", id); got != "false" {
			t.Errorf(".State.Running after stop = %s", got)
		}
		d.MustWharf(t, "rm", id)
	})
	t.Run("KillSignal", func(t *testing.T) {
		id := runD(t, d, busybox, "sh", "-c", "trap 'exit 42' USR1; while true; do sleep 0.1; done")
		time.Sleep(200 * time.Millisecond) // let sh install its trap
		d.MustWharf(t, "kill", "-s", "USR1", id)
		if code := strings.TrimSpace(d.MustWharf(t, "wait", id)); code != "42" {
			t.Errorf("after kill -s USR1 the trap's exit 42 was expected, wait printed %s", code)
		}
		id2 := runD(t, d, busybox, "sleep", "100")
		d.MustWharf(t, "kill", id2)
		if code := strings.TrimSpace(d.MustWharf(t, "wait", id2)); code != "137" {
			t.Errorf("kill (default KILL): wait printed %s, want 137", code)
		}
		d.MustWharf(t, "rm", id, id2)
	})
	t.Run("RestartKeepsID", func(t *testing.T) {
		id := runD(t, d, "--name", "restartme", busybox, "sleep", "100")
		pid1 := inspect(t, d, "{{.State.Pid}}", id)
		d.MustWharf(t, "restart", "-t", "0", "restartme")
		if got := inspect(t, d, "{{.Id}}", "restartme"); got != id {
			t.Errorf("restart changed the ID: %s, was %s", got, id)
		}
		if got := inspect(t, d, "{{.State.Running}}", id); got != "true" {
			t.Errorf(".State.Running after restart = %s", got)
		}
		if pid2 := inspect(t, d, "{{.State.Pid}}", id); pid2 == pid1 || pid2 == "0" {
			t.Errorf("pid after restart %s, before %s: want a new process", pid2, pid1)
		}
		if got := inspect(t, d, "{{.RestartCount}}", id); got != "0" {
			t.Errorf("a manual restart counted as a policy restart: RestartCount %s", got)
		}
		d.MustWharf(t, "rm", "-f", id)
	})
	t.Run("PauseUnpause", func(t *testing.T) {
		id := runD(t, d, busybox, "sh", "-c", "while true; do date +%s%N; sleep 0.05; done")
		d.MustWharf(t, "pause", id)
		if got := inspect(t, d, "{{.State.Status}}", id); got != "paused" {
			t.Errorf(".State.Status after pause = %s", got)
		}
		if got := inspect(t, d, "{{.State.Paused}}", id); got != "true" {
			t.Errorf(".State.Paused after pause = %s", got)
		}
		if ps := d.MustWharf(t, "ps", "--filter", "id="+id); !strings.Contains(ps, "Paused") {
			t.Errorf("ps of a paused container does not say Paused:\n%s", ps)
		}
		n1 := len(strings.Split(d.MustWharf(t, "logs", id), "\n"))
		time.Sleep(400 * time.Millisecond)
		if n2 := len(strings.Split(d.MustWharf(t, "logs", id), "\n")); n2 != n1 {
			t.Errorf("a paused container kept writing: %d log lines, then %d", n1, n2)
		}
		d.MustWharf(t, "unpause", id)
		if got := inspect(t, d, "{{.State.Status}}", id); got != "running" {
			t.Errorf(".State.Status after unpause = %s", got)
		}
		if !waitFor(5*time.Second, func() bool {
			return len(strings.Split(d.MustWharf(t, "logs", id), "\n")) > n1
		}) {
			t.Errorf("an unpaused container does not write again")
		}
		d.MustWharf(t, "rm", "-f", id)
	})
	t.Run("WaitPrintsExitCode", func(t *testing.T) {
		id := runD(t, d, busybox, "sh", "-c", "sleep 0.3; exit 7")
		if code := strings.TrimSpace(d.MustWharf(t, "wait", id)); code != "7" {
			t.Errorf("wait printed %q, want 7", code)
		}
		d.MustWharf(t, "rm", id)
	})
	t.Run("Rename", func(t *testing.T) {
		id := runD(t, d, "--name", "oldname", busybox, "sleep", "100")
		d.MustWharf(t, "rename", "oldname", "newname")
		if got := inspect(t, d, "{{.Name}}", id); got != "/newname" {
			t.Errorf(".Name after rename = %s, want /newname", got)
		}
		if _, _, code := d.Wharf(t, "inspect", "oldname"); code == 0 {
			t.Errorf("the old name still resolves after rename")
		}
		// The old name is free again.
		id2 := runD(t, d, "--name", "oldname", busybox, "true")
		d.MustWharf(t, "rm", "-f", id, id2)
	})
	t.Run("Top", func(t *testing.T) {
		id := runD(t, d, busybox, "sleep", "123")
		out := d.MustWharf(t, "top", id)
		if !strings.Contains(out, "sleep 123") || !strings.Contains(out, "PID") {
			t.Errorf("top does not list the container's process:\n%s", out)
		}
		d.MustWharf(t, "rm", "-f", id)
	})
	t.Run("StatsShowsLimit", func(t *testing.T) {
		id := runD(t, d, "--memory", "32m", busybox, "sleep", "100")
		out := d.MustWharf(t, "stats", "--no-stream", id)
		if !strings.Contains(out, "32MiB") || !strings.Contains(out, id[:12]) {
			t.Errorf("stats --no-stream does not show the 32MiB limit:\n%s", out)
		}
		d.MustWharf(t, "rm", "-f", id)
	})
	t.Run("RmForceRunning", func(t *testing.T) {
		id := runD(t, d, busybox, "sleep", "100")
		pid := atoi(t, inspect(t, d, "{{.State.Pid}}", id))
		if _, errOut, code := d.Wharf(t, "rm", id); code == 0 {
			t.Errorf("rm of a running container without -f succeeded")
		} else if !strings.Contains(errOut, "running") {
			t.Errorf("rm of a running container: %q", errOut)
		}
		d.MustWharf(t, "rm", "-f", id)
		if _, _, code := d.Wharf(t, "inspect", id); code == 0 {
			t.Errorf("container still exists after rm -f")
		}
		if !waitFor(5*time.Second, func() bool { return !pidAlive(pid) }) {
			t.Errorf("process %d still alive after rm -f", pid)
		}
	})
	t.Run("AutoRemove", func(t *testing.T) {
		id := runD(t, d, "--rm", busybox, "sh", "-c", "sleep 0.2")
		if !waitFor(10*time.Second, func() bool {
			_, _, code := d.Wharf(t, "inspect", id)
			return code != 0
		}) {
			t.Errorf("run -d --rm container still exists 10s after it exited")
		}
		d.MustWharf(t, "run", "--rm", "--name", "autorm", busybox, "true")
		if out := strings.TrimSpace(d.MustWharf(t, "ps", "-aq", "--filter", "name=autorm")); out != "" {
			t.Errorf("run --rm left its container: %s", out)
		}
	})
	t.Run("Init", func(t *testing.T) {
		out := d.MustWharf(t, "run", "--rm", "--init", busybox, "cat", "/proc/1/cmdline")
		args := strings.Split(out, "\x00")
		if args[0] != "/sbin/wharf-init" {
			t.Errorf("--init: pid 1 is %q, want /sbin/wharf-init", strings.ReplaceAll(out, "\x00", " "))
		}
		// And the signal a stop sends reaches the command through init.
		id := runD(t, d, "--init", busybox, "sleep", "100")
		start := time.Now()
		d.MustWharf(t, "stop", "-t", "5", id)
		if el := time.Since(start); el > 3*time.Second {
			t.Errorf("stop of a sleep under --init took %v: TERM was not forwarded", el)
		}
		d.MustWharf(t, "rm", id)
	})
	t.Run("Exec", func(t *testing.T) {
		id := runD(t, d, busybox, "sleep", "100")
		if out := strings.TrimSpace(d.MustWharf(t, "exec", "-u", "1000", id, "id", "-u")); out != "1000" {
			t.Errorf("exec -u 1000 id -u printed %q", out)
		}
		if out := strings.TrimSpace(d.MustWharf(t, "exec", id, "id", "-u")); out != "0" {
			t.Errorf("exec id -u printed %q, want 0", out)
		}
		if _, _, code := d.Wharf(t, "exec", id, "sh", "-c", "exit 5"); code != 5 {
			t.Errorf("exec sh -c 'exit 5': exit %d, want 5", code)
		}
		if _, _, code := d.Wharf(t, "exec", id, "nosuchcmd"); code != 127 {
			t.Errorf("exec nosuchcmd: exit %d, want 127", code)
		}
		out, _, _ := d.WharfStdin(t, []byte("piped\n"), "exec", "-i", id, "cat")
		if out != "piped\n" {
			t.Errorf("exec -i cat echoed %q", out)
		}
		// A detached exec returns at once and its process keeps running.
		if out := d.MustWharf(t, "exec", "-d", id, "sh", "-c", "echo detached > /tmp/d; sleep 100"); out != "" {
			t.Errorf("exec -d printed %q", out)
		}
		var got string
		if !waitFor(5*time.Second, func() bool {
			got, _, _ = d.Wharf(t, "exec", id, "cat", "/tmp/d")
			return got == "detached\n"
		}) {
			t.Errorf("the detached exec did not run: /tmp/d holds %q", got)
		}
		if top := d.MustWharf(t, "top", id); strings.Count(top, "sleep 100") < 2 {
			t.Errorf("the detached exec's sleep is not running in the container:\n%s", top)
		}
		d.MustWharf(t, "rm", "-f", id)
	})
	t.Run("NoLeaks", func(t *testing.T) { assertNoLeaks(t, d) })
}

func atoi(t testing.TB, s string) int {
	t.Helper()
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			t.Fatalf("not a number: %q", s)
		}
		n = n*10 + int(c-'0')
	}
	return n
}
