package batch

import (
	"fmt"
	"math/rand"
	"testing"
	"time"
)

func code(i int) *int { return &i }

func TestSubstitute(t *testing.T) {
	p := map[string]string{"frame": "7", "out": "s3://b/x", "a-b": "z"}
	cases := []struct{ in, want string }{
		{"Ref::frame", "7"},
		{"--frame=Ref::frame", "--frame=7"},
		{"Ref::frame/Ref::out", "7/s3://b/x"},
		{"Ref::missing", "Ref::missing"},
		{"Ref::", "Ref::"},
		{"Ref::a-b.txt", "z.txt"},
		{"plain", "plain"},
		{"Ref::frameX", "Ref::frameX"},
	}
	for _, c := range cases {
		if got := Substitute([]string{c.in}, p)[0]; got != c.want {
			t.Errorf("Substitute(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	// A value holding a placeholder is not substituted again.
	if got := Substitute([]string{"Ref::x"}, map[string]string{"x": "Ref::y", "y": "no"})[0]; got != "Ref::y" {
		t.Errorf("value rescanned: %q", got)
	}
}

func FuzzSubstitute(f *testing.F) {
	for _, s := range []string{"Ref::a", "Ref::Ref::a", "xRef::", "Ref::a-Ref::b", "\xffRef::a"} {
		f.Add(s, "a", "v")
	}
	f.Fuzz(func(t *testing.T, arg, k, v string) {
		out := Substitute([]string{arg}, map[string]string{k: v})
		if len(out) != 1 {
			t.Fatal("one argument in, one out")
		}
		if k == "" || !isParamName(k) {
			if out[0] != arg {
				t.Fatalf("no substitutable parameter, yet %q became %q", arg, out[0])
			}
		}
	})
}

func isParamName(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isParamChar(s[i]) {
			return false
		}
	}
	return s != ""
}

func TestRetry(t *testing.T) {
	rs := &RetryStrategy{Attempts: 3, EvaluateOnExit: []EvaluateOnExit{
		{OnExitCode: "3", Action: "RETRY"},
		{OnExitCode: "4*", Action: "exit"},
		{OnReason: "CannotPull*", Action: "EXIT"},
	}}
	cases := []struct {
		name    string
		rs      *RetryStrategy
		attempt int
		end     End
		want    bool
	}{
		{"success", rs, 1, End{ExitCode: code(0)}, false},
		{"exit 3 retried", rs, 1, End{ExitCode: code(3)}, true},
		{"exit 3 out of attempts", rs, 3, End{ExitCode: code(3)}, false},
		{"exit 4 not retried", rs, 1, End{ExitCode: code(4)}, false},
		{"exit 42 glob", rs, 1, End{ExitCode: code(42)}, false},
		{"no rule matches: retried", rs, 1, End{ExitCode: code(1)}, true},
		{"reason rule", rs, 1, End{Reason: "CannotPullContainerError: x"}, false},
		{"stopped never", rs, 1, End{ExitCode: code(3), Stopped: true}, false},
		{"no strategy: one attempt", nil, 1, End{ExitCode: code(1)}, false},
		{"attempts only", &RetryStrategy{Attempts: 2}, 1, End{ExitCode: code(1)}, true},
		{"lost without exit code, exit-code rule skipped", rs, 1, End{StatusReason: ReasonLost}, true},
	}
	for _, c := range cases {
		if got := Retry(c.rs, c.attempt, c.end); got != c.want {
			t.Errorf("%s: Retry = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestValidateRetryAndDefinition(t *testing.T) {
	bad := []*RetryStrategy{
		{Attempts: 0}, {Attempts: 11},
		{Attempts: 2, EvaluateOnExit: []EvaluateOnExit{{OnExitCode: "3", Action: "MAYBE"}}},
		{Attempts: 2, EvaluateOnExit: []EvaluateOnExit{{OnExitCode: "3*4", Action: "RETRY"}}},
		{Attempts: 2, EvaluateOnExit: []EvaluateOnExit{{OnReason: "a;b", Action: "RETRY"}}},
	}
	for _, rs := range bad {
		if ValidateRetry(rs) == nil {
			t.Errorf("retry strategy %+v accepted", rs)
		}
	}
	d := JobDefinition{Name: "d", Type: "container", Container: Container{Image: "busybox", VCPUs: 1, MemoryMiB: 64}, TimeoutSeconds: 30}
	if ValidateDefinition(&d, MinTimeout) == nil {
		t.Error("a 30 s timeout accepted")
	}
	d.TimeoutSeconds = 60
	if err := ValidateDefinition(&d, MinTimeout); err != nil {
		t.Error(err)
	}
	d.Type = "multinode"
	if ValidateDefinition(&d, MinTimeout) == nil {
		t.Error("multinode accepted")
	}
}

func TestWaitsForAndResolve(t *testing.T) {
	j := &Job{ID: "b", ArraySize: 4, DependsOn: []Dependency{{JobID: "a", Type: DepNToN}, {Type: DepSequential}, {JobID: "x"}}}
	if got := fmt.Sprint(WaitsFor(j, -1)); got != "[x]" {
		t.Errorf("parent waits for %s", got)
	}
	if got := fmt.Sprint(WaitsFor(j, 0)); got != "[a:0]" {
		t.Errorf("child 0 waits for %s", got)
	}
	if got := fmt.Sprint(WaitsFor(j, 2)); got != "[a:2 b:1]" {
		t.Errorf("child 2 waits for %s", got)
	}
	if Resolve(nil) != StatusRunnable || Resolve([]string{StatusSucceeded, StatusRunning}) != "" ||
		Resolve([]string{StatusRunning, StatusFailed}) != StatusFailed || Resolve([]string{""}) != "" {
		t.Error("Resolve")
	}
}

func env(name string, max int) *ComputeEnvironment {
	return &ComputeEnvironment{Name: name, MaxVCPUs: max, State: StateEnabled, Status: EnvValid}
}

func TestPlanPriorityAndCapacity(t *testing.T) {
	t0 := time.Unix(1000, 0)
	s := Snapshot{
		Envs: map[string]*ComputeEnvironment{"ce": env("ce", 4)},
		Queues: []*JobQueue{
			{Name: "low", Priority: 1, State: StateEnabled, Status: EnvValid, Envs: []EnvOrder{{1, "ce"}}},
			{Name: "high", Priority: 10, State: StateEnabled, Status: EnvValid, Envs: []EnvOrder{{1, "ce"}}},
		},
		Used: map[string]float64{"ce": 1},
		Runnable: map[string][]Candidate{
			"low":  {{JobID: "l1", VCPUs: 1, Created: t0, Count: 1}},
			"high": {{JobID: "arr", VCPUs: 1, Created: t0.Add(time.Second), Count: 10}},
		},
	}
	picks := Plan(s)
	if len(picks) != 1 || picks[0].JobID != "arr" || picks[0].N != 3 {
		t.Fatalf("picks %+v, want 3 of arr (the high queue, within the 3 free vCPUs)", picks)
	}
	// A disabled environment takes nothing; the queue's next one does.
	s.Envs["ce"].State = StateDisabled
	s.Envs["ce2"] = env("ce2", 2)
	s.Queues[1].Envs = append(s.Queues[1].Envs, EnvOrder{2, "ce2"})
	picks = Plan(s)
	if len(picks) != 1 || picks[0].Env != "ce2" || picks[0].N != 2 {
		t.Fatalf("picks %+v, want 2 on ce2", picks)
	}
}

// TestPlanNeverExceedsMaxVCPUs is a property test: whatever the queues,
// environments and work, what runs plus what is picked never exceeds an
// environment's maxvCpus, and no job is picked more often than it has
// runnable work.
func TestPlanNeverExceedsMaxVCPUs(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	vc := []float64{0.25, 0.5, 1, 2, 4}
	for iter := 0; iter < 2000; iter++ {
		s := Snapshot{Envs: map[string]*ComputeEnvironment{}, Used: map[string]float64{}, Runnable: map[string][]Candidate{}, Policies: map[string]*SchedulingPolicy{}, ShareUsage: map[string]map[string]float64{}}
		nEnv := 1 + r.Intn(3)
		for e := 0; e < nEnv; e++ {
			name := fmt.Sprint("ce", e)
			s.Envs[name] = env(name, r.Intn(16))
			s.Used[name] = float64(r.Intn(s.Envs[name].MaxVCPUs + 1))
		}
		s.Policies["fs"] = &SchedulingPolicy{Name: "fs", Shares: []Share{{"a", 0.5}, {"b", 1}}}
		count := map[string]int{}
		for q := 0; q < 1+r.Intn(3); q++ {
			jq := &JobQueue{Name: fmt.Sprint("q", q), Priority: r.Intn(3), State: StateEnabled, Status: EnvValid}
			if r.Intn(2) == 0 {
				jq.Policy = "fs"
			}
			for e := 0; e < nEnv; e++ {
				if r.Intn(2) == 0 || e == 0 {
					jq.Envs = append(jq.Envs, EnvOrder{e, fmt.Sprint("ce", e)})
				}
			}
			s.Queues = append(s.Queues, jq)
			for k := 0; k < r.Intn(6); k++ {
				id := fmt.Sprint(jq.Name, "-j", k)
				c := Candidate{JobID: id, VCPUs: vc[r.Intn(len(vc))], Share: []string{"a", "b", "c"}[r.Intn(3)], Count: 1 + r.Intn(20), Created: time.Unix(int64(r.Intn(100)), 0)}
				count[id] = c.Count
				s.Runnable[jq.Name] = append(s.Runnable[jq.Name], c)
			}
		}
		used := map[string]float64{}
		for k, v := range s.Used {
			used[k] = v
		}
		for _, p := range Plan(s) {
			used[p.Env] += float64(p.N) * p.VCPUs
			count[p.JobID] -= p.N
			if p.N <= 0 || count[p.JobID] < 0 {
				t.Fatalf("iteration %d: pick %+v takes more than the job's runnable work", iter, p)
			}
		}
		for name, e := range s.Envs {
			if used[name] > float64(e.MaxVCPUs)+1e-6 && used[name] > s.Used[name] {
				t.Fatalf("iteration %d: %s holds %.2f vCPUs of %d", iter, name, used[name], e.MaxVCPUs)
			}
		}
	}
}

func TestPlanFairShare(t *testing.T) {
	// Share a has weight 0.5 (twice b's share): with 12 vCPUs free and
	// plenty of work for both, a gets 8 and b 4.
	s := Snapshot{
		Envs:     map[string]*ComputeEnvironment{"ce": env("ce", 12)},
		Policies: map[string]*SchedulingPolicy{"fs": {Name: "fs", Shares: []Share{{"a", 0.5}, {"b", 1}}}},
		Queues:   []*JobQueue{{Name: "q", State: StateEnabled, Status: EnvValid, Policy: "fs", Envs: []EnvOrder{{1, "ce"}}}},
		Used:     map[string]float64{},
		Runnable: map[string][]Candidate{"q": {
			{JobID: "b-arr", VCPUs: 1, Share: "b", Count: 100, Created: time.Unix(1, 0)},
			{JobID: "a-arr", VCPUs: 1, Share: "a", Count: 100, Created: time.Unix(2, 0)},
		}},
	}
	got := map[string]int{}
	for _, p := range Plan(s) {
		got[p.JobID] += p.N
	}
	if got["a-arr"] != 8 || got["b-arr"] != 4 {
		t.Fatalf("fair share gave %v, want a-arr 8, b-arr 4", got)
	}
	// What a share already holds counts: b holding 4 gets the rest.
	s.ShareUsage = map[string]map[string]float64{"q": {"b": 0, "a": 8}}
	s.Used["ce"] = 8
	got = map[string]int{}
	for _, p := range Plan(s) {
		got[p.JobID] += p.N
	}
	if got["b-arr"] != 4 || got["a-arr"] != 0 {
		t.Fatalf("with a holding 8, fair share gave %v, want b-arr 4", got)
	}
	// Without a policy the same queue is first in, first out.
	s.Queues[0].Policy = ""
	s.ShareUsage, s.Used = nil, map[string]float64{}
	got = map[string]int{}
	for _, p := range Plan(s) {
		got[p.JobID] += p.N
	}
	if got["b-arr"] != 12 {
		t.Fatalf("FIFO gave %v, want all 12 to the older b-arr", got)
	}
}

func TestExpired(t *testing.T) {
	t0 := time.Unix(1000, 0)
	started := map[string]time.Time{"a": t0, "b": t0.Add(30 * time.Second), "c": t0}
	timeouts := map[string]int{"a": 60, "b": 60, "c": 0}
	ids, next := Expired(started, timeouts, t0.Add(60*time.Second))
	if fmt.Sprint(ids) != "[a]" || !next.Equal(t0.Add(90*time.Second)) {
		t.Fatalf("Expired = %v, %v", ids, next)
	}
}

func TestArrayStateTakeRunnable(t *testing.T) {
	a := newArrayState(10)
	for i := 0; i < 10; i++ {
		a.set(i, StatusRunnable)
	}
	seen := map[int]int{}
	for round := 0; round < 5; round++ {
		for _, i := range a.takeRunnable(3) {
			seen[i]++
			a.set(i, StatusStarting)
		}
	}
	if len(seen) != 10 {
		t.Fatalf("took %v", seen)
	}
	for i, n := range seen {
		if n != 1 {
			t.Fatalf("index %d taken %d times", i, n)
		}
	}
	// A child retried goes back and is found again.
	a.set(2, StatusRunnable)
	if got := a.takeRunnable(5); fmt.Sprint(got) != "[2]" {
		t.Fatalf("after a retry took %v", got)
	}
	if s := a.summary(); s[StatusStarting] != 9 || s[StatusRunnable] != 1 {
		t.Fatalf("summary %v", s)
	}
}
