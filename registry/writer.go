package registry

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"sync"

	"github.com/distribution/distribution/v3/registry/api/errcode"
	"github.com/distribution/reference"
)

// stateKey keys the per-request state in the request's context.
// Distribution hands that context down to the access controller and the
// storage middleware, which is how they reach the response.
type stateKey struct{}

// reqState is what the access controller and the middleware tell the
// response writer about one request.
type reqState struct {
	mu sync.Mutex
	// override, when set, is the error the response carries instead of
	// the one Distribution writes. Distribution answers every refusal
	// of an access controller with 401, and a valid credential whose
	// policy does not allow the request deserves 403 DENIED, as ECR
	// answers; it answers every error of a blob upload's start with
	// 500, and a refused pre-push check deserves its own code.
	override *errcode.Error
	// subject is the OCI-Subject header of a manifest PUT whose manifest
	// names a subject (the referrers API, referrers.go).
	subject string
	// method is the request's method (the pull hook fires on GET only).
	method string
}

func (s *reqState) setOverride(e errcode.Error) {
	s.mu.Lock()
	s.override = &e
	s.mu.Unlock()
}

func (s *reqState) setSubject(d string) {
	s.mu.Lock()
	s.subject = d
	s.mu.Unlock()
}

func (s *reqState) get() (*errcode.Error, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.override, s.subject
}

// stateOf returns the request state in ctx, or a throwaway one for calls
// that do not come from a request (the content API, GC).
func stateOf(ctx context.Context) *reqState {
	if st, ok := ctx.Value(stateKey{}).(*reqState); ok {
		return st
	}
	return &reqState{}
}

// respWriter records the status and the bytes written (metrics), and
// applies reqState.
type respWriter struct {
	http.ResponseWriter
	state   *reqState
	code    int
	written int64
	// swallow drops what Distribution writes after we answered instead.
	swallow bool
}

func newRespWriter(w http.ResponseWriter) *respWriter {
	return &respWriter{ResponseWriter: w, state: &reqState{}}
}

func (w *respWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

func (w *respWriter) WriteHeader(code int) {
	if w.code != 0 {
		return
	}
	override, subject := w.state.get()
	if override != nil && code >= 400 {
		w.code = override.Code.Descriptor().HTTPStatusCode
		h := w.Header()
		h.Del("WWW-Authenticate")
		h.Del("Content-Length")
		_ = errcode.ServeJSON(w.ResponseWriter, *override)
		w.swallow = true
		return
	}
	if subject != "" && code == http.StatusCreated {
		w.Header().Set("OCI-Subject", subject)
	}
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *respWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.swallow {
		return len(p), nil
	}
	n, err := w.ResponseWriter.Write(p)
	w.written += int64(n)
	return n, err
}

// ReadFrom keeps the server's sendfile path for blobs served from files.
func (w *respWriter) ReadFrom(src io.Reader) (int64, error) {
	if w.code == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.swallow {
		return io.Copy(io.Discard, src)
	}
	var n int64
	var err error
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(src)
	} else {
		n, err = io.Copy(writerOnly{w.ResponseWriter}, src)
	}
	w.written += n
	return n, err
}

func (w *respWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok && !w.swallow {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (w *respWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type writerOnly struct{ io.Writer }

// countingBody counts the bytes a client sent.
type countingBody struct {
	rc io.ReadCloser
	n  int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.n += int64(n)
	return n, err
}

func (b *countingBody) Close() error { return b.rc.Close() }

// Route names, for metrics: Distribution's (registry/api/v2), ours, and
// "other".
const (
	routeBase            = "base"
	routeManifest        = "manifest"
	routeTags            = "tags"
	routeBlob            = "blob"
	routeBlobUpload      = "blob-upload"
	routeBlobUploadChunk = "blob-upload-chunk"
	routeCatalog         = "catalog"
	routeReferrers       = "referrers"
	routeToken           = "token"
	routeOther           = "other"
)

var (
	namePart  = `(` + reference.NameRegexp.String() + `)`
	digestRe  = `([A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})`
	tagOrDig  = `(` + reference.TagRegexp.String() + `|` + digestRe + `)`
	routeExps = []struct {
		name string
		re   *regexp.Regexp
	}{
		{routeBase, regexp.MustCompile(`^/v2/?$`)},
		{routeCatalog, regexp.MustCompile(`^/v2/_catalog$`)},
		{routeTags, regexp.MustCompile(`^/v2/` + namePart + `/tags/list$`)},
		{routeManifest, regexp.MustCompile(`^/v2/` + namePart + `/manifests/` + tagOrDig + `$`)},
		{routeBlobUpload, regexp.MustCompile(`^/v2/` + namePart + `/blobs/uploads/?$`)},
		{routeBlobUploadChunk, regexp.MustCompile(`^/v2/` + namePart + `/blobs/uploads/[A-Za-z0-9._=-]+$`)},
		{routeBlob, regexp.MustCompile(`^/v2/` + namePart + `/blobs/` + digestRe + `$`)},
		{routeReferrers, regexp.MustCompile(`^/v2/` + namePart + `/referrers/` + digestRe + `$`)},
	}
)

// routeOf names the route of a request (for metrics and for our own
// routes), matching what Distribution's router would.
func routeOf(r *http.Request) string {
	p := r.URL.Path
	if p == "/token" {
		return routeToken
	}
	if len(p) < 3 || p[:3] != "/v2" {
		return routeOther
	}
	for _, e := range routeExps {
		if e.re.MatchString(p) {
			return e.name
		}
	}
	return routeOther
}

// referrersPath splits /v2/<name>/referrers/<digest>.
func referrersPath(p string) (name, dgst string, ok bool) {
	for _, e := range routeExps {
		if e.name != routeReferrers {
			continue
		}
		m := e.re.FindStringSubmatch(p)
		if m == nil {
			return "", "", false
		}
		return m[1], m[len(m)-1], true
	}
	return "", "", false
}
