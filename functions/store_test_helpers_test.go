package functions

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
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
