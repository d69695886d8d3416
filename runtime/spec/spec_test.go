package spec

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/pkg/cap"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/wharf-dev/wharf/errdefs"
)

const testID = "3f4e5d6c7b8a99887766554433221100ffeeddccbbaa00112233445566778899"

// fakeRootfs writes a root filesystem holding only /etc/passwd and
// /etc/group, enough for user resolution.
func fakeRootfs(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(root, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"+
		"daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"+
		"app:x:1000:1000:app:/home/app:/bin/sh\n"+
		"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
	write("etc/group", "root:x:0:\n"+
		"daemon:x:1:\n"+
		"wheel:x:10:app\n"+
		"audio:x:29:app,daemon\n"+
		"app:x:1000:\n"+
		"staff:x:50:\n"+
		"nogroup:x:65534:\n")
	return root
}

func generate(t *testing.T, o *Options) *specs.Spec {
	t.Helper()
	if o.ID == "" {
		o.ID = testID
	}
	if o.Rootfs == "" {
		o.Rootfs = fakeRootfs(t)
	}
	if len(o.Cmd) == 0 && len(o.Image.Cmd) == 0 && !o.EntrypointSet && len(o.Image.Entrypoint) == 0 {
		o.Cmd = []string{"sh"}
	}
	s, err := Generate(context.Background(), o)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return s
}

func TestArgs(t *testing.T) {
	img := v1.Config{Entrypoint: []string{"/entry", "-x"}, Cmd: []string{"serve", "--port=80"}}
	for _, tc := range []struct {
		name  string
		image v1.Config
		o     Options
		want  []string
	}{
		{"image entrypoint and cmd", img, Options{}, []string{"/entry", "-x", "serve", "--port=80"}},
		{"cmd overrides image cmd", img, Options{Cmd: []string{"debug"}}, []string{"/entry", "-x", "debug"}},
		{"only cmd", v1.Config{Cmd: []string{"sh", "-c", "true"}}, Options{}, []string{"sh", "-c", "true"}},
		{"only entrypoint", v1.Config{Entrypoint: []string{"/entry"}}, Options{}, []string{"/entry"}},
		{"entrypoint override drops image cmd", img, Options{Entrypoint: []string{"/bin/sh"}, EntrypointSet: true}, []string{"/bin/sh"}},
		{"entrypoint override with cmd", img, Options{Entrypoint: []string{"/bin/sh"}, EntrypointSet: true, Cmd: []string{"-c", "id"}}, []string{"/bin/sh", "-c", "id"}},
		{"cleared entrypoint with cmd", img, Options{Entrypoint: []string{""}, EntrypointSet: true, Cmd: []string{"ls"}}, []string{"ls"}},
		{"nil entrypoint with cmd", img, Options{EntrypointSet: true, Cmd: []string{"ls", "/"}}, []string{"ls", "/"}},
		{"init wraps", v1.Config{Cmd: []string{"sleep", "1"}}, Options{Init: true, InitPath: "/usr/libexec/wharf-init"}, []string{"/sbin/wharf-init", "--", "sleep", "1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			o.Image = tc.image
			s := generate(t, &o)
			if !slices.Equal(s.Process.Args, tc.want) {
				t.Fatalf("args %q, want %q", s.Process.Args, tc.want)
			}
		})
	}
}

func TestNoCommand(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
	}{
		{"nothing", Options{}},
		{"cleared entrypoint, image cmd dropped", Options{Image: v1.Config{Cmd: []string{"sh"}}, Entrypoint: []string{""}, EntrypointSet: true}},
		{"empty program", Options{Cmd: []string{""}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			o.ID, o.Rootfs = testID, fakeRootfs(t)
			_, err := Generate(context.Background(), &o)
			if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "no command specified") {
				t.Fatalf("err = %v, want invalid argument: no command specified", err)
			}
		})
	}
}

