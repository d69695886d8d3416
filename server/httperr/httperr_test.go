package httperr

import (
	"errors"
	"fmt"
	"testing"

	"github.com/wharf-dev/wharf/errdefs"
)

func TestStatusAndMessage(t *testing.T) {
	err := fmt.Errorf("No such container: x: %w", errdefs.ErrNotFound)
	if Status(err) != 404 || Message(err) != "No such container: x" {
		t.Fatalf("%d %q", Status(err), Message(err))
	}
	for class, code := range map[error]int{errdefs.ErrConflict: 409, errdefs.ErrInvalidArgument: 400, errdefs.ErrNotModified: 304,
		errdefs.ErrUnavailable: 503, errdefs.ErrForbidden: 403, errdefs.ErrNotImplemented: 501, errdefs.ErrUnauthorized: 401, errors.New("x"): 500} {
		if got := Status(fmt.Errorf("m: %w", class)); got != code {
			t.Errorf("%v -> %d, want %d", class, got, code)
		}
	}
	own := errors.New("rate exceeded")
	joined := fmt.Errorf("Rate Exceeded.: %w", errors.Join(own, errdefs.ErrUnavailable))
	if m := Message(joined, own); m != "Rate Exceeded." {
		t.Fatalf("joined: %q", m)
	}
	if m := Message(errdefs.ErrNotFound); m != "not found" {
		t.Fatalf("a bare class keeps its text: %q", m)
	}
}
