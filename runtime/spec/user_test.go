package spec

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/wharf-dev/wharf/errdefs"
)

func TestResolveUser(t *testing.T) {
	root := fakeRootfs(t)
	for _, tc := range []struct {
		spec string
		want User
	}{
		{"", User{UID: 0, GID: 0, Home: "/root"}},
		{"root", User{UID: 0, GID: 0, Home: "/root"}},
		{"app", User{UID: 1000, GID: 1000, AdditionalGids: []uint32{10, 29}, Home: "/home/app"}},
		{"1000", User{UID: 1000, GID: 1000, AdditionalGids: []uint32{10, 29}, Home: "/home/app"}},
		{"1000:50", User{UID: 1000, GID: 50, Home: "/home/app"}},
		{"app:staff", User{UID: 1000, GID: 50, Home: "/home/app"}},
		{"daemon:audio", User{UID: 1, GID: 29, Home: "/usr/sbin"}},
		{"4242", User{UID: 4242, GID: 0, Home: "/"}},
		{"4242:4343", User{UID: 4242, GID: 4343, Home: "/"}},
		{"0:app", User{UID: 0, GID: 1000, Home: "/root"}},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			u, err := ResolveUser(root, tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			if u.UID != tc.want.UID || u.GID != tc.want.GID || u.Home != tc.want.Home || !slices.Equal(u.AdditionalGids, tc.want.AdditionalGids) {
				t.Fatalf("got %+v, want %+v", u, tc.want)
			}
		})
	}
}

func TestResolveUserErrors(t *testing.T) {
	root := fakeRootfs(t)
	for spec, msg := range map[string]string{
		"xyz":        "unable to find user xyz: no matching entries in passwd file",
		"app:nosuch": "unable to find group nosuch: no matching entries in group file",
		"-1":         "",
		"app:-5":     "",
	} {
		t.Run(spec, func(t *testing.T) {
			_, err := ResolveUser(root, spec)
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("err = %v, want invalid argument", err)
			}
			if msg != "" && err.Error() != msg {
				t.Fatalf("message %q, want Docker's %q", err.Error(), msg)
			}
		})
	}
}

func TestResolveUserWithoutFiles(t *testing.T) {
	root := t.TempDir()
	u, err := ResolveUser(root, "")
	if err != nil || u.UID != 0 || u.GID != 0 || u.Home != "/root" {
		t.Fatalf("root without passwd: %+v %v", u, err)
	}
	u, err = ResolveUser(root, "1000:1000")
	if err != nil || u.UID != 1000 || u.GID != 1000 {
		t.Fatalf("numeric user without passwd: %+v %v", u, err)
	}
	if _, err := ResolveUser(root, "app"); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("named user without passwd: %v", err)
	}
}

// TestResolveUserStaysInRootfs points the image's /etc/passwd at a host file
// through an absolute symlink and a ../ chain: both must resolve inside the
// rootfs.
func TestResolveUserStaysInRootfs(t *testing.T) {
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "passwd"), []byte("evil:x:0:0::/:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{filepath.Join(host, "passwd"), "../../../../../../../../" + filepath.Join(host, "passwd")} {
		root := t.TempDir()
		if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, filepath.Join(root, "etc", "passwd")); err != nil {
			t.Fatal(err)
		}
		if _, err := ResolveUser(root, "evil"); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Fatalf("symlink %s: resolved a user from outside the rootfs (err %v)", target, err)
		}
	}

	// A FIFO would block the daemon for ever.
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := mkfifo(filepath.Join(root, "etc", "passwd")); err != nil {
		t.Fatal(err)
	}
	if _, err := ResolveUser(root, "0"); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("fifo passwd: err = %v", err)
	}
}
