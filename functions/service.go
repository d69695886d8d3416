package functions

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/internal/atomicfile"
	"github.com/wharf-dev/wharf/runtime/logfile"
)

// Engine implements Service over a function store and a Launcher.
type Engine struct {
	st       *store
	launcher Launcher
	images   ImageStore
	log      *slog.Logger
	now      func() time.Time

	idleTTL      time.Duration
	defaultLimit int
	logLimits    logfile.Limits

	mu      sync.Mutex
	pools   map[string]*pool
	logs    map[string]*funcLog
	metrics map[string]*counters

	async *Async
	prom  *promMetrics

	stop chan struct{}
	wg   sync.WaitGroup
}

// StartAsync starts the durable queue of asynchronous invocations; until it
// runs, Event invocations are refused.
func (e *Engine) StartAsync(ctx context.Context, o AsyncOptions) error {
	if o.Log == nil {
		o.Log = e.log
	}
	a, err := StartAsync(ctx, o, e.Invoke)
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.async = a
	e.mu.Unlock()
	return nil
}

// Failures returns a function's async invocations that failed every
// attempt (the on-failure destination).
func (e *Engine) Failures(ctx context.Context, name string) ([]Failure, error) {
	e.mu.Lock()
	a := e.async
	e.mu.Unlock()
	if a == nil {
		return nil, fmt.Errorf("the event queue is not running: %w", errdefs.ErrUnavailable)
	}
	return a.Failures(ctx, name)
}

// EngineOption configures an Engine.
type EngineOption func(*Engine)

// WithIdleTimeout sets how long a warm sandbox may stay unused before it
// is reaped (scale to zero).
func WithIdleTimeout(d time.Duration) EngineOption { return func(e *Engine) { e.idleTTL = d } }

// WithDefaultConcurrency sets the concurrency of functions without reserved
// concurrency (Lambda's account limit).
func WithDefaultConcurrency(n int) EngineOption { return func(e *Engine) { e.defaultLimit = n } }

// WithLogger sets the engine's logger.
func WithLogger(l *slog.Logger) EngineOption { return func(e *Engine) { e.log = l } }

// WithClock sets the engine's clock (tests).
func WithClock(now func() time.Time) EngineOption { return func(e *Engine) { e.now = now } }

// NewEngine opens the function store under root and serves invocations
// with sandboxes from launcher. Close stops it.
func NewEngine(root string, launcher Launcher, opts ...EngineOption) (*Engine, error) {
	e := &Engine{
		launcher: launcher, log: slog.Default(), now: time.Now,
		idleTTL: 5 * time.Minute, defaultLimit: 100, logLimits: DefaultLogLimits,
		pools: map[string]*pool{}, logs: map[string]*funcLog{}, metrics: map[string]*counters{},
		stop: make(chan struct{}),
	}
	for _, o := range opts {
		o(e)
	}
	st, err := openStore(root, e.log)
	if err != nil {
		return nil, err
	}
	e.st = st
	if e.prom == nil {
		e.prom = newPromMetrics(nil)
	}
	e.launcher = &imageLauncher{next: e.launcher, e: e}
	// Functions left Pending by a daemon that stopped mid-create finish now.
	st.mu.Lock()
	for _, r := range st.fns {
		if r.Latest.State == StatePending {
			e.finishPending(r)
		}
	}
	st.mu.Unlock()
	e.wg.Add(1)
	go e.reaper()
	return e, nil
}

// Close stops the reaper and every sandbox.
func (e *Engine) Close() {
	e.mu.Lock()
	a := e.async
	e.async = nil
	e.mu.Unlock()
	if a != nil {
		a.Close()
	}
	close(e.stop)
	e.wg.Wait()
	e.mu.Lock()
	pools := e.pools
	e.pools = map[string]*pool{}
	e.mu.Unlock()
	for _, p := range pools {
		closeAll(p.drain())
	}
}

func (e *Engine) reaper() {
	defer e.wg.Done()
	tick := time.NewTicker(e.reapEvery())
	defer tick.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-tick.C:
		}
		e.mu.Lock()
		var gone []*instance
		for _, p := range e.pools {
			gone = append(gone, p.reap(e.now(), e.idleTTL)...)
		}
		e.mu.Unlock()
		if len(gone) > 0 {
			e.log.Info("reaped idle sandboxes", "count", len(gone))
		}
		closeAll(gone)
	}
}

