package main

import (
	"errors"
	"io"
	"io/fs"
	"reflect"
	"testing"

	"github.com/spf13/pflag"

	"github.com/wharf-dev/wharf/api/wharf"
)

// fakeEnv is an envSource over fixed variables and files.
func fakeEnv(vars map[string]string, files map[string]string) envSource {
	return envSource{
		lookupEnv: func(k string) (string, bool) { v, ok := vars[k]; return v, ok },
		readFile: func(p string) ([]byte, error) {
			if d, ok := files[p]; ok {
				return []byte(d), nil
			}
			return nil, fs.ErrNotExist
		},
	}
}

var testEnv = fakeEnv(
	map[string]string{"FROM_CLI": "cli-value"},
	map[string]string{
		"/envfile":   "# comment\n\nA=1\n  B=two words\nFROM_CLI\n",
		"/prof.json": "{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\"\n}\n",
	})

// parseRun parses run's flags as cobra would and builds the request.
func parseRun(t *testing.T, argv ...string) (*wharf.CreateRequest, error) {
	t.Helper()
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o := &createOptions{}
	fs.BoolVarP(&o.detach, "detach", "d", false, "")
	addCreateFlags(fs, o)
	if err := fs.Parse(argv); err != nil {
		return nil, err
	}
	return buildCreateRequest(o, fs.Args(), func(n string) bool { return fs.Changed(n) }, testEnv)
}

func TestBuildCreateRequest(t *testing.T) {
	req, err := parseRun(t, "-d", "--name", "x", "-e", "K=V", "-e", "FROM_CLI", "-e", "UNSET",
		"--env-file", "/envfile", "-w", "/tmp", "-u", "1000:1000", "-m", "512m", "--memory-swap", "-1",
		"--cpus", "1.5", "-c", "512", "--pids-limit", "100", "--read-only", "--cap-add", "NET_ADMIN",
		"--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--security-opt", "seccomp=/prof.json",
		"--init", "--ulimit", "nofile=1024:2048", "--runtime", "crun", "--restart", "on-failure:3",
		"--network", "none", "-h", "box", "-l", "a=b", "-l", "flag", "--stop-signal", "SIGINT",
		"--stop-timeout", "0", "--entrypoint", "",
		"alpine", "sh", "-c", "echo -n hi")
	if err != nil {
		t.Fatal(err)
	}
	wantEnv := []string{"A=1", "B=two words", "FROM_CLI=cli-value", "K=V", "FROM_CLI=cli-value", "UNSET"}
	if !reflect.DeepEqual(req.Env, wantEnv) {
		t.Errorf("Env = %q, want %q", req.Env, wantEnv)
	}
	if req.Image != "alpine" || !reflect.DeepEqual(req.Cmd, []string{"sh", "-c", "echo -n hi"}) {
		t.Errorf("Image/Cmd = %q %q", req.Image, req.Cmd)
	}
	if req.Entrypoint == nil || len(req.Entrypoint) != 0 {
		t.Errorf("Entrypoint = %#v, want empty non-nil", req.Entrypoint)
	}
	if req.AttachStdout || req.OpenStdin {
		t.Errorf("detached run must not attach: %+v", req.Config)
	}
	h := req.HostConfig
	if h.Memory != 512<<20 || h.MemorySwap != -1 || h.NanoCPUs != 1_500_000_000 || h.CPUShares != 512 {
		t.Errorf("resources = %+v", h)
	}
	if h.PidsLimit == nil || *h.PidsLimit != 100 || h.Init == nil || !*h.Init || req.StopTimeout == nil || *req.StopTimeout != 0 {
		t.Errorf("pointer fields not set: %+v %v", h, req.StopTimeout)
	}
	wantSec := []string{"no-new-privileges", `seccomp={"defaultAction":"SCMP_ACT_ALLOW"}`}
	if !reflect.DeepEqual(h.SecurityOpt, wantSec) {
		t.Errorf("SecurityOpt = %q, want %q", h.SecurityOpt, wantSec)
	}
	if !reflect.DeepEqual(h.Ulimits, []wharf.Ulimit{{Name: "nofile", Soft: 1024, Hard: 2048}}) {
		t.Errorf("Ulimits = %+v", h.Ulimits)
	}
	if h.RestartPolicy != (wharf.RestartPolicy{Name: "on-failure", MaximumRetryCount: 3}) {
		t.Errorf("RestartPolicy = %+v", h.RestartPolicy)
	}
	if h.NetworkMode != "none" || req.Hostname != "box" || !h.ReadonlyRootfs || h.Runtime != "crun" {
		t.Errorf("misc = %+v %+v", h, req.Config)
	}
	if !reflect.DeepEqual(req.Labels, map[string]string{"a": "b", "flag": ""}) {
		t.Errorf("Labels = %v", req.Labels)
	}
}

func TestBuildCreateRequestDefaults(t *testing.T) {
	req, err := parseRun(t, "-it", "alpine")
	if err != nil {
		t.Fatal(err)
	}
	if req.Cmd != nil || req.Entrypoint != nil || req.HostConfig.Init != nil || req.HostConfig.PidsLimit != nil || req.StopTimeout != nil {
		t.Errorf("unset flags must keep image defaults: %+v %+v", req.Config, req.HostConfig)
	}
	if !req.Tty || !req.OpenStdin || !req.AttachStdin || !req.StdinOnce || !req.AttachStdout || !req.AttachStderr {
		t.Errorf("-it attach flags wrong: %+v", req.Config)
	}
	req, err = parseRun(t, "--entrypoint", "/bin/sh", "alpine")
	if err != nil || !reflect.DeepEqual(req.Entrypoint, []string{"/bin/sh"}) {
		t.Errorf("Entrypoint = %q, %v", req.Entrypoint, err)
	}
}

func TestRunFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		argv []string
		want string
	}{
		{[]string{"--memory", "10x", "alpine"}, `invalid argument "10x" for "-m, --memory" flag: invalid size: '10x'`},
		{[]string{"-m", "1m", "alpine"}, "Minimum memory limit allowed is 6MB"},
		{[]string{"--cpus", "abc", "alpine"}, `invalid argument "abc" for "--cpus" flag: failed to parse abc as a rational number`},
		{[]string{"--cpus", "0.0000000001", "alpine"}, `invalid argument "0.0000000001" for "--cpus" flag: value is too precise`},
		{[]string{"--ulimit", "nofile", "alpine"}, `invalid argument "nofile" for "--ulimit" flag: invalid ulimit argument: nofile`},
		{[]string{"--ulimit", "bogus=1", "alpine"}, `invalid argument "bogus=1" for "--ulimit" flag: invalid ulimit type: bogus`},
		{[]string{"--restart", "sometimes", "alpine"}, `invalid restart policy "sometimes": must be one of no, always, unless-stopped, on-failure[:max-retries]`},
		{[]string{"--restart", "always:3", "alpine"}, `invalid restart policy "always:3": maximum retry count can only be used with 'on-failure'`},
		{[]string{"--restart", "on-failure:x", "alpine"}, `invalid restart policy "on-failure:x": maximum retry count must be a non-negative integer`},
		{[]string{"--rm", "--restart", "always", "alpine"}, "Conflicting options: --restart and --rm"},
		{[]string{"--security-opt", "label", "alpine"}, `Invalid --security-opt: "label"`},
		{[]string{"--security-opt", "seccomp=/missing.json", "alpine"}, "opening seccomp profile (/missing.json) failed: file does not exist"},
		{[]string{"--memory-swap", "1g", "alpine"}, "You should always set the Memory limit when using Memoryswap limit, see usage"},
		{[]string{"--env-file", "/nope", "alpine"}, "open /nope: file does not exist"},
		{[]string{"-e", "BAD KEY=1", "alpine"}, "variable 'BAD KEY' contains whitespaces"},
	} {
		_, err := parseRun(t, tc.argv...)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%q: err = %v, want %q", tc.argv, err, tc.want)
		}
	}
}

func TestRunCommandFlagErrorExits125(t *testing.T) {
	cmd := newRunCommand()
	cmd.SetArgs([]string{"--memory", "10x", "alpine"})
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	err := cmd.Execute()
	var ee exitError
	if !errors.As(err, &ee) || ee.code != 125 {
		t.Fatalf("err = %#v, want exitError 125", err)
	}
	if got := ee.err.Error(); got != `invalid argument "10x" for "-m, --memory" flag: invalid size: '10x'` {
		t.Errorf("message = %q", got)
	}
}

func TestRunPassesCommandThrough(t *testing.T) {
	req, err := parseRun(t, "alpine", "ls", "-la", "--color", "-e")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(req.Cmd, []string{"ls", "-la", "--color", "-e"}) {
		t.Errorf("Cmd = %q", req.Cmd)
	}
}

func TestSecurityOptForms(t *testing.T) {
	got, err := parseSecurityOpts([]string{"no-new-privileges:true", "seccomp=unconfined", "seccomp={\"a\":1}", "apparmor=unconfined"}, testEnv.readFile)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"no-new-privileges:true", "seccomp=unconfined", "seccomp={\"a\":1}", "apparmor=unconfined"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q", got)
	}
}

func TestBuildExecConfig(t *testing.T) {
	size := &[2]uint{40, 120}
	cfg, err := buildExecConfig(&execOptions{interactive: true, tty: true, env: []string{"FROM_CLI", "X=1"}, user: "root", workdir: "/w", privileged: true},
		[]string{"sh"}, size, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := &wharf.ExecConfig{User: "root", Privileged: true, Tty: true, AttachStdin: true, AttachStdout: true, AttachStderr: true,
		Env: []string{"FROM_CLI=cli-value", "X=1"}, WorkingDir: "/w", Cmd: []string{"sh"}, ConsoleSize: size}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got %+v\nwant %+v", cfg, want)
	}
	cfg, _ = buildExecConfig(&execOptions{detach: true, interactive: true}, []string{"true"}, size, testEnv)
	if cfg.AttachStdin || cfg.AttachStdout || !cfg.Detach || cfg.ConsoleSize != nil {
		t.Errorf("detached exec: %+v", cfg)
	}
}

// --log-driver and --log-opt reach the request as docker's CLI sends
// them; options for driver none are refused before anything is sent.
func TestLogFlags(t *testing.T) {
	req, err := parseRun(t, "--log-driver", "local", "--log-opt", "max-size=1m", "--log-opt", "max-file=2", "--log-opt", "compress", "busybox")
	if err != nil {
		t.Fatal(err)
	}
	want := wharf.LogConfig{Type: "local", Config: map[string]string{"max-size": "1m", "max-file": "2", "compress": ""}}
	if !reflect.DeepEqual(req.HostConfig.LogConfig, want) {
		t.Errorf("LogConfig = %+v, want %+v", req.HostConfig.LogConfig, want)
	}
	if req, err := parseRun(t, "busybox"); err != nil || !reflect.DeepEqual(req.HostConfig.LogConfig, wharf.LogConfig{}) {
		t.Errorf("without log flags: %+v %v", req.HostConfig.LogConfig, err)
	}
	if _, err := parseRun(t, "--log-driver", "none", "--log-opt", "max-size=1m", "busybox"); err == nil || err.Error() != "invalid logging opts for driver none" {
		t.Errorf("options for none: %v", err)
	}
}
