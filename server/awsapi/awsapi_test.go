package awsapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/identity"
)

type verifier struct {
	id  *identity.Identity
	err error
}

func (v verifier) Verify(r *http.Request) (*identity.Identity, error) { return v.id, v.err }

func call(t *testing.T, in *Intake, body string, limit int64, auth bool) (*identity.Identity, string, func(), error, http.Header) {
	t.Helper()
	r := httptest.NewRequest("POST", "/", strings.NewReader(body))
	if auth {
		r.Header.Set("Authorization", "AWS4-HMAC-SHA256 ...")
	}
	w := httptest.NewRecorder()
	id, b, done, err := in.Begin(w, r, limit)
	return id, string(b), done, err, w.Header()
}

func exception(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Type
	}
	return ""
}

// Begin refuses what every AWS API refuses, in each API's words, and
// holds a body's bytes in the budget until done.
func TestBegin(t *testing.T) {
	in := &Intake{Service: "ecs", Verify: verifier{id: &identity.Identity{Service: "ecs"}}, Budget: NewBudget(10),
		Throttle: Error{Type: "ThrottlingException"}, BodyTimeout: time.Second, TooLarge: "ClientException"}
	id, body, done, err, _ := call(t, in, "{}", 8, true)
	if err != nil || id == nil || body != "{}" {
		t.Fatalf("a good call: %v %q %v", id, body, err)
	}
	// The budget holds the first call's bytes until done.
	if !in.Budget.Take(8) || in.Budget.Take(1) {
		t.Fatal("the budget does not hold the call's bytes")
	}
	in.Budget.Give(8)
	done()
	if !in.Budget.Take(10) {
		t.Fatal("done did not give the bytes back")
	}
	_, _, _, err, _ = call(t, in, "{}", 8, true)
	if exception(err) != "ThrottlingException" {
		t.Fatalf("over the budget: %v", err)
	}
	in.Budget.Give(10)

	_, _, _, err, h := call(t, in, "0123456789", 8, true)
	if exception(err) != "ClientException" || !strings.Contains(err.Error(), "larger than 8") || h.Get("Connection") != "close" {
		t.Fatalf("a body over its limit: %v %v", err, h)
	}
	_, _, _, err, _ = call(t, in, "{}", 8, false)
	if e, ok := err.(*Error); !ok || e.Type != "MissingAuthenticationTokenException" || e.Status != http.StatusForbidden {
		t.Fatalf("no signature: %#v", err)
	}
	in.Verify = verifier{err: fmt.Errorf("bad signature: %w", errdefs.ErrForbidden)}
	if _, _, _, err, _ = call(t, in, "{}", 8, true); exception(err) != "InvalidSignatureException" {
		t.Fatalf("a bad signature: %v", err)
	}
	in.Verify = verifier{id: &identity.Identity{Service: "lambda"}}
	in.AuthStatus = http.StatusBadRequest
	_, _, _, err, _ = call(t, in, "{}", 8, true)
	if e, ok := err.(*Error); !ok || e.Type != "InvalidSignatureException" || e.Status != http.StatusBadRequest {
		t.Fatalf("a credential of another service: %#v", err)
	}
	if !in.Budget.Take(10) {
		t.Fatal("refused calls kept bytes of the budget")
	}
}