func (e *Engine) reapEvery() time.Duration {
	d := e.idleTTL / 4
	if d < 100*time.Millisecond {
		d = 100 * time.Millisecond
	}
	if d > 10*time.Second {
		d = 10 * time.Second
	}
	return d
}

// finishPending moves a Pending function to Active or Failed once its
// package is checked, or, for an image still to be pulled, starts the pull
// that will. The caller holds st.mu.
func (e *Engine) finishPending(r *record) {
	c := &r.Latest
	if c.PackageType == PackageZip {
		if hasBootstrap(e.codeDirOf(c)) {
			c.State, c.StateReason, c.StateReasonCode = StateActive, "", ""
		} else {
			c.State = StateFailed
			c.StateReasonCode = "InvalidEntrypoint"
			c.StateReason = "The function package has no executable bootstrap file at its root (runtime " + c.Runtime + ")"
		}
	} else if c.ImageID == "" {
		// The image is still to be pulled; pullPending finishes.
		e.pullPending(r, false, "")
		return
	} else {
		c.State, c.StateReason, c.StateReasonCode = StateActive, "", ""
	}
	c.LastUpdateStatus = UpdateSuccessful
	_ = e.st.saveLocked(r)
}

func (e *Engine) codeDirOf(c *Config) string { return e.st.codeDir(codeHex(c)) }

// codeHex recovers the content address from Lambda's base64 CodeSha256.
func codeHex(c *Config) string {
	b, err := decodeB64(c.CodeSha256)
	if err != nil {
		return ""
	}
	return fmt.Sprintf("%x", b)
}

// Create implements Service.
func (e *Engine) Create(ctx context.Context, in CreateInput) (*Config, error) {
	c := in.Config
	if !validName.MatchString(c.FunctionName) {
		return nil, fmt.Errorf("invalid function name %q: %w", c.FunctionName, errdefs.ErrInvalidArgument)
	}
	if err := validate(&c); err != nil {
		return nil, err
	}
	c.ImageConfig = copyImageConfig(c.ImageConfig)
	pull, err := e.setCode(ctx, &c, in.Code, false)
	if err != nil {
		return nil, err
	}
	c.FunctionArn = functionArn(c.FunctionName)
	c.Version = LatestVersion
	c.LastModified = e.now().UTC()
	c.RevisionID = newRevision()
	c.State, c.StateReason, c.StateReasonCode = StatePending, "Creating the function", "Creating"
	if pull {
		c.StateReason = "Pulling the image " + c.ImageURI
	}
	c.LastUpdateStatus = UpdateSuccessful

	e.st.mu.Lock()
	if _, exists := e.st.fns[c.FunctionName]; exists {
		e.st.mu.Unlock()
		return nil, fmt.Errorf("Function already exist: %s: %w", c.FunctionName, errdefs.ErrConflict)
	}
	r := &record{Latest: c, Versions: map[string]Config{}, Aliases: map[string]Alias{}, NextVersion: 1}
	e.st.fns[c.FunctionName] = r
	if err := e.st.saveLocked(r); err != nil {
		delete(e.st.fns, c.FunctionName)
		e.st.mu.Unlock()
		return nil, err
	}
	out := r.Latest
	if pull {
		// Pending until the image is pulled (image.go); a daemon that
		// stops meanwhile pulls again on its next start.
		e.pullPending(r, in.Publish, RequestID(ctx))
		e.st.mu.Unlock()
		e.log.Info("function created", "function", c.FunctionName, "state", out.State, "image", c.ImageURI)
		return &out, nil
	}
	// The record is stored Pending first, so a crash here finishes on the
	// next start; checking the package is quick, so it is done at once.
	e.finishPending(r)
	var pub *Config
	if in.Publish && r.Latest.State == StateActive {
		v := e.publishLocked(r, "")
		pub = &v
	}
	state := r.Latest.State
	e.st.mu.Unlock()
	e.log.Info("function created", "function", c.FunctionName, "state", state)
	if pub != nil {
		return pub, nil
	}
	return &out, nil
}

