package store

import (
	"fmt"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/image/reference"
)

// Names are kept in Docker's familiar form: "busybox:latest" for
// docker.io/library/busybox:latest, "user/app:1" for docker.io/user/app:1,
// and the full name for any other registry. References are read by
// image/reference, as dockerd reads them.

// parseTag parses a reference that must be a name with an optional tag,
// as Tag, Import and Load targets are, and returns its familiar form.
func parseTag(ref string) (string, error) {
	r, err := reference.Parse(ref)
	if err != nil {
		return "", err
	}
	t, ok := r.(name.Tag)
	if !ok {
		return "", fmt.Errorf("reference %q: a tag is required, not a digest: %w", ref, errdefs.ErrInvalidArgument)
	}
	return reference.Familiar(t), nil
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// resolveLocked finds the record for refOrID. byName is the familiar
// reference ("name:tag" or "name@digest") when the image was found by name
// rather than by ID. Callers hold s.mu.
func (s *Store) resolveLocked(refOrID string) (r *record, byName string, err error) {
	// Full ID, with or without the algorithm.
	if h, ok := strings.CutPrefix(refOrID, "sha256:"); ok {
		if !isHex(h) || len(h) > 64 {
			return nil, "", fmt.Errorf("image %q: malformed ID: %w", refOrID, errdefs.ErrInvalidArgument)
		}
		return s.byPrefixLocked(refOrID, h)
	}
	if isHex(refOrID) && len(refOrID) == 64 {
		return s.byPrefixLocked(refOrID, refOrID)
	}
	ref, err := reference.Parse(refOrID)
	if err != nil {
		return nil, "", err
	}
	fam := reference.Familiar(ref)
	switch ref.(type) {
	case name.Tag:
		if id, ok := s.tags[fam]; ok {
			return s.records[id], fam, nil
		}
	case name.Digest:
		for _, rec := range s.records {
			for _, d := range rec.RepoDigests {
				if d == fam {
					return rec, fam, nil
				}
			}
		}
	}
	// Docker falls back to an ID prefix when a short hex string names no
	// tag ("docker rmi 3f57").
	if isHex(refOrID) && len(refOrID) >= 4 {
		return s.byPrefixLocked(refOrID, refOrID)
	}
	return nil, "", fmt.Errorf("image %q: %w", refOrID, errdefs.ErrNotFound)
}

// byPrefixLocked finds the one record whose ID hex starts with prefix.
func (s *Store) byPrefixLocked(orig, prefix string) (*record, string, error) {
	var found []*record
	for id, rec := range s.records {
		if strings.HasPrefix(idHex(id), prefix) {
			found = append(found, rec)
		}
	}
	switch len(found) {
	case 0:
		return nil, "", fmt.Errorf("image %q: %w", orig, errdefs.ErrNotFound)
	case 1:
		return found[0], "", nil
	}
	ids := make([]string, len(found))
	for i, f := range found {
		ids[i] = f.ID
	}
	sort.Strings(ids)
	return nil, "", fmt.Errorf("image %q: ambiguous ID prefix (%s): %w", orig, strings.Join(ids, ", "), errdefs.ErrInvalidArgument)
}

// shortID is the 12-character form docker prints for layers.
func shortID(d string) string {
	h := idHex(d)
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// repoOf returns the familiar repository part of a familiar reference
// ("busybox" for "busybox:latest" or "busybox@sha256:...").
func repoOf(fam string) string {
	if i := strings.LastIndex(fam, "@"); i >= 0 {
		return fam[:i]
	}
	if i := strings.LastIndex(fam, ":"); i > strings.LastIndex(fam, "/") {
		return fam[:i]
	}
	return fam
}
