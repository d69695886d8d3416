// Package functions is wharf's serverless side: functions compatible with
// AWS Lambda (zip packages whose `bootstrap` implements the Runtime API, or
// OCI images that do), run in sandboxes kept warm in per-function pools,
// invoked synchronously, asynchronously or by triggers.
//
// This package holds the model the API servers translate to and from and
// the Service interface they call; the work is done below it, one job a
// package, imports pointing down only:
//
//	functions/invoke      the engine (Service): pools, invocation, logs, metrics
//	functions/store       function records, versions, aliases, validation, code packages
//	functions/imagefn     image functions: references resolved, pulled and pinned
//	functions/pool        pool bookkeeping and its pure policy decisions
//	functions/sandbox     the sandbox contract and the container launchers (zip, spare, image)
//	functions/sandbox/inproc   an in-process launcher over the real Runtime API (tests)
//	functions/sandbox/process  bootstraps as plain host processes (benchmark floor, tests)
//	functions/runtimeapi  the Runtime API each sandbox serves
//	functions/async       the durable queue of asynchronous invocations (NATS JetStream)
//	functions/trigger     HTTP routes and schedules
//	identity (daemon-wide) access keys, policies, SigV4, registry tokens
//	functions/spareproc   the process a spare sandbox runs until claimed (lean)
package functions

import (
	"context"
	"encoding/json"
	"time"
)

// Limits Lambda enforces, which wharf enforces the same way.
const (
	MinMemoryMB          = 128
	MaxMemoryMB          = 10240
	MinTimeoutSec        = 1
	MaxTimeoutSec        = 900
	DefaultTimeoutSec    = 3
	DefaultMemoryMB      = 128
	MinEphemeralMB       = 512
	MaxEphemeralMB       = 10240
	MaxSyncPayload       = 6 * 1024 * 1024
	MaxAsyncPayload      = 256 * 1024
	MaxZipSize           = 50 * 1024 * 1024
	MaxUnzippedSize      = 250 * 1024 * 1024
	LatestVersion        = "$LATEST"
	DefaultRegion        = "us-east-1"
	DefaultAccount       = "000000000000"
	ArchX8664            = "x86_64"
	PackageZip           = "Zip"
	PackageImage         = "Image"
	StatePending         = "Pending"
	StateActive          = "Active"
	StateFailed          = "Failed"
	UpdateSuccessful     = "Successful"
	InvocationSync       = "RequestResponse"
	InvocationEvent      = "Event"
	InvocationDryRun     = "DryRun"
	FunctionErrorHandled = "Handled"
	FunctionErrorUnhandl = "Unhandled"
)

// Runtimes wharf runs: custom runtimes whose bootstrap speaks the Runtime
// API (what aws-lambda-go builds).
var Runtimes = []string{"provided", "provided.al2", "provided.al2023"}

// Config is a function's configuration (Lambda's FunctionConfiguration).
type Config struct {
	FunctionName     string
	FunctionArn      string
	Runtime          string
	Role             string
	Handler          string
	Description      string
	Timeout          int
	MemorySize       int
	EphemeralStorage int // MB of /tmp
	Architectures    []string
	Environment      map[string]string
	PackageType      string
	// ImageURI is an image function's image as given; ResolvedImageURI
	// pins it by manifest digest ("name@sha256:..."), and ImageID is the
	// image store's ID of that image, which sandboxes run. All three are
	// fixed when the code is set, so a later re-tag changes nothing.
	ImageURI         string
	ResolvedImageURI string
	ImageID          string
	// ImageConfig overrides the image's ENTRYPOINT, CMD and WORKDIR.
	ImageConfig         *ImageConfig
	CodeSha256          string // zip: base64 of its SHA-256; image: the manifest digest's hex, as Lambda reports them
	CodeSize            int64
	Version             string
	LastModified        time.Time
	RevisionID          string
	State               string
	StateReason         string
	StateReasonCode     string
	LastUpdateStatus    string
	ReservedConcurrency *int
}

// ImageConfig is what an image function overrides of its image's config
// (Lambda's ImageConfig). Empty members keep the image's values.
type ImageConfig struct {
	EntryPoint       []string
	Command          []string
	WorkingDirectory string
}

