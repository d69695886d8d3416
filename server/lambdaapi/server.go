// Package lambdaapi serves the AWS Lambda REST API (function management and
// Invoke) over a functions.Service, shaped so that the aws CLI and
// aws-sdk-go-v2's lambda client work against wharf with --endpoint-url.
//
// Every request is authenticated with AWS Signature Version 4 against the
// access keys wharf issues (identity) before it is routed; what a
// request can make the daemon read and hold before its signature is
// verified is bounded as body.go describes. Handlers
// decode the request, call one Service method and encode the answer;
// errors are mapped to Lambda's exception names and statuses in writeError
// alone.
//
// Paths served (as AWS names them):
//
//	POST   /2015-03-31/functions                               CreateFunction
//	GET    /2015-03-31/functions/                              ListFunctions (Marker, MaxItems, FunctionVersion=ALL)
//	GET    /2015-03-31/functions/{name}                        GetFunction (Qualifier)
//	DELETE /2015-03-31/functions/{name}                        DeleteFunction (Qualifier)
//	GET    /2015-03-31/functions/{name}/configuration          GetFunctionConfiguration (Qualifier)
//	PUT    /2015-03-31/functions/{name}/configuration          UpdateFunctionConfiguration
//	PUT    /2015-03-31/functions/{name}/code                   UpdateFunctionCode
//	POST   /2015-03-31/functions/{name}/versions               PublishVersion
//	GET    /2015-03-31/functions/{name}/versions               ListVersionsByFunction
//	POST   /2015-03-31/functions/{name}/aliases                CreateAlias
//	GET    /2015-03-31/functions/{name}/aliases                ListAliases
//	GET    /2015-03-31/functions/{name}/aliases/{alias}        GetAlias
//	PUT    /2015-03-31/functions/{name}/aliases/{alias}        UpdateAlias
//	DELETE /2015-03-31/functions/{name}/aliases/{alias}        DeleteAlias
//	PUT    /2017-10-31/functions/{name}/concurrency            PutFunctionConcurrency
//	DELETE /2017-10-31/functions/{name}/concurrency            DeleteFunctionConcurrency
//	GET    /2019-09-30/functions/{name}/concurrency            GetFunctionConcurrency
//	POST   /2015-03-31/functions/{name}/invocations            Invoke
//	POST   /2014-11-13/functions/{name}/invoke-async/          InvokeAsync (deprecated by AWS, still used)
//
// {name} is a function name, a full ARN or a partial ARN, optionally with
// ":qualifier".
package lambdaapi

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/wharf-dev/wharf/server/httperr"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/functions"
	"github.com/wharf-dev/wharf/identity"
)

// Bounds on request bodies, checked against Content-Length before a body
// is read (and hashed for the signature), and enforced while it is read.
const (
	// MaxCodeBody bounds CreateFunction and UpdateFunctionCode: a zip of
	// functions.MaxZipSize, base64-encoded, plus the JSON around it.
	MaxCodeBody = functions.MaxZipSize/3*4 + 4 + 1<<20
	// MaxInvokeBody bounds an invocation's payload (Lambda's synchronous
	// limit; the Service enforces the smaller asynchronous one).
	MaxInvokeBody = functions.MaxSyncPayload
	// MaxOtherBody bounds every other request.
	MaxOtherBody = 1 << 20
)

// Option configures a Server.
type Option func(*Server)

// WithLogger sets the logger requests are logged to (default: discard).
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithClock sets the clock signatures are checked against.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// Server is the Lambda API handler.
type Server struct {
	svc    functions.Service
	verify *identity.Verifier
	log    *slog.Logger
	now    func() time.Time
	mux    *http.ServeMux

	// Bodies before their signature is verified (body.go).
	spoolDir    string
	spoolSlots  chan struct{}
	memory      *budget
	bodyGrace   time.Duration
	minBodyRate int64
}

