package snapshot

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/internal/testutil"
)

type ent struct {
	name, body string
	typ        byte
}

func mkTar(t *testing.T, ents ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: 0o644}
		if e.typ == tar.TypeDir {
			h.Mode = 0o755
		} else {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.body))
	}
	tw.Close()
	return buf.Bytes()
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func TestUnpackOnceAndVerify(t *testing.T) {
	testutil.RequiresRoot(t)
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	layer := mkTar(t, ent{name: "a", body: "hello", typ: tar.TypeReg})
	diffID := sum(layer)
	chain := ChainID([]string{diffID})[0]
	// A wrong diffID keeps nothing.
	bad := sum([]byte("other"))
	if _, _, err := s.Unpack(context.Background(), ChainID([]string{bad})[0], bad, bytes.NewReader(layer)); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("diffID mismatch: %v", err)
	}
	if ids, _ := s.List(); len(ids) != 0 {
		t.Fatalf("mismatched layer kept: %v", ids)
	}
	info, existed, err := s.Unpack(context.Background(), chain, diffID, bytes.NewReader(layer))
	if err != nil || existed || info.Size != 5 {
		t.Fatalf("Unpack = %+v %v %v", info, existed, err)
	}
	_, existed, err = s.Unpack(context.Background(), chain, diffID, strings.NewReader("never read"))
	if err != nil || !existed {
		t.Fatalf("second Unpack = %v %v", existed, err)
	}
	d, err := s.Dir(chain)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(d, "a")); string(b) != "hello" {
		t.Fatalf("content %q", b)
	}
	if err := s.Remove(chain); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Dir(chain); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("after Remove: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.root, ".tmp")); len(ents) != 0 {
		t.Fatalf(".tmp not empty: %v", ents)
	}
}

func TestChainID(t *testing.T) {
	a, b := sum([]byte("a")), sum([]byte("b"))
	c := ChainID([]string{a, b})
	if c[0] != a || c[1] != sum([]byte(a+" "+b)) {
		t.Fatalf("ChainID = %v", c)
	}
}

// TestOverlayWhiteouts unpacks two layers into their own dirs (a file and
// its whiteout; a directory and its opaque marker) and checks the merged
// overlay view.
func TestOverlayWhiteouts(t *testing.T) {
	testutil.RequiresRoot(t)
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	l1 := mkTar(t,
		ent{name: "etc/", typ: tar.TypeDir},
		ent{name: "etc/gone", body: "old", typ: tar.TypeReg},
		ent{name: "etc/kept", body: "kept", typ: tar.TypeReg},
		ent{name: "opt/", typ: tar.TypeDir},
		ent{name: "opt/old1", body: "1", typ: tar.TypeReg},
		ent{name: "opt/old2", body: "2", typ: tar.TypeReg},
	)
	l2 := mkTar(t,
		ent{name: "etc/.wh.gone", typ: tar.TypeReg},
		ent{name: "opt/", typ: tar.TypeDir},
		ent{name: "opt/.wh..wh..opq", typ: tar.TypeReg},
		ent{name: "opt/new", body: "new", typ: tar.TypeReg},
	)
	diffs := []string{sum(l1), sum(l2)}
	chains := ChainID(diffs)
	var lowers []string
	for i, l := range [][]byte{l1, l2} {
		if _, _, err := s.Unpack(context.Background(), chains[i], diffs[i], bytes.NewReader(l)); err != nil {
			t.Fatal(err)
		}
		d, _ := s.Dir(chains[i])
		lowers = append(lowers, d)
	}
	base := t.TempDir()
	target := filepath.Join(base, "merged")
	os.Mkdir(target, 0o755)
	if err := MountOverlay(target, lowers, filepath.Join(base, "upper"), filepath.Join(base, "work"), 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Unmount(target) })
	if _, err := os.Stat(filepath.Join(target, "etc/gone")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("whiteout did not hide etc/gone: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(target, "etc/kept")); string(b) != "kept" {
		t.Errorf("etc/kept = %q", b)
	}
	ents, _ := os.ReadDir(filepath.Join(target, "opt"))
	if len(ents) != 1 || ents[0].Name() != "new" {
		t.Errorf("opaque opt = %v, want [new]", ents)
	}
	// Writes go to upper.
	if err := os.WriteFile(filepath.Join(target, "etc/kept"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(lowers[0], "etc/kept")); string(b) != "kept" {
		t.Errorf("lower changed: %q", b)
	}
	if err := Unmount(target); err != nil {
		t.Fatal(err)
	}
	if err := Unmount(target); err != nil {
		t.Fatalf("second Unmount: %v", err)
	}
}

func TestOverlayZeroAndManyLowers(t *testing.T) {
	testutil.RequiresRoot(t)
	base := t.TempDir()
	target := filepath.Join(base, "m0")
	os.Mkdir(target, 0o755)
	if err := MountOverlay(target, nil, filepath.Join(base, "u0"), filepath.Join(base, "w0"), 0); err != nil {
		t.Fatalf("zero lowers: %v", err)
	}
	os.WriteFile(filepath.Join(target, "f"), []byte("x"), 0o644)
	if err := Unmount(target); err != nil {
		t.Fatal(err)
	}

	// 120 lowers with long paths: far more than a page of options.
	var lowers []string
	long := filepath.Join(base, strings.Repeat("l", 60))
	for i := 0; i < 120; i++ {
		d := filepath.Join(long, fmt.Sprintf("%064d", i))
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, fmt.Sprintf("f%d", i)), nil, 0o644)
		os.WriteFile(filepath.Join(d, "top"), []byte(fmt.Sprint(i)), 0o644)
		lowers = append(lowers, d)
	}
	target = filepath.Join(base, "m1")
	os.Mkdir(target, 0o755)
	if err := MountOverlay(target, lowers, filepath.Join(base, "u1"), filepath.Join(base, "w1"), 0); err != nil {
		t.Fatalf("many lowers: %v", err)
	}
	defer Unmount(target)
	ents, _ := os.ReadDir(target)
	if len(ents) != 121 {
		t.Errorf("merged has %d entries, want 121", len(ents))
	}
	// The last lower listed is the top one.
	if b, _ := os.ReadFile(filepath.Join(target, "top")); string(b) != "119" {
		t.Errorf("top = %q, want 119", b)
	}
}

func TestMountLegacyLongOptions(t *testing.T) {
	testutil.RequiresRoot(t)
	base := t.TempDir()
	var top []string
	long := filepath.Join(base, strings.Repeat("l", 60))
	for i := 0; i < 30; i++ {
		d := filepath.Join(long, fmt.Sprintf("%064d", i))
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, "top"), []byte(fmt.Sprint(i)), 0o644)
		top = append([]string{d}, top...)
	}
	target := filepath.Join(base, "m")
	os.Mkdir(target, 0o755)
	os.MkdirAll(filepath.Join(base, "u"), 0o755)
	os.MkdirAll(filepath.Join(base, "w"), 0o755)
	wd, _ := os.Getwd()
	if err := mountLegacy(target, top, filepath.Join(base, "u"), filepath.Join(base, "w"), 0); err != nil {
		t.Fatalf("legacy mount: %v", err)
	}
	defer Unmount(target)
	if b, _ := os.ReadFile(filepath.Join(target, "top")); string(b) != "29" {
		t.Errorf("top = %q", b)
	}
	if wd2, _ := os.Getwd(); wd2 != wd {
		t.Errorf("working directory moved to %s", wd2)
	}
}
