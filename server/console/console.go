// Package console serves wharf's web console under /console/ on the
// daemon's --http address: static pages embedded in the binary (static/:
// plain HTML, CSS and a small script; nothing fetched from elsewhere) and
// a thin same-origin JSON API under /console/api/ that the pages call.
//
// What the console shows is what the public APIs give, through the same
// backends:
//
//   - containers, images, networks and volumes: the Docker Engine API's
//     handler, in process (/console/api/docker/<docker path>), for an
//     allowlist of its routes (docker.go): the console's JSON is Docker's,
//     and nothing it reads is beyond `docker` or `wharf`. Proxying rather
//     than calling the engine keeps one encoder of Docker's shapes.
//   - registry repositories and images, cluster nodes, services and
//     tasks, Batch queues and jobs: the native API's handler, in process
//     (/console/api/registry/..., /cluster/..., /batch/...), for an
//     allowlist of its reads (native.go), as `wharf registry`, `wharf
//     node`, `wharf service` and `wharf batch` get them.
//   - a shell: a WebSocket bridged to the Docker API's exec with a TTY
//     (exec.go).
//   - functions: the functions engine (functions.Service) that the Lambda
//     REST API calls, with Lambda's IAM action names (functions.go). The
//     Lambda API itself authenticates every request by its SigV4
//     signature, which the console could only make by holding the key's
//     secret; it holds none.
//   - live data: server-sent events from the engine's event bus (events),
//     from the Docker API's log follow (container logs) and from the
//     metrics ring (charts); no page polls.
//   - charts: a Ring of recent samples that a Sampler takes from the
//     daemon's Prometheus registry (ring.go, sampler.go).
//
// Authentication (auth.go). A browser signs in with an access key id and
// its secret (POST /console/api/session), verified against the key store
// as a SigV4 signature is; or with a one-time link that `wharf console`
// mints on the unix socket (POST /wharf/v1/console/links), whose token
// travels in the URL's fragment, never sent to a server. Either gives a
// session: a random id in an HttpOnly, SameSite=Strict cookie (Secure
// over TLS) scoped to /console/, ending after SessionLifetime or
// SessionIdle, at most MaxSessions at once. The secret is not kept, by
// the server or the browser. Every state-changing call carries the
// session's CSRF token in the X-Wharf-CSRF header, and a same-origin
// Origin when the browser sends one. Every call is authorised with the
// key's policy as the APIs do (identity.Allowed, looked up on each call,
// so that a revoked key's sessions end at once): Lambda's actions on
// functions; for the Docker side the service "docker" and actions named
// as the Docker SDK names its calls (ContainerList, ContainerStop, ...,
// docker.go), on the container's name.
package console

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wharf-dev/wharf/engine/events"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/identity"
	"github.com/wharf-dev/wharf/server/httperr"
)

//go:embed static
var staticFS embed.FS

// Prefix is where the console is served.
const Prefix = "/console/"

// Defaults of the metrics ring: 240 samples 5 seconds apart (20 minutes)
// of at most 2048 series.
const (
	DefaultSampleInterval = 5 * time.Second
	DefaultSlots          = 240
	DefaultMaxSeries      = 2048
)

// EventSource is the engine's event bus as the console follows it.
type EventSource interface {
	Subscribe(o events.SubscribeOptions) (*events.Subscription, error)
}

// Containers resolves a container reference (id, id prefix or name) to
// its name, which policies name.
type Containers interface {
	Name(ctx context.Context, ref string) (string, error)
}

// Server is the console's handler.
type Server struct {
	keys     KeyStore
	sessions *Sessions
	links    *Links
	log      *slog.Logger
	now      func() time.Time

	docker     http.Handler
	containers Containers
	fns        Functions
	native     http.Handler
	bus        EventSource

	gatherer prometheus.Gatherer
	interval time.Duration
	ring     *Ring

	// baseURL is the console's address for sign-in links
	// ("http://127.0.0.1:9280").
	baseURL string

	signIns *failureLimit
	terms   *terminals
	// termCheck is how often an open terminal checks its session
	// (termCheck; tests shorten it).
	termCheck time.Duration
	// assets are the static files; index the page with its style
	// inline, allowed by indexCSP; indexSignIn the page with its sign-in
	// form shown (static.go).
	assets      assets
	index       []byte
	indexSignIn []byte
	indexCSP    string

	mux    *http.ServeMux
	cancel context.CancelFunc
	// sampler fills ring while a session is live; nil until Start.
	sampler *Sampler
	wg      sync.WaitGroup
}

