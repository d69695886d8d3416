// Package ecrapi serves Amazon ECR's API (JSON 1.1) over the embedded
// registry (package registry), so that the aws CLI and aws-sdk-go-v2's ecr
// client manage wharf's registry unmodified, with the access keys of
// `wharf keys`.
//
// Requests are POST / with X-Amz-Target:
// AmazonEC2ContainerRegistry_V20150921.<Operation> and a JSON body,
// signed with AWS Signature Version 4 for the service "ecr". The daemon
// mounts this handler on its --http address beside Lambda's REST API:
// Matches tells the two apart by the target header alone, so Lambda's
// routes never see an ECR call and the other way round.
//
// Every operation is an IAM action of ECR (the operation's name) on the
// repository it names, decided by identity.Allowed; the operations that
// name no repository (GetAuthorizationToken, DescribeRepositories without
// names, the pull-through cache rules) need a statement on "*".
// DescribeRepositories without names lists what the key may describe.
//
// Errors are ECR's: HTTP 400 (500 for ServerException) with
// {"__type": "<Exception>", "message": "..."} and the same name in
// X-Amzn-ErrorType. Times are seconds since the epoch, as JSON 1.1 has
// them.
package ecrapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/identity"
	"github.com/wharf-dev/wharf/registry"
	"github.com/wharf-dev/wharf/server/awsapi"
	"github.com/wharf-dev/wharf/server/httperr"
)

// TargetPrefix is what X-Amz-Target starts with on every ECR call.
const TargetPrefix = "AmazonEC2ContainerRegistry_V20150921."

// service is the SigV4 service name of ECR.
const service = "ecr"

// Bounds on what a request can make the daemon hold before (and while)
// its signature is verified: the body is read into memory to hash it.
const (
	// MaxBody bounds PutImage's body: ECR's largest manifest (4 MiB),
	// JSON-escaped, with room around it.
	MaxBody = 10 << 20
	// maxOtherBody bounds every other operation's.
	maxOtherBody = 1 << 20
	// bodyBudget bounds the bytes of all bodies being read or held at
	// once; a request that would pass it is throttled.
	bodyBudget = 64 << 20
	// bodyTimeout bounds how long a body may take to arrive.
	bodyTimeout = time.Minute
)

// Registry is what the API needs of the registry (registry.Registry).
type Registry interface {
	CreateRepository(ctx context.Context, name string, fn func(*registry.RepoMeta) error) (registry.RepoMeta, error)
	Repository(ctx context.Context, name string) (registry.RepoMeta, error)
	UpdateRepository(ctx context.Context, name string, fn func(*registry.RepoMeta) error) (registry.RepoMeta, error)
	Repositories(ctx context.Context) ([]registry.RepoMeta, error)
	DeleteRepository(ctx context.Context, name string, force bool) (registry.RepoMeta, error)
	Images(ctx context.Context, repo string) ([]registry.Image, error)
	Image(ctx context.Context, repo string, id registry.ImageID) (registry.Image, []byte, error)
	PutImage(ctx context.Context, repo, tag, mediaType, digest string, manifest []byte) (registry.Image, error)
	DeleteImage(ctx context.Context, repo string, id registry.ImageID) (registry.Deleted, error)
	RecordPull(ctx context.Context, repo, digest string)
	SetLifecyclePolicy(ctx context.Context, repo, text string) (registry.RepoMeta, error)
	DeleteLifecyclePolicy(ctx context.Context, repo string) (registry.RepoMeta, error)
	PreviewLifecycle(ctx context.Context, repo, text string) ([]registry.Expiry, error)
	CreatePullThroughRule(ctx context.Context, prefix, upstream string) (registry.PullThroughRule, error)
	PullThroughRules(ctx context.Context) ([]registry.PullThroughRule, error)
	DeletePullThroughRule(ctx context.Context, prefix string) (registry.PullThroughRule, error)
	// Addr is the registry's host:port and TLS whether it serves HTTPS.
	Addr() string
	TLS() bool
}

// Tokens mints the login tokens of GetAuthorizationToken
// (identity.Tokens).
type Tokens interface {
	AuthorizationToken(keyID string) (string, time.Time, error)
}

