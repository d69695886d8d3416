package volume

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/internal/testutil"
)

func TestParseOptions(t *testing.T) {
	for _, tc := range []struct {
		opts map[string]string
		want MountOptions
		err  string // the start of dockerd's (or wharf's) message
	}{
		{opts: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=1m,uid=1000"},
			want: MountOptions{Type: "tmpfs", Device: "tmpfs", Flags: msNosuid | msNodev, Data: "size=1m,uid=1000"}},
		{opts: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "suid,dev,ro,noexec"},
			want: MountOptions{Type: "tmpfs", Device: "tmpfs", Flags: msRdonly | msNoexec}},
		{opts: map[string]string{"type": "none", "device": "/srv/data/", "o": "bind,ro"},
			want: MountOptions{Type: "none", Device: "/srv/data", Bind: true, Flags: msRdonly | msNosuid | msNodev}},
		{opts: map[string]string{"type": "none", "device": "/srv", "o": "rbind"},
			want: MountOptions{Type: "none", Device: "/srv", Bind: true, Recursive: true, Flags: msNosuid | msNodev}},
		{opts: map[string]string{"type": "ext4", "device": "/dev/vdb1", "o": "noatime,nosuid,nodev"},
			want: MountOptions{Type: "ext4", Device: "/dev/vdb1", Flags: msNoatime | msNosuid | msNodev}},
		{opts: map[string]string{"foo": "bar"}, err: `invalid option: "foo"`},
		{opts: map[string]string{"device": "tmpfs"}, err: `missing required option: "type"`},
		{opts: map[string]string{"type": "tmpfs"}, err: `missing required option: "device"`},
		{opts: map[string]string{"type": "tmpfs", "o": "size=1m"}, err: `missing required option: "device"`},
		{opts: map[string]string{"size": "10G"}, err: "quota size requested but no quota support"},
		{opts: map[string]string{"size": "ten"}, err: "invalid size"},
		{opts: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "remount"}, err: "invalid volume mount option"},
		{opts: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "rshared"}, err: "invalid volume mount option"},
		{opts: map[string]string{"type": "none", "device": "srv", "o": "bind"}, err: "the device of a bind volume must be an absolute"},
		{opts: map[string]string{"type": "none", "device": "/srv", "o": "bind,size=1m"}, err: "a bind volume takes mount flags only"},
		{opts: map[string]string{"type": "../x", "device": "d"}, err: "invalid filesystem type"},
		{opts: map[string]string{"type": "tmpfs", "device": "", "o": ""}, err: "missing device"},
	} {
		mo, err := ParseOptions(tc.opts)
		if tc.err != "" {
			if err == nil || !strings.HasPrefix(err.Error(), tc.err) || !errdefs.IsInvalidArgument(err) {
				t.Errorf("%v: error %v, want %q (invalid argument)", tc.opts, err, tc.err)
			}
			continue
		}
		if err != nil || mo == nil || *mo != tc.want {
			t.Errorf("%v: %+v, %v; want %+v", tc.opts, mo, err, tc.want)
		}
	}
	if mo, err := ParseOptions(nil); mo != nil || err != nil {
		t.Errorf("no options: %+v %v", mo, err)
	}
}

// FuzzParseOptions: options come from any API client. The parser never
// panics, refuses with an invalid-argument error, and what it accepts
// can be given to mount(2): no NUL, a bind's device absolute and clean,
// nosuid and nodev unless asked away, no propagation or remount flag.
func FuzzParseOptions(f *testing.F) {
	f.Add("tmpfs", "tmpfs", "size=1m,uid=1000", "")
	f.Add("none", "/srv/data", "bind,ro", "")
	f.Add("none", "../../etc", "rbind,suid,dev", "")
	f.Add("nfs", ":/export", "addr=10.0.0.1,rw,vers=4", "0")
	f.Add("tmpfs", "tmpfs", "remount,rshared", "1G")
	f.Add("ext4\x00", "/dev/sda", ",,,", "")
	f.Fuzz(func(t *testing.T, typ, device, o, size string) {
		opts := map[string]string{}
		for k, v := range map[string]string{"type": typ, "device": device, "o": o, "size": size} {
			if v != "" {
				opts[k] = v
			}
		}
		mo, err := ParseOptions(opts)
		if err != nil {
			if !errdefs.IsInvalidArgument(err) {
				t.Fatalf("%v: error of no class: %v", opts, err)
			}
			return
		}
		if mo == nil {
			return
		}
		all := mo.Type + mo.Device + mo.Data
		if strings.ContainsRune(all, 0) {
			t.Fatalf("%v: NUL accepted: %+v", opts, mo)
		}
		if mo.Bind && (!filepath.IsAbs(mo.Device) || filepath.Clean(mo.Device) != mo.Device || mo.Data != "") {
			t.Fatalf("%v: bind of %q data %q", opts, mo.Device, mo.Data)
		}
		if mo.Flags&unix.MS_REMOUNT != 0 || mo.Flags&(unix.MS_SHARED|unix.MS_SLAVE|unix.MS_PRIVATE|unix.MS_UNBINDABLE) != 0 {
			t.Fatalf("%v: flags %#x", opts, mo.Flags)
		}
		words := strings.Split(o, ",")
		has := func(w string) bool {
			for _, x := range words {
				if x == w {
					return true
				}
			}
			return false
		}
		if mo.Flags&unix.MS_NOSUID == 0 && !has("suid") || mo.Flags&unix.MS_NODEV == 0 && !has("dev") {
			t.Fatalf("%v: nosuid/nodev dropped: %#x", opts, mo.Flags)
		}
	})
}