// Option configures a Server.
type Option func(*Server)

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithClock sets the clock of sessions and links (tests).
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithDocker serves the Docker pages through h, the Docker Engine API's
// handler, and c.
func WithDocker(h http.Handler, c Containers) Option {
	return func(s *Server) { s.docker, s.containers = h, c }
}

// WithNative serves the registry, cluster and Batch pages through h, the
// daemon's native API handler (native.go).
func WithNative(h http.Handler) Option { return func(s *Server) { s.native = h } }

// WithFunctions serves the functions pages over f.
func WithFunctions(f Functions) Option { return func(s *Server) { s.fns = f } }

// WithEvents follows bus for live pages.
func WithEvents(bus EventSource) Option { return func(s *Server) { s.bus = bus } }

// WithMetrics samples g every interval for the charts (0:
// DefaultSampleInterval).
func WithMetrics(g prometheus.Gatherer, interval time.Duration) Option {
	return func(s *Server) {
		s.gatherer = g
		if interval > 0 {
			s.interval = interval
		}
	}
}

// WithBaseURL is the console's address, as sign-in links give it.
func WithBaseURL(u string) Option { return func(s *Server) { s.baseURL = strings.TrimRight(u, "/") } }

// New returns the console over keys. Start begins sampling metrics.
func New(keys KeyStore, opts ...Option) *Server {
	s := &Server{keys: keys, log: slog.New(slog.DiscardHandler), now: time.Now, interval: DefaultSampleInterval,
		ring: NewRing(DefaultSlots, DefaultMaxSeries)}
	for _, o := range opts {
		o(s)
	}
	s.sessions = NewSessions(s.now, SessionLifetime, SessionIdle, MaxSessions)
	s.links = NewLinks(s.now, LinkLifetime, MaxLinks)
	s.signIns = newFailureLimit(s.now, maxSignInFailures, signInWindow)
	s.terms, s.termCheck = newTerminals(), termCheck
	static, _ := fs.Sub(staticFS, "static")
	a, err := loadAssets(static)
	if err != nil {
		// The files are built in: a missing one is a broken build.
		panic(err)
	}
	s.assets = a
	s.index, s.indexCSP = inlineStyle(a["index.html"].body, a)
	s.indexSignIn = signInShown(s.index)
	s.routes()
	return s
}

// Start samples the metrics until Close.
func (s *Server) Start() {
	if s.gatherer == nil || s.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	sm := NewSampler(s.gatherer, s.ring, s.interval, s.sessions.Active, s.log)
	s.sampler = sm
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		sm.Run(ctx)
	}()
}

// Close stops sampling.
func (s *Server) Close() {
	if s.cancel != nil {
		s.cancel()
		s.wg.Wait()
	}
}

// Ring is the metrics ring (tests and benchmarks read it).
func (s *Server) Ring() *Ring { return s.ring }

func (s *Server) routes() {
	mux := http.NewServeMux()
	s.mux = mux
	mux.HandleFunc("GET /console", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
	})
	mux.HandleFunc("GET "+Prefix+"{$}", s.serveIndex)
	mux.HandleFunc("GET "+Prefix+"static/", s.serveStatic)

	api := Prefix + "api"
	mux.HandleFunc("POST "+api+"/session", s.signIn)
	mux.HandleFunc("POST "+api+"/session/link", s.signInLink)
	mux.HandleFunc("GET "+api+"/session", s.authed(s.session))
	mux.HandleFunc("DELETE "+api+"/session", s.authed(s.signOut))
	mux.HandleFunc("GET "+api+"/events", s.authed(s.events))
	mux.HandleFunc("GET "+api+"/metrics", s.authed(s.metrics))
	mux.HandleFunc("GET "+api+"/metrics/stream", s.authed(s.metricsStream))
	s.dockerRoutes(mux, api)
	s.functionRoutes(mux, api)
	s.nativeRoutes(mux, api)
	mux.HandleFunc(api+"/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, fmt.Errorf("no console API %s %s: %w", r.Method, r.URL.Path, errdefs.ErrNotFound))
	})
}

