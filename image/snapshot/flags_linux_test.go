package snapshot

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/internal/testutil"
)

// A mount made with flags has them from the start, through the new mount
// API and through mount(2) alike: the private views of stopped containers
// are never reachable without nosuid, nodev and noexec.
func TestMountFlagsAtCreation(t *testing.T) {
	testutil.RequiresRoot(t)
	for _, tc := range []struct {
		name  string
		mount func(target, lower, upper, work string, f Flags) error
	}{
		{"MountOverlay", func(target, lower, upper, work string, f Flags) error {
			return MountOverlay(target, []string{lower}, upper, work, f)
		}},
		{"legacy", func(target, lower, upper, work string, f Flags) error {
			for _, d := range []string{upper, work} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					return err
				}
			}
			return mountLegacy(target, []string{lower}, upper, work, f)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, fc := range []struct {
				f    Flags
				want int64
			}{
				{NoSuid | NoDev | NoExec, unix.ST_NOSUID | unix.ST_NODEV | unix.ST_NOEXEC},
				{NoSuid | NoDev | NoExec | ReadOnly, unix.ST_NOSUID | unix.ST_NODEV | unix.ST_NOEXEC | unix.ST_RDONLY},
				{0, 0},
			} {
				base := t.TempDir()
				lower := filepath.Join(base, "lower")
				target := filepath.Join(base, "m")
				for _, d := range []string{lower, target} {
					if err := os.Mkdir(d, 0o755); err != nil {
						t.Fatal(err)
					}
				}
				if err := tc.mount(target, lower, filepath.Join(base, "u"), filepath.Join(base, "w"), fc.f); err != nil {
					t.Fatalf("mount with %b: %v", fc.f, err)
				}
				var st unix.Statfs_t
				err := unix.Statfs(target, &st)
				Unmount(target)
				if err != nil {
					t.Fatal(err)
				}
				const mask = unix.ST_NOSUID | unix.ST_NODEV | unix.ST_NOEXEC | unix.ST_RDONLY
				if got := st.Flags & mask; got != fc.want {
					t.Errorf("flags %b: mount has ST flags %b, want %b", fc.f, got, fc.want)
				}
			}
		})
	}
}