// New returns the Lambda API over svc, accepting requests signed with keys.
func New(svc functions.Service, keys *identity.Keys, opts ...Option) *Server {
	s := &Server{svc: svc, log: slog.New(slog.DiscardHandler), now: time.Now, mux: http.NewServeMux(),
		spoolDir: os.TempDir(), spoolSlots: make(chan struct{}, maxSpooling), memory: &budget{left: memoryBudget},
		bodyGrace: bodyGrace, minBodyRate: minBodyRate}
	for _, o := range opts {
		o(s)
	}
	s.verify = identity.NewVerifier(keys, s.now, MaxCodeBody)
	s.routes()
	return s
}

func (s *Server) routes() {
	const fn = "/2015-03-31/functions"
	s.handle("POST "+fn, "", s.createFunction) // authorized on the name in its body
	s.handle("GET "+fn, "ListFunctions", s.listFunctions)
	s.handle("GET "+fn+"/{name}", "GetFunction", s.getFunction)
	s.handle("DELETE "+fn+"/{name}", "DeleteFunction", s.deleteFunction)
	s.handle("GET "+fn+"/{name}/configuration", "GetFunctionConfiguration", s.getConfiguration)
	s.handle("PUT "+fn+"/{name}/configuration", "UpdateFunctionConfiguration", s.updateConfiguration)
	s.handle("PUT "+fn+"/{name}/code", "UpdateFunctionCode", s.updateCode)
	s.handle("POST "+fn+"/{name}/versions", "PublishVersion", s.publishVersion)
	s.handle("GET "+fn+"/{name}/versions", "ListVersionsByFunction", s.listVersions)
	s.handle("POST "+fn+"/{name}/aliases", "CreateAlias", s.createAlias)
	s.handle("GET "+fn+"/{name}/aliases", "ListAliases", s.listAliases)
	s.handle("GET "+fn+"/{name}/aliases/{alias}", "GetAlias", s.getAlias)
	s.handle("PUT "+fn+"/{name}/aliases/{alias}", "UpdateAlias", s.updateAlias)
	s.handle("DELETE "+fn+"/{name}/aliases/{alias}", "DeleteAlias", s.deleteAlias)
	s.handle("PUT /2017-10-31/functions/{name}/concurrency", "PutFunctionConcurrency", s.putConcurrency)
	s.handle("DELETE /2017-10-31/functions/{name}/concurrency", "DeleteFunctionConcurrency", s.deleteConcurrency)
	s.handle("GET /2019-09-30/functions/{name}/concurrency", "GetFunctionConcurrency", s.getConcurrency)
	s.handle("POST "+fn+"/{name}/invocations", "InvokeFunction", s.invoke)
	s.handle("POST /2014-11-13/functions/{name}/invoke-async", "InvokeAsync", s.invokeAsync)
	s.handle("/", "", func(w http.ResponseWriter, r *http.Request) error {
		return &apiError{status: http.StatusNotFound, typ: "UnknownOperationException", msg: "Unknown operation " + r.Method + " " + r.URL.Path}
	})
}

type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle serves pattern with h once the key is allowed action on the
// function the path names (action "": h authorizes itself).
func (s *Server) handle(pattern, action string, h handlerFunc) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		err := error(nil)
		if action != "" {
			err = authorize(r, action, pathResource(r))
		}
		if err == nil {
			err = h(w, r)
		}
		if err != nil {
			s.writeError(w, r, err)
		}
	})
}

