package dockerapi

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	mcontainer "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/image/snapshot"
)

// The engine has no copy, export or diff operations; they are built here
// on the container's filesystem, which the engine's package doc lays out
// (<dir>/rootfs the merged mount while running, <dir>/upper the writable
// layer):
//
//   - docker cp works in the container's own view of its files: through
//     /proc/<pid>/root while it runs (so /etc/hostname, /etc/hosts and
//     /etc/resolv.conf, bind-mounted by the runtime, are seen), and
//     through a private overlay mount of the image's layers and the
//     container's writable layer while it does not (Testcontainers copies
//     files into created containers before starting them);
//   - export tars the merged root without the kernel filesystems a running
//     container has mounted (the host-side overlay mount has none);
//   - changes walks the writable layer against the image's layers.
//
// Every path a client names is resolved inside the container's root with
// filepath-securejoin, so symlinks in the container cannot lead outside.

func (s *Server) archiveRoutes() {
	s.handle("GET /containers/{id}/archive", s.getArchive)
	s.handle("HEAD /containers/{id}/archive", s.headArchive)
	s.handle("PUT /containers/{id}/archive", s.putArchive)
	s.handle("GET /containers/{id}/export", s.export)
	s.handle("GET /containers/{id}/changes", s.changes)
}

// upperDir is the container's writable layer, next to its rootfs mount.
func upperDir(rootfs string) string { return filepath.Join(filepath.Dir(rootfs), "upper") }

// containerRoot returns a directory showing the container's files and a
// function to release it. mountsView asks for the container's own view
// (with the runtime's bind mounts) when it runs.
func (s *Server) containerRoot(ctx context.Context, c *container.Container, mountsView bool) (string, func(), error) {
	if c.State.Running() && c.State.Pid > 0 {
		if mountsView {
			return fmt.Sprintf("/proc/%d/root", c.State.Pid), func() {}, nil
		}
		return s.c.RootfsPath(c.ID), func() {}, nil
	}
	img, err := s.i.Get(ctx, c.ImageID)
	if err != nil {
		return "", nil, fmt.Errorf("image of container %s: %w", c.ID, err)
	}
	lowers, err := s.i.LayerDirs(ctx, img)
	if err != nil {
		return "", nil, err
	}
	tmp, err := os.MkdirTemp("", "wharf-cp-")
	if err != nil {
		return "", nil, err
	}
	dir := filepath.Dir(s.c.RootfsPath(c.ID))
	if err := snapshot.MountOverlay(tmp, lowers, filepath.Join(dir, "upper"), filepath.Join(dir, "work")); err != nil {
		os.Remove(tmp)
		return "", nil, fmt.Errorf("mounting the filesystem of container %s: %w", c.ID, err)
	}
	return tmp, func() {
		_ = snapshot.Unmount(tmp)
		_ = os.Remove(tmp)
	}, nil
}

// resolve returns the host path of p inside root with every component
// but the last resolved securely; the last is resolved too when p ends in
// "/" or "/." (docker's way of saying "the directory's contents").
func resolve(root, p string) (string, error) {
	if !path.IsAbs(p) {
		p = "/" + p
	}
	clean := path.Clean(p)
	if clean == "/" || strings.HasSuffix(p, "/") || strings.HasSuffix(p, "/.") {
		return securejoin.SecureJoin(root, clean)
	}
	parent, err := securejoin.SecureJoin(root, path.Dir(clean))
	if err != nil {
		return "", err
	}
	return filepath.Join(parent, path.Base(clean)), nil
}

func statPath(hostPath, name string) (*mcontainer.PathStat, error) {
	fi, err := os.Lstat(hostPath)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("Could not find the file %s in container: %w", name, errdefs.ErrNotFound)
		}
		return nil, err
	}
	st := &mcontainer.PathStat{Name: fi.Name(), Size: fi.Size(), Mode: fi.Mode(), Mtime: fi.ModTime()}
	if fi.Mode()&os.ModeSymlink != 0 {
		st.LinkTarget, _ = os.Readlink(hostPath)
	}
	return st, nil
}

func setStatHeader(w http.ResponseWriter, st *mcontainer.PathStat) error {
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	w.Header().Set("X-Docker-Container-Path-Stat", base64.StdEncoding.EncodeToString(data))
	return nil
}

func (s *Server) archiveTarget(r *http.Request, mountsView bool) (*container.Container, string, string, func(), error) {
	c, err := s.c.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, "", "", nil, err
	}
	p := r.URL.Query().Get("path")
	if p == "" {
		return nil, "", "", nil, fmt.Errorf("path is required: %w", errdefs.ErrInvalidArgument)
	}
	root, release, err := s.containerRoot(r.Context(), c, mountsView)
	if err != nil {
		return nil, "", "", nil, err
	}
	host, err := resolve(root, p)
	if err != nil {
		release()
		return nil, "", "", nil, err
	}
	return c, root, host, release, nil
}

