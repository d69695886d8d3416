package container

import (
	"testing"
	"time"
)

func TestRestartDecision(t *testing.T) {
	ms := time.Millisecond
	cases := []struct {
		name     string
		p        RestartPolicy
		code     int
		count    int
		manual   bool
		prev     time.Duration
		ranFor   time.Duration
		want     bool
		wantWait time.Duration
	}{
		{"no policy", RestartPolicy{Name: "no"}, 1, 0, false, 0, 0, false, 0},
		{"empty policy", RestartPolicy{}, 1, 0, false, 0, 0, false, 0},
		{"always first", RestartPolicy{Name: "always"}, 0, 0, false, 0, time.Second, true, 100 * ms},
		{"always doubles", RestartPolicy{Name: "always"}, 0, 3, false, 400 * ms, time.Second, true, 800 * ms},
		{"always capped", RestartPolicy{Name: "always"}, 0, 30, false, 50 * time.Second, time.Second, true, time.Minute},
		{"always resets after a long run", RestartPolicy{Name: "always"}, 0, 30, false, 50 * time.Second, 11 * time.Second, true, 100 * ms},
		{"always but stopped by user", RestartPolicy{Name: "always"}, 137, 0, true, 0, 0, false, 0},
		{"unless-stopped", RestartPolicy{Name: "unless-stopped"}, 0, 0, false, 0, 0, true, 100 * ms},
		{"on-failure success", RestartPolicy{Name: "on-failure"}, 0, 0, false, 0, 0, false, 0},
		{"on-failure failure", RestartPolicy{Name: "on-failure"}, 2, 0, false, 0, 0, true, 100 * ms},
		{"on-failure under max", RestartPolicy{Name: "on-failure", MaximumRetryCount: 3}, 1, 2, false, 200 * ms, 0, true, 400 * ms},
		{"on-failure at max", RestartPolicy{Name: "on-failure", MaximumRetryCount: 3}, 1, 3, false, 0, 0, false, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, wait := restartDecision(c.p, c.code, c.count, c.manual, false, c.prev, c.ranFor)
			if got != c.want || wait != c.wantWait {
				t.Fatalf("restartDecision = %v, %v; want %v, %v", got, wait, c.want, c.wantWait)
			}
		})
	}
}

func TestRestartOnDaemonStart(t *testing.T) {
	cases := []struct {
		p     RestartPolicy
		s     State
		count int
		want  bool
	}{
		{RestartPolicy{Name: "always"}, State{ExitCode: 0}, 0, true},
		{RestartPolicy{Name: "always"}, State{ManuallyStopped: true}, 0, false},
		{RestartPolicy{Name: "unless-stopped"}, State{ManuallyStopped: true}, 0, false},
		{RestartPolicy{Name: "unless-stopped"}, State{ExitCode: 255}, 0, true},
		{RestartPolicy{Name: "on-failure"}, State{ExitCode: 0}, 0, false},
		{RestartPolicy{Name: "on-failure", MaximumRetryCount: 2}, State{ExitCode: 1}, 2, false},
		{RestartPolicy{Name: "on-failure", MaximumRetryCount: 2}, State{ExitCode: 1}, 1, true},
		{RestartPolicy{Name: "no"}, State{ExitCode: 1}, 0, false},
	}
	for i, c := range cases {
		if got := restartOnDaemonStart(c.p, c.s, c.count); got != c.want {
			t.Errorf("case %d (%+v, %+v): got %v want %v", i, c.p, c.s, got, c.want)
		}
	}
}

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]int{"": 9, "SIGTERM": 15, "term": 15, "KILL": 9, "10": 10, "SIGHUP": 1, "usr1": 10} {
		got, err := ParseSignal(in)
		if err != nil || int(got) != want {
			t.Errorf("ParseSignal(%q) = %v, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"SIGFOO", "0", "-1", "99", "x9"} {
		if _, err := ParseSignal(bad); err == nil {
			t.Errorf("ParseSignal(%q) accepted", bad)
		}
	}
}

func TestParsePS(t *testing.T) {
	out := "UID PID PPID C STIME TTY TIME CMD\nroot 10 1 0 10:00 ? 00:00:00 sleep 100\nroot 11 10 0 10:00 ? 00:00:00 sh -c echo hi\nroot 99 1 0 10:00 ? 00:00:00 other\n"
	titles, rows, err := parsePS(out, []int{10, 11})
	if err != nil {
		t.Fatal(err)
	}
	if len(titles) != 8 || len(rows) != 2 {
		t.Fatalf("titles %v rows %v", titles, rows)
	}
	if rows[1][7] != "sh -c echo hi" {
		t.Fatalf("command column joined wrongly: %q", rows[1][7])
	}
	if _, _, err := parsePS("USER COMMAND\nroot x\n", nil); err == nil {
		t.Fatal("missing PID column accepted")
	}
}

func TestValidateHostConfig(t *testing.T) {
	bad := []HostConfig{
		{RestartPolicy: RestartPolicy{Name: "sometimes"}},
		{RestartPolicy: RestartPolicy{Name: "always", MaximumRetryCount: 2}},
		{RestartPolicy: RestartPolicy{Name: "always"}, AutoRemove: true},
		{NetworkMode: "container:"},
		{Memory: 1024},
		{Memory: 64 << 20, MemorySwap: 32 << 20},
	}
	for i, h := range bad {
		if _, err := validateHostConfig(&h); err == nil {
			t.Errorf("case %d accepted: %+v", i, h)
		}
	}
	good := []HostConfig{{}, {RestartPolicy: RestartPolicy{Name: "on-failure", MaximumRetryCount: 3}}, {NetworkMode: "host", Memory: 64 << 20, MemorySwap: -1}}
	for i, h := range good {
		if _, err := validateHostConfig(&h); err != nil {
			t.Errorf("case %d refused: %v", i, err)
		}
	}
}