func TestInvalidOptions(t *testing.T) {
	root := fakeRootfs(t)
	for _, tc := range []struct {
		name string
		o    Options
	}{
		{"no id", Options{Rootfs: root}},
		{"relative rootfs", Options{ID: testID, Rootfs: "rootfs"}},
		{"relative workdir", Options{ID: testID, Rootfs: root, WorkingDir: "app"}},
		{"relative image workdir", Options{ID: testID, Rootfs: root, Image: v1.Config{WorkingDir: "app"}}},
		{"init without binary", Options{ID: testID, Rootfs: root, Init: true}},
		{"unknown network mode", Options{ID: testID, Rootfs: root, NetworkMode: "bridge"}},
		{"host network and netns", Options{ID: testID, Rootfs: root, NetworkMode: "host", NetNSPath: "/proc/1/ns/net"}},
		{"unknown cap", Options{ID: testID, Rootfs: root, CapAdd: []string{"CAP_FLY"}}},
		{"bad ulimit name", Options{ID: testID, Rootfs: root, Ulimits: []Ulimit{{Name: "wings", Soft: 1, Hard: 1}}}},
		{"ulimit soft above hard", Options{ID: testID, Rootfs: root, Ulimits: []Ulimit{{Name: "nofile", Soft: 2, Hard: 1}}}},
		{"tiny memory", Options{ID: testID, Rootfs: root, Memory: 1 << 20}},
		{"swap without memory", Options{ID: testID, Rootfs: root, MemorySwap: 1 << 30}},
		{"swap below memory", Options{ID: testID, Rootfs: root, Memory: 64 << 20, MemorySwap: 32 << 20}},
		{"negative cpus", Options{ID: testID, Rootfs: root, NanoCPUs: -1}},
		{"too many cpus", Options{ID: testID, Rootfs: root, NanoCPUs: 1 << 50}},
		{"missing seccomp file", Options{ID: testID, Rootfs: root, SeccompProfile: "/no/such/profile.json"}},
		{"bad seccomp json", Options{ID: testID, Rootfs: root, SeccompProfile: "{not json"}},
		{"unknown user", Options{ID: testID, Rootfs: root, User: "xyz"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			o.Cmd = []string{"sh"}
			_, err := Generate(context.Background(), &o)
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("err = %v, want invalid argument", err)
			}
		})
	}
	if _, err := Generate(context.Background(), nil); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("nil options: err = %v", err)
	}
}

func TestEnv(t *testing.T) {
	s := generate(t, &Options{
		Image: v1.Config{Env: []string{"PATH=/opt/bin:/bin", "LANG=C", "DROP=me", "KEEP=1"}},
		Env:   []string{"LANG=C.UTF-8", "NEW=x=y", "DROP", "EMPTY="},
	})
	want := []string{
		"PATH=/opt/bin:/bin",
		"HOSTNAME=" + testID[:12],
		"LANG=C.UTF-8",
		"KEEP=1",
		"NEW=x=y",
		"EMPTY=",
		"HOME=/root",
	}
	if !slices.Equal(s.Process.Env, want) {
		t.Fatalf("env\n%q\nwant\n%q", s.Process.Env, want)
	}

	s = generate(t, &Options{Tty: true, User: "app", Hostname: "web"})
	want = []string{"PATH=" + DefaultPathEnv, "HOSTNAME=web", "TERM=xterm", "HOME=/home/app"}
	if !slices.Equal(s.Process.Env, want) {
		t.Fatalf("env %q, want %q", s.Process.Env, want)
	}
	if !s.Process.Terminal || s.Hostname != "web" {
		t.Fatalf("terminal %v hostname %q", s.Process.Terminal, s.Hostname)
	}

	s = generate(t, &Options{Env: []string{"HOME=/data"}})
	if !slices.Equal(s.Process.Env, []string{"PATH=" + DefaultPathEnv, "HOSTNAME=" + testID[:12], "HOME=/data"}) {
		t.Fatalf("env %q: an explicit HOME must win", s.Process.Env)
	}
}