// setCode stores the package and records its hash and size. An image is
// resolved and pinned; when it must be pulled first, pull says whether
// that happens here (true) or is left to the caller, which setCode then
// reports with pending.
func (e *Engine) setCode(ctx context.Context, c *Config, code Code, pull bool) (pending bool, err error) {
	switch c.PackageType {
	case PackageImage:
		if code.ZipFile != nil {
			return false, fmt.Errorf("Please don't provide ZipFile when the intended function PackageType is Image.: %w", errdefs.ErrInvalidArgument)
		}
		if code.ImageURI == "" {
			return false, fmt.Errorf("Please provide ImageUri when the intended function PackageType is Image.: %w", errdefs.ErrInvalidArgument)
		}
		return e.setImage(ctx, c, code.ImageURI, pull)
	default:
		if code.ImageURI != "" {
			return false, fmt.Errorf("Please don't provide ImageUri when the intended function PackageType is Zip.: %w", errdefs.ErrInvalidArgument)
		}
		if code.ZipFile == nil {
			return false, fmt.Errorf("ZipFile is required for Zip functions: %w", errdefs.ErrInvalidArgument)
		}
		_, b64, err := e.st.putCode(code.ZipFile)
		if err != nil {
			return false, err
		}
		c.CodeSha256, c.CodeSize = b64, int64(len(code.ZipFile))
		return false, nil
	}
}

// Get implements Service.
func (e *Engine) Get(ctx context.Context, name, qualifier string) (*Config, error) {
	e.st.mu.Lock()
	defer e.st.mu.Unlock()
	r, err := e.st.get(name)
	if err != nil {
		return nil, err
	}
	c, _, err := r.resolve(qualifier)
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// List implements Service.
func (e *Engine) List(ctx context.Context) ([]*Config, error) {
	e.st.mu.Lock()
	defer e.st.mu.Unlock()
	out := make([]*Config, 0, len(e.st.fns))
	for _, r := range e.st.fns {
		c := r.Latest
		out = append(out, &c)
	}
	sortConfigs(out)
	return out, nil
}

// UpdateCode implements Service.
func (e *Engine) UpdateCode(ctx context.Context, name string, code Code, publish bool) (*Config, error) {
	e.st.mu.Lock()
	r, err := e.st.get(name)
	if err != nil {
		e.st.mu.Unlock()
		return nil, err
	}
	c := r.Latest
	e.st.mu.Unlock()
	// An image is pulled within the request: the function keeps serving
	// its previous code until the new image is pinned.
	if _, err := e.setCode(ctx, &c, code, true); err != nil {
		return nil, err
	}
	e.st.mu.Lock()
	defer e.st.mu.Unlock()
	c.LastModified, c.RevisionID = e.now().UTC(), newRevision()
	c.State = StatePending
	r.Latest = c
	e.finishPending(r)
	if e.drainPools(name, LatestVersion) > 0 {
		e.prewarmLocked(r)
	}
	if publish && r.Latest.State == StateActive {
		v := e.publishLocked(r, "")
		return &v, nil
	}
	out := r.Latest
	return &out, nil
}

// UpdateConfig implements Service.
func (e *Engine) UpdateConfig(ctx context.Context, name string, u ConfigUpdate) (*Config, error) {
	e.st.mu.Lock()
	defer e.st.mu.Unlock()
	r, err := e.st.get(name)
	if err != nil {
		return nil, err
	}
	c := r.Latest
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&c.Role, u.Role)
	set(&c.Handler, u.Handler)
	set(&c.Description, u.Description)
	set(&c.Runtime, u.Runtime)
	if u.Timeout != nil {
		c.Timeout = *u.Timeout
	}
	if u.MemorySize != nil {
		c.MemorySize = *u.MemorySize
	}
	if u.EphemeralStorage != nil {
		c.EphemeralStorage = *u.EphemeralStorage
	}
	if u.Environment != nil {
		c.Environment = u.Environment
	}
	if u.ImageConfig != nil {
		if c.PackageType != PackageImage {
			return nil, fmt.Errorf("ImageConfig is only supported for functions of PackageType Image: %w", errdefs.ErrInvalidArgument)
		}
		c.ImageConfig = copyImageConfig(u.ImageConfig)
	}
	if err := validate(&c); err != nil {
		return nil, err
	}
	c.LastModified, c.RevisionID = e.now().UTC(), newRevision()
	r.Latest = c
	if err := e.st.saveLocked(r); err != nil {
		return nil, err
	}
	if e.drainPools(name, LatestVersion) > 0 {
		e.prewarmLocked(r)
	}
	out := r.Latest
	return &out, nil
}

