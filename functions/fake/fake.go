// Package fake is an in-memory functions.Service for tests of the code
// that sits above the functions engine (the Lambda API, the CLI). It runs
// no sandboxes: a Handler given by the test plays the function. Apart from
// that it keeps the Service's contract the way the engine does: names are
// validated, configurations are checked against Lambda's limits, published
// versions are immutable snapshots of $LATEST, aliases point at versions,
// functions go Pending → Active (or stay Pending until the test activates
// them), invocations over the reserved concurrency are throttled, payloads
// over Lambda's limits are refused, and errors carry the errdefs classes
// and functions sentinels the engine uses.
package fake

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/functions"
)

// Handler plays a function: it gets the configuration of the version
// invoked and the payload, and returns the response payload, whether the
// function failed (the payload is then its error document), and the lines
// it logged. A non-nil error is a failure of the platform, not the function.
type Handler func(ctx context.Context, c functions.Config, payload []byte) (out []byte, failed bool, log string, err error)

// Echo is the default Handler: it returns its payload and logs one line.
func Echo(_ context.Context, c functions.Config, payload []byte) ([]byte, bool, string, error) {
	return payload, false, "echo from " + c.FunctionName + "\n", nil
}

// Event is an asynchronous invocation the fake accepted.
type Event struct {
	Function  string
	Version   string
	RequestID string
	Payload   []byte
}

// Option configures a Service.
type Option func(*Service)

// WithHandler sets the function body every invocation runs.
func WithHandler(h Handler) Option { return func(s *Service) { s.handler = h } }

// WithManualActivation leaves new and updated functions Pending until the
// test calls SetState, to exercise waiters and the not-ready errors.
func WithManualActivation() Option { return func(s *Service) { s.manual = true } }

// WithClock sets the clock LastModified is taken from.
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// Service is the fake. The zero value is not usable; call New.
type Service struct {
	handler Handler
	manual  bool
	now     func() time.Time

	mu     sync.Mutex
	fns    map[string]*record
	events []Event
}

type record struct {
	latest   functions.Config
	code     functions.Code
	versions map[string]functions.Config
	aliases  map[string]functions.Alias
	next     int
	inflight int
	metrics  functions.Metrics
}

var _ functions.Service = (*Service)(nil)

// New returns an empty fake.
func New(opts ...Option) *Service {
	s := &Service{handler: Echo, now: time.Now, fns: map[string]*record{}}
	for _, o := range opts {
		o(s)
	}
	return s
}

var (
	validName  = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
	validAlias = regexp.MustCompile(`^(?i)[a-z_-][a-z0-9_-]{0,127}$`)
)

