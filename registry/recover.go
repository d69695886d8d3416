package registry

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
)

// tmpName is the temporary file of the filesystem driver's PutContent
// (<path>.<uuid>.tmp), renamed over <path> once written and synced.
var tmpName = regexp.MustCompile(`\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.tmp$`)

// recoverStorage removes what writes interrupted by a crash left in
// filesystem storage, before the registry serves:
//
//   - temporary files of PutContent (never read as content, but they keep
//     their directories);
//   - a tag whose current link was never written: Distribution creates
//     the tag's directory (its index entry) before the link, and the tag
//     list shows every directory;
//   - a revision or layer link directory without its link (Distribution
//     would list the digest in enumerations and fail to read it);
//   - a blob directory without its data.
//
// Object storage (S3) leaves no temporary files; its partial tags are not
// swept here.
func (r *Registry) recoverStorage(ctx context.Context) error {
	if r.fsRoot == "" {
		return nil
	}
	for _, top := range []string{
		filepath.Join(r.fsRoot, "docker", "registry", "v2"),
		filepath.Join(r.fsRoot, "wharf"),
	} {
		if err := recoverTree(ctx, top); err != nil {
			return err
		}
	}
	return nil
}

func recoverTree(ctx context.Context, top string) error {
	var linkDirs []string
	var dataDirs []string
	err := filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// Uploads in progress are Distribution's to purge.
		if d.IsDir() && d.Name() == "_uploads" {
			return filepath.SkipDir
		}
		if !d.IsDir() {
			if tmpName.MatchString(d.Name()) {
				return os.Remove(p)
			}
			return nil
		}
		up := func(n int) string {
			q := p
			for range n {
				q = filepath.Dir(q)
			}
			return filepath.Base(q)
		}
		// Names starting with "_" are Distribution's: no repository
		// name component can be one.
		switch {
		case d.Name() == "current" && up(2) == "tags" && up(3) == "_manifests":
			// _manifests/tags/<tag>/current
			linkDirs = append(linkDirs, p)
		case up(2) == "revisions" && up(3) == "_manifests", up(2) == "_layers":
			// _manifests/revisions/<alg>/<hex>, _layers/<alg>/<hex>
			linkDirs = append(linkDirs, p)
		case filepath.Dir(filepath.Dir(filepath.Dir(p))) == filepath.Join(top, "blobs"):
			// blobs/<alg>/<xx>/<hex>
			dataDirs = append(dataDirs, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, dir := range linkDirs {
		if _, err := os.Stat(filepath.Join(dir, "link")); errors.Is(err, fs.ErrNotExist) {
			target := dir
			if filepath.Base(dir) == "current" {
				// The whole tag goes: its index entries name a tag that
				// was never set.
				target = filepath.Dir(dir)
			}
			if err := os.RemoveAll(target); err != nil {
				return err
			}
		}
	}
	for _, dir := range dataDirs {
		if _, err := os.Stat(filepath.Join(dir, "data")); errors.Is(err, fs.ErrNotExist) {
			if err := os.RemoveAll(dir); err != nil {
				return err
			}
		}
	}
	return nil
}