// ServeHTTP implements http.Handler for paths under /console.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// secureHeaders are the headers of every page: the console runs only its
// own scripts and styles, and is never framed.
func secureHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", cspOf(""))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
}

// cspOf is the console's Content-Security-Policy, with style the
// source of an inline style element it allows ("" for none).
func cspOf(style string) string {
	csp := "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
	if style != "" {
		csp += "; style-src 'self' " + style
	}
	return csp
}

// call is an authenticated request.
type call struct {
	sess  Session
	stmts []identity.Statement
}

// allow checks the key's policy for action on resource of service.
func (c *call) allow(service, action, resource string) error {
	if identity.Allowed(c.stmts, identity.Request{Service: service, Action: action, Resource: resource}) {
		return nil
	}
	what := "*"
	if resource != "" {
		what = resource
	}
	return fmt.Errorf("%s is not allowed %s:%s on %s (its policy has no statement for it): %w", c.sess.Principal, service, action, what, errdefs.ErrForbidden)
}

// can reports whether the key may do action on resource of service.
func (c *call) can(service, action, resource string) bool {
	return c.allow(service, action, resource) == nil
}

// cookieName is the session cookie's.
const cookieName = "wharf_console"

// csrfHeader carries the session's CSRF token.
const csrfHeader = "X-Wharf-CSRF"

// stateChanging reports whether a method changes state (CSRF-checked).
func stateChanging(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// sameOrigin reports whether r's Origin, when the browser sent one, is
// the console's own.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

// authed serves h for a signed-in session, with the CSRF token checked on
// state-changing calls and the key's statements looked up.
func (s *Server) authed(h func(w http.ResponseWriter, r *http.Request, c *call) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		ck, _ := r.Cookie(cookieName)
		var id string
		if ck != nil {
			id = ck.Value
		}
		sess, err := s.sessions.Get(id)
		if err != nil {
			writeError(w, err)
			return
		}
		if stateChanging(r.Method) {
			if !sameOrigin(r) {
				writeError(w, fmt.Errorf("cross-origin request refused: %w", errdefs.ErrForbidden))
				return
			}
			if !CheckCSRF(sess, r.Header.Get(csrfHeader)) {
				writeError(w, fmt.Errorf("missing or wrong CSRF token (%s): %w", csrfHeader, errdefs.ErrForbidden))
				return
			}
		}
		c := &call{sess: sess, stmts: rootStatements}
		if !sess.Root() {
			stmts, ok := s.keys.Statements(sess.KeyID)
			if !ok {
				s.sessions.DeleteKey(sess.KeyID)
				writeError(w, fmt.Errorf("the access key %s was revoked: %w", sess.KeyID, errdefs.ErrUnauthorized))
				return
			}
			c.stmts = stmts
		}
		if err := h(w, r, c); err != nil {
			writeError(w, err)
		}
	}
}

// apiError is the console API's error body.
type apiError struct {
	Message string `json:"message"`
}

// writeError answers err with its class's status and {"message": ...}.
func writeError(w http.ResponseWriter, err error) {
	code := httperr.Status(err)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		code = http.StatusRequestEntityTooLarge
	}
	writeJSON(w, code, apiError{Message: httperr.Message(err)})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// decodeJSON decodes a JSON body of at most max bytes into v, refusing
// unknown fields and trailing data. Errors are ErrInvalidArgument.
func decodeJSON(r io.Reader, max int64, v any) error {
	lr := &io.LimitedReader{R: r, N: max + 1}
	dec := json.NewDecoder(lr)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if lr.N <= 0 {
			return fmt.Errorf("the request body is larger than %d bytes: %w", max, errdefs.ErrInvalidArgument)
		}
		return fmt.Errorf("invalid JSON body: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if dec.More() {
		return fmt.Errorf("invalid JSON body: data after the value: %w", errdefs.ErrInvalidArgument)
	}
	if lr.N <= 0 {
		return fmt.Errorf("the request body is larger than %d bytes: %w", max, errdefs.ErrInvalidArgument)
	}
	return nil
}
