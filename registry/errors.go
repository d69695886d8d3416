package registry

import "github.com/wharf-dev/wharf/errdefs"

// The registry's own errors, for the layers above that name them (ECR's
// API turns each into its exception). Each carries an errdefs class, so
// that every other caller handles it by class.
var (
	ErrRepositoryNotFound = classed("repository does not exist", errdefs.ErrNotFound)
	ErrRepositoryExists   = classed("repository already exists", errdefs.ErrConflict)
	ErrRepositoryNotEmpty = classed("repository still holds images", errdefs.ErrConflict)
	ErrImageNotFound      = classed("image does not exist", errdefs.ErrNotFound)
	ErrImageExists        = classed("image already exists", errdefs.ErrConflict)
	ErrTagImmutable       = classed("tag already exists in an immutable repository", errdefs.ErrConflict)
	ErrDigestMismatch     = classed("manifest digest does not match", errdefs.ErrInvalidArgument)
	ErrLayersNotFound     = classed("manifest names blobs the repository does not hold", errdefs.ErrInvalidArgument)
	ErrPolicyNotFound     = classed("repository has no lifecycle policy", errdefs.ErrNotFound)
)

// classedError is a sentinel that is also its class.
type classedError struct {
	msg   string
	class error
}

func classed(msg string, class error) error { return &classedError{msg: msg, class: class} }

func (e *classedError) Error() string { return e.msg }
func (e *classedError) Unwrap() error { return e.class }