// Option configures a Server.
type Option func(*Server)

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithClock sets the clock signatures are checked against.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithAccount sets the region and account id of the ARNs and registryId
// (default us-east-1 and 000000000000, as the Lambda API's).
func WithAccount(region, account string) Option {
	return func(s *Server) { s.region, s.account = region, account }
}

// Server is the ECR API handler.
type Server struct {
	reg     Registry
	tokens  Tokens
	verify  *identity.Verifier
	log     *slog.Logger
	now     func() time.Time
	region  string
	account string
	ops     map[string]op
	in      *awsapi.Intake

	// previews are the last lifecycle preview of each repository
	// (GetLifecyclePolicyPreview), at most maxPreviews.
	pmu      sync.Mutex
	previews map[string]*preview
}

// op is one operation: it decodes its input into in, authorizes, and
// returns its output.
type op func(ctx context.Context, id *identity.Identity, body []byte) (any, error)

// New returns the ECR API over reg, accepting requests signed with keys.
func New(reg Registry, keys *identity.Keys, tokens Tokens, opts ...Option) *Server {
	s := &Server{reg: reg, tokens: tokens, log: slog.New(slog.DiscardHandler), now: time.Now,
		region: "us-east-1", account: "000000000000", previews: map[string]*preview{}}
	for _, o := range opts {
		o(s)
	}
	s.verify = identity.NewVerifier(keys, s.now, MaxBody)
	s.in = &awsapi.Intake{Service: service, Verify: s.verify, Budget: awsapi.NewBudget(bodyBudget),
		Throttle:    awsapi.Error{Type: "ThrottlingException", Msg: "too many requests in flight; retry"},
		BodyTimeout: bodyTimeout, TooLarge: "InvalidParameterException"}
	s.ops = map[string]op{
		"CreateRepository":              s.createRepository,
		"DescribeRepositories":          s.describeRepositories,
		"DeleteRepository":              s.deleteRepository,
		"ListImages":                    s.listImages,
		"DescribeImages":                s.describeImages,
		"BatchGetImage":                 s.batchGetImage,
		"BatchDeleteImage":              s.batchDeleteImage,
		"PutImage":                      s.putImage,
		"PutImageTagMutability":         s.putImageTagMutability,
		"PutLifecyclePolicy":            s.putLifecyclePolicy,
		"GetLifecyclePolicy":            s.getLifecyclePolicy,
		"DeleteLifecyclePolicy":         s.deleteLifecyclePolicy,
		"StartLifecyclePolicyPreview":   s.startLifecyclePolicyPreview,
		"GetLifecyclePolicyPreview":     s.getLifecyclePolicyPreview,
		"GetAuthorizationToken":         s.getAuthorizationToken,
		"TagResource":                   s.tagResource,
		"UntagResource":                 s.untagResource,
		"ListTagsForResource":           s.listTagsForResource,
		"CreatePullThroughCacheRule":    s.createPullThroughCacheRule,
		"DescribePullThroughCacheRules": s.describePullThroughCacheRules,
		"DeletePullThroughCacheRule":    s.deletePullThroughCacheRule,
	}
	return s
}

// Matches reports whether r is an ECR call: what the daemon routes here.
func Matches(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("X-Amz-Target"), TargetPrefix)
}

