package store

import (
	"fmt"

	"github.com/wharf-dev/wharf/errdefs"
)

// Internal references: images the daemon keeps for itself (the root
// filesystem of zip functions, wharf/lambda-base) live in the same store
// as the user's, so that containers run them like any other, but they are
// not the user's images. A reference declared with WithInternalRefs is
// therefore kept out of the user's view and reach:
//
//   - List leaves it out of RepoTags and leaves out an image whose every
//     tag is internal (docker images, wharf images, the image count of
//     info); Get still resolves it, so the daemon and inspect find it.
//   - Prune never removes an image that holds one: it is not dangling,
//     and no container of the user's decides whether it is in use — the
//     daemon does (dockerd has no such image, so no prune of dockerd's
//     would remove it).
//   - Remove refuses it (ErrConflict, as for an image in use), also by
//     the image's ID and with force.
//   - Once an image holds it, no tag, pull, load or import moves it to
//     another image (ErrForbidden): a user's image cannot take the place
//     of the daemon's.
//
// The declaration is the daemon's (an Option, not a label of the image),
// so that a user cannot hide an image of theirs by labelling it, and it
// needs no record of its own: images imported before the declaration
// existed are covered as they are.

// WithInternalRefs declares references ("name:tag") that belong to the
// daemon itself; see above.
func WithInternalRefs(refs ...string) Option {
	return func(s *Store) {
		for _, r := range refs {
			if t, err := parseTag(r); err == nil {
				s.internal[t] = true
			}
		}
	}
}

// internalTagLocked reports whether the record holds an internal tag.
func (s *Store) internalTagLocked(id string) bool {
	for t := range s.internal {
		if s.tags[t] == id {
			return true
		}
	}
	return false
}

// userTags removes the internal references from tags.
func (s *Store) userTags(tags []string) []string {
	out := tags[:0:0]
	for _, t := range tags {
		if !s.internal[t] {
			out = append(out, t)
		}
	}
	return out
}

// checkTagLocked refuses to point an internal reference held by an image
// at another one.
func (s *Store) checkTagLocked(tag, id string) error {
	if held, ok := s.tags[tag]; ok && s.internal[tag] && held != id {
		return fmt.Errorf("%s is an image of the daemon itself and cannot be replaced: %w", tag, errdefs.ErrForbidden)
	}
	return nil
}
