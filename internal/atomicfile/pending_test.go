package atomicfile

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestWriteFileNoSync(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "config.json")
	for _, content := range []string{"one", "two"} {
		if err := WriteFile(p, []byte(content), 0o640, NoSync()); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(p)
	fi, _ := os.Stat(p)
	if err != nil || string(b) != "two" || fi.Mode().Perm() != 0o640 {
		t.Fatalf("content %q, mode %v, %v", b, fi.Mode(), err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("temporary files left: %v", ents)
	}
}

// A streamed file is published under a name chosen after writing, in
// another directory of the same filesystem, or removed.
func TestPending(t *testing.T) {
	root := t.TempDir()
	ingest, blobs := filepath.Join(root, "ingest"), filepath.Join(root, "blobs")
	for _, d := range []string{ingest, blobs} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	p, err := CreateTemp(ingest, "blob")
	if err != nil {
		t.Fatal(err)
	}
	if !IsTemp(filepath.Base(p.Name())) || filepath.Dir(p.Name()) != ingest {
		t.Fatalf("temporary name %s", p.Name())
	}
	if _, err := p.Write([]byte("data")); err != nil {
		t.Fatal(err)
	}
	final := filepath.Join(blobs, "sha")
	if err := p.Commit(final, 0o444); err != nil {
		t.Fatal(err)
	}
	p.Abort() // after a commit: nothing to do
	b, err := os.ReadFile(final)
	fi, _ := os.Stat(final)
	if err != nil || string(b) != "data" || fi.Mode().Perm() != 0o444 {
		t.Fatalf("published %q, mode %v, %v", b, fi.Mode(), err)
	}
	if ents, _ := os.ReadDir(ingest); len(ents) != 0 {
		t.Fatalf("left in ingest: %v", ents)
	}

	// Aborted, or failed to commit: nothing is left behind.
	p, _ = CreateTemp(ingest, "blob")
	_, _ = p.Write([]byte("partial"))
	p.Abort()
	p, _ = CreateTemp(ingest, "blob")
	if err := os.Mkdir(filepath.Join(blobs, "dir"), 0o700); err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(filepath.Join(blobs, "dir", "f"), nil, 0o600)
	if err := p.Commit(filepath.Join(blobs, "dir"), 0o444); err == nil {
		t.Fatal("committed over a directory")
	}
	p.Abort()
	if ents, _ := os.ReadDir(ingest); len(ents) != 0 {
		t.Fatalf("left in ingest after abort and a failed commit: %v", ents)
	}
}

// The lean wharf binary (shim, init, the CLI's hot commands) links this
// package: it must not bring more than the standard library and
// golang.org/x/sys/unix, which those processes link anyway.
func TestLeanImports(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		ast, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range ast.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			first, _, _ := strings.Cut(path, "/")
			if strings.Contains(first, ".") && path != "golang.org/x/sys/unix" {
				t.Errorf("%s imports %s", f, path)
			}
		}
	}
}