func arn(name string) string {
	return fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", functions.DefaultRegion, functions.DefaultAccount, name)
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func invalid(format string, a ...any) error {
	return fmt.Errorf(format+": %w", append(a, errdefs.ErrInvalidArgument)...)
}

func isNumber(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil && s != "" && s[0] != '-' && s[0] != '+'
}

// validate checks c against Lambda's limits and fills in defaults, as the
// engine does.
func validate(c *functions.Config) error {
	if c.Timeout == 0 {
		c.Timeout = functions.DefaultTimeoutSec
	}
	if c.MemorySize == 0 {
		c.MemorySize = functions.DefaultMemoryMB
	}
	if c.EphemeralStorage == 0 {
		c.EphemeralStorage = functions.MinEphemeralMB
	}
	if len(c.Architectures) == 0 {
		c.Architectures = []string{functions.ArchX8664}
	}
	if c.PackageType == "" {
		c.PackageType = functions.PackageZip
	}
	switch {
	case c.Timeout < functions.MinTimeoutSec || c.Timeout > functions.MaxTimeoutSec:
		return invalid("1 validation error detected: Value '%d' at 'timeout' failed to satisfy constraint: Member must have value between %d and %d", c.Timeout, functions.MinTimeoutSec, functions.MaxTimeoutSec)
	case c.MemorySize < functions.MinMemoryMB || c.MemorySize > functions.MaxMemoryMB:
		return invalid("1 validation error detected: Value '%d' at 'memorySize' failed to satisfy constraint: Member must have value between %d and %d", c.MemorySize, functions.MinMemoryMB, functions.MaxMemoryMB)
	case c.EphemeralStorage < functions.MinEphemeralMB || c.EphemeralStorage > functions.MaxEphemeralMB:
		return invalid("ephemeral storage must be between %d and %d MB", functions.MinEphemeralMB, functions.MaxEphemeralMB)
	case len(c.Architectures) != 1 || c.Architectures[0] != functions.ArchX8664:
		return invalid("unsupported architectures %v", c.Architectures)
	}
	switch c.PackageType {
	case functions.PackageZip:
		ok := false
		for _, r := range functions.Runtimes {
			ok = ok || c.Runtime == r
		}
		if !ok {
			return invalid("The runtime parameter of %s is not supported", c.Runtime)
		}
		if c.ImageConfig != nil {
			return invalid("ImageConfig is only supported for functions of PackageType Image")
		}
	case functions.PackageImage:
		if c.Runtime != "" || c.Handler != "" {
			return invalid("Please don't provide Handler or Runtime or Layer when the intended function PackageType is Image.")
		}
	default:
		return invalid("invalid PackageType %q", c.PackageType)
	}
	for k := range c.Environment {
		if strings.HasPrefix(k, "AWS_LAMBDA_") || k == "_HANDLER" || k == "LAMBDA_TASK_ROOT" {
			return invalid("reserved environment variable: %s", k)
		}
	}
	return nil
}

func setCode(c *functions.Config, code functions.Code) error {
	if c.PackageType == functions.PackageImage {
		if code.ZipFile != nil {
			return invalid("Please don't provide ZipFile when the intended function PackageType is Image.")
		}
		if code.ImageURI == "" {
			return invalid("Please provide ImageUri when the intended function PackageType is Image.")
		}
		// Every reference resolves, to a digest of its own spelling: the
		// fake has no image store. A digest reference stays as it is.
		sum := sha256.Sum256([]byte(code.ImageURI))
		dgst := "sha256:" + hex.EncodeToString(sum[:])
		c.ImageURI, c.ResolvedImageURI, c.ImageID = code.ImageURI, code.ImageURI, dgst
		if i := strings.LastIndex(code.ImageURI, "@"); i >= 0 {
			dgst = code.ImageURI[i+1:]
		} else {
			repo := code.ImageURI
			if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
				repo = repo[:i]
			}
			c.ResolvedImageURI = repo + "@" + dgst
		}
		c.CodeSha256, c.CodeSize = strings.TrimPrefix(dgst, "sha256:"), 0
		return nil
	}
	if code.ImageURI != "" {
		return invalid("Please don't provide ImageUri when the intended function PackageType is Zip.")
	}
	if len(code.ZipFile) == 0 {
		return invalid("ZipFile is required for Zip functions")
	}
	if len(code.ZipFile) > functions.MaxZipSize {
		return fmt.Errorf("Unzipped size must be smaller than %d bytes: %w", functions.MaxZipSize, errors.Join(functions.ErrTooLarge, errdefs.ErrInvalidArgument))
	}
	sum := sha256.Sum256(code.ZipFile)
	c.CodeSha256, c.CodeSize = base64.StdEncoding.EncodeToString(sum[:]), int64(len(code.ZipFile))
	return nil
}

// copyImageConfig copies ic; an empty one is none.
func copyImageConfig(ic *functions.ImageConfig) *functions.ImageConfig {
	if ic == nil || len(ic.EntryPoint) == 0 && len(ic.Command) == 0 && ic.WorkingDirectory == "" {
		return nil
	}
	return &functions.ImageConfig{
		EntryPoint:       append([]string(nil), ic.EntryPoint...),
		Command:          append([]string(nil), ic.Command...),
		WorkingDirectory: ic.WorkingDirectory,
	}
}

// copyConfig returns a deep copy, so callers never share maps or slices
// with the store (versions must stay immutable).
func copyConfig(c functions.Config) *functions.Config {
	out := c
	out.ImageConfig = copyImageConfig(c.ImageConfig)
	if c.Environment != nil {
		out.Environment = make(map[string]string, len(c.Environment))
		for k, v := range c.Environment {
			out.Environment[k] = v
		}
	}
	out.Architectures = append([]string(nil), c.Architectures...)
	if c.ReservedConcurrency != nil {
		n := *c.ReservedConcurrency
		out.ReservedConcurrency = &n
	}
	return &out
}

