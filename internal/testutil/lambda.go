package testutil

import (
	"archive/zip"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/wharf-dev/wharf/internal/wharfbuild"
)

var (
	helloOnce sync.Once
	helloPath string
	helloErr  error
)

// HelloFunction builds functions/testdata/hellofn, a function written with
// github.com/aws/aws-lambda-go, as a static bootstrap (once per test
// binary) and returns its path.
func HelloFunction(t testing.TB) string {
	t.Helper()
	helloOnce.Do(func() {
		root, err := wharfbuild.ModuleRoot()
		if err != nil {
			helloErr = err
			return
		}
		dir, err := os.MkdirTemp("", "hellofn-")
		if err != nil {
			helloErr = err
			return
		}
		helloPath = filepath.Join(dir, "bootstrap")
		cmd := exec.Command("go", "build", "-trimpath", "-o", helloPath, ".")
		cmd.Dir = filepath.Join(root, "functions", "testdata", "hellofn")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
		if out, err := cmd.CombinedOutput(); err != nil {
			helloErr = &buildError{out: string(out), err: err}
		}
	})
	if helloErr != nil {
		t.Fatalf("building the test function: %v", helloErr)
	}
	return helloPath
}

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return e.err.Error() + ": " + e.out }

// HelloZip returns a Lambda zip package holding the hello function as
// `bootstrap` (mode 0755), as `zip fn.zip bootstrap` would.
func HelloZip(t testing.TB) []byte {
	t.Helper()
	return ZipOf(t, map[string][]byte{"bootstrap": mustRead(t, HelloFunction(t))}, map[string]bool{"bootstrap": true})
}

// ZipOf builds a zip of files; exec marks executable entries.
func ZipOf(t testing.TB, files map[string][]byte, exec map[string]bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, data := range files {
		h := &zip.FileHeader{Name: name, Method: zip.Deflate}
		mode := os.FileMode(0o644)
		if exec[name] {
			mode = 0o755
		}
		h.SetMode(mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
