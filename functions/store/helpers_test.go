package store

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/wharf-dev/wharf/functions"
	"github.com/wharf-dev/wharf/internal/testutil"
)

// readAnyFile returns the first regular file below dir.
func readAnyFile(dir string) ([]byte, error) {
	var found []byte
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && found == nil {
			found, err = os.ReadFile(p)
		}
		return err
	})
	if found == nil && err == nil {
		err = errors.New("no file unpacked")
	}
	return found, err
}

// bootZip is a package with an executable bootstrap (never run here).
func bootZip(t testing.TB, body string) []byte {
	return testutil.ZipOf(t, map[string][]byte{"bootstrap": []byte("#!/bin/sh\n" + body)}, map[string]bool{"bootstrap": true})
}

func open(t testing.TB, root string, opts ...Option) *Store {
	t.Helper()
	s, err := Open(root, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// create validates c, stores zip as its code and creates it, as the
// engine does.
func create(t testing.TB, s *Store, c functions.Config, zip []byte, publish bool) (*functions.Config, error) {
	t.Helper()
	if err := Validate(&c); err != nil {
		return nil, err
	}
	if err := s.PutCode(&c, zip); err != nil {
		return nil, err
	}
	return s.Create(context.Background(), c, publish)
}

func mustCreate(t testing.TB, s *Store, name string, env map[string]string) *functions.Config {
	t.Helper()
	c, err := create(t, s, functions.Config{FunctionName: name, Runtime: "provided.al2023", Environment: env}, bootZip(t, name), false)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
