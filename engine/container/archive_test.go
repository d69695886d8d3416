package container

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/engine/volume"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/internal/testutil"
)

func TestSplitPathAndTarPrefix(t *testing.T) {
	for _, c := range []struct {
		in, clean string
		follow    bool
		prefix    string
	}{
		{"/", "/", true, "/"},
		{"data", "/data", false, "data"},
		{"/data", "/data", false, "data"},
		{"/data/", "/data", true, "data"},
		{"/data/.", "/data", true, "."},
		{"/a/../data/./x", "/data/x", false, "x"},
		{"/../../etc", "/etc", false, "etc"},
	} {
		clean, follow := splitPath(c.in)
		if clean != c.clean || follow != c.follow {
			t.Errorf("splitPath(%q) = %q %v, want %q %v", c.in, clean, follow, c.clean, c.follow)
		}
		if p := tarPrefix(c.in, clean); p != c.prefix {
			t.Errorf("tarPrefix(%q) = %q, want %q", c.in, p, c.prefix)
		}
	}
}

func TestCheckWritable(t *testing.T) {
	c := &Container{
		HostConfig: HostConfig{ReadonlyRootfs: true},
		MountPoints: []MountPoint{
			{Mount: volume.Mount{Type: volume.TypeVolume, Target: "/data"}},
			{Mount: volume.Mount{Type: volume.TypeBind, Target: "/data/ro", ReadOnly: true}},
			{Mount: volume.Mount{Type: volume.TypeTmpfs, Target: "/run"}},
		},
	}
	for dest, ok := range map[string]bool{
		"/data": true, "/data/x": true, "/data/ro": false, "/data/ro/x": false,
		"/database": false, "/tmp": false, "/run": false, "/": false,
	} {
		err := checkWritable(c, dest)
		if ok != (err == nil) || (err != nil && !errors.Is(err, errdefs.ErrForbidden)) {
			t.Errorf("checkWritable(%q) = %v, want writable %v", dest, err, ok)
		}
	}
	c.HostConfig.ReadonlyRootfs = false
	if err := checkWritable(c, "/tmp"); err != nil {
		t.Errorf("writable rootfs: %v", err)
	}
}

func openRoot(t *testing.T, dir string) *os.File {
	t.Helper()
	f, err := os.OpenFile(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// tarEntries reads a tar into name -> header and name -> content.
func tarEntries(t *testing.T, data []byte) (map[string]*tar.Header, map[string]string, []string) {
	t.Helper()
	hdrs, bodies := map[string]*tar.Header{}, map[string]string{}
	var order []string
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading the archive: %v", err)
		}
		b, _ := io.ReadAll(tr)
		hdrs[h.Name], bodies[h.Name] = h, string(b)
		order = append(order, h.Name)
	}
	return hdrs, bodies, order
}