func TestWorkingDir(t *testing.T) {
	root := fakeRootfs(t)
	s := generate(t, &Options{Rootfs: root})
	if s.Process.Cwd != "/" {
		t.Fatalf("cwd %q", s.Process.Cwd)
	}
	s = generate(t, &Options{Rootfs: root, Image: v1.Config{WorkingDir: "/srv/app/"}})
	if s.Process.Cwd != "/srv/app" {
		t.Fatalf("cwd %q", s.Process.Cwd)
	}
	s = generate(t, &Options{Rootfs: root, Image: v1.Config{WorkingDir: "/srv"}, WorkingDir: "/work/dir"})
	if s.Process.Cwd != "/work/dir" {
		t.Fatalf("cwd %q", s.Process.Cwd)
	}
	for _, d := range []string{"srv/app", "work/dir"} {
		if fi, err := os.Stat(filepath.Join(root, d)); err != nil || !fi.IsDir() {
			t.Fatalf("working directory %s not created in the rootfs: %v", d, err)
		}
	}

	// A symlink in the image must not make the daemon create directories
	// outside the rootfs. Refusing to create through the symlink (which is
	// dangling inside the root) is fine too.
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(root, "escape")); err != nil {
		t.Fatal(err)
	}
	_, _ = Generate(context.Background(), &Options{ID: testID, Rootfs: root, Cmd: []string{"sh"}, WorkingDir: "/escape/sub"})
	if _, err := os.Stat(filepath.Join(outside, "sub")); err == nil {
		t.Fatal("working directory was created outside the rootfs")
	}
}

func TestUserInSpec(t *testing.T) {
	s := generate(t, &Options{User: "app"})
	u := s.Process.User
	if u.UID != 1000 || u.GID != 1000 || !slices.Equal(u.AdditionalGids, []uint32{10, 29}) {
		t.Fatalf("user %+v", u)
	}
	// The image's user applies unless -u overrides it.
	s = generate(t, &Options{Image: v1.Config{User: "daemon"}})
	if s.Process.User.UID != 1 {
		t.Fatalf("image user: %+v", s.Process.User)
	}
	s = generate(t, &Options{Image: v1.Config{User: "daemon"}, User: "0"})
	if s.Process.User.UID != 0 {
		t.Fatalf("-u 0: %+v", s.Process.User)
	}
}

func TestDefaults(t *testing.T) {
	root := fakeRootfs(t)
	s := generate(t, &Options{Rootfs: root})
	if s.Root.Path != root || s.Root.Readonly {
		t.Fatalf("root %+v", s.Root)
	}
	if s.Hostname != testID[:12] {
		t.Fatalf("hostname %q", s.Hostname)
	}
	if s.Linux.CgroupsPath != "/wharf/"+testID {
		t.Fatalf("cgroupsPath %q", s.Linux.CgroupsPath)
	}
	var ns []specs.LinuxNamespaceType
	for _, n := range s.Linux.Namespaces {
		if n.Path != "" {
			t.Fatalf("namespace %s joins %s", n.Type, n.Path)
		}
		ns = append(ns, n.Type)
	}
	for _, want := range []specs.LinuxNamespaceType{specs.PIDNamespace, specs.MountNamespace, specs.UTSNamespace, specs.IPCNamespace, specs.CgroupNamespace, specs.NetworkNamespace} {
		if !slices.Contains(ns, want) {
			t.Errorf("no %s namespace in %v", want, ns)
		}
	}
	if slices.Contains(ns, specs.UserNamespace) {
		t.Error("unexpected user namespace")
	}
	p := s.Process
	if p.NoNewPrivileges {
		t.Error("no_new_privs is on by default; Docker leaves it off")
	}
	if len(p.Rlimits) != 0 {
		t.Errorf("default rlimits %+v, want none", p.Rlimits)
	}
	if p.OOMScoreAdj == nil || *p.OOMScoreAdj != 0 {
		t.Error("OOM score adjustment is not reset to 0")
	}
	dockerCaps := []string{"CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_MKNOD",
		"CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT"}
	checkCaps(t, s, dockerCaps)
	if len(p.Capabilities.Inheritable) != 0 || len(p.Capabilities.Ambient) != 0 {
		t.Errorf("inheritable/ambient caps %+v", p.Capabilities)
	}
	for _, m := range []string{"/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"} {
		if !slices.Contains(s.Linux.MaskedPaths, m) {
			t.Errorf("%s not masked: %v", m, s.Linux.MaskedPaths)
		}
	}
	for _, m := range []string{"/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus"} {
		if !slices.Contains(s.Linux.ReadonlyPaths, m) {
			t.Errorf("%s not read-only: %v", m, s.Linux.ReadonlyPaths)
		}
	}
	mounts := map[string]specs.Mount{}
	for _, m := range s.Mounts {
		mounts[m.Destination] = m
	}
	for _, d := range []string{"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup"} {
		if _, ok := mounts[d]; !ok {
			t.Errorf("no %s mount", d)
		}
	}
	if _, ok := mounts["/run"]; ok {
		t.Error("/run is a tmpfs; Docker does not mount one")
	}
	if !slices.Contains(mounts["/sys"].Options, "ro") || !slices.Contains(mounts["/sys/fs/cgroup"].Options, "ro") {
		t.Error("/sys or /sys/fs/cgroup is writable")
	}
	// Devices: deny all, then allow the standard character devices.
	devs := s.Linux.Resources.Devices
	if len(devs) < 2 || devs[0].Allow || devs[0].Access != "rwm" || devs[0].Major != nil {
		t.Fatalf("device rules %+v do not start with deny-all", devs)
	}
	if !allowsDevice(devs, 1, 3) || !allowsDevice(devs, 136, 0) || allowsDevice(devs, 8, 0) {
		t.Errorf("device rules %+v", devs)
	}
	if r := s.Linux.Resources; r.Memory != nil || r.CPU != nil || r.Pids != nil {
		t.Errorf("default resources %+v, want unlimited", r)
	}
	if s.Linux.Seccomp == nil {
		t.Fatal("no default seccomp profile")
	}
	// The spec must survive a JSON round trip unchanged: it is written to
	// config.json.
	raw, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back specs.Spec
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
}

