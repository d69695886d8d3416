package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "rec.json")
	if err := WriteFile(p, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("two"), 0o640); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil || string(b) != "two" {
		t.Fatalf("content %q, %v", b, err)
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v", fi.Mode())
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("temporary files left: %v", ents)
	}
	// A directory in the way fails without leaving a temporary file.
	if err := os.Mkdir(filepath.Join(dir, "d"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(filepath.Join(dir, "d"), []byte("x"), 0o600); err == nil {
		t.Fatal("replacing a directory succeeded")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Fatalf("temporary files left after a failure: %v", ents)
	}
}

func TestRenameDir(t *testing.T) {
	dir := t.TempDir()
	dst := filepath.Join(dir, "code")
	src, err := TempDir(dst)
	if err != nil {
		t.Fatal(err)
	}
	if !IsTemp(filepath.Base(src)) || IsTemp("code") || IsTemp(".hidden") {
		t.Fatalf("IsTemp(%q) is wrong", filepath.Base(src))
	}
	if err := os.MkdirAll(filepath.Join(src, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "a", "b", "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A link out of the tree is neither followed nor an error.
	if err := os.Symlink("/", filepath.Join(src, "a", "root")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(src, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := RenameDir(src, dst); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "a", "b", "f")); err != nil || string(b) != "x" {
		t.Fatalf("moved content %q, %v", b, err)
	}
	// A second directory onto the first fails with ErrExist.
	src2, _ := TempDir(dst)
	_ = os.WriteFile(filepath.Join(src2, "g"), nil, 0o644)
	if err := RenameDir(src2, dst); !errors.Is(err, os.ErrExist) {
		t.Fatalf("onto a full directory: %v, want ErrExist", err)
	}
}

func TestSetAsideAndRemove(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "triggers.json")
	_ = os.WriteFile(p, []byte("{garbage"), 0o600)
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	moved, err := SetAside(p, at)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(filepath.Base(moved), "triggers.json.corrupt-20260102T030405") {
		t.Fatalf("set aside as %s", moved)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the record is still there: %v", err)
	}
	if b, _ := os.ReadFile(moved); string(b) != "{garbage" {
		t.Fatalf("set-aside content %q", b)
	}
	if err := Remove(moved); err != nil {
		t.Fatal(err)
	}
	if err := Remove(moved); err != nil {
		t.Fatalf("removing a missing file: %v", err)
	}
}
