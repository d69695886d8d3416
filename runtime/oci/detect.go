package oci

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Candidate is a runtime found on the host and whether it can run
// containers here.
type Candidate struct {
	Name    string
	Path    string
	Version string
	Usable  bool
	// Reason says why the runtime is or is not usable, for `wharf info`.
	Reason string
	// Hide is what the runtime works only without (see Runtime.Hide).
	Hide []string
}

// Probe finds name on PATH and checks that it can run a container on this
// host by asking it to start a process that does not exist in an empty
// bundle: a runtime that works gets as far as exec and fails there with
// "not found"; one that cannot work on this host fails earlier with its
// own reason. A runtime that fails on a hybrid cgroup layout (Debian 12's
// crun: "cgroups in hybrid mode not supported") is probed again with the
// layout's cgroup2 mounts hidden from it (mountns_linux.go); when that
// works it is usable with Candidate.Hide set, which its Runtime must carry.
// The probe runs no code from any image and leaves nothing behind in
// scratch.
func Probe(ctx context.Context, name, scratch string) Candidate {
	return ProbeIn(ctx, name, scratch, "")
}

// ProbeIn is Probe with the test container joining the network
// namespace at netns ("" for a new one), as containers on a bridge
// network do: runsc refuses a new one ("cannot run with network enabled
// in root network namespace") and must be probed in the setting its
// containers will have.
func ProbeIn(ctx context.Context, name, scratch, netns string) Candidate {
	c := Candidate{Name: name}
	path, err := exec.LookPath(name)
	if err != nil {
		c.Reason = name + " is not installed"
		return c
	}
	c.Path = path
	rt := &Runtime{Name: name, Path: path}
	c.Version = rt.Version(ctx)
	c.Usable, c.Reason = probeRun(ctx, rt, scratch, netns)
	if c.Usable {
		return c
	}
	hide, err := HostHybridCgroup2Mounts()
	if err != nil {
		c.Reason += "; reading the mount table: " + err.Error()
		return c
	}
	if len(hide) == 0 {
		return c
	}
	rt.Hide = hide
	ok, why := probeRun(ctx, rt, scratch, netns)
	if !ok {
		c.Reason += "; with " + strings.Join(hide, ", ") + " hidden: " + why
		return c
	}
	c.Usable, c.Hide = true, hide
	c.Reason = fmt.Sprintf("started a test container with the hybrid layout's cgroup2 mount %s hidden in its own mount namespace (with the host's mounts as they are: %s)",
		strings.Join(hide, ", "), c.Reason)
	return c
}

// probeRun runs the probe's container with rt and tells whether rt works
// here, and why (or why not).
func probeRun(ctx context.Context, rt *Runtime, scratch, netns string) (bool, string) {
	dir, err := os.MkdirTemp(scratch, "probe-"+rt.Name+"-")
	if err != nil {
		return false, "probe: " + err.Error()
	}
	defer os.RemoveAll(dir)
	rt.Root = filepath.Join(dir, "state")
	// crun opens the rootfs's /dev (for its device nodes) before it gets
	// to the process; runc creates what is missing.
	for _, d := range []string{"dev", "proc"} {
		if err := os.MkdirAll(filepath.Join(dir, "rootfs", d), 0o755); err != nil {
			return false, "probe: " + err.Error()
		}
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	id := "wharf-probe-" + hex.EncodeToString(b[:])
	data, _ := json.Marshal(probeSpec(id, netns))
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o600); err != nil {
		return false, "probe: " + err.Error()
	}
	cmd := rt.Command(ctx, "run", "--bundle", dir, id)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	runErr := rt.Run(cmd)
	_ = rt.Run(rt.Command(ctx, "delete", "--force", id))
	removeProbeCgroups(id)
	msg := cleanMessage(out.String())
	switch {
	case runErr == nil:
		return false, "probe: a missing executable was reported as started"
	case StartExitCode(msg) == 127:
		return true, "started a test container on this host"
	}
	if why := strings.TrimSpace(msg); why != "" {
		return false, why
	}
	return false, runErr.Error()
}

func probeSpec(id, netns string) *specs.Spec {
	return &specs.Spec{
		Version: SpecVersion,
		Root:    &specs.Root{Path: "rootfs", Readonly: true},
		Process: &specs.Process{
			Args: []string{"/wharf-probe-does-not-exist"},
			Cwd:  "/",
			User: specs.User{UID: 0, GID: 0},
		},
		Mounts: []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc"}},
		Linux: &specs.Linux{
			CgroupsPath: "/" + id,
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.MountNamespace}, {Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace}, {Type: specs.NetworkNamespace, Path: netns},
			},
		},
	}
}

// Select picks the runtime containers use by default: the first usable
// candidate in preference order (crun first: it starts containers several
// times faster than runc) that works with the host's mounts as they are;
// one usable only with mounts hidden from it (Candidate.Hide) is chosen
// when no other is. Containers' features beyond the start (docker update,
// the user-namespace tasks, stats) are verified with runc under the
// hybrid layout. It returns the choice and a sentence saying why.
func Select(cands []Candidate) (Candidate, string, error) {
	for _, c := range cands {
		if c.Usable && len(c.Hide) == 0 {
			return c, whyChosen(cands, c), nil
		}
	}
	return SelectAny(cands)
}

// SelectAny picks the first usable candidate in preference order, hidden
// mounts or not: what function sandboxes use, whose start is the cold
// start of an invocation.
func SelectAny(cands []Candidate) (Candidate, string, error) {
	var skipped []string
	for _, c := range cands {
		if c.Usable {
			return c, whyChosen(cands, c), nil
		}
		skipped = append(skipped, fmt.Sprintf("%s unusable (%s)", c.Name, c.Reason))
	}
	return Candidate{}, "", fmt.Errorf("no usable OCI runtime: %s (apt-get install runc crun)", strings.Join(skipped, "; "))
}

// whyChosen says why chosen was picked over the candidates before it.
func whyChosen(cands []Candidate, chosen Candidate) string {
	var skipped []string
	for _, c := range cands {
		if c.Name == chosen.Name {
			break
		}
		switch {
		case !c.Usable:
			skipped = append(skipped, fmt.Sprintf("%s unusable (%s)", c.Name, c.Reason))
		case len(c.Hide) > 0:
			skipped = append(skipped, fmt.Sprintf("%s usable only with %s hidden from it", c.Name, strings.Join(c.Hide, ", ")))
		}
	}
	why := chosen.Name + " " + chosen.Reason
	if len(skipped) > 0 {
		why = strings.Join(skipped, "; ") + "; " + why
	}
	return why
}

// removeProbeCgroups removes the probe container's cgroups (CgroupsPath
// "/<id>") from every hierarchy where the runtime left them: crun run in
// a namespace without the cgroup2 mount left one per v1 hierarchy at each
// daemon start. rmdir removes only an empty cgroup.
func removeProbeCgroups(id string) {
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*/" + id)
	for _, d := range dirs {
		_ = os.Remove(d)
	}
	_ = os.Remove(filepath.Join("/sys/fs/cgroup", id))
}