func allowsDevice(rules []specs.LinuxDeviceCgroup, major, minor int64) bool {
	allowed := false
	for _, r := range rules {
		if (r.Type == "" || r.Type == "a" || r.Type == "c") &&
			(r.Major == nil || *r.Major == major) && (r.Minor == nil || *r.Minor == minor) {
			allowed = r.Allow
		}
	}
	return allowed
}

func checkCaps(t *testing.T, s *specs.Spec, want []string) {
	t.Helper()
	c := s.Process.Capabilities
	for name, got := range map[string][]string{"bounding": c.Bounding, "effective": c.Effective, "permitted": c.Permitted} {
		g := slices.Clone(got)
		w := slices.Clone(want)
		slices.Sort(g)
		slices.Sort(w)
		if !slices.Equal(g, w) {
			t.Errorf("%s caps\n%v\nwant\n%v", name, g, w)
		}
	}
}

func TestResources(t *testing.T) {
	s := generate(t, &Options{Memory: 64 << 20, NanoCPUs: 5e8, CPUShares: 512, PidsLimit: 100})
	r := s.Linux.Resources
	if *r.Memory.Limit != 64<<20 || *r.Memory.Swap != 128<<20 {
		t.Errorf("memory limit %d swap %d", *r.Memory.Limit, *r.Memory.Swap)
	}
	if r.Memory.DisableOOMKiller != nil && *r.Memory.DisableOOMKiller {
		t.Error("OOM killer disabled")
	}
	if *r.CPU.Quota != 50000 || *r.CPU.Period != 100000 || *r.CPU.Shares != 512 {
		t.Errorf("cpu quota %d period %d shares %d", *r.CPU.Quota, *r.CPU.Period, *r.CPU.Shares)
	}
	if *r.Pids.Limit != 100 {
		t.Errorf("pids %d", *r.Pids.Limit)
	}

	for _, tc := range []struct {
		mem, swap, want int64
	}{
		{64 << 20, -1, -1},
		{64 << 20, 256 << 20, 256 << 20},
		{64 << 20, 64 << 20, 64 << 20},
	} {
		s := generate(t, &Options{Memory: tc.mem, MemorySwap: tc.swap})
		if *s.Linux.Resources.Memory.Swap != tc.want {
			t.Errorf("memory %d swap %d: spec swap %d, want %d", tc.mem, tc.swap, *s.Linux.Resources.Memory.Swap, tc.want)
		}
	}
	s = generate(t, &Options{CPUShares: 1, NanoCPUs: 1e9})
	if *s.Linux.Resources.CPU.Shares != 2 || *s.Linux.Resources.CPU.Quota != 100000 {
		t.Errorf("cpu %+v", s.Linux.Resources.CPU)
	}
	s = generate(t, &Options{PidsLimit: -1, MemorySwap: -1})
	if s.Linux.Resources.Pids != nil || s.Linux.Resources.Memory != nil {
		t.Errorf("unlimited pids/memory: %+v", s.Linux.Resources)
	}
}