// Code is a function's package: zip bytes or an image reference.
type Code struct {
	ZipFile  []byte
	ImageURI string
}

// CreateInput is what CreateFunction takes.
type CreateInput struct {
	Config
	Code    Code
	Publish bool
}

// ConfigUpdate is what UpdateFunctionConfiguration changes; nil fields stay.
type ConfigUpdate struct {
	Role             *string
	Handler          *string
	Description      *string
	Timeout          *int
	MemorySize       *int
	EphemeralStorage *int
	Environment      map[string]string // nil: unchanged; empty: cleared
	Runtime          *string
	// ImageConfig replaces an image function's overrides; an empty one
	// clears them.
	ImageConfig *ImageConfig
}

// Alias names a version (Lambda's AliasConfiguration).
type Alias struct {
	Name            string
	AliasArn        string
	FunctionVersion string
	Description     string
	RevisionID      string
}

// InvokeInput is one invocation.
type InvokeInput struct {
	FunctionName string
	Qualifier    string // version or alias; "" = $LATEST
	Payload      []byte
	Type         string // InvocationSync, InvocationEvent, InvocationDryRun
	LogTail      bool   // X-Amz-Log-Type: Tail
	// ClientContext is the invoking client's context (Lambda's
	// ClientContext: a JSON object of client, env and custom fields),
	// decoded from its base64 and on one line. A synchronous invocation
	// hands it to the runtime as Lambda-Runtime-Client-Context; an Event
	// invocation drops it, as Lambda passes it for synchronous
	// invocations only.
	ClientContext string
	// RequestID is set by the service; callers leave it empty.
	RequestID string
}

// InvokeOutput is an invocation's outcome.
type InvokeOutput struct {
	StatusCode      int // 200 sync, 202 event, 204 dry run
	Payload         []byte
	FunctionError   string // "", "Handled" or "Unhandled"
	LogResult       string // last 4 KB of the log, base64, when LogTail
	ExecutedVersion string
	RequestID       string
}

// Metrics are a function's counters since the daemon started.
type Metrics struct {
	Invocations    int64
	Errors         int64
	Throttles      int64
	ColdStarts     int64
	Concurrent     int64
	DurationsMs    []float64 // recent durations, for percentiles
	AsyncQueued    int64
	AsyncFailed    int64
	SandboxesWarm  int
	SandboxesTotal int
}

// Failure is one async event that failed every attempt, as the on-failure
// destination keeps it.
type Failure struct {
	RequestID    string
	FunctionName string
	Qualifier    string
	Payload      json.RawMessage
	Error        string
	Attempts     int
	FailedAt     time.Time
}

// Service is the functions engine as the API servers and triggers see it.
// Errors carry errdefs classes: ErrNotFound (ResourceNotFoundException),
// ErrInvalidArgument (InvalidParameterValueException), ErrConflict
// (ResourceConflictException), ErrUnavailable with ErrThrottled
// (TooManyRequestsException), ErrTooLarge (RequestEntityTooLargeException).
type Service interface {
	Create(ctx context.Context, in CreateInput) (*Config, error)
	Get(ctx context.Context, name, qualifier string) (*Config, error)
	List(ctx context.Context) ([]*Config, error)
	UpdateCode(ctx context.Context, name string, code Code, publish bool) (*Config, error)
	UpdateConfig(ctx context.Context, name string, u ConfigUpdate) (*Config, error)
	Delete(ctx context.Context, name, qualifier string) error
	PublishVersion(ctx context.Context, name, description string) (*Config, error)
	ListVersions(ctx context.Context, name string) ([]*Config, error)
	CreateAlias(ctx context.Context, name string, a Alias) (*Alias, error)
	UpdateAlias(ctx context.Context, name string, a Alias) (*Alias, error)
	GetAlias(ctx context.Context, name, alias string) (*Alias, error)
	DeleteAlias(ctx context.Context, name, alias string) error
	ListAliases(ctx context.Context, name string) ([]*Alias, error)
	PutConcurrency(ctx context.Context, name string, reserved int) error
	DeleteConcurrency(ctx context.Context, name string) error
	Invoke(ctx context.Context, in InvokeInput) (*InvokeOutput, error)
	Metrics(ctx context.Context, name string) (*Metrics, error)
}
