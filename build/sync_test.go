package build

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/errdefs"
)

func manifestOf(t *testing.T, files []FileMeta, data map[string]string) func(need []int) (io.Reader, error) {
	return func(need []int) (io.Reader, error) {
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		for _, i := range need {
			e := files[i]
			body := data[e.Path]
			_ = tw.WriteHeader(&tar.Header{Name: e.Path, Typeflag: tar.TypeReg, Mode: int64(e.Mode & 0o777), Size: int64(len(body))})
			_, _ = tw.Write([]byte(body))
		}
		_ = tw.Close()
		return &b, nil
	}
}

func reg(p, body string, mtime int64) FileMeta {
	return FileMeta{Path: p, Mode: unix.S_IFREG | 0o644, Size: int64(len(body)), MTime: mtime}
}
func dirm(p string) FileMeta { return FileMeta{Path: p, Mode: unix.S_IFDIR | 0o755, MTime: 5e9} }

// TestSyncContextSendsOnlyChanges: a second sync of the same files needs
// none; a change needs that file; removals and type changes apply.
func TestSyncContextSendsOnlyChanges(t *testing.T) {
	b, _ := newTestBuilder(t)
	ctx := context.Background()
	sync := func(files []FileMeta, data map[string]string) ([]int, *Context) {
		t.Helper()
		var got []int
		send := manifestOf(t, files, data)
		c, err := b.SyncContext(ctx, "k", files, func(need []int) (io.Reader, error) { got = need; return send(need) })
		if err != nil {
			t.Fatalf("sync: %v", err)
		}
		return got, c
	}
	files := []FileMeta{reg("a", "A", 1e9), dirm("d"), reg("d/b", "B", 2e9), {Path: "l", Mode: unix.S_IFLNK | 0o777, Link: "a"}}
	data := map[string]string{"a": "A", "d/b": "B"}
	need, c := sync(files, data)
	if !reflect.DeepEqual(need, []int{0, 2}) {
		t.Errorf("first sync needs %v", need)
	}
	dir := c.dir
	if got, _ := os.ReadFile(filepath.Join(dir, "d/b")); string(got) != "B" {
		t.Errorf("d/b = %q", got)
	}
	if l, _ := os.Readlink(filepath.Join(dir, "l")); l != "a" {
		t.Errorf("l -> %q", l)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "d/b")); fi.ModTime().UnixNano() != 2e9 {
		t.Errorf("d/b mtime %v", fi.ModTime())
	}
	c.Close()

	need, c = sync(files, data)
	if len(need) != 0 {
		t.Errorf("an unchanged context needs %v", need)
	}
	c.Close()

	files2 := []FileMeta{dirm("d"), reg("d/b", "B2", 3e9), dirm("l"), reg("l/c", "C", 4e9)}
	need, c = sync(files2, map[string]string{"d/b": "B2", "l/c": "C"})
	if !reflect.DeepEqual(need, []int{1, 3}) {
		t.Errorf("changed sync needs %v", need)
	}
	if _, err := os.Lstat(filepath.Join(dir, "a")); !os.IsNotExist(err) {
		t.Errorf("a removed file is still there: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "l/c")); string(got) != "C" {
		t.Errorf("a symlink replaced by a directory: l/c = %q", got)
	}
	c.Close()

	// A client that sends another file than it listed starts over.
	bad := []FileMeta{dirm("d"), reg("d/b", "B3!", 9e9)}
	if _, err := b.SyncContext(ctx, "k", bad, manifestOf(t, bad, map[string]string{"d/b": "short"})); err == nil {
		t.Error("a file of another size than listed was accepted")
	}
	need, c = sync(files2, map[string]string{"d/b": "B2", "l/c": "C"})
	if len(need) != 2 {
		t.Errorf("after a failed sync everything is needed again, got %v", need)
	}
	c.Close()
}

// TestSyncContextRefusesHostileManifests: names that climb out, absolute
// names, duplicates, children before their directory, devices.
func TestSyncContextRefusesHostileManifests(t *testing.T) {
	b, _ := newTestBuilder(t)
	for _, files := range [][]FileMeta{
		{reg("../x", "", 0)},
		{reg("/etc/passwd", "", 0)},
		{reg("a/../../x", "", 0)},
		{reg("a", "", 0), reg("a", "", 0)},
		{reg("d/x", "", 0), dirm("d")},
		{{Path: "l", Mode: unix.S_IFLNK}},
		{{Path: "dev", Mode: unix.S_IFCHR}},
		{reg("a\x00b", "", 0)},
	} {
		_, err := b.SyncContext(context.Background(), "h", files, func([]int) (io.Reader, error) {
			t.Errorf("%v: files were asked for", files)
			return bytes.NewReader(nil), nil
		})
		if !errdefs.IsInvalidArgument(err) {
			t.Errorf("%v: error %v", files, err)
		}
	}
}