// ServeHTTP authenticates the request, then routes it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	reqID := newRequestID()
	w.Header().Set("X-Amzn-RequestId", reqID)
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	// The request's attributes are attached only when a line is written:
	// With costs allocations on every request otherwise.
	log := func() *slog.Logger { return s.log.With("request", reqID, "method", r.Method, "path", r.URL.Path) }

	// The body's deadline is set before anything else, so that it also
	// bounds the draining of a body the request is refused before reading.
	rc := http.NewResponseController(w)
	if r.ContentLength != 0 {
		n := r.ContentLength
		if n < 0 {
			n = bodyLimit(r.URL.Path)
		}
		_ = rc.SetReadDeadline(start.Add(s.bodyTimeout(n)))
	}
	id, release, err := s.authenticate(w, r)
	if err != nil {
		// What is left of the body is not read: the connection closes
		// after the answer rather than the server draining it first.
		if r.ContentLength != 0 {
			w.Header().Set("Connection", "close")
		}
		s.writeError(rec, r, err)
		if s.log.Enabled(r.Context(), slog.LevelInfo) {
			log().Info("lambda request refused", "status", rec.status, "reason", httperr.Message(err, functions.ErrThrottled, functions.ErrTooLarge, functions.ErrNotReady))
		}
		return
	}
	defer release()
	// The body is read: nothing may cut the response (a synchronous
	// invocation runs for up to 15 minutes).
	_ = rc.SetReadDeadline(time.Time{})
	// AWS clients differ on trailing slashes (botocore lists functions at
	// "/functions/"); the signature is checked on the path as sent, and
	// routing ignores the slash.
	if p := r.URL.Path; len(p) > 1 && strings.HasSuffix(p, "/") {
		r.URL.Path = strings.TrimRight(p, "/")
		r.URL.RawPath = ""
	}
	// ServeMux would redirect a path with "." or ".." segments (a
	// function named "."); no AWS client follows that, so refuse it here.
	if p := r.URL.Path; path.Clean(p) != p {
		s.writeError(rec, r, invalidParam("invalid request path %q", p))
		return
	}
	ctx := functions.WithRequestID(withIdentity(r.Context(), id), reqID)
	s.mux.ServeHTTP(rec, r.WithContext(ctx))
	if s.log.Enabled(r.Context(), slog.LevelDebug) {
		log().Debug("lambda request", "key", id.AccessKeyID, "status", rec.status, "took", time.Since(start))
	}
}

// authenticate checks the signature's headers, then reads the body within
// its bounds (body.go) and verifies the signature over it. release frees
// what the request holds once it is served.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (id *identity.Identity, release func(), err error) {
	if r.Header.Get("Authorization") == "" {
		return nil, nil, &apiError{status: http.StatusForbidden, typ: "MissingAuthenticationTokenException", msg: "Missing Authentication Token"}
	}
	limit := bodyLimit(r.URL.Path)
	if r.ContentLength > limit {
		return nil, nil, tooLarge(r.URL.Path, limit)
	}
	sr, err := s.verify.CheckHeaders(r)
	if err != nil {
		return nil, nil, authError(err)
	}
	if svc := sr.Identity().Service; svc != service {
		return nil, nil, &apiError{status: http.StatusForbidden, typ: "InvalidSignatureException", msg: fmt.Sprintf("Credential should be scoped to correct service: '%s'. ", service)}
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	id, release, err = s.readSigned(r, sr, limit)
	var mbe *http.MaxBytesError
	switch {
	case err == nil:
		return id, release, nil
	case errors.As(err, &mbe):
		return nil, nil, tooLarge(r.URL.Path, limit)
	case errdefs.IsForbidden(err), errdefs.IsUnauthorized(err):
		return nil, nil, authError(err)
	default:
		var ae *apiError
		if errors.As(err, &ae) {
			return nil, nil, err
		}
		return nil, nil, &apiError{status: http.StatusBadRequest, typ: "InvalidRequestContentException", msg: "reading the request body: " + err.Error()}
	}
}

// service is the SigV4 service name of the Lambda API.
const service = "lambda"

// authError maps the verifier's errors to Lambda's exceptions.
func authError(err error) error {
	msg := httperr.Message(err, functions.ErrThrottled, functions.ErrTooLarge, functions.ErrNotReady)
	if errdefs.IsForbidden(err) {
		return &apiError{status: http.StatusForbidden, typ: "InvalidSignatureException", msg: msg}
	}
	return &apiError{status: http.StatusForbidden, typ: "UnrecognizedClientException", msg: msg}
}

// bodyLimit is the largest body a path accepts.
func bodyLimit(path string) int64 {
	p := strings.TrimRight(path, "/")
	switch {
	case strings.HasSuffix(p, "/invocations"), strings.HasSuffix(p, "/invoke-async"):
		return MaxInvokeBody
	case p == "/2015-03-31/functions", strings.HasSuffix(p, "/code"):
		return MaxCodeBody
	}
	return MaxOtherBody
}