func (s *Service) get(name string) (*record, error) {
	r, ok := s.fns[name]
	if !ok {
		return nil, fmt.Errorf("Function not found: %s: %w", arn(name), errdefs.ErrNotFound)
	}
	return r, nil
}

// resolve returns the configuration and version a qualifier names.
func (r *record) resolve(q string) (functions.Config, string, error) {
	switch {
	case q == "" || q == functions.LatestVersion:
		return r.latest, functions.LatestVersion, nil
	case isNumber(q):
		c, ok := r.versions[q]
		if !ok {
			return functions.Config{}, "", fmt.Errorf("Function not found: %s:%s: %w", r.latest.FunctionArn, q, errdefs.ErrNotFound)
		}
		return c, q, nil
	default:
		a, ok := r.aliases[q]
		if !ok {
			return functions.Config{}, "", fmt.Errorf("Function not found: %s:%s: %w", r.latest.FunctionArn, q, errdefs.ErrNotFound)
		}
		return r.resolve(a.FunctionVersion)
	}
}

// changed marks $LATEST modified: a new revision, Pending unless the fake
// activates at once.
func (s *Service) changed(r *record) {
	r.latest.LastModified = s.now().UTC()
	r.latest.RevisionID = newID()
	r.latest.LastUpdateStatus = functions.UpdateSuccessful
	if s.manual {
		r.latest.State, r.latest.StateReason, r.latest.StateReasonCode = functions.StatePending, "The function is being created.", "Creating"
	} else {
		r.latest.State, r.latest.StateReason, r.latest.StateReasonCode = functions.StateActive, "", ""
	}
}

// SetState moves $LATEST to state (Active, Pending or Failed with reason).
func (s *Service) SetState(name, state, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.get(name)
	if err != nil {
		return err
	}
	r.latest.State, r.latest.StateReason = state, reason
	return nil
}

// Create implements functions.Service.
func (s *Service) Create(ctx context.Context, in functions.CreateInput) (*functions.Config, error) {
	c := *copyConfig(in.Config)
	if !validName.MatchString(c.FunctionName) {
		return nil, invalid("invalid function name %q", c.FunctionName)
	}
	if err := validate(&c); err != nil {
		return nil, err
	}
	if err := setCode(&c, in.Code); err != nil {
		return nil, err
	}
	c.FunctionArn = arn(c.FunctionName)
	c.Version = functions.LatestVersion
	c.ReservedConcurrency = nil
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.fns[c.FunctionName]; ok {
		return nil, fmt.Errorf("Function already exist: %s: %w", c.FunctionName, errdefs.ErrConflict)
	}
	r := &record{latest: c, code: in.Code, versions: map[string]functions.Config{}, aliases: map[string]functions.Alias{}, next: 1}
	s.changed(r)
	s.fns[c.FunctionName] = r
	if in.Publish && r.latest.State == functions.StateActive {
		return copyConfig(s.publishLocked(r, "")), nil
	}
	return copyConfig(r.latest), nil
}

// Get implements functions.Service.
func (s *Service) Get(ctx context.Context, name, qualifier string) (*functions.Config, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.get(name)
	if err != nil {
		return nil, err
	}
	c, _, err := r.resolve(qualifier)
	if err != nil {
		return nil, err
	}
	c.ReservedConcurrency = r.latest.ReservedConcurrency
	return copyConfig(c), nil
}

// List implements functions.Service: $LATEST of every function, by name.
func (s *Service) List(ctx context.Context) ([]*functions.Config, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*functions.Config, 0, len(s.fns))
	for _, r := range s.fns {
		out = append(out, copyConfig(r.latest))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].FunctionName < out[j].FunctionName })
	return out, nil
}