// ServeHTTP authenticates the call, then runs its operation.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Amzn-RequestId", awsapi.RequestID())
	opName := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), TargetPrefix)
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		s.writeError(w, opName, &apiError{typ: "UnknownOperationException", msg: "ECR's operations are POST / with X-Amz-Target"})
		return
	}
	limit := int64(maxOtherBody)
	if opName == "PutImage" {
		limit = MaxBody
	}
	id, body, done, err := s.in.Begin(w, r, limit)
	if err != nil {
		s.writeError(w, opName, err)
		return
	}
	defer done()
	o, ok := s.ops[opName]
	if !ok {
		s.writeError(w, opName, &apiError{typ: "UnknownOperationException", msg: "wharf's registry does not implement ECR's " + opName})
		return
	}
	out, err := o(r.Context(), id, body)
	if err != nil {
		s.writeError(w, opName, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(out)
}

// apiError is an ECR exception decided by this package.
type apiError struct {
	status int // 0: 400
	typ    string
	msg    string
}

func (e *apiError) Error() string { return e.typ + ": " + e.msg }

func invalidParam(format string, a ...any) error {
	return &apiError{typ: "InvalidParameterException", msg: fmt.Sprintf(format, a...)}
}

// classify maps an error to ECR's exception: the one place registry and
// errdefs errors become ECR's.
func (s *Server) classify(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var aw *awsapi.Error
	if errors.As(err, &aw) {
		return &apiError{status: aw.Status, typ: aw.Type, msg: aw.Msg}
	}
	msg := httperr.Message(err)
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return &apiError{typ: "InvalidParameterException", msg: fmt.Sprintf("the request is larger than %d bytes", mbe.Limit)}
	case errors.Is(err, registry.ErrRepositoryNotFound):
		return &apiError{typ: "RepositoryNotFoundException", msg: msg}
	case errors.Is(err, registry.ErrRepositoryExists):
		return &apiError{typ: "RepositoryAlreadyExistsException", msg: msg}
	case errors.Is(err, registry.ErrRepositoryNotEmpty):
		return &apiError{typ: "RepositoryNotEmptyException", msg: msg}
	case errors.Is(err, registry.ErrImageNotFound):
		return &apiError{typ: "ImageNotFoundException", msg: msg}
	case errors.Is(err, registry.ErrImageExists):
		return &apiError{typ: "ImageAlreadyExistsException", msg: msg}
	case errors.Is(err, registry.ErrTagImmutable):
		return &apiError{typ: "ImageTagAlreadyExistsException", msg: msg}
	case errors.Is(err, registry.ErrDigestMismatch):
		return &apiError{typ: "ImageDigestDoesNotMatchException", msg: msg}
	case errors.Is(err, registry.ErrLayersNotFound):
		return &apiError{typ: "LayersNotFoundException", msg: msg}
	case errors.Is(err, registry.ErrPolicyNotFound):
		return &apiError{typ: "LifecyclePolicyNotFoundException", msg: msg}
	case errdefs.IsInvalidArgument(err), errdefs.IsNotImplemented(err):
		return &apiError{typ: "InvalidParameterException", msg: msg}
	case errdefs.IsForbidden(err), errdefs.IsUnauthorized(err):
		return &apiError{typ: "AccessDeniedException", msg: msg}
	case errdefs.IsNotFound(err):
		return &apiError{typ: "RepositoryNotFoundException", msg: msg}
	case errdefs.IsConflict(err):
		return &apiError{typ: "InvalidParameterException", msg: msg}
	}
	return &apiError{status: http.StatusInternalServerError, typ: "ServerException", msg: msg}
}

func (s *Server) writeError(w http.ResponseWriter, opName string, err error) {
	e := s.classify(err)
	if e.status >= 500 {
		s.log.Error("ecr request failed", "op", opName, "err", err)
	}
	awsapi.WriteError(w, "application/x-amz-json-1.1", e.status, e.typ, e.msg)
}

// decode reads an operation's input. Unknown members are ignored, as AWS
// does; a body that is not a JSON object is SerializationException.
func decode(body []byte, v any) error {
	return awsapi.Decode(body, v, "SerializationException")
}

// authorize checks that id may perform action on repo ("": none named).
func (s *Server) authorize(id *identity.Identity, action, repo string) error {
	if id.Allowed(action, repo) {
		return nil
	}
	arn := "*"
	if repo != "" {
		arn = s.arn(repo)
	}
	return &apiError{typ: "AccessDeniedException", msg: fmt.Sprintf("User: arn:aws:iam::%s:user/%s is not authorized to perform: ecr:%s on resource: %s because no statement of the key allows it", s.account, id.AccessKeyID, action, arn)}
}

func (s *Server) arn(repo string) string {
	return fmt.Sprintf("arn:aws:ecr:%s:%s:repository/%s", s.region, s.account, repo)
}

// checkRegistryID refuses another account's registry.
func (s *Server) checkRegistryID(id string) error {
	if id != "" && id != s.account {
		return invalidParam("registryId %q: this registry's id is %s", id, s.account)
	}
	return nil
}

// epoch is a time as JSON 1.1 has it: seconds since the epoch.
type epoch time.Time

func (t epoch) MarshalJSON() ([]byte, error) {
	tt := time.Time(t)
	return []byte(fmt.Sprintf("%.3f", float64(tt.UnixMilli())/1000)), nil
}

func epochPtr(t time.Time) *epoch {
	if t.IsZero() {
		return nil
	}
	e := epoch(t)
	return &e
}
