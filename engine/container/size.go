package container

import (
	"io/fs"
	"path/filepath"
)

// SizeRw is the size of a container's writable layer: the regular files
// of its overlay upper directory, as dockerd's SizeRw counts them. The
// walk follows no symbolic link, so a container cannot make the daemon
// count (or stat) anything outside its own layer.
func (e *Engine) SizeRw(id string) int64 {
	var n int64
	_ = filepath.WalkDir(filepath.Join(e.dir(id), "upper"), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
