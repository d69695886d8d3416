package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// readIgnore reads the context's ignore file: <Dockerfile>.dockerignore
// first (as BuildKit), then .dockerignore. The Dockerfile and the ignore
// files themselves are always sent, as the docker CLI does.
func readIgnore(dir, dockerfile string) (*patternmatcher.PatternMatcher, error) {
	for _, name := range []string{dockerfile + ".dockerignore", ".dockerignore"} {
		f, err := os.Open(filepath.Join(dir, filepath.FromSlash(name)))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		patterns, err := ignorefile.ReadAll(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		keep := []string{"!" + dockerfile, "!.dockerignore", "!" + dockerfile + ".dockerignore"}
		return patternmatcher.New(append(patterns, keep...))
	}
	return nil, nil
}

// writeContext writes the context directory dir as a tar to w, leaving out
// what the ignore patterns exclude. An excluded directory is not even
// listed unless an exception pattern could bring back something in it.
// Symlinks are sent as links; owners are not sent (COPY makes files
// root's).
func writeContext(w io.Writer, dir string, pm *patternmatcher.PatternMatcher, dockerfile string) error {
	tw := tar.NewWriter(w)
	var walk func(abs, rel string) error
	walk = func(abs, rel string) error {
		ents, err := os.ReadDir(abs)
		if err != nil {
			return err
		}
		sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
		for _, e := range ents {
			r := e.Name()
			if rel != "" {
				r = rel + "/" + e.Name()
			}
			p := filepath.Join(abs, e.Name())
			excluded := false
			if pm != nil {
				m, err := pm.MatchesOrParentMatches(r)
				if err != nil {
					return err
				}
				excluded = m
			}
			if excluded && (!e.IsDir() || !mayHoldExceptions(pm, r)) {
				continue
			}
			fi, err := os.Lstat(p)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				return err
			}
			link := ""
			if fi.Mode()&fs.ModeSymlink != 0 {
				if link, err = os.Readlink(p); err != nil {
					return err
				}
			}
			if !fi.Mode().IsRegular() && !fi.IsDir() && link == "" {
				continue // devices, fifos and sockets are not sent
			}
			hdr, err := tar.FileInfoHeader(fi, link)
			if err != nil {
				return err
			}
			hdr.Name = r
			if fi.IsDir() {
				hdr.Name += "/"
			}
			hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
			hdr.Format = tar.FormatPAX
			hdr.AccessTime, hdr.ChangeTime = time0, time0
			if !excluded {
				if err := tw.WriteHeader(hdr); err != nil {
					return err
				}
			}
			switch {
			case fi.IsDir():
				if err := walk(p, r); err != nil {
					return err
				}
			case fi.Mode().IsRegular() && !excluded:
				if err := copyFile(tw, p, hdr.Size); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(dir, ""); err != nil {
		return fmt.Errorf("unable to prepare context: %w", err)
	}
	return tw.Close()
}

// mayHoldExceptions reports whether an excluded directory must still be
// walked: an exception pattern ("!dir/keep") names something below it.
// As the docker CLI decides, so an excluded directory is otherwise
// neither listed nor read.
func mayHoldExceptions(pm *patternmatcher.PatternMatcher, dir string) bool {
	if !pm.Exclusions() {
		return false
	}
	prefix := dir + "/"
	for _, p := range pm.Patterns() {
		if p.Exclusion() && strings.HasPrefix(p.String()+"/", prefix) {
			return true
		}
	}
	return false
}

func copyFile(w io.Writer, p string, size int64) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.CopyN(w, f, size)
	if err != nil && n < size {
		return fmt.Errorf("%s changed while it was sent: %w", p, err)
	}
	return nil
}

// emptyTar is the context of a build whose Dockerfile came on stdin.
func emptyTar() []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	_ = tw.Close()
	return b.Bytes()
}
