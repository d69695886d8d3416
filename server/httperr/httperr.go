// Package httperr maps wharf's error classes to HTTP, for every API server:
// the one place where an errdefs class becomes a status code, and where the
// text that wrapping leaves behind is trimmed for a user.
package httperr

import (
	"errors"
	"net/http"
	"strings"

	"github.com/wharf-dev/wharf/errdefs"
)

// Status returns the HTTP status of err's class (500 when it has none).
func Status(err error) int {
	switch {
	case errdefs.IsNotFound(err):
		return http.StatusNotFound
	case errdefs.IsConflict(err):
		return http.StatusConflict
	case errdefs.IsInvalidArgument(err):
		return http.StatusBadRequest
	case errdefs.IsNotModified(err):
		return http.StatusNotModified
	case errdefs.IsUnavailable(err):
		return http.StatusServiceUnavailable
	case errdefs.IsForbidden(err):
		return http.StatusForbidden
	case errdefs.IsNotImplemented(err):
		return http.StatusNotImplemented
	case errdefs.IsUnauthorized(err):
		return http.StatusUnauthorized
	}
	return http.StatusInternalServerError
}

var classes = []error{errdefs.ErrNotFound, errdefs.ErrConflict, errdefs.ErrInvalidArgument, errdefs.ErrNotModified,
	errdefs.ErrUnavailable, errdefs.ErrForbidden, errdefs.ErrNotImplemented, errdefs.ErrUnauthorized}

// Message returns err's text for a user: the first line (errors.Join adds
// the classes on lines of their own) without the trailing ": <class>" that
// wrapping an errdefs class (or one of extra) with %w leaves, so that
// "No such container: x: not found" reads "No such container: x".
func Message(err error, extra ...error) string {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	for _, class := range append(classes, extra...) {
		if errors.Is(err, class) {
			if t := strings.TrimSuffix(msg, ": "+class.Error()); t != "" {
				msg = t
			}
		}
	}
	return msg
}
