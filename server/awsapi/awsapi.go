// Package awsapi holds what every AWS-shaped API of the daemon (ECR, ECS,
// CloudWatch Logs, Batch) does to a call before its operation runs: the
// body's size limit, a budget of bodies in flight, the read deadline, and
// the SigV4 check scoped to the API's service, with AWS's exceptions for
// each refusal. Each API keeps its own dispatch and error encoding (JSON
// 1.1 or REST); what they share lives here once.
package awsapi

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/identity"
	"github.com/wharf-dev/wharf/server/httperr"
)

// Error is an AWS exception: its HTTP status (0 means 400), its type
// ("ClientException", "InvalidSignatureException", ...) and message.
type Error struct {
	Status int
	Type   string
	Msg    string
}

func (e *Error) Error() string { return e.Type + ": " + e.Msg }

// Verifier checks a request's SigV4 signature (identity.Verifier); it may
// read and replace the body.
type Verifier interface {
	Verify(r *http.Request) (*identity.Identity, error)
}

// Budget bounds the bytes of request bodies held at once by an API.
type Budget struct {
	mu   sync.Mutex
	held int64
	max  int64
}

// NewBudget returns a budget of max bytes.
func NewBudget(max int64) *Budget { return &Budget{max: max} }

// Take reserves n bytes; false if the budget cannot hold them now.
func (b *Budget) Take(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.held+n > b.max {
		return false
	}
	b.held += n
	return true
}

// Give returns n bytes taken.
func (b *Budget) Give(n int64) {
	b.mu.Lock()
	b.held -= n
	b.mu.Unlock()
}

// Intake is an API's way of taking a call in.
type Intake struct {
	// Service is the SigV4 service the credential must be scoped to.
	Service string
	Verify  Verifier
	// Budget, when set, bounds the bodies in flight; a call it cannot
	// hold gets Throttle.
	Budget   *Budget
	Throttle Error
	// BodyTimeout is the deadline for reading the request.
	BodyTimeout time.Duration
	// TooLarge is the exception type of a body over its limit
	// (InvalidParameterException, ClientException).
	TooLarge string
	// AuthStatus is the status of a refused signature: 403 on most APIs
	// (0 means 403); CloudWatch Logs answers 400.
	AuthStatus int
}

// Begin runs the steps every call shares, for a body of at most limit
// bytes: it refuses a larger declared length, holds the body's bytes in
// the budget, sets the read deadline, verifies the signature and reads
// the body. done releases what Begin holds; it is set whenever err is
// nil. A refusal is an *Error (or the verifier's error, unclassified);
// when the client may still be sending, Begin asks for the connection to
// be closed after the answer.
func (in *Intake) Begin(w http.ResponseWriter, r *http.Request, limit int64) (id *identity.Identity, body []byte, done func(), err error) {
	if r.ContentLength > limit {
		w.Header().Set("Connection", "close")
		return nil, nil, nil, in.tooLarge(limit)
	}
	done = func() {}
	if in.Budget != nil {
		need := limit
		if r.ContentLength >= 0 {
			need = r.ContentLength
		}
		if !in.Budget.Take(need) {
			w.Header().Set("Connection", "close")
			t := in.Throttle
			return nil, nil, nil, &t
		}
		done = func() { in.Budget.Give(need) }
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(in.BodyTimeout))
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	id, err = in.authenticate(r)
	if err != nil {
		if r.ContentLength != 0 {
			w.Header().Set("Connection", "close")
		}
		done()
		return nil, nil, nil, err
	}
	body, err = io.ReadAll(r.Body)
	if err != nil {
		done()
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, nil, nil, in.tooLarge(mbe.Limit)
		}
		return nil, nil, nil, err
	}
	return id, body, done, nil
}

func (in *Intake) tooLarge(limit int64) *Error {
	return &Error{Type: in.TooLarge, Msg: fmt.Sprintf("the request is larger than %d bytes", limit)}
}

// authenticate verifies the signature, answering AWS's exceptions.
func (in *Intake) authenticate(r *http.Request) (*identity.Identity, error) {
	status := in.AuthStatus
	if status == 0 {
		status = http.StatusForbidden
	}
	if r.Header.Get("Authorization") == "" {
		return nil, &Error{Status: status, Type: "MissingAuthenticationTokenException", Msg: "Missing Authentication Token"}
	}
	id, err := in.Verify.Verify(r)
	if err != nil {
		msg := httperr.Message(err)
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return nil, in.tooLarge(mbe.Limit)
		case errdefs.IsForbidden(err):
			return nil, &Error{Status: status, Type: "InvalidSignatureException", Msg: msg}
		case errdefs.IsUnauthorized(err):
			return nil, &Error{Status: status, Type: "UnrecognizedClientException", Msg: msg}
		}
		return nil, err
	}
	if id.Service != in.Service {
		return nil, &Error{Status: status, Type: "InvalidSignatureException", Msg: fmt.Sprintf("Credential should be scoped to correct service: '%s'. ", in.Service)}
	}
	return id, nil
}

// RequestID returns a new request id in the form AWS's answers carry in
// X-Amzn-RequestId.
func RequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// WriteError answers an exception as AWS's JSON APIs do: the type in
// X-Amzn-ErrorType and {"__type", "message"} with status (0 means 400),
// as contentType.
func WriteError(w http.ResponseWriter, contentType string, status int, typ, msg string) {
	if status == 0 {
		status = http.StatusBadRequest
	}
	w.Header().Set("X-Amzn-ErrorType", typ)
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": msg})
}

// Decode reads an operation's JSON input into v: an empty body is no
// input, unknown members are ignored (as AWS does), and a body that is
// not the operation's JSON is an exception of type typ.
func Decode(body []byte, v any, typ string) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return &Error{Type: typ, Msg: "the request body is not the operation's JSON: " + err.Error()}
	}
	return nil
}
