package store

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/wharf-dev/wharf/errdefs"
)

// Remove follows docker rmi:
//
//   - By name ("busybox:1", "busybox@sha256:..."): the reference is
//     untagged. The image itself is deleted only when that was its last
//     reference. If it is then in use (inUse reports a container using it)
//     the call fails with ErrConflict, unless force, which untags but keeps
//     the image.
//   - By ID: an image tagged in several repositories needs force; an image in
//     use fails with ErrConflict unless force. With force all references are
//     removed; an image still in use is kept (untagged) so that its
//     container's layers stay intact.
//
// Deleting an image then garbage-collects blobs and snapshots no other
// image uses. inUse may be nil.
func (s *Store) Remove(ctx context.Context, refOrID string, force bool, inUse func(imageID string) bool) ([]Deleted, error) {
	if inUse == nil {
		inUse = func(string) bool { return false }
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, byName, err := s.resolveLocked(refOrID)
	if err != nil {
		return nil, err
	}
	if s.internalTagLocked(rec.ID) && (byName == "" || s.internal[byName]) {
		return nil, fmt.Errorf("unable to remove %s: the image is used by the daemon itself: %w", refOrID, errdefs.ErrConflict)
	}
	tags := s.tagsOfLocked(rec.ID)
	refs := len(tags) + len(rec.RepoDigests)
	var out []Deleted

	if byName != "" {
		// A tag is the last reference when no other tag remains (digest
		// references go with it); a digest when nothing else remains.
		last := len(tags) <= 1
		if strings.Contains(byName, "@") {
			last = refs <= 1
		}
		if last && inUse(rec.ID) && !force {
			return nil, fmt.Errorf("unable to remove repository reference %q (must force): image %s is used by a container: %w", refOrID, shortID(rec.ID), errdefs.ErrConflict)
		}
		out = append(out, Deleted{Untagged: byName})
		if err := s.untagLocked(rec, byName); err != nil {
			return nil, err
		}
		if !last {
			return out, nil
		}
		// Docker drops the digests together with the last tag.
		for _, d := range rec.RepoDigests {
			out = append(out, Deleted{Untagged: d})
		}
		rec.RepoDigests = nil
		if err := s.saveRecordLocked(rec); err != nil {
			return nil, err
		}
		if inUse(rec.ID) {
			return out, nil
		}
	} else {
		if !force {
			repos := map[string]bool{}
			for _, t := range tags {
				repos[repoOf(t)] = true
			}
			if len(repos) > 1 {
				return nil, fmt.Errorf("unable to delete %s (must be forced): image is referenced in multiple repositories: %w", shortID(rec.ID), errdefs.ErrConflict)
			}
			if inUse(rec.ID) {
				return nil, fmt.Errorf("unable to delete %s (must be forced): image is being used by a container: %w", shortID(rec.ID), errdefs.ErrConflict)
			}
		}
		for _, t := range tags {
			out = append(out, Deleted{Untagged: t})
			delete(s.tags, t)
		}
		for _, d := range rec.RepoDigests {
			out = append(out, Deleted{Untagged: d})
		}
		rec.RepoDigests = nil
		if err := s.saveTagsLocked(); err != nil {
			return nil, err
		}
		if inUse(rec.ID) {
			if err := s.saveRecordLocked(rec); err != nil {
				return nil, err
			}
			return out, nil
		}
	}
	if err := s.deleteRecordLocked(rec.ID); err != nil {
		return nil, err
	}
	out = append(out, Deleted{Deleted: rec.ID})
	chains, _, err := s.gcLocked()
	for _, c := range chains {
		out = append(out, Deleted{Deleted: c})
	}
	return out, err
}

// untagLocked removes one familiar reference from an image.
func (s *Store) untagLocked(rec *record, ref string) error {
	if strings.Contains(ref, "@") {
		kept := rec.RepoDigests[:0]
		for _, d := range rec.RepoDigests {
			if d != ref {
				kept = append(kept, d)
			}
		}
		rec.RepoDigests = kept
		return s.saveRecordLocked(rec)
	}
	delete(s.tags, ref)
	return s.saveTagsLocked()
}

// Prune deletes dangling (untagged) images, or with all every image no
// container uses, and returns what was deleted and the bytes reclaimed.
func (s *Store) Prune(ctx context.Context, all bool, inUse func(imageID string) bool) ([]Deleted, uint64, error) {
	if inUse == nil {
		inUse = func(string) bool { return false }
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.records))
	for id := range s.records {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var out []Deleted
	changedTags := false
	for _, id := range ids {
		tags := s.tagsOfLocked(id)
		if inUse(id) || (!all && len(tags) > 0) || s.internalTagLocked(id) || (s.records[id].BuildCache && len(tags) == 0) {
			continue
		}
		for _, t := range tags {
			out = append(out, Deleted{Untagged: t})
			delete(s.tags, t)
			changedTags = true
		}
		if err := s.deleteRecordLocked(id); err != nil {
			return out, 0, err
		}
		out = append(out, Deleted{Deleted: id})
	}
	if changedTags {
		if err := s.saveTagsLocked(); err != nil {
			return out, 0, err
		}
	}
	chains, reclaimed, err := s.gcLocked()
	for _, c := range chains {
		out = append(out, Deleted{Deleted: c})
	}
	return out, reclaimed, err
}

// gcLocked removes blobs and snapshots that no record references and no
// lease holds. It returns the removed chain IDs and the bytes freed
// (blob sizes plus unpacked layer sizes).
func (s *Store) gcLocked() ([]string, uint64, error) {
	keep := map[string]bool{}
	for k := range s.leases {
		keep[k] = true
	}
	s.cacheRootsLocked(keep)
	for _, r := range s.records {
		keep[r.ID] = true
		keep[r.Manifest] = true
		for _, l := range r.Layers {
			keep[l.Digest] = true
			keep[l.ChainID] = true
		}
	}
	var reclaimed uint64
	var removed []string
	chains, err := s.snapshots.List()
	if err != nil {
		return nil, 0, err
	}
	for _, c := range chains {
		if keep[c] {
			continue
		}
		if info, err := s.snapshots.Stat(c); err == nil {
			reclaimed += uint64(info.Size)
		}
		if err := s.snapshots.Remove(c); err != nil {
			return removed, reclaimed, err
		}
		removed = append(removed, c)
	}
	blobs, err := s.content.List()
	if err != nil {
		return removed, reclaimed, err
	}
	for _, b := range blobs {
		if keep[b] {
			continue
		}
		if n, err := s.content.Size(b); err == nil {
			reclaimed += uint64(n)
		}
		if err := s.content.Delete(b); err != nil {
			return removed, reclaimed, err
		}
	}
	return removed, reclaimed, nil
}