func TestReadOnlyRoot(t *testing.T) {
	if s := generate(t, &Options{ReadOnly: true}); !s.Root.Readonly {
		t.Fatal("root is writable")
	}
}

func TestCapabilities(t *testing.T) {
	current, err := cap.Current()
	if err != nil {
		t.Fatal(err)
	}
	without := func(list []string, drop ...string) []string {
		var out []string
		for _, c := range list {
			if !slices.Contains(drop, c) {
				out = append(out, c)
			}
		}
		return out
	}
	base := generate(t, &Options{}).Process.Capabilities.Bounding
	for _, tc := range []struct {
		name      string
		add, drop []string
		want      []string
	}{
		{"add with prefix", []string{"CAP_NET_ADMIN"}, nil, append(slices.Clone(base), "CAP_NET_ADMIN")},
		{"add without prefix, lower case", []string{"net_admin", "sys_ptrace"}, nil, append(slices.Clone(base), "CAP_NET_ADMIN", "CAP_SYS_PTRACE")},
		{"add a default one", []string{"CHOWN"}, nil, base},
		{"drop", nil, []string{"NET_RAW", "CAP_MKNOD"}, without(base, "CAP_NET_RAW", "CAP_MKNOD")},
		{"drop all", nil, []string{"ALL"}, []string{}},
		{"drop all, add one", []string{"NET_BIND_SERVICE"}, []string{"all"}, []string{"CAP_NET_BIND_SERVICE"}},
		{"add all", []string{"ALL"}, nil, current},
		{"add all, drop one", []string{"ALL"}, []string{"SYS_ADMIN"}, without(current, "CAP_SYS_ADMIN")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := generate(t, &Options{CapAdd: tc.add, CapDrop: tc.drop})
			checkCaps(t, s, tc.want)
		})
	}
}

func TestPrivileged(t *testing.T) {
	current, err := cap.Current()
	if err != nil {
		t.Fatal(err)
	}
	s := generate(t, &Options{Privileged: true, CapDrop: []string{"ALL"}})
	checkCaps(t, s, current)
	if s.Linux.Seccomp != nil {
		t.Error("privileged container has a seccomp filter")
	}
	if len(s.Linux.MaskedPaths) != 0 || len(s.Linux.ReadonlyPaths) != 0 {
		t.Errorf("masked %v read-only %v", s.Linux.MaskedPaths, s.Linux.ReadonlyPaths)
	}
	if !allowsDevice(s.Linux.Resources.Devices, 8, 0) {
		t.Errorf("privileged device rules %+v", s.Linux.Resources.Devices)
	}
	for _, m := range s.Mounts {
		if (m.Destination == "/sys" || m.Destination == "/sys/fs/cgroup") && slices.Contains(m.Options, "ro") {
			t.Errorf("%s is read-only in a privileged container", m.Destination)
		}
	}
}

func TestNoNewPrivileges(t *testing.T) {
	if s := generate(t, &Options{NoNewPrivileges: true}); !s.Process.NoNewPrivileges {
		t.Fatal("no_new_privs not set")
	}
}

func syscallAllowed(sc *specs.LinuxSeccomp, name string) bool {
	for _, r := range sc.Syscalls {
		if r.Action == specs.ActAllow && len(r.Args) == 0 && slices.Contains(r.Names, name) {
			return true
		}
	}
	return false
}