func (s *Server) headArchive(w http.ResponseWriter, r *http.Request) error {
	_, _, host, release, err := s.archiveTarget(r, true)
	if err != nil {
		return err
	}
	defer release()
	st, err := statPath(host, r.URL.Query().Get("path"))
	if err != nil {
		return err
	}
	if err := setStatHeader(w, st); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) getArchive(w http.ResponseWriter, r *http.Request) error {
	c, _, host, release, err := s.archiveTarget(r, true)
	if err != nil {
		return err
	}
	defer release()
	st, err := statPath(host, r.URL.Query().Get("path"))
	if err != nil {
		return err
	}
	if err := setStatHeader(w, st); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/x-tar")
	w.WriteHeader(http.StatusOK)
	base := filepath.Base(host)
	if err := writeTree(w, host, base, false); err != nil {
		s.log.Warn("archive failed", "container", c.ID, "err", err)
	}
	s.emitContainer(r.Context(), c.ID, events.ActionArchivePath, map[string]string{"path": r.URL.Query().Get("path")})
	return nil
}

// writeTree writes the tree at src into a tar whose names start with
// prefix. It does not follow symlinks and, with oneFS, does not descend
// into other mounts.
func writeTree(w io.Writer, src, prefix string, oneFS bool) error {
	tw := tar.NewWriter(w)
	var rootDev uint64
	if fi, err := os.Lstat(src); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			rootDev = st.Dev
		}
	}
	hardlinks := map[[2]uint64]string{}
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		name := filepath.ToSlash(filepath.Join(prefix, rel))
		if prefix == "" && rel == "." {
			return nil
		}
		st, _ := fi.Sys().(*syscall.Stat_t)
		if oneFS && st != nil && st.Dev != rootDev && fi.IsDir() {
			// A mount point: keep the directory, not what is mounted.
			hdr, _ := tar.FileInfoHeader(fi, "")
			hdr.Name = name + "/"
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			return filepath.SkipDir
		}
		link := ""
		if fi.Mode()&os.ModeSymlink != 0 {
			link, _ = os.Readlink(p)
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return nil // sockets and the like are skipped, as docker does
		}
		hdr.Name = name
		if fi.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uname, hdr.Gname = "", ""
		if st != nil && fi.Mode().IsRegular() && st.Nlink > 1 {
			key := [2]uint64{st.Dev, st.Ino}
			if first, ok := hardlinks[key]; ok {
				hdr.Typeflag = tar.TypeLink
				hdr.Linkname = first
				hdr.Size = 0
				return tw.WriteHeader(hdr)
			}
			hardlinks[key] = name
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

func (s *Server) putArchive(w http.ResponseWriter, r *http.Request) error {
	c, root, _, release, err := s.archiveTarget(r, true)
	if err != nil {
		return err
	}
	defer release()
	if c.HostConfig.ReadonlyRootfs {
		return fmt.Errorf("container rootfs is marked read-only: %w", errdefs.ErrForbidden)
	}
	// The destination is a directory that must exist; resolve it fully.
	dest, err := securejoin.SecureJoin(root, path.Clean("/"+r.URL.Query().Get("path")))
	if err != nil {
		return err
	}
	fi, err := os.Stat(dest)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("Could not find the file %s in container %s: %w", r.URL.Query().Get("path"), c.Name, errdefs.ErrNotFound)
		}
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("extraction point is not a directory: %w", errdefs.ErrInvalidArgument)
	}
	rel, _ := filepath.Rel(root, dest)
	if err := extractTar(r.Body, root, "/"+filepath.ToSlash(rel), boolQuery(r, "copyUIDGID"), boolQuery(r, "noOverwriteDirNonDir")); err != nil {
		return err
	}
	s.emitContainer(r.Context(), c.ID, events.ActionExtractToDir, map[string]string{"path": r.URL.Query().Get("path")})
	w.WriteHeader(http.StatusOK)
	return nil
}