func tooLarge(path string, limit int64) error {
	op := "this"
	if strings.HasSuffix(strings.TrimRight(path, "/"), "/invocations") {
		op = "the InvokeFunction"
	}
	return &apiError{status: http.StatusRequestEntityTooLarge, typ: "RequestTooLargeException",
		msg: fmt.Sprintf("Request must be smaller than %d bytes for %s operation", limit, op)}
}

// apiError is an error whose Lambda exception is decided by the API layer
// itself (decoding, authentication), not by an errdefs class.
type apiError struct {
	status int
	typ    string
	msg    string
	reason string
}

func (e *apiError) Error() string { return e.typ + ": " + e.msg }

func badRequest(typ, format string, a ...any) error {
	return &apiError{status: http.StatusBadRequest, typ: typ, msg: fmt.Sprintf(format, a...)}
}

func invalidParam(format string, a ...any) error {
	return badRequest("InvalidParameterValueException", format, a...)
}

// errorBody is Lambda's error document.
type errorBody struct {
	Type    string `json:"Type"`
	Message string `json:"message"`
	Reason  string `json:"Reason,omitempty"`
}

// classify maps an error to Lambda's status and exception name. This is
// the one place errdefs classes become Lambda errors.
func classify(err error) *apiError {
	var ae *apiError
	var mbe *http.MaxBytesError
	msg := httperr.Message(err, functions.ErrThrottled, functions.ErrTooLarge, functions.ErrNotReady)
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &mbe):
		return &apiError{status: http.StatusRequestEntityTooLarge, typ: "RequestTooLargeException", msg: "request body too large"}
	case errors.Is(err, functions.ErrTooLarge):
		return &apiError{status: http.StatusRequestEntityTooLarge, typ: "RequestTooLargeException", msg: msg}
	case errors.Is(err, functions.ErrThrottled):
		return &apiError{status: http.StatusTooManyRequests, typ: "TooManyRequestsException", msg: msg, reason: "ReservedFunctionConcurrentInvocationLimitExceeded"}
	case errdefs.IsNotFound(err):
		return &apiError{status: http.StatusNotFound, typ: "ResourceNotFoundException", msg: msg}
	case errdefs.IsInvalidArgument(err):
		return &apiError{status: http.StatusBadRequest, typ: "InvalidParameterValueException", msg: msg}
	case errdefs.IsConflict(err):
		return &apiError{status: http.StatusConflict, typ: "ResourceConflictException", msg: msg}
	case errdefs.IsUnauthorized(err), errdefs.IsForbidden(err):
		return &apiError{status: http.StatusForbidden, typ: "AccessDeniedException", msg: msg}
	case errdefs.IsNotImplemented(err):
		return &apiError{status: http.StatusBadRequest, typ: "InvalidParameterValueException", msg: msg}
	case errdefs.IsUnavailable(err):
		return &apiError{status: http.StatusServiceUnavailable, typ: "ServiceException", msg: msg}
	}
	return &apiError{status: http.StatusInternalServerError, typ: "ServiceException", msg: msg}
}

// writeError writes err in Lambda's shape: the status, the exception name
// in X-Amzn-ErrorType (what the SDKs read), and {"Type","message"}.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := classify(err)
	if e.status >= 500 {
		s.log.Error("lambda request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	body := errorBody{Type: "User", Message: e.msg, Reason: e.reason}
	if e.status >= 500 {
		body.Type = "Service"
	}
	w.Header().Set("X-Amzn-ErrorType", e.typ)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(body)
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// decodeJSON decodes a request body; a body that is not the JSON expected
// is InvalidRequestContentException, as Lambda answers.
func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // no body: every member absent
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return badRequest("InvalidRequestContentException", "Could not parse request body into json: %v", err)
	}
	if dec.More() {
		return badRequest("InvalidRequestContentException", "Could not parse request body into json: trailing data after the JSON object")
	}
	return nil
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// statusRecorder remembers the status for the request log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
