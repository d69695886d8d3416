// Package errdefs defines the classes of errors that wharf's layers return.
//
// Code wraps one of the sentinel errors with %w and callers test the class
// with errors.Is or the Is* helpers. Only the HTTP layer maps a class to a
// status code; nothing ever matches an error's text.
package errdefs

import "errors"

// The error classes. Each maps to one HTTP status in the API servers.
var (
	// ErrNotFound: the named object does not exist (404).
	ErrNotFound = errors.New("not found")
	// ErrConflict: the request conflicts with the object's state, e.g. a
	// name already in use or an image used by a container (409).
	ErrConflict = errors.New("conflict")
	// ErrInvalidArgument: the request itself is malformed (400).
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrNotModified: the object is already in the requested state (304).
	ErrNotModified = errors.New("not modified")
	// ErrUnavailable: a dependency (runtime, registry) cannot serve now (503).
	ErrUnavailable = errors.New("unavailable")
	// ErrForbidden: the operation is not allowed (403).
	ErrForbidden = errors.New("forbidden")
	// ErrNotImplemented: the operation is not supported (501).
	ErrNotImplemented = errors.New("not implemented")
	// ErrUnauthorized: credentials are missing or wrong (401).
	ErrUnauthorized = errors.New("unauthorized")
)

// IsNotFound reports whether err is of class ErrNotFound.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// IsConflict reports whether err is of class ErrConflict.
func IsConflict(err error) bool { return errors.Is(err, ErrConflict) }

// IsInvalidArgument reports whether err is of class ErrInvalidArgument.
func IsInvalidArgument(err error) bool { return errors.Is(err, ErrInvalidArgument) }

// IsNotModified reports whether err is of class ErrNotModified.
func IsNotModified(err error) bool { return errors.Is(err, ErrNotModified) }

// IsUnavailable reports whether err is of class ErrUnavailable.
func IsUnavailable(err error) bool { return errors.Is(err, ErrUnavailable) }

// IsForbidden reports whether err is of class ErrForbidden.
func IsForbidden(err error) bool { return errors.Is(err, ErrForbidden) }

// IsNotImplemented reports whether err is of class ErrNotImplemented.
func IsNotImplemented(err error) bool { return errors.Is(err, ErrNotImplemented) }

// IsUnauthorized reports whether err is of class ErrUnauthorized.
func IsUnauthorized(err error) bool { return errors.Is(err, ErrUnauthorized) }
