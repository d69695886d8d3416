package oci

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func seccompSpec(action specs.LinuxSeccompAction) *specs.Spec {
	return &specs.Spec{Linux: &specs.Linux{Seccomp: &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"read", "write"}, Action: action}},
	}}}
}

// A profile's program is learnt from a started container's state
// directory and given to later specs of the same profile only: another
// profile, the annotation that changes the compile, another crun binary
// or a damaged entry compile afresh.
func TestSeccompCache(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "crun")
	if err := os.WriteFile(bin, []byte("crun 1"), 0o700); err != nil {
		t.Fatal(err)
	}
	rt := &Runtime{Name: "crun", Path: bin}
	c, err := NewSeccompCache(filepath.Join(dir, "cache"), rt)
	if err != nil {
		t.Fatal(err)
	}
	s := seccompSpec(specs.ActAllow)
	key := c.Apply(s)
	if key == "" || s.Annotations[SeccompBPFAnnotation] != "" {
		t.Fatalf("a profile never compiled: key %q, annotations %v", key, s.Annotations)
	}
	state := filepath.Join(dir, "state", "ctr1")
	if err := os.MkdirAll(state, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := c.Learn(key, state); err == nil {
		t.Fatal("learnt a program crun did not write")
	}
	for _, bad := range [][]byte{{}, make([]byte, 12), make([]byte, 8*(maxBPFInsns+1))} {
		if err := os.WriteFile(filepath.Join(state, "seccomp.bpf"), bad, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := c.Learn(key, state); err == nil {
			t.Fatalf("learnt a program of %d bytes", len(bad))
		}
	}
	prog := make([]byte, 8*3)
	for i := range prog {
		prog[i] = byte(i)
	}
	if err := os.WriteFile(filepath.Join(state, "seccomp.bpf"), prog, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.Learn(key, state); err != nil {
		t.Fatal(err)
	}
	want := base64.StdEncoding.EncodeToString(prog)
	s2 := seccompSpec(specs.ActAllow)
	if k := c.Apply(s2); k != "" || s2.Annotations[SeccompBPFAnnotation] != want {
		t.Fatalf("same profile: key %q, annotation %q", k, s2.Annotations[SeccompBPFAnnotation])
	}
	// Another daemon (empty memory) reads it from disk.
	c2, err := NewSeccompCache(filepath.Join(dir, "cache"), rt)
	if err != nil {
		t.Fatal(err)
	}
	s3 := seccompSpec(specs.ActAllow)
	if k := c2.Apply(s3); k != "" || s3.Annotations[SeccompBPFAnnotation] != want {
		t.Fatalf("after a restart: key %q, annotation %q", k, s3.Annotations[SeccompBPFAnnotation])
	}
	if fi, err := os.Stat(filepath.Join(dir, "cache")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("cache directory: %v %v", fi.Mode(), err)
	}

	misses := map[string]*specs.Spec{
		"another profile": seccompSpec(specs.ActLog),
		"fail on unknown syscalls": func() *specs.Spec {
			s := seccompSpec(specs.ActAllow)
			s.Annotations = map[string]string{seccompCompileAnnotation: "1"}
			return s
		}(),
	}
	for name, s := range misses {
		if k := c.Apply(s); k == "" || s.Annotations[SeccompBPFAnnotation] != "" {
			t.Errorf("%s: got the cached program (key %q)", name, k)
		}
	}
	// Nothing to do: no profile, or a program already given.
	if k := c.Apply(&specs.Spec{Linux: &specs.Linux{}}); k != "" {
		t.Errorf("no profile: key %q", k)
	}
	given := seccompSpec(specs.ActAllow)
	given.Annotations = map[string]string{SeccompBPFAnnotation: "theirs"}
	if k := c.Apply(given); k != "" || given.Annotations[SeccompBPFAnnotation] != "theirs" {
		t.Errorf("a given program: key %q, annotation %q", k, given.Annotations[SeccompBPFAnnotation])
	}

	// Another crun binary (an upgrade) compiles afresh.
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(bin, later, later); err != nil {
		t.Fatal(err)
	}
	c3, err := NewSeccompCache(filepath.Join(dir, "cache"), rt)
	if err != nil {
		t.Fatal(err)
	}
	s4 := seccompSpec(specs.ActAllow)
	if k := c3.Apply(s4); k == "" || s4.Annotations[SeccompBPFAnnotation] != "" {
		t.Fatalf("another crun binary got the old program (key %q)", k)
	}
	// A damaged entry on disk compiles afresh.
	if err := os.WriteFile(filepath.Join(dir, "cache", c3.key(s4)), []byte("torn"), 0o600); err != nil {
		t.Fatal(err)
	}
	s5 := seccompSpec(specs.ActAllow)
	if k := c3.Apply(s5); k == "" || s5.Annotations[SeccompBPFAnnotation] != "" {
		t.Fatal("a damaged entry was given")
	}
}
