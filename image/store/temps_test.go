package store

import (
	"os"
	"path/filepath"
	"testing"
)

// Records are written through internal/atomicfile; the temporary files a
// crash leaves in images/ (its names, and the ".tmp-*" of daemons before
// it) are removed when the store opens, and never read as records.
func TestOpenRemovesTemporaryRecords(t *testing.T) {
	root := t.TempDir()
	images := filepath.Join(root, "images")
	if err := os.MkdirAll(images, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{".0123.json.tmp-42", ".tmp-0123.json-42"} {
		if err := os.WriteFile(filepath.Join(images, n), []byte("{torn"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := New(root); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(images); len(ents) != 0 {
		t.Errorf("temporary records left: %v", ents)
	}
}