// UpdateCode implements functions.Service.
func (s *Service) UpdateCode(ctx context.Context, name string, code functions.Code, publish bool) (*functions.Config, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.get(name)
	if err != nil {
		return nil, err
	}
	c := *copyConfig(r.latest)
	if err := setCode(&c, code); err != nil {
		return nil, err
	}
	r.latest, r.code = c, code
	s.changed(r)
	if publish && r.latest.State == functions.StateActive {
		return copyConfig(s.publishLocked(r, "")), nil
	}
	return copyConfig(r.latest), nil
}

// UpdateConfig implements functions.Service.
func (s *Service) UpdateConfig(ctx context.Context, name string, u functions.ConfigUpdate) (*functions.Config, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.get(name)
	if err != nil {
		return nil, err
	}
	c := *copyConfig(r.latest)
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
		c.Environment = map[string]string{}
		for k, v := range u.Environment {
			c.Environment[k] = v
		}
	}
	if u.ImageConfig != nil {
		if c.PackageType != functions.PackageImage {
			return nil, invalid("ImageConfig is only supported for functions of PackageType Image")
		}
		c.ImageConfig = copyImageConfig(u.ImageConfig)
	}
	if err := validate(&c); err != nil {
		return nil, err
	}
	r.latest = c
	s.changed(r)
	return copyConfig(r.latest), nil
}

// Delete implements functions.Service: the function, or one version.
func (s *Service) Delete(ctx context.Context, name, qualifier string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.get(name)
	if err != nil {
		return err
	}
	switch {
	case qualifier == "":
		delete(s.fns, name)
		return nil
	case qualifier == functions.LatestVersion:
		return invalid("$LATEST version cannot be deleted without deleting the function")
	}
	if _, ok := r.versions[qualifier]; !ok {
		return fmt.Errorf("Function not found: %s:%s: %w", r.latest.FunctionArn, qualifier, errdefs.ErrNotFound)
	}
	for _, a := range r.aliases {
		if a.FunctionVersion == qualifier {
			return fmt.Errorf("Unable to delete version because the following aliases reference it: [%s]: %w", a.Name, errdefs.ErrConflict)
		}
	}
	delete(r.versions, qualifier)
	return nil
}

// PublishVersion implements functions.Service.
func (s *Service) PublishVersion(ctx context.Context, name, description string) (*functions.Config, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.get(name)
	if err != nil {
		return nil, err
	}
	if r.latest.State != functions.StateActive {
		return nil, fmt.Errorf("The operation cannot be performed at this time. The function is currently in the following state: %s: %w", r.latest.State, errors.Join(functions.ErrNotReady, errdefs.ErrConflict))
	}
	return copyConfig(s.publishLocked(r, description)), nil
}

// publishLocked snapshots $LATEST, or returns the newest version when
// nothing changed since it was published (as Lambda does).
func (s *Service) publishLocked(r *record, description string) functions.Config {
	if last, ok := r.versions[strconv.Itoa(r.next-1)]; ok && last.RevisionID == r.latest.RevisionID {
		return last
	}
	v := *copyConfig(r.latest)
	v.Version = strconv.Itoa(r.next)
	v.FunctionArn = r.latest.FunctionArn + ":" + v.Version
	v.ReservedConcurrency = nil
	if description != "" {
		v.Description = description
	}
	r.versions[v.Version] = v
	r.next++
	return v
}

// ListVersions implements functions.Service: $LATEST, then versions in order.
func (s *Service) ListVersions(ctx context.Context, name string) ([]*functions.Config, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.get(name)
	if err != nil {
		return nil, err
	}
	out := []*functions.Config{copyConfig(r.latest)}
	var nums []int
	for v := range r.versions {
		n, _ := strconv.Atoi(v)
		nums = append(nums, n)
	}
	sort.Ints(nums)
	for _, n := range nums {
		out = append(out, copyConfig(r.versions[strconv.Itoa(n)]))
	}
	return out, nil
}