// A tmpfs volume is mounted by its first user's start, shared by the
// next, unmounted by the last one's end; a new store adopts a mount left
// by the previous one and UnmountIdle drops it when no running container
// claims it; Remove never leaves a mount behind.
func TestStoreMountsVolumesWithOptions(t *testing.T) {
	testutil.RequiresRoot(t)
	ctx := context.Background()
	root := t.TempDir()
	s, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unmount(filepath.Join(root, "volumes", "tv", "_data")) })
	opts := map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=1m,uid=1000,mode=0750"}
	v, err := s.Create(ctx, CreateOptions{Name: "tv", Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	if g, _ := s.Get(ctx, "tv"); g.Options["o"] != "size=1m,uid=1000,mode=0750" {
		t.Fatalf("options %v", g.Options)
	}
	isMounted := func() bool { m, err := mounted(v.Mountpoint); return err == nil && m }
	if isMounted() {
		t.Fatal("mounted before any start")
	}
	if _, err := s.Mount(ctx, "tv", "c1"); err != nil {
		t.Fatal(err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(v.Mountpoint, &st); err != nil || st.Type != unix.TMPFS_MAGIC || st.Blocks*uint64(st.Bsize) != 1<<20 {
		t.Fatalf("statfs %+v %v: want a tmpfs of 1 MiB", st, err)
	}
	if st.Flags&unix.ST_NOSUID == 0 || st.Flags&unix.ST_NODEV == 0 {
		t.Fatalf("mount flags %#x: want nosuid,nodev", st.Flags)
	}
	if fi, err := os.Stat(v.Mountpoint); err != nil || fi.Sys().(*syscall.Stat_t).Uid != 1000 {
		t.Fatalf("owner of the tmpfs: %v %v", fi, err)
	}
	if err := os.WriteFile(filepath.Join(v.Mountpoint, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Mount(ctx, "tv", "c2"); err != nil {
		t.Fatal(err)
	}
	s.Unmount(ctx, "c1")
	if _, err := os.Stat(filepath.Join(v.Mountpoint, "f")); err != nil {
		t.Fatalf("the second user lost the volume's content: %v", err)
	}
	// A new daemon adopts the mount; c2 still runs and claims it.
	s2, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Mount(ctx, "tv", "c2"); err != nil {
		t.Fatal(err)
	}
	s2.UnmountIdle(ctx)
	if _, err := os.Stat(filepath.Join(v.Mountpoint, "f")); err != nil || !isMounted() {
		t.Fatalf("a claimed mount was dropped: %v", err)
	}
	s2.Unmount(ctx, "c2")
	if isMounted() {
		t.Fatal("still mounted after the last user")
	}
	// A mount left unclaimed is dropped.
	if _, err := s2.Mount(ctx, "tv", "c3"); err != nil {
		t.Fatal(err)
	}
	s3, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	s3.UnmountIdle(ctx)
	if isMounted() {
		t.Fatal("an unclaimed mount was left")
	}
	// Remove unmounts what is mounted.
	if _, err := s3.Mount(ctx, "tv", "c4"); err != nil {
		t.Fatal(err)
	}
	s3.Unmount(ctx, "c4")
	if _, err := s3.Mount(ctx, "tv", "c5"); err != nil {
		t.Fatal(err)
	}
	if err := s3.Remove(ctx, "tv", false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "volumes", "tv")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("volume dir after remove: %v", err)
	}
}

// A bind volume mounts the host directory the user named, and removing
// the volume never deletes that directory's content.
func TestStoreBindVolumeKeepsHostData(t *testing.T) {
	testutil.RequiresRoot(t)
	ctx := context.Background()
	root, host := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "keep"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unmount(filepath.Join(root, "volumes", "bv", "_data")) })
	if _, err := s.Create(ctx, CreateOptions{Name: "bv", Options: map[string]string{"type": "none", "device": host + "/missing", "o": "bind"}}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("bind of a missing path: %v", err)
	}
	if _, err := s.Create(ctx, CreateOptions{Name: "nofs", Options: map[string]string{"type": "nosuchfs", "device": "x"}}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("a type the kernel lacks: %v", err)
	}
	v, err := s.Create(ctx, CreateOptions{Name: "bv", Options: map[string]string{"type": "none", "device": host, "o": "bind,ro"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Mount(ctx, "bv", "c1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(v.Mountpoint, "keep")); err != nil {
		t.Fatalf("host file not seen in the volume: %v", err)
	}
	if err := os.WriteFile(filepath.Join(v.Mountpoint, "new"), nil, 0o644); !errors.Is(err, unix.EROFS) {
		t.Fatalf("write into a ro bind volume: %v", err)
	}
	if err := s.Remove(ctx, "bv", false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(host, "keep")); err != nil {
		t.Fatalf("removing the volume reached the host directory: %v", err)
	}
}