// extractTar writes a tar's entries under dest (a path inside root),
// resolving every entry inside root so that neither the archive nor
// symlinks in the container lead outside it.
func extractTar(r io.Reader, root, dest string, keepOwner, noOverwriteDirNonDir bool) error {
	plain, err := decompressed(r)
	if err != nil {
		return err
	}
	tr := tar.NewReader(plain)
	type dirTime struct {
		path string
		t    time.Time
	}
	var dirs []dirTime
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading the archive: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		name := path.Clean("/" + hdr.Name)
		if name == "/" {
			continue
		}
		parent, err := securejoin.SecureJoin(root, path.Join(dest, path.Dir(name)))
		if err != nil {
			return err
		}
		if err := os.MkdirAll(parent, 0o755); err != nil {
			return err
		}
		target := filepath.Join(parent, path.Base(name))
		if existing, err := os.Lstat(target); err == nil {
			isDir := hdr.Typeflag == tar.TypeDir
			if noOverwriteDirNonDir && existing.IsDir() != isDir {
				return fmt.Errorf("cannot overwrite %s %q with a %s: %w", kind(existing.IsDir()), name, kind(isDir), errdefs.ErrInvalidArgument)
			}
			if !(existing.IsDir() && isDir) {
				if err := os.RemoveAll(target); err != nil {
					return err
				}
			}
		}
		mode := os.FileMode(hdr.Mode).Perm() | os.FileMode(hdr.Mode)&(os.ModeSetuid|os.ModeSetgid|os.ModeSticky)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, mode); err != nil {
				return err
			}
			_ = os.Chmod(target, mode)
			dirs = append(dirs, dirTime{target, hdr.ModTime})
		case tar.TypeReg, tar.TypeRegA:
			f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|unix.O_NOFOLLOW, mode)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			f.Close()
			if err != nil {
				return err
			}
			_ = os.Chmod(target, mode)
		case tar.TypeSymlink:
			if err := os.Symlink(hdr.Linkname, target); err != nil {
				return err
			}
		case tar.TypeLink:
			old, err := securejoin.SecureJoin(root, path.Join(dest, path.Clean("/"+hdr.Linkname)))
			if err != nil {
				return err
			}
			if err := os.Link(old, target); err != nil {
				return err
			}
		default:
			// Devices, fifos and the like are not copied into containers.
			continue
		}
		uid, gid := 0, 0
		if keepOwner {
			uid, gid = hdr.Uid, hdr.Gid
		}
		_ = os.Lchown(target, uid, gid)
		if hdr.Typeflag != tar.TypeSymlink && hdr.Typeflag != tar.TypeDir {
			_ = os.Chtimes(target, hdr.ModTime, hdr.ModTime)
		}
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		_ = os.Chtimes(dirs[i].path, dirs[i].t, dirs[i].t)
	}
	return nil
}

func kind(dir bool) string {
	if dir {
		return "directory"
	}
	return "non-directory"
}

func (s *Server) export(w http.ResponseWriter, r *http.Request) error {
	c, err := s.c.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	root, release, err := s.containerRoot(r.Context(), c, false)
	if err != nil {
		return err
	}
	defer release()
	w.Header().Set("Content-Type", "application/x-tar")
	w.WriteHeader(http.StatusOK)
	if err := writeTree(w, root, "", true); err != nil {
		s.log.Warn("export failed", "container", c.ID, "err", err)
	}
	s.emitContainer(r.Context(), c.ID, events.ActionExport, nil)
	return nil
}

// changes lists the container's writable layer against its image:
// a whiteout (a 0/0 character device) is a deletion, a path the image
// has is a modification, any other an addition.
func (s *Server) changes(w http.ResponseWriter, r *http.Request) error {
	c, err := s.c.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	img, err := s.i.Get(r.Context(), c.ImageID)
	if err != nil {
		return err
	}
	lowers, err := s.i.LayerDirs(r.Context(), img)
	if err != nil {
		return err
	}
	upper := upperDir(s.c.RootfsPath(c.ID))
	out := []mcontainer.FilesystemChange{}
	inImage := func(rel string) bool {
		for _, l := range lowers {
			if _, err := os.Lstat(filepath.Join(l, rel)); err == nil {
				return true
			}
		}
		return false
	}
	err = filepath.WalkDir(upper, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		rel, _ := filepath.Rel(upper, p)
		if rel == "." {
			return nil
		}
		kind := mcontainer.ChangeAdd
		if fi, err := d.Info(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Rdev == 0 {
				kind = mcontainer.ChangeDelete
			}
		}
		if kind == mcontainer.ChangeAdd && inImage(rel) {
			kind = mcontainer.ChangeModify
		}
		out = append(out, mcontainer.FilesystemChange{Kind: kind, Path: "/" + filepath.ToSlash(rel)})
		return nil
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

// dirSize sums the sizes of the regular files under dir.
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// decompressed returns a reader of the plain tar behind r: docker accepts
// gzip and bzip2 archives on PUT /archive as well as uncompressed ones
// (Testcontainers always sends gzip).
func decompressed(r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	magic, _ := br.Peek(6)
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("reading the gzip archive: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		return zr, nil
	case bytes.HasPrefix(magic, []byte("BZh")):
		return bzip2.NewReader(br), nil
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}):
		return nil, fmt.Errorf("xz-compressed archives are not supported; send a plain, gzip or bzip2 tar: %w", errdefs.ErrInvalidArgument)
	}
	return br, nil
}
