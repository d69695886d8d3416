package dockerapi

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path/filepath"

	mcontainer "github.com/moby/moby/api/types/container"

	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/errdefs"
)

func (s *Server) archiveRoutes() {
	s.handle("GET /containers/{id}/archive", s.getArchive)
	s.handle("HEAD /containers/{id}/archive", s.headArchive)
	s.handle("PUT /containers/{id}/archive", s.putArchive)
	s.handle("GET /containers/{id}/export", s.export)
	s.handle("GET /containers/{id}/changes", s.changes)
	s.handle("POST /commit", s.commit)
}

// archivePath is the path query parameter, which every archive call needs.
func archivePath(r *http.Request) (string, error) {
	p := r.URL.Query().Get("path")
	if p == "" {
		return "", fmt.Errorf("path is required: %w", errdefs.ErrInvalidArgument)
	}
	return p, nil
}

// setStatHeader answers the stat of a path in the X-Docker-Container-Path-Stat
// header, as moby's PathStat in base64 JSON.
func setStatHeader(w http.ResponseWriter, st *container.PathStat) error {
	data, err := json.Marshal(mcontainer.PathStat{Name: st.Name, Size: st.Size, Mode: st.Mode, Mtime: st.Mtime, LinkTarget: st.LinkTarget})
	if err != nil {
		return err
	}
	w.Header().Set("X-Docker-Container-Path-Stat", base64.StdEncoding.EncodeToString(data))
	return nil
}

func (s *Server) headArchive(w http.ResponseWriter, r *http.Request) error {
	p, err := archivePath(r)
	if err != nil {
		return err
	}
	st, err := s.c.StatPath(r.Context(), r.PathValue("id"), p)
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
	p, err := archivePath(r)
	if err != nil {
		return err
	}
	a, err := s.c.ArchivePath(r.Context(), r.PathValue("id"), p)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := setStatHeader(w, a.Stat); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/x-tar")
	w.WriteHeader(http.StatusOK)
	if err := a.Stream(r.Context(), w); err != nil {
		s.log.Warn("archive failed", "container", r.PathValue("id"), "err", err)
	}
	return nil
}

func (s *Server) putArchive(w http.ResponseWriter, r *http.Request) error {
	p, err := archivePath(r)
	if err != nil {
		return err
	}
	plain, err := decompressed(r.Body)
	if err != nil {
		return err
	}
	o := container.ExtractOptions{KeepOwners: boolQuery(r, "copyUIDGID"), NoOverwriteDirNonDir: boolQuery(r, "noOverwriteDirNonDir")}
	if err := s.c.ExtractToDir(r.Context(), r.PathValue("id"), p, plain, o); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) export(w http.ResponseWriter, r *http.Request) error {
	a, err := s.c.Export(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	defer a.Close()
	w.Header().Set("Content-Type", "application/x-tar")
	w.WriteHeader(http.StatusOK)
	if err := a.Stream(r.Context(), w); err != nil {
		s.log.Warn("export failed", "container", r.PathValue("id"), "err", err)
	}
	return nil
}

// changeKinds maps the engine's kinds to Docker's.
var changeKinds = map[container.ChangeKind]mcontainer.ChangeType{
	container.ChangeModify: mcontainer.ChangeModify,
	container.ChangeAdd:    mcontainer.ChangeAdd,
	container.ChangeDelete: mcontainer.ChangeDelete,
}

func (s *Server) changes(w http.ResponseWriter, r *http.Request) error {
	ch, err := s.c.Changes(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	// dockerd answers null, not [], when nothing changed.
	var out []mcontainer.FilesystemChange
	for _, c := range ch {
		out = append(out, mcontainer.FilesystemChange{Kind: changeKinds[c.Kind], Path: c.Path})
	}
	return writeJSON(w, http.StatusOK, out)
}

// upperDir is the container's writable layer, next to its rootfs mount.
func upperDir(rootfs string) string { return filepath.Join(filepath.Dir(rootfs), "upper") }

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
