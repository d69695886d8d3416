// Package registry is wharf's embedded OCI registry: CNCF Distribution
// (github.com/distribution/distribution/v3) as a library, behind wharf's
// identity. The daemon serves it on --registry.
//
// What is ours around Distribution:
//
//   - auth.go: the access controller (registered with Distribution's auth
//     package) and token.go, the token endpoint of Docker's bearer-token
//     protocol. Credentials are the login tokens of package identity
//     (`docker login -u AWS`); a key's policy decides, with the registry's
//     actions "pull", "push" and "delete" on a repository name (identity's
//     policy.go). Anonymous clients may pull public repositories only.
//   - hooks.go: a registry middleware (Distribution's extension point for
//     the storage namespace) that enforces tag immutability and the
//     pre-push check, records referrers and feeds garbage collection.
//   - referrers.go: the OCI 1.1 referrers API, which Distribution 3.1 lacks.
//   - meta.go: one small record per repository (public, tag mutability,
//     lifecycle policy, and what ECR's API keeps by its own keys).
//   - content.go: the Go interface to the content for ECR's API and the CLI.
//   - lifecycle.go: lifecycle policies (the language: package lifecycle)
//     applied by a background job; pulls.go: recorded pull times.
//   - pullthrough.go: pull-through cache rules, fetching what a pull of
//     a covered repository misses from its upstream.
//   - gc.go: garbage collection of unreferenced blobs while serving.
//   - metrics.go: Prometheus series on the daemon's registry.
//   - local.go: the engine's pulls from this registry, served from disk.
//
// On-disk layout (filesystem storage, the default), under the registry's
// root (<daemon root>/registry):
//
//	docker/registry/v2/...           Distribution's own layout (its storage/paths.go):
//	  blobs/sha256/<xx>/<hex>/data   every blob, once
//	  repositories/<name>/_layers/   the blobs linked into a repository
//	  repositories/<name>/_manifests/revisions/, tags/<tag>/current/link
//	  repositories/<name>/_uploads/  uploads in progress (purged after a week)
//	wharf/repositories/<name>/_meta.json     the repository's record (meta.go)
//	wharf/repositories/<name>/_pulls.json    its manifests' last pulls (pulls.go)
//	wharf/pullthrough.json           the pull-through cache rules (pullthrough.go)
//	wharf/repositories/<name>/_referrers/<subject alg>/<hex>/<referrer alg>/<hex>
//	                                 one descriptor per referrer (referrers.go)
//
// With S3-compatible storage (a Distribution configuration file) the same
// paths are keys of the bucket. Every write of Distribution and of ours is
// atomic (a temporary file renamed; an object put), so a daemon killed at
// any moment leaves nothing half-written visible; what an interrupted
// write leaves (a tag directory without its current link) is removed when
// the registry starts (recover.go).
package registry

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/distribution/v3/configuration"
	dauth "github.com/distribution/distribution/v3/registry/auth"
	"github.com/distribution/distribution/v3/registry/handlers"
	registrymiddleware "github.com/distribution/distribution/v3/registry/middleware/registry"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"

	// The storage drivers a configuration may name.
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/s3-aws"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/identity"
)

// Service is the service name of the registry's tokens (the "service" of
// the bearer challenge).
const Service = "wharf"

// Config is what the daemon's flags say about the registry.
type Config struct {
	// Addr is the address to listen on ("127.0.0.1:5000").
	Addr string
	// TLSCert and TLSKey, both set, serve HTTPS.
	TLSCert, TLSKey string
	// Root is the filesystem storage's directory, used unless ConfigFile
	// names another storage.
	Root string
	// ConfigFile is a Distribution configuration file whose storage
	// section replaces the filesystem storage (S3-compatible storage for
	// several nodes). Only the storage section is read.
	ConfigFile string
}

