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
	"time"

	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/api/wharf"

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

// contextFile is one file of the context manifest and where it is.
type contextFile struct {
	entry wharf.ContextEntry
	abs   string
}

// walkContext lists the context directory dir, leaving out what the
// ignore patterns exclude, parents before children. An excluded directory
// is not even listed unless an exception pattern could bring back
// something in it. Devices, fifos and sockets are not part of a context.
func walkContext(dir string, pm *patternmatcher.PatternMatcher) ([]contextFile, error) {
	var out []contextFile
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
			var st unix.Stat_t
			if err := unix.Lstat(p, &st); err != nil {
				if errors.Is(err, unix.ENOENT) {
					continue
				}
				return err
			}
			ce := wharf.ContextEntry{Path: r, Mode: st.Mode, MTime: st.Mtim.Nano()}
			switch st.Mode & unix.S_IFMT {
			case unix.S_IFREG:
				ce.Size = st.Size
			case unix.S_IFLNK:
				if ce.Link, err = os.Readlink(p); err != nil {
					return err
				}
			case unix.S_IFDIR:
			default:
				continue
			}
			if excluded && st.Mode&unix.S_IFMT != unix.S_IFDIR {
				continue
			}
			// An excluded directory walked for its exceptions is still
			// listed: what it holds needs it.
			out = append(out, contextFile{entry: ce, abs: p})
			if st.Mode&unix.S_IFMT == unix.S_IFDIR {
				if err := walk(p, r); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(dir, ""); err != nil {
		return nil, fmt.Errorf("unable to prepare context: %w", err)
	}
	return out, nil
}

// writeNeeded writes the listed regular files as a tar, each with the
// size the manifest gave (a file changed since fails the send).
func writeNeeded(w io.Writer, files []contextFile, need []int) error {
	tw := tar.NewWriter(w)
	for _, i := range need {
		if i < 0 || i >= len(files) {
			return fmt.Errorf("the daemon asked for file %d of %d", i, len(files))
		}
		f := files[i]
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: f.entry.Path, Mode: int64(f.entry.Mode & 0o7777), Size: f.entry.Size,
			ModTime: time.Unix(0, f.entry.MTime), Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if err := copyFile(tw, f.abs, f.entry.Size); err != nil {
			return err
		}
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
