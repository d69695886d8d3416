package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/cluster/secrets"
)

// maxSecretFS bounds a task's secrets tmpfs: every value is at most
// secrets.MaxValue, and a task has a few.
const maxSecretFS = 4 << 20

// writeSecretFiles mounts a tmpfs for the task under dir (unless one is
// mounted) and writes each container's secret files in it.
func (r *Runner) writeSecretFiles(task string, files map[string]map[string][]byte) error {
	if r.secretsDir == "" {
		return errors.New("this node has no directory for secrets")
	}
	if err := os.MkdirAll(r.secretsDir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(r.secretsDir, 0o700); err != nil {
		return err
	}
	mnt := filepath.Join(r.secretsDir, task)
	if err := os.Mkdir(mnt, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	if !isMountPoint(mnt) {
		total := 0
		for _, fs := range files {
			for _, v := range fs {
				total += len(v) + 4096
			}
		}
		if total > maxSecretFS {
			return fmt.Errorf("the task's secret files take %d bytes, more than %d", total, maxSecretFS)
		}
		if err := unix.Mount("tmpfs", mnt, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC,
			fmt.Sprintf("size=%d,mode=0755", maxSecretFS)); err != nil {
			return fmt.Errorf("mounting the task's secrets tmpfs: %w", err)
		}
	}
	for ctr, fs := range files {
		d := filepath.Join(mnt, ctr)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		for name, v := range fs {
			if !secrets.ValidName(name) {
				return fmt.Errorf("secret file %q: not a file name", name)
			}
			if err := os.WriteFile(filepath.Join(d, name), v, 0o444); err != nil {
				return err
			}
		}
	}
	return nil
}

// removeSecretFiles unmounts and removes a task's secrets tmpfs.
func removeSecretFiles(dir, task string) error {
	mnt := filepath.Join(dir, task)
	if _, err := os.Lstat(mnt); err != nil {
		return err
	}
	if isMountPoint(mnt) {
		if err := unix.Unmount(mnt, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("unmounting %s: %w", mnt, err)
		}
	}
	return os.RemoveAll(mnt)
}

// isMountPoint reports whether p is on another device than its parent
// (a tmpfs mounted on it).
func isMountPoint(p string) bool {
	var st, pst unix.Stat_t
	if unix.Lstat(p, &st) != nil || unix.Lstat(filepath.Dir(p), &pst) != nil {
		return false
	}
	return st.Dev != pst.Dev
}