// Hooks let the layers above the registry (ECR's API) take part in
// pushes. Every hook may be nil.
type Hooks struct {
	// PrePush is called before a blob upload or a manifest push into
	// repo starts; an error refuses the push (errdefs classes map to the
	// registry's error codes: ErrNotFound → NAME_UNKNOWN, ErrForbidden →
	// DENIED, anything else → the error's message as UNSUPPORTED).
	PrePush func(ctx context.Context, repo string) error
	// Pushed is called after a manifest was stored in repo (with tag, if
	// it was pushed by tag).
	Pushed func(ctx context.Context, repo, digest, tag string)
	// Pulled is called after a manifest of repo was served by a GET.
	Pulled func(ctx context.Context, repo, digest string)
}

// Option configures New.
type Option func(*Registry)

// WithLogger sets the registry's logger.
func WithLogger(l *slog.Logger) Option { return func(r *Registry) { r.log = l } }

// WithRegisterer registers the registry's metrics (metrics.go).
func WithRegisterer(reg prometheus.Registerer) Option { return func(r *Registry) { r.reg = reg } }

// WithHooks sets the push and pull hooks.
func WithHooks(h Hooks) Option { return func(r *Registry) { r.hooks = h } }

// WithoutCreateOnPush refuses pushes into repositories that were not
// created first (ECR's CreateRepository), as ECR does; by default the
// first push creates its repository.
func WithoutCreateOnPush() Option { return func(r *Registry) { r.noCreate = true } }

// WithClock sets the clock of garbage collection's grace period (tests).
func WithClock(now func() time.Time) Option { return func(r *Registry) { r.now = now } }

// Registry is a running embedded registry.
type Registry struct {
	cfg   Config
	log   *slog.Logger
	reg   prometheus.Registerer
	hooks Hooks
	now   func() time.Time
	// noCreate: pushes need a repository created first.
	noCreate bool
	// lifecycleEvery is the lifecycle job's interval (0: never).
	lifecycleEvery time.Duration
	tokens         *identity.Tokens
	app            *handlers.App
	cancel         context.CancelFunc

	// ns and driver are the namespace and storage driver the app serves
	// from, captured by the registry middleware (hooks.go).
	ns      distribution.Namespace
	wrapped distribution.Namespace
	driver  storagedriver.StorageDriver
	// fsRoot is the filesystem driver's root directory ("" for other
	// drivers): blobs there can be linked rather than copied (local.go).
	fsRoot string

	access  *accessController
	meta    *metaStore
	pulls   *pullStore
	pull    pullRules
	gc      *gcGate
	metrics *registryMetrics

	mu  sync.Mutex
	srv *http.Server
}

// The registration names of our extensions in Distribution's registries.
const extName = "wharf"

// Distribution finds access controllers and middlewares by name in
// package-level registries; ours are registered once per process and
// find their Registry in the options of each app's configuration.
var registerOnce sync.Once

func registerExtensions() {
	registerOnce.Do(func() {
		_ = dauth.Register(extName, func(options map[string]any) (dauth.AccessController, error) {
			r, ok := options["registry"].(*Registry)
			if !ok {
				return nil, errors.New("the wharf access controller is configured by registry.New")
			}
			return r.access, nil
		})
		_ = registrymiddleware.Register(extName, func(ctx context.Context, ns distribution.Namespace, driver storagedriver.StorageDriver, options map[string]any) (distribution.Namespace, error) {
			r, ok := options["registry"].(*Registry)
			if !ok {
				return nil, errors.New("the wharf registry middleware is configured by registry.New")
			}
			return r.wrapNamespace(ns, driver), nil
		})
	})
}

