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
}

// Probe finds name on PATH and checks that it can run a container on this
// host by asking it to start a process that does not exist in an empty
// bundle: a runtime that works gets as far as exec and fails there with
// "not found"; one that cannot work on this host (Debian 12's crun on a
// hybrid cgroup layout) fails earlier with its own reason. The probe runs
// no code from any image and leaves nothing behind in scratch.
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

	dir, err := os.MkdirTemp(scratch, "probe-"+name+"-")
	if err != nil {
		c.Reason = "probe: " + err.Error()
		return c
	}
	defer os.RemoveAll(dir)
	rt.Root = filepath.Join(dir, "state")
	if err := os.MkdirAll(filepath.Join(dir, "rootfs"), 0o755); err != nil {
		c.Reason = "probe: " + err.Error()
		return c
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	id := "wharf-probe-" + hex.EncodeToString(b[:])
	data, _ := json.Marshal(probeSpec(id, netns))
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o600); err != nil {
		c.Reason = "probe: " + err.Error()
		return c
	}
	cmd := rt.Command(ctx, "run", "--bundle", dir, id)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	runErr := cmd.Run()
	_ = rt.Command(ctx, "delete", "--force", id).Run()
	msg := cleanMessage(out.String())
	switch {
	case runErr == nil:
		c.Reason = "probe: a missing executable was reported as started"
	case StartExitCode(msg) == 127:
		c.Usable = true
		c.Reason = "started a test container on this host"
	default:
		c.Reason = strings.TrimSpace(msg)
		if c.Reason == "" {
			c.Reason = runErr.Error()
		}
	}
	return c
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

// Select picks the runtime to use by default: the first usable candidate in
// preference order (crun first: it starts containers several times faster
// than runc). It returns the choice and a sentence saying why.
func Select(cands []Candidate) (Candidate, string, error) {
	var skipped []string
	for _, c := range cands {
		if c.Usable {
			why := c.Name + " " + c.Reason
			if len(skipped) > 0 {
				why = fmt.Sprintf("%s; %s", strings.Join(skipped, "; "), why)
			}
			return c, why, nil
		}
		skipped = append(skipped, fmt.Sprintf("%s unusable (%s)", c.Name, c.Reason))
	}
	return Candidate{}, "", fmt.Errorf("no usable OCI runtime: %s (apt-get install runc crun)", strings.Join(skipped, "; "))
}
