package container

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"golang.org/x/sys/unix"
)

// The mount points the runtime leaves in the writable layer are not
// listed, as dockerd lists none of them (its init layer holds them):
// recorded with docker diff against dockerd 20.10 on an image without
// /etc, a container that ran `true` has no changes, and one that added
// /etc/foo/bar and removed /bin/ls shows C /bin, D /bin/ls, C /etc,
// A /etc/foo, A /etc/foo/bar.
func TestChangesHideTheDaemonsMountPoints(t *testing.T) {
	for _, tc := range []struct {
		name  string
		upper []string // files, or directories ending in "/"
		want  []Change
	}{
		{"nothing changed", []string{"dev/", "proc/", "sys/", "etc/hostname", "etc/hosts", "etc/resolv.conf"}, []Change{}},
		{"changes inside /etc", []string{"dev/", "proc/", "sys/", "etc/hostname", "etc/hosts", "etc/resolv.conf", "etc/foo/bar", "bin/", "data/"},
			[]Change{{"/bin", ChangeModify}, {"/data", ChangeAdd}, {"/etc", ChangeModify}, {"/etc/foo", ChangeAdd}, {"/etc/foo/bar", ChangeAdd}}},
		{"a file under /sys", []string{"sys/x"}, []Change{{"/sys", ChangeModify}, {"/sys/x", ChangeAdd}}},
		{"/etc/hosts elsewhere", []string{"data/etc/hosts"}, []Change{{"/data", ChangeAdd}, {"/data/etc", ChangeAdd}, {"/data/etc/hosts", ChangeAdd}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			upper, lower := t.TempDir(), t.TempDir()
			if err := os.MkdirAll(filepath.Join(lower, "bin"), 0o755); err != nil {
				t.Fatal(err)
			}
			for _, p := range tc.upper {
				full := filepath.Join(upper, p)
				if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
					t.Fatal(err)
				}
				if p[len(p)-1] != '/' {
					if err := os.WriteFile(full, nil, 0o644); err != nil {
						t.Fatal(err)
					}
				} else if err := os.MkdirAll(full, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			u, err := os.OpenFile(upper, unix.O_RDONLY|unix.O_DIRECTORY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer u.Close()
			l, err := os.OpenFile(lower, unix.O_PATH|unix.O_DIRECTORY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			w := changeWalker{ctx: context.Background(), out: []Change{}}
			if err := w.dir(u, []*os.File{l}, "/", 0); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(w.out, tc.want) {
				t.Errorf("changes %v, want %v", w.out, tc.want)
			}
		})
	}
}