// TestWriteTree archives a tree through handles: symlinks are archived,
// not followed (one names a host file outside the tree), a fifo is a
// header and does not block the walk, hardlinks are links, and entries
// come in path order.
func TestWriteTree(t *testing.T) {
	base := t.TempDir()
	secret := filepath.Join(base, "secret")
	os.WriteFile(secret, []byte("host secret"), 0o600)
	root := filepath.Join(base, "root")
	os.MkdirAll(filepath.Join(root, "data", "sub"), 0o755)
	os.WriteFile(filepath.Join(root, "data", "sub", "f"), []byte("deep"), 0o640)
	os.Link(filepath.Join(root, "data", "sub", "f"), filepath.Join(root, "data", "hl"))
	os.Symlink(secret, filepath.Join(root, "data", "abs"))
	os.Symlink("/", filepath.Join(root, "data", "slash"))
	if err := unix.Mkfifo(filepath.Join(root, "data", "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	v := &view{root: openRoot(t, root)}
	top, st, err := v.lookup("/data")
	if err != nil {
		t.Fatal(err)
	}
	defer top.Close()
	if st.Name != "data" || !st.Mode.IsDir() {
		t.Errorf("stat: %+v", st)
	}
	var buf bytes.Buffer
	if err := writeTree(context.Background(), &buf, top, "data", false); err != nil {
		t.Fatal(err)
	}
	hdrs, bodies, order := tarEntries(t, buf.Bytes())
	want := []string{"data/", "data/abs", "data/fifo", "data/hl", "data/slash", "data/sub/", "data/sub/f"}
	if strings.Join(order, " ") != strings.Join(want, " ") {
		t.Errorf("entries %v, want %v", order, want)
	}
	if h := hdrs["data/abs"]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != secret {
		t.Errorf("symlink entry: %+v", h)
	}
	if h := hdrs["data/fifo"]; h == nil || h.Typeflag != tar.TypeFifo {
		t.Errorf("fifo entry: %+v", h)
	}
	if h := hdrs["data/sub/f"]; h == nil || h.Typeflag != tar.TypeLink || h.Linkname != "data/hl" {
		t.Errorf("second name of a hardlinked file: %+v", h)
	}
	if bodies["data/hl"] != "deep" || hdrs["data/hl"].Mode != 0o640 {
		t.Errorf("file: %q mode %o", bodies["data/hl"], hdrs["data/hl"].Mode)
	}
	if strings.Contains(buf.String(), "host secret") {
		t.Error("the archive holds the host file a symlink names")
	}

	// A symlink archived as the top, and "dir/." naming the contents.
	top2, st2, err := v.lookup("/data/abs")
	if err != nil {
		t.Fatal(err)
	}
	defer top2.Close()
	if st2.Mode&os.ModeSymlink == 0 {
		t.Errorf("stat of a symlink: %+v", st2)
	}
	top3, _, err := v.lookup("/data/sub/.")
	if err != nil {
		t.Fatal(err)
	}
	defer top3.Close()
	buf.Reset()
	if err := writeTree(context.Background(), &buf, top3, ".", false); err != nil {
		t.Fatal(err)
	}
	if _, _, order := tarEntries(t, buf.Bytes()); strings.Join(order, " ") != "./ ./f" {
		t.Errorf("dir/. entries %v", order)
	}
}

// TestLookupScopedToRoot: absolute symlinks in the tree, the path's last
// component among them, resolve inside the root; LinkTarget says where.
func TestLookupScopedToRoot(t *testing.T) {
	base := t.TempDir()
	hostDir := filepath.Join(base, "host")
	os.MkdirAll(hostDir, 0o755)
	os.WriteFile(filepath.Join(hostDir, "h"), []byte("host"), 0o644)
	root := filepath.Join(base, "root")
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc", "passwd"), []byte("container"), 0o644)
	os.Symlink(hostDir, filepath.Join(root, "esc"))
	os.Symlink("../../../../etc/passwd", filepath.Join(root, "up"))
	os.Symlink("/up", filepath.Join(root, "chain"))
	v := &view{root: openRoot(t, root)}

	if _, _, err := v.lookup("/esc/h"); !errors.Is(err, unix.ENOENT) {
		t.Errorf("lookup through an absolute symlink to a host dir: %v, want ENOENT (resolved inside the root)", err)
	}
	if _, _, err := v.lookup("/esc/"); !errors.Is(err, unix.ENOENT) {
		t.Errorf("lookup of an absolute symlink to a host dir, followed: %v, want ENOENT", err)
	}
	f, st, err := v.lookup("/chain")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if st.LinkTarget != "/etc/passwd" {
		t.Errorf("LinkTarget of a chain of symlinks: %q, want /etc/passwd", st.LinkTarget)
	}
	f, st, err = v.lookup("/esc")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if st.LinkTarget != hostDir {
		t.Errorf("LinkTarget of a dangling absolute symlink: %q, want %q (a path inside the container)", st.LinkTarget, hostDir)
	}
	if got, err := v.resolve("/up"); err != nil || got != "/etc/passwd" {
		t.Errorf("resolve(/up) = %q %v", got, err)
	}
}

func TestWriteTreeDepthBound(t *testing.T) {
	root := t.TempDir()
	p := root
	for range maxTreeDepth + 2 {
		p = filepath.Join(p, "d")
	}
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	err := writeTree(context.Background(), io.Discard, openRoot(t, root), "", false)
	if !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("archive of a tree nested %d deep: %v, want ErrInvalidArgument", maxTreeDepth+2, err)
	}
}

// TestChangeWalker lists a writable layer against image layers: whiteouts
// are deletions, paths a layer has are modifications; a layer's symlink is
// not a directory of the image.
func TestChangeWalker(t *testing.T) {
	testutil.RequiresRoot(t) // whiteouts are 0/0 character devices
	base := t.TempDir()
	lower, upper := filepath.Join(base, "lower"), filepath.Join(base, "upper")
	os.MkdirAll(filepath.Join(lower, "etc"), 0o755)
	os.WriteFile(filepath.Join(lower, "etc", "passwd"), nil, 0o644)
	os.WriteFile(filepath.Join(lower, "gone"), nil, 0o644)
	os.Symlink("etc", filepath.Join(lower, "link"))
	os.MkdirAll(filepath.Join(upper, "etc"), 0o755)
	os.WriteFile(filepath.Join(upper, "etc", "passwd"), nil, 0o644)
	os.WriteFile(filepath.Join(upper, "etc", "new"), nil, 0o644)
	os.MkdirAll(filepath.Join(upper, "link"), 0o755)
	os.WriteFile(filepath.Join(upper, "link", "passwd"), nil, 0o644)
	if err := unix.Mknod(filepath.Join(upper, "gone"), unix.S_IFCHR, 0); err != nil {
		t.Fatal(err)
	}
	u, err := os.Open(upper)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	w := changeWalker{ctx: context.Background()}
	if err := w.dir(u, []*os.File{openRoot(t, lower)}, "/", 0); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range w.out {
		got = append(got, c.Path+"="+string("MAD"[c.Kind]))
	}
	want := "/etc=M /etc/new=A /etc/passwd=M /gone=D /link=M /link/passwd=A"
	if strings.Join(got, " ") != want {
		t.Errorf("changes %v, want %s", got, want)
	}
}