func (s *Service) checkAlias(r *record, a *functions.Alias) error {
	if !validAlias.MatchString(a.Name) || isNumber(a.Name) || a.Name == functions.LatestVersion {
		return invalid("invalid alias name %q", a.Name)
	}
	if a.FunctionVersion == "" {
		return invalid("FunctionVersion is required")
	}
	if a.FunctionVersion != functions.LatestVersion {
		if _, ok := r.versions[a.FunctionVersion]; !ok {
			return fmt.Errorf("Function not found: %s:%s: %w", r.latest.FunctionArn, a.FunctionVersion, errdefs.ErrNotFound)
		}
	}
	a.AliasArn = r.latest.FunctionArn + ":" + a.Name
	a.RevisionID = newID()
	return nil
}

// CreateAlias implements functions.Service.
func (s *Service) CreateAlias(ctx context.Context, name string, a functions.Alias) (*functions.Alias, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.get(name)
	if err != nil {
		return nil, err
	}
	if _, ok := r.aliases[a.Name]; ok {
		return nil, fmt.Errorf("Alias already exists: %s:%s: %w", r.latest.FunctionArn, a.Name, errdefs.ErrConflict)
	}
	if err := s.checkAlias(r, &a); err != nil {
		return nil, err
	}
	r.aliases[a.Name] = a
	return &a, nil
}

// UpdateAlias implements functions.Service; empty fields stay.
func (s *Service) UpdateAlias(ctx context.Context, name string, a functions.Alias) (*functions.Alias, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.get(name)
	if err != nil {
		return nil, err
	}
	old, ok := r.aliases[a.Name]
	if !ok {
		return nil, fmt.Errorf("Alias not found: %s:%s: %w", r.latest.FunctionArn, a.Name, errdefs.ErrNotFound)
	}
	if a.FunctionVersion == "" {
		a.FunctionVersion = old.FunctionVersion
	}
	if a.Description == "" {
		a.Description = old.Description
	}
	if err := s.checkAlias(r, &a); err != nil {
		return nil, err
	}
	r.aliases[a.Name] = a
	return &a, nil
}

// GetAlias implements functions.Service.
func (s *Service) GetAlias(ctx context.Context, name, alias string) (*functions.Alias, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.get(name)
	if err != nil {
		return nil, err
	}
	a, ok := r.aliases[alias]
	if !ok {
		return nil, fmt.Errorf("Alias not found: %s:%s: %w", r.latest.FunctionArn, alias, errdefs.ErrNotFound)
	}
	return &a, nil
}

// DeleteAlias implements functions.Service.
func (s *Service) DeleteAlias(ctx context.Context, name, alias string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.get(name)
	if err != nil {
		return err
	}
	if _, ok := r.aliases[alias]; !ok {
		return fmt.Errorf("Alias not found: %s:%s: %w", r.latest.FunctionArn, alias, errdefs.ErrNotFound)
	}
	delete(r.aliases, alias)
	return nil
}

