package wharf

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/wharf-dev/wharf/errdefs"
)

// VersionLess compares native API versions ("1.1" < "1.10"); "1", as
// daemons from before versioning spell theirs, is "1.0".
func VersionLess(a, b string) bool {
	am, an := splitAPIVersion(a)
	bm, bn := splitAPIVersion(b)
	if am != bm {
		return am < bm
	}
	return an < bn
}

func splitAPIVersion(v string) (int, int) {
	maj, min, _ := strings.Cut(v, ".")
	a, _ := strconv.Atoi(maj)
	b, _ := strconv.Atoi(min)
	return a, b
}

// MissingRouteError is the answer of a daemon that does not serve a
// request at all (its router's 404 or 405, which is no JSON error of a
// handler): the daemon is older than the request. It is of class
// errdefs.ErrNotImplemented, never ErrNotFound, so that it is not taken
// for a missing container or image.
type MissingRouteError struct {
	Method, Path string
	// DaemonVersion is the daemon's native API version.
	DaemonVersion string
}

func (e *MissingRouteError) Error() string {
	return fmt.Sprintf("the daemon does not serve %s %s: its API version %s is older than this client's %s; upgrade the daemon",
		e.Method, e.Path, e.DaemonVersion, APIVersion)
}

// Unwrap gives the error its class.
func (e *MissingRouteError) Unwrap() error { return errdefs.ErrNotImplemented }

// IsMissingRoute reports whether err says the daemon does not serve the
// request (it is older than the client).
func IsMissingRoute(err error) bool {
	var m *MissingRouteError
	return errors.As(err, &m)
}

// TooOldError says the daemon's API version lacks what a command needs.
func TooOldError(what, need, have string) error {
	return fmt.Errorf("%s needs a daemon with API version %s or later; this daemon has %s: upgrade the daemon: %w",
		what, need, have, errdefs.ErrNotImplemented)
}

// versionOf returns the API version an answer's header gives, or
// LegacyAPIVersion.
func versionOf(h http.Header) string {
	if v := h.Get(VersionHeader); v != "" {
		return v
	}
	return LegacyAPIVersion
}

// noteVersion remembers the daemon's version from an answer.
func (c *Client) noteVersion(h http.Header) {
	c.mu.Lock()
	c.daemonVersion = versionOf(h)
	c.mu.Unlock()
}

// DaemonAPIVersion returns the daemon's native API version: the one its
// last answer carried, else the one GET /version answers with.
func (c *Client) DaemonAPIVersion(ctx context.Context) (string, error) {
	c.mu.Lock()
	v := c.daemonVersion
	c.mu.Unlock()
	if v != "" {
		return v, nil
	}
	var ver Version
	if err := c.Do(ctx, http.MethodGet, "/version", nil, nil, &ver); err != nil {
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.daemonVersion, nil
}

// RequireAPIVersion fails with a TooOldError when the daemon's version is
// older than need; what names the feature for the message.
func (c *Client) RequireAPIVersion(ctx context.Context, need, what string) error {
	have, err := c.DaemonAPIVersion(ctx)
	if err != nil {
		return err
	}
	if VersionLess(have, need) {
		return TooOldError(what, need, have)
	}
	return nil
}

// missingRoute reports whether an error answer comes from the daemon's
// router rather than from a handler: every handler answers an error with
// a JSON object carrying a message (ErrorResponse), a router's "404 page
// not found" and "405 method not allowed" are plain text.
func missingRoute(status int, body []byte) bool {
	if status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
		return false
	}
	var e ErrorResponse
	return json.Unmarshal(body, &e) != nil || e.Message == ""
}