func TestSeccomp(t *testing.T) {
	s := generate(t, &Options{})
	sc := s.Linux.Seccomp
	if sc.DefaultAction != specs.ActErrno {
		t.Errorf("default action %s", sc.DefaultAction)
	}
	if !slices.Contains(sc.Architectures, specs.ArchX86_64) || !slices.Contains(sc.Architectures, specs.ArchX86) || !slices.Contains(sc.Architectures, specs.ArchX32) {
		t.Errorf("architectures %v", sc.Architectures)
	}
	for _, name := range []string{"read", "write", "execve", "openat"} {
		if !syscallAllowed(sc, name) {
			t.Errorf("%s is not allowed", name)
		}
	}
	for _, name := range []string{"keyctl", "add_key", "mount", "reboot", "kexec_load"} {
		if syscallAllowed(sc, name) {
			t.Errorf("%s is allowed by the default profile", name)
		}
	}
	// The profile follows the capabilities: CAP_SYS_ADMIN opens mount.
	s = generate(t, &Options{CapAdd: []string{"SYS_ADMIN"}})
	if !syscallAllowed(s.Linux.Seccomp, "mount") {
		t.Error("mount not allowed with CAP_SYS_ADMIN")
	}

	if s := generate(t, &Options{SeccompProfile: SeccompUnconfined}); s.Linux.Seccomp != nil {
		t.Error("unconfined container has a seccomp filter")
	}

	profile := `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["chmod"],"action":"SCMP_ACT_ERRNO"}]}`
	file := filepath.Join(t.TempDir(), "profile.json")
	if err := os.WriteFile(file, []byte(profile), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{file, profile} {
		s := generate(t, &Options{SeccompProfile: p})
		if s.Linux.Seccomp == nil || s.Linux.Seccomp.DefaultAction != specs.ActAllow ||
			len(s.Linux.Seccomp.Syscalls) != 1 || s.Linux.Seccomp.Syscalls[0].Names[0] != "chmod" {
			t.Errorf("custom profile %q: %+v", p, s.Linux.Seccomp)
		}
	}
}

func TestUlimitsInSpec(t *testing.T) {
	s := generate(t, &Options{Ulimits: []Ulimit{{"nofile", 1024, 2048}, {"core", -1, -1}, {"nofile", 512, 512}}})
	want := []specs.POSIXRlimit{
		{Type: "RLIMIT_NOFILE", Soft: 512, Hard: 512},
		{Type: "RLIMIT_CORE", Soft: ^uint64(0), Hard: ^uint64(0)},
	}
	if !slices.Equal(s.Process.Rlimits, want) {
		t.Fatalf("rlimits %+v, want %+v", s.Process.Rlimits, want)
	}
}

func TestNetwork(t *testing.T) {
	netns := func(s *specs.Spec) (specs.LinuxNamespace, bool) {
		for _, n := range s.Linux.Namespaces {
			if n.Type == specs.NetworkNamespace {
				return n, true
			}
		}
		return specs.LinuxNamespace{}, false
	}
	for _, mode := range []string{"", NetworkNone} {
		if n, ok := netns(generate(t, &Options{NetworkMode: mode})); !ok || n.Path != "" {
			t.Errorf("mode %q: network namespace %+v %v, want a new one", mode, n, ok)
		}
	}
	s := generate(t, &Options{NetworkMode: NetworkHost})
	if _, ok := netns(s); ok {
		t.Error("host networking has a network namespace")
	}
	if h, _ := os.Hostname(); s.Hostname != h {
		t.Errorf("host networking hostname %q, want the host's %q", s.Hostname, h)
	}
	if n, ok := netns(generate(t, &Options{NetworkMode: "bridge", NetNSPath: "/run/wharf/netns/x"})); !ok || n.Path != "/run/wharf/netns/x" {
		t.Errorf("join: %+v", n)
	}
}

func TestMountsAndInit(t *testing.T) {
	s := generate(t, &Options{
		Init:     true,
		InitPath: "/usr/libexec/wharf/wharf-init",
		Mounts: []specs.Mount{
			{Destination: "/etc/hosts", Type: "bind", Source: "/var/lib/wharf/c/hosts", Options: []string{"rbind", "ro"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"size=1g"}},
		},
		Annotations: map[string]string{"org.wharf.name": "web"},
	})
	var shm, hosts, init int
	for _, m := range s.Mounts {
		switch m.Destination {
		case "/dev/shm":
			shm++
			if !slices.Contains(m.Options, "size=1g") {
				t.Errorf("default /dev/shm not replaced: %+v", m)
			}
		case "/etc/hosts":
			hosts++
		case InitMountPath:
			init++
			if m.Source != "/usr/libexec/wharf/wharf-init" || m.Type != "bind" || !slices.Contains(m.Options, "ro") {
				t.Errorf("init mount %+v", m)
			}
		}
	}
	if shm != 1 || hosts != 1 || init != 1 {
		t.Errorf("mounts %+v", s.Mounts)
	}
	if s.Annotations["org.wharf.name"] != "web" {
		t.Errorf("annotations %v", s.Annotations)
	}

	s = generate(t, &Options{Mounts: []specs.Mount{{Destination: "/dev", Type: "bind", Source: "/dev", Options: []string{"rbind"}}}})
	for _, m := range s.Mounts {
		if strings.HasPrefix(m.Destination, "/dev/") {
			t.Errorf("default %s kept under a user /dev mount", m.Destination)
		}
	}
}

func TestExecProcess(t *testing.T) {
	root := fakeRootfs(t)
	base := generate(t, &Options{Rootfs: root, User: "daemon", Env: []string{"A=1"}, WorkingDir: "/srv", NoNewPrivileges: true,
		CapDrop: []string{"NET_RAW"}, Ulimits: []Ulimit{{"nofile", 100, 100}}})
	before, _ := json.Marshal(base)

	p, err := ExecProcess(base, root, ExecOptions{Cmd: []string{"ps", "aux"}, Env: []string{"A=2", "B=3"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Args, []string{"ps", "aux"}) || p.Cwd != "/srv" || p.User.UID != 1 || !p.NoNewPrivileges || p.Terminal {
		t.Errorf("process %+v", p)
	}
	if !slices.Equal(p.Env, []string{"PATH=" + DefaultPathEnv, "HOSTNAME=" + testID[:12], "A=2", "HOME=/usr/sbin", "B=3"}) {
		t.Errorf("env %q", p.Env)
	}
	if !slices.Equal(p.Capabilities.Bounding, base.Process.Capabilities.Bounding) || !slices.Equal(p.Rlimits, base.Process.Rlimits) {
		t.Errorf("caps/rlimits not inherited: %+v", p)
	}

	p, err = ExecProcess(base, root, ExecOptions{Cmd: []string{"sh"}, User: "app", WorkingDir: "/tmp", Tty: true, Privileged: true})
	if err != nil {
		t.Fatal(err)
	}
	if p.User.UID != 1000 || p.User.GID != 1000 || !slices.Equal(p.User.AdditionalGids, []uint32{10, 29}) || p.Cwd != "/tmp" || !p.Terminal {
		t.Errorf("process %+v", p)
	}
	if !hasEnv(p.Env, "TERM") || !slices.Contains(p.Env, "HOME=/home/app") {
		t.Errorf("env %q", p.Env)
	}
	current, _ := cap.Current()
	if !slices.Equal(p.Capabilities.Effective, current) {
		t.Errorf("privileged exec caps %v", p.Capabilities.Effective)
	}

	after, _ := json.Marshal(base)
	if string(before) != string(after) {
		t.Error("ExecProcess modified the container's spec")
	}

	for _, o := range []ExecOptions{{}, {Cmd: []string{"sh"}, User: "ghost"}, {Cmd: []string{"sh"}, WorkingDir: "rel"}} {
		if _, err := ExecProcess(base, root, o); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%+v: err = %v, want invalid argument", o, err)
		}
	}
}