// New builds the registry (it does not listen yet: Serve).
func New(ctx context.Context, cfg Config, tokens *identity.Tokens, opts ...Option) (*Registry, error) {
	r := &Registry{cfg: cfg, tokens: tokens, log: slog.New(slog.DiscardHandler), now: time.Now}
	for _, o := range opts {
		o(r)
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return nil, fmt.Errorf("registry: --registry-tls-cert and --registry-tls-key go together: %w", errdefs.ErrInvalidArgument)
	}
	storage, err := storageConfig(cfg)
	if err != nil {
		return nil, err
	}
	if storage.Type() == "filesystem" {
		root, _ := storage.Parameters()["rootdirectory"].(string)
		if root == "" {
			return nil, fmt.Errorf("registry: filesystem storage needs a rootdirectory: %w", errdefs.ErrInvalidArgument)
		}
		if err := os.MkdirAll(root, 0o700); err != nil {
			return nil, fmt.Errorf("registry: %w", err)
		}
		r.fsRoot = root
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	dc := &configuration.Configuration{
		Storage: storage,
		Auth:    configuration.Auth{extName: configuration.Parameters{"registry": r}},
		Middleware: map[string][]configuration.Middleware{
			"registry": {{Name: extName, Options: configuration.Parameters{"registry": r}}},
		},
	}
	dc.Log.AccessLog.Disabled = true
	// Upload state is signed with this; uploads do not survive a restart
	// of the daemon, as they do not in Distribution without http.secret.
	dc.HTTP.Secret = string(secret)
	dc.HTTP.RelativeURLs = false
	// Non-distributable layers name where they can be fetched; the
	// registry never fetches them, and accepts http(s) URLs as ECR and
	// the OCI conformance suite expect (Distribution allows none by
	// default).
	dc.Validation.Manifests.URLs.Allow = []string{`^https?://`}
	configureLogging(r.log)
	registerExtensions()

	r.access = &accessController{r: r}
	r.gc = newGCGate(r.now)
	r.metrics = newRegistryMetrics(r)
	if r.reg != nil {
		if err := r.metrics.register(r.reg); err != nil {
			return nil, err
		}
	}
	actx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.cancel = cancel
	if err := func() (err error) {
		// NewApp panics on a configuration it cannot use (a storage
		// driver that fails to start).
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("registry: %v: %w", p, errdefs.ErrInvalidArgument)
			}
		}()
		r.app = handlers.NewApp(actx, dc)
		return nil
	}(); err != nil {
		cancel()
		return nil, err
	}
	if r.ns == nil || r.driver == nil {
		cancel()
		return nil, errors.New("registry: the storage middleware was not applied")
	}
	r.meta = newMetaStore(r.driver)
	r.pulls = newPullStore(r.driver, r.now, r.log)
	if err := r.recoverStorage(ctx); err != nil {
		cancel()
		return nil, err
	}
	if r.lifecycleEvery > 0 {
		go r.lifecycleLoop(actx, r.lifecycleEvery)
	}
	return r, nil
}

// storageConfig is the storage section: the configuration file's, or
// the filesystem under cfg.Root. Deletes are always enabled (the OCI
// API's DELETE, ECR's BatchDeleteImage, garbage collection).
func storageConfig(cfg Config) (configuration.Storage, error) {
	var storage configuration.Storage
	if cfg.ConfigFile != "" {
		f, err := os.Open(cfg.ConfigFile)
		if err != nil {
			return nil, fmt.Errorf("registry config: %w", err)
		}
		defer f.Close()
		dc, err := configuration.Parse(io.LimitReader(f, 1<<20))
		if err != nil {
			return nil, fmt.Errorf("registry config %s: %v: %w", cfg.ConfigFile, err, errdefs.ErrInvalidArgument)
		}
		storage = dc.Storage
	} else {
		if cfg.Root == "" {
			return nil, fmt.Errorf("registry: no storage root: %w", errdefs.ErrInvalidArgument)
		}
		root, err := filepath.Abs(cfg.Root)
		if err != nil {
			return nil, err
		}
		storage = configuration.Storage{
			"filesystem": configuration.Parameters{"rootdirectory": root},
			// Blobs are served by the registry itself.
			"redirect": configuration.Parameters{"disable": true},
		}
	}
	storage["delete"] = configuration.Parameters{"enabled": true}
	return storage, nil
}

// configureLogging sends Distribution's logs (logrus, process-wide) to
// the daemon's log. Distribution logs every refused or failed request
// (a challenge, a 404 on a blob a client checks) at warning or error
// level; those are the protocol working, and go to debug. Errors of the
// registry itself (err.code "unknown": storage failures) stay errors.
func configureLogging(log *slog.Logger) {
	logOnce.Do(func() {
		logrus.SetOutput(io.Discard)
		logrus.SetLevel(logrus.DebugLevel)
		logrus.AddHook(slogHook{log: log})
	})
}