// Delete implements Service: the whole function, or one version.
func (e *Engine) Delete(ctx context.Context, name, qualifier string) error {
	e.st.mu.Lock()
	defer e.st.mu.Unlock()
	r, err := e.st.get(name)
	if err != nil {
		return err
	}
	if qualifier != "" && qualifier != LatestVersion {
		if _, ok := r.Versions[qualifier]; !ok {
			return fmt.Errorf("Function not found: %s:%s: %w", r.Latest.FunctionArn, qualifier, errdefs.ErrNotFound)
		}
		for _, a := range r.Aliases {
			if a.FunctionVersion == qualifier {
				return fmt.Errorf("Unable to delete version because the following aliases reference it: [%s]: %w", a.Name, errdefs.ErrConflict)
			}
		}
		delete(r.Versions, qualifier)
		e.drainPools(name, qualifier)
		return e.st.saveLocked(r)
	}
	if qualifier == LatestVersion {
		return fmt.Errorf("$LATEST version cannot be deleted without deleting the function: %w", errdefs.ErrInvalidArgument)
	}
	if err := atomicfile.Remove(filepath.Join(e.st.root, "fn", name+".json")); err != nil {
		return err
	}
	delete(e.st.fns, name)
	e.drainPools(name, "")
	if err := e.removeLog(name); err != nil {
		e.log.Warn("removing a deleted function's log", "function", name, "err", err)
	}
	return nil
}

// drainPools closes the idle sandboxes of a function's version (all
// versions for ""): their configuration or code is no longer current.
func (e *Engine) drainPools(name, version string) int {
	e.mu.Lock()
	var gone []*instance
	for key, p := range e.pools {
		if poolName(key) == name && (version == "" || poolVersion(key) == version) {
			gone = append(gone, p.drain()...)
		}
	}
	e.mu.Unlock()
	go closeAll(gone)
	return len(gone)
}

// PublishVersion implements Service.
func (e *Engine) PublishVersion(ctx context.Context, name, description string) (*Config, error) {
	e.st.mu.Lock()
	defer e.st.mu.Unlock()
	r, err := e.st.get(name)
	if err != nil {
		return nil, err
	}
	if r.Latest.State != StateActive {
		return nil, fmt.Errorf("The operation cannot be performed at this time. The function is currently in the following state: %s: %w", r.Latest.State, errdefs.ErrConflict)
	}
	v := e.publishLocked(r, description)
	return &v, nil
}

// publishLocked snapshots $LATEST as the next version, unless the newest
// version already has the same code and configuration (Lambda returns it).
func (e *Engine) publishLocked(r *record, description string) Config {
	if last, ok := r.Versions[strconv.Itoa(r.NextVersion-1)]; ok && last.RevisionID == r.Latest.RevisionID {
		return last
	}
	v := r.Latest
	v.Version = strconv.Itoa(r.NextVersion)
	v.FunctionArn = r.Latest.FunctionArn + ":" + v.Version
	if description != "" {
		v.Description = description
	}
	r.Versions[v.Version] = v
	r.NextVersion++
	_ = e.st.saveLocked(r)
	return v
}

// ListVersions implements Service.
func (e *Engine) ListVersions(ctx context.Context, name string) ([]*Config, error) {
	e.st.mu.Lock()
	defer e.st.mu.Unlock()
	r, err := e.st.get(name)
	if err != nil {
		return nil, err
	}
	var out []*Config
	for _, c := range r.sortedVersions() {
		c := c
		out = append(out, &c)
	}
	return out, nil
}

// PutConcurrency implements Service.
func (e *Engine) PutConcurrency(ctx context.Context, name string, reserved int) error {
	if reserved < 0 {
		return fmt.Errorf("ReservedConcurrentExecutions must be zero or more: %w", errdefs.ErrInvalidArgument)
	}
	e.st.mu.Lock()
	defer e.st.mu.Unlock()
	r, err := e.st.get(name)
	if err != nil {
		return err
	}
	r.Latest.ReservedConcurrency = &reserved
	return e.st.saveLocked(r)
}

// DeleteConcurrency implements Service.
func (e *Engine) DeleteConcurrency(ctx context.Context, name string) error {
	e.st.mu.Lock()
	defer e.st.mu.Unlock()
	r, err := e.st.get(name)
	if err != nil {
		return err
	}
	r.Latest.ReservedConcurrency = nil
	return e.st.saveLocked(r)
}
