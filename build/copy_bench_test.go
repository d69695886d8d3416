package build

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/wharf-dev/wharf/image/store"
	"github.com/wharf-dev/wharf/internal/testutil"
)

// newTestBuilder makes a builder over a fresh store, with no engine: the
// builds it runs have no RUN step.
func newTestBuilder(t testing.TB) (*Builder, *store.Store) {
	t.Helper()
	testutil.RequiresRoot(t)
	root := t.TempDir()
	st, err := store.New(filepath.Join(root, "image"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(filepath.Join(root, "build"), st, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b, st
}

func writeContext(t testing.TB, files map[string]string) *Context {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c, err := OpenContext(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func BenchmarkCopy1000(b *testing.B) {
	bl, _ := newTestBuilder(b)
	files := map[string]string{"Dockerfile": "FROM scratch\nCOPY files/ /x/\n"}
	for i := 0; i < 1000; i++ {
		files[fmt.Sprintf("files/f%04d", i)] = fmt.Sprintf("file %d\n", i)
	}
	c := writeContext(b, files)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := bl.Build(context.Background(), Options{Context: c, NoCache: true}, nil); err != nil {
			b.Fatal(err)
		}
	}
}