// ListAliases implements functions.Service, by name.
func (s *Service) ListAliases(ctx context.Context, name string) ([]*functions.Alias, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.get(name)
	if err != nil {
		return nil, err
	}
	out := make([]*functions.Alias, 0, len(r.aliases))
	for _, a := range r.aliases {
		a := a
		out = append(out, &a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// PutConcurrency implements functions.Service.
func (s *Service) PutConcurrency(ctx context.Context, name string, reserved int) error {
	if reserved < 0 {
		return invalid("ReservedConcurrentExecutions must be zero or more")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.get(name)
	if err != nil {
		return err
	}
	r.latest.ReservedConcurrency = &reserved
	return nil
}

// DeleteConcurrency implements functions.Service.
func (s *Service) DeleteConcurrency(ctx context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.get(name)
	if err != nil {
		return err
	}
	r.latest.ReservedConcurrency = nil
	return nil
}

// Invoke implements functions.Service. Synchronous invocations run the
// Handler in the caller's goroutine, counted against the reserved
// concurrency; events are recorded (see Events) and not run.
func (s *Service) Invoke(ctx context.Context, in functions.InvokeInput) (*functions.InvokeOutput, error) {
	s.mu.Lock()
	r, err := s.get(in.FunctionName)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	c, version, err := r.resolve(in.Qualifier)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	if c.State != functions.StateActive {
		s.mu.Unlock()
		return nil, fmt.Errorf("The operation cannot be performed at this time. The function is currently in the following state: %s (%s): %w", c.State, c.StateReason, errors.Join(functions.ErrNotReady, errdefs.ErrConflict))
	}
	typ := in.Type
	if typ == "" {
		typ = functions.InvocationSync
	}
	reqID := newID()
	switch typ {
	case functions.InvocationSync:
		if len(in.Payload) > functions.MaxSyncPayload {
			s.mu.Unlock()
			return nil, fmt.Errorf("Request must be smaller than %d bytes for the InvokeFunction operation: %w", functions.MaxSyncPayload, errors.Join(functions.ErrTooLarge, errdefs.ErrInvalidArgument))
		}
	case functions.InvocationEvent:
		defer s.mu.Unlock()
		if len(in.Payload) > functions.MaxAsyncPayload {
			return nil, fmt.Errorf("Request must be smaller than %d bytes for the InvokeAsync operation: %w", functions.MaxAsyncPayload, errors.Join(functions.ErrTooLarge, errdefs.ErrInvalidArgument))
		}
		s.events = append(s.events, Event{Function: c.FunctionName, Version: version, RequestID: reqID, Payload: append([]byte(nil), in.Payload...)})
		r.metrics.AsyncQueued++
		return &functions.InvokeOutput{StatusCode: 202, ExecutedVersion: version, RequestID: reqID}, nil
	case functions.InvocationDryRun:
		s.mu.Unlock()
		return &functions.InvokeOutput{StatusCode: 204, ExecutedVersion: version}, nil
	default:
		s.mu.Unlock()
		return nil, invalid("invalid invocation type %q", typ)
	}
	if len(in.Payload) > 0 && !json.Valid(in.Payload) {
		s.mu.Unlock()
		return nil, invalid("Could not parse request body into json")
	}
	if res := r.latest.ReservedConcurrency; res != nil && r.inflight >= *res {
		r.metrics.Throttles++
		s.mu.Unlock()
		return nil, fmt.Errorf("Rate Exceeded.: %w", errors.Join(functions.ErrThrottled, errdefs.ErrUnavailable))
	}
	r.inflight++
	r.metrics.Concurrent = int64(r.inflight)
	h := s.handler
	s.mu.Unlock()

	start := time.Now()
	out, failed, logText, herr := h(ctx, c, in.Payload)
	dur := time.Since(start)

	s.mu.Lock()
	r.inflight--
	r.metrics.Concurrent = int64(r.inflight)
	r.metrics.Invocations++
	r.metrics.DurationsMs = append(r.metrics.DurationsMs, float64(dur.Microseconds())/1000)
	if herr != nil || failed {
		r.metrics.Errors++
	}
	s.mu.Unlock()
	if herr != nil {
		return nil, herr
	}
	res := &functions.InvokeOutput{StatusCode: 200, Payload: out, ExecutedVersion: version, RequestID: reqID}
	if failed {
		res.FunctionError = functions.FunctionErrorUnhandl
	}
	if in.LogTail {
		var b strings.Builder
		fmt.Fprintf(&b, "START RequestId: %s Version: %s\n%s", reqID, version, logText)
		fmt.Fprintf(&b, "END RequestId: %s\nREPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %d ms\tMemory Size: %d MB\tMax Memory Used: %d MB\n",
			reqID, reqID, float64(dur.Microseconds())/1000, dur.Milliseconds()+1, c.MemorySize, 1)
		tail := b.String()
		if len(tail) > 4096 {
			tail = tail[len(tail)-4096:]
		}
		res.LogResult = base64.StdEncoding.EncodeToString([]byte(tail))
	}
	return res, nil
}

// Metrics implements functions.Service.
func (s *Service) Metrics(ctx context.Context, name string) (*functions.Metrics, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.get(name)
	if err != nil {
		return nil, err
	}
	m := r.metrics
	m.DurationsMs = append([]float64(nil), r.metrics.DurationsMs...)
	return &m, nil
}

// Events returns the asynchronous invocations accepted so far.
func (s *Service) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.events...)
}

// Code returns the package $LATEST runs.
func (s *Service) Code(name string) (functions.Code, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.get(name)
	if err != nil {
		return functions.Code{}, err
	}
	return r.code, nil
}
