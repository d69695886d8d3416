package oci

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/wharf-dev/wharf/internal/atomicfile"
)

// Compiling a seccomp profile into a BPF program is the dearest part of
// a container's start with crun: Docker's default profile costs crun
// (libseccomp) about 27 ms of CPU at every start on these hosts, more
// than everything else it does. The program depends only on the profile,
// the architecture and crun itself, so a SeccompCache keeps the program
// crun compiled for a profile, and gives it to crun for later containers
// with the same profile through crun's run.oci.seccomp_bpf_data
// annotation, which loads the program as is (podman does the same with
// crun). crun writes the program it compiled to seccomp.bpf in the
// container's state directory; that is where the cache learns it, once
// the container has started.
//
// Entries are named by the SHA-256 of the spec's seccomp section, the
// annotation that changes how crun compiles it
// (run.oci.seccomp_fail_unknown_syscall) and crun's identity (its path,
// size and modification time: an upgrade compiles afresh), and kept in
// memory and, written atomically, in a directory of the daemon's only
// root can read (0700), so that a restarted daemon has them.

// SeccompBPFAnnotation is crun's annotation carrying a compiled seccomp
// program, base64-encoded.
const SeccompBPFAnnotation = "run.oci.seccomp_bpf_data"

// seccompCompileAnnotation changes how crun compiles a profile.
const seccompCompileAnnotation = "run.oci.seccomp_fail_unknown_syscall"

// maxBPFInsns is the kernel's limit on a seccomp filter (BPF_MAXINSNS);
// each instruction (struct sock_filter) is 8 bytes.
const maxBPFInsns = 4096

// SeccompCache keeps compiled seccomp programs of one crun binary.
type SeccompCache struct {
	dir, ident string
	mu         sync.Mutex
	mem        map[string]string // key -> base64 program
}

// NewSeccompCache returns the cache of rt's compiled programs in dir.
func NewSeccompCache(dir string, rt *Runtime) (*SeccompCache, error) {
	st, err := os.Stat(rt.Path)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, err
	}
	ident := rt.Path + "\x00" + strconv.FormatInt(st.Size(), 10) + "\x00" + strconv.FormatInt(st.ModTime().UnixNano(), 10)
	return &SeccompCache{dir: dir, ident: ident, mem: map[string]string{}}, nil
}

// key names s's compiled program; "" when s has no profile or already
// carries a program.
func (c *SeccompCache) key(s *specs.Spec) string {
	if s.Linux == nil || s.Linux.Seccomp == nil {
		return ""
	}
	if _, ok := s.Annotations[SeccompBPFAnnotation]; ok {
		return ""
	}
	prof, err := json.Marshal(s.Linux.Seccomp)
	if err != nil {
		return ""
	}
	h := sha256.New()
	h.Write([]byte(c.ident))
	h.Write([]byte{0})
	h.Write([]byte(s.Annotations[seccompCompileAnnotation]))
	h.Write([]byte{0})
	h.Write(prof)
	return hex.EncodeToString(h.Sum(nil))
}

// Apply gives s the compiled program of its profile if the cache has it.
// It returns the key to Learn under when it had not ("" when there is
// nothing to learn).
func (c *SeccompCache) Apply(s *specs.Spec) (learn string) {
	k := c.key(s)
	if k == "" {
		return ""
	}
	c.mu.Lock()
	b64, ok := c.mem[k]
	c.mu.Unlock()
	if !ok {
		data, err := os.ReadFile(filepath.Join(c.dir, k))
		if err != nil || validBPF(data) != nil {
			return k
		}
		b64 = base64.StdEncoding.EncodeToString(data)
		c.mu.Lock()
		c.mem[k] = b64
		c.mu.Unlock()
	}
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	s.Annotations[SeccompBPFAnnotation] = b64
	return ""
}

// Learn keeps the program crun compiled for the container whose state
// directory is stateDir, under key (Apply's answer for its spec).
func (c *SeccompCache) Learn(key, stateDir string) error {
	if key == "" {
		return nil
	}
	data, err := os.ReadFile(filepath.Join(stateDir, "seccomp.bpf"))
	if err != nil {
		return err
	}
	if err := validBPF(data); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(c.dir, key), data, 0o600, atomicfile.NoSync()); err != nil {
		return err
	}
	c.mu.Lock()
	c.mem[key] = base64.StdEncoding.EncodeToString(data)
	c.mu.Unlock()
	return nil
}

// validBPF checks that data is a whole number of BPF instructions the
// kernel would take as one filter.
func validBPF(data []byte) error {
	switch {
	case len(data) == 0:
		return errors.New("empty seccomp program")
	case len(data)%8 != 0:
		return fmt.Errorf("seccomp program of %d bytes is not whole instructions", len(data))
	case len(data)/8 > maxBPFInsns:
		return fmt.Errorf("seccomp program of %d instructions is over the kernel's %d", len(data)/8, maxBPFInsns)
	}
	return nil
}
