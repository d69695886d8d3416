package container

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/runtime/spec"
)

// Whiteouts of an image layer (the OCI image spec's).
const (
	whiteoutPrefix = ".wh."
	opaqueWhiteout = ".wh..wh..opq"
)

// initPaths are what the runtime mounts over a container's root
// filesystem: a writable layer holds at most empty mount points there
// (what is written goes to the mounts), which dockerd keeps in a layer of
// their own and leaves out of a commit.
var initPaths = map[string]bool{
	"dev": true, "proc": true, "sys": true, ".dockerenv": true,
	"etc/hosts": true, "etc/hostname": true, "etc/resolv.conf": true, "etc/mtab": true,
	strings.TrimPrefix(spec.InitMountPath, "/"): true,
}

// writeLayer writes the overlay upper directory upper (an O_PATH handle)
// as an uncompressed image layer: its entries as they are, an overlay
// whiteout (a 0/0 character device) as a ".wh." file, an opaque directory
// with a ".wh..wh..opq" entry. The lower layers are not read. An upper
// directory holding overlay redirects or metacopy files (features that
// leave content in the lower layers) is refused rather than committed
// short of it.
func writeLayer(ctx context.Context, w io.Writer, upper *os.File) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(upper.Fd()), &st); err != nil {
		return err
	}
	t := &treeWriter{ctx: ctx, tw: tar.NewWriter(w), oneFS: true, rootDev: st.Dev, links: map[[2]uint64]string{},
		layer: true, skip: func(name string) bool { return initPaths[strings.TrimSuffix(name, "/")] }}
	if err := t.node(upper, "", 0); err != nil {
		return err
	}
	return t.tw.Close()
}

// whiteout writes an overlay whiteout as the layer's ".wh." file.
func (t *treeWriter) whiteout(fi os.FileInfo, name string) error {
	dir, base := path.Split(name)
	return t.tw.WriteHeader(&tar.Header{
		Typeflag: tar.TypeReg, Name: dir + whiteoutPrefix + base, Mode: 0o600,
		ModTime: fi.ModTime(), Format: tar.FormatPAX,
	})
}

// opaque writes the opaque whiteout of an opaque directory d (open for
// reading), right after the directory's own entry, and refuses what the
// layer cannot hold.
func (t *treeWriter) opaque(d *os.File, fi os.FileInfo, name string) error {
	for _, attr := range []string{"trusted.overlay.redirect", "user.overlay.redirect"} {
		if _, err := unix.Fgetxattr(int(d.Fd()), attr, nil); err == nil {
			return fmt.Errorf("%s: the overlay redirects a directory to a lower layer (redirect_dir), which a commit of the writable layer cannot hold: %w", name, errdefs.ErrNotImplemented)
		}
	}
	if name == "" {
		return nil
	}
	buf := make([]byte, 8)
	for _, attr := range []string{"trusted.overlay.opaque", "user.overlay.opaque"} {
		n, err := unix.Fgetxattr(int(d.Fd()), attr, buf)
		if err != nil || n != 1 || buf[0] != 'y' {
			if err != nil && !errors.Is(err, unix.ENODATA) && !errors.Is(err, unix.ENOTSUP) {
				return err
			}
			continue
		}
		return t.tw.WriteHeader(&tar.Header{
			Typeflag: tar.TypeReg, Name: strings.TrimSuffix(name, "/") + "/" + opaqueWhiteout,
			Mode: int64(fi.Mode().Perm()), ModTime: fi.ModTime(), Format: tar.FormatPAX,
		})
	}
	return nil
}

// refuseMetacopy refuses a file of the upper directory that holds only
// metadata (overlay's metacopy=on), its data staying in a lower layer.
func refuseMetacopy(f *os.File, name string) error {
	for _, attr := range []string{"trusted.overlay.metacopy", "user.overlay.metacopy"} {
		if _, err := unix.Fgetxattr(int(f.Fd()), attr, nil); err == nil {
			return fmt.Errorf("%s: the overlay keeps this file's data in a lower layer (metacopy), which a commit of the writable layer cannot hold: %w", name, errdefs.ErrNotImplemented)
		}
	}
	return nil
}