var logOnce sync.Once

// slogHook forwards logrus entries to slog.
type slogHook struct{ log *slog.Logger }

func (slogHook) Levels() []logrus.Level { return logrus.AllLevels }

func (h slogHook) Fire(e *logrus.Entry) error {
	level := slog.LevelDebug
	switch e.Level {
	case logrus.PanicLevel, logrus.FatalLevel, logrus.ErrorLevel:
		level = slog.LevelError
		if code, ok := e.Data["err.code"]; ok && fmt.Sprint(code) != "unknown" {
			level = slog.LevelDebug
		}
	case logrus.WarnLevel:
		level = slog.LevelDebug
	}
	ctx := context.Background()
	if !h.log.Enabled(ctx, level) {
		return nil
	}
	attrs := []any{"component", "registry"}
	for _, k := range []string{"err.code", "err.detail", "http.request.method", "http.request.uri", "http.response.status", "auth.user.name"} {
		if v, ok := e.Data[k]; ok {
			attrs = append(attrs, k, v)
		}
	}
	h.log.Log(ctx, level, e.Message, attrs...)
	return nil
}

// Handler is the registry's HTTP handler: /v2/ (Distribution, with our
// referrers API), /token.
func (r *Registry) Handler() http.Handler { return http.HandlerFunc(r.serveHTTP) }

// Listen opens the registry's address (with TLS when configured).
func (r *Registry) Listen() (net.Listener, error) {
	l, err := net.Listen("tcp", r.cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("--registry %s: %w", r.cfg.Addr, err)
	}
	if r.cfg.TLSCert == "" {
		return l, nil
	}
	cert, err := tls.LoadX509KeyPair(r.cfg.TLSCert, r.cfg.TLSKey)
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("--registry-tls-cert/--registry-tls-key: %w", err)
	}
	return tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}), nil
}

// Serve serves the registry on l until Close.
func (r *Registry) Serve(l net.Listener) error {
	srv := &http.Server{
		Handler: r.Handler(),
		// Uploads and downloads of large layers take as long as they
		// take; only a client that never sends its headers is cut.
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
	err := srv.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops serving and the registry's background work.
func (r *Registry) Close() error {
	r.mu.Lock()
	srv := r.srv
	r.mu.Unlock()
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_ = srv.Shutdown(ctx)
		cancel()
	}
	if r.app != nil {
		_ = r.app.Shutdown()
	}
	r.cancel()
	return nil
}

// Addr is the address the registry was configured with.
func (r *Registry) Addr() string { return r.cfg.Addr }

// TLS reports whether the registry serves HTTPS.
func (r *Registry) TLS() bool { return r.cfg.TLSCert != "" }

func (r *Registry) serveHTTP(w http.ResponseWriter, req *http.Request) {
	start := time.Now()
	rw := newRespWriter(w)
	rw.state.method = req.Method
	body := &countingBody{rc: req.Body}
	if req.Body != nil && req.Body != http.NoBody {
		req.Body = body
	}
	ctx := context.WithValue(req.Context(), stateKey{}, rw.state)
	route := routeOf(req)
	if route == routeManifest && (req.Method == http.MethodGet || req.Method == http.MethodHead) {
		// A pull: a pull-through cache may fetch what is missing.
		ctx = withFetch(ctx)
	}
	req = req.WithContext(ctx)
	switch {
	case req.URL.Path == "/token":
		r.serveToken(rw, req)
	case route == routeReferrers:
		r.serveReferrers(rw, req)
	case strings.HasPrefix(req.URL.Path, "/v2/") || req.URL.Path == "/v2":
		r.app.ServeHTTP(rw, req)
	default:
		http.NotFound(rw, req)
	}
	r.metrics.observe(route, req.Method, rw.status(), body.n, rw.written, time.Since(start))
}
