package lambda

// The types below are Lambda's JSON shapes, with AWS's member names, as
// the client sends and reads them and the server (server/lambdaapi)
// decodes and answers them: one definition for both sides. Members wharf
// does not serve are left out (a request's unknown members are ignored).
// Integers are int32 where the Lambda API's are (Timeout, MemorySize,
// EphemeralStorage.Size, ReservedConcurrentExecutions). Optional request
// members are pointers or omitted when empty, so that a request carries
// only what its sender set.

// Environment is a function's environment variables.
type Environment struct {
	Variables map[string]string `json:"Variables"`
}

// EphemeralStorage is the size of /tmp in MB.
type EphemeralStorage struct {
	Size int32 `json:"Size"`
}

// TracingConfig is reported as Lambda's default: PassThrough.
type TracingConfig struct {
	Mode string `json:"Mode"`
}

// FunctionConfiguration is Lambda's FunctionConfiguration.
type FunctionConfiguration struct {
	FunctionName     string            `json:"FunctionName"`
	FunctionArn      string            `json:"FunctionArn"`
	Runtime          string            `json:"Runtime,omitempty"`
	Role             string            `json:"Role"`
	Handler          string            `json:"Handler,omitempty"`
	CodeSize         int64             `json:"CodeSize"`
	Description      string            `json:"Description"`
	Timeout          int32             `json:"Timeout"`
	MemorySize       int32             `json:"MemorySize"`
	LastModified     string            `json:"LastModified"`
	CodeSha256       string            `json:"CodeSha256"`
	Version          string            `json:"Version"`
	Environment      *Environment      `json:"Environment,omitempty"`
	TracingConfig    TracingConfig     `json:"TracingConfig"`
	RevisionID       string            `json:"RevisionId"`
	State            string            `json:"State,omitempty"`
	StateReason      string            `json:"StateReason,omitempty"`
	StateReasonCode  string            `json:"StateReasonCode,omitempty"`
	LastUpdateStatus string            `json:"LastUpdateStatus,omitempty"`
	PackageType      string            `json:"PackageType"`
	Architectures    []string          `json:"Architectures"`
	EphemeralStorage *EphemeralStorage `json:"EphemeralStorage,omitempty"`
	// ImageConfigResponse is present for image functions with overrides.
	ImageConfigResponse *ImageConfigResponse `json:"ImageConfigResponse,omitempty"`
	// LastUpdateStatusReason says why an update failed; wharf fails the
	// update request itself instead, so it never sends one.
	LastUpdateStatusReason string `json:"LastUpdateStatusReason,omitempty"`
}

// ImageConfig overrides an image function's ENTRYPOINT, CMD and WORKDIR.
type ImageConfig struct {
	EntryPoint       []string `json:"EntryPoint,omitempty"`
	Command          []string `json:"Command,omitempty"`
	WorkingDirectory string   `json:"WorkingDirectory,omitempty"`
}

// ImageConfigResponse is how a configuration reports its ImageConfig.
type ImageConfigResponse struct {
	ImageConfig *ImageConfig `json:"ImageConfig,omitempty"`
}

// Values of FunctionConfiguration.State, LastUpdateStatus and PackageType.
const (
	StatePending               = "Pending"
	StateActive                = "Active"
	StateFailed                = "Failed"
	LastUpdateStatusInProgress = "InProgress"
	LastUpdateStatusFailed     = "Failed"
	PackageTypeZip             = "Zip"
	PackageTypeImage           = "Image"
)

// FunctionCode is a package to create a function with: a zip (sent
// base64-encoded, as encoding/json does with []byte) or an image. wharf
// refuses S3 locations, with a message rather than silently.
type FunctionCode struct {
	ZipFile         []byte `json:"ZipFile,omitempty"`
	ImageURI        string `json:"ImageUri,omitempty"`
	S3Bucket        string `json:"S3Bucket,omitempty"`
	S3Key           string `json:"S3Key,omitempty"`
	S3ObjectVersion string `json:"S3ObjectVersion,omitempty"`
}

// CreateFunctionInput is CreateFunction's request.
type CreateFunctionInput struct {
	FunctionName     string            `json:"FunctionName"`
	Role             string            `json:"Role"`
	Runtime          string            `json:"Runtime,omitempty"`
	Handler          string            `json:"Handler,omitempty"`
	Description      string            `json:"Description,omitempty"`
	Timeout          *int32            `json:"Timeout,omitempty"`
	MemorySize       *int32            `json:"MemorySize,omitempty"`
	Publish          bool              `json:"Publish"`
	PackageType      string            `json:"PackageType,omitempty"`
	Code             FunctionCode      `json:"Code"`
	ImageConfig      *ImageConfig      `json:"ImageConfig,omitempty"`
	Environment      *Environment      `json:"Environment,omitempty"`
	EphemeralStorage *EphemeralStorage `json:"EphemeralStorage,omitempty"`
	Architectures    []string          `json:"Architectures,omitempty"`
	// Layers are refused by wharf (include them in the package).
	Layers []string `json:"Layers,omitempty"`
}

// UpdateFunctionConfigurationInput is UpdateFunctionConfiguration's
// request: only the members set change.
type UpdateFunctionConfigurationInput struct {
	FunctionName     string            `json:"-"` // in the path
	Role             *string           `json:"Role,omitempty"`
	Handler          *string           `json:"Handler,omitempty"`
	Description      *string           `json:"Description,omitempty"`
	Runtime          *string           `json:"Runtime,omitempty"`
	Timeout          *int32            `json:"Timeout,omitempty"`
	MemorySize       *int32            `json:"MemorySize,omitempty"`
	Environment      *Environment      `json:"Environment,omitempty"`
	EphemeralStorage *EphemeralStorage `json:"EphemeralStorage,omitempty"`
	ImageConfig      *ImageConfig      `json:"ImageConfig,omitempty"`
	// Layers are refused by wharf (include them in the package).
	Layers []string `json:"Layers,omitempty"`
}

// UpdateFunctionCodeInput is UpdateFunctionCode's request.
type UpdateFunctionCodeInput struct {
	FunctionName    string   `json:"-"` // in the path
	ZipFile         []byte   `json:"ZipFile,omitempty"`
	ImageURI        string   `json:"ImageUri,omitempty"`
	Publish         bool     `json:"Publish"`
	S3Bucket        string   `json:"S3Bucket,omitempty"`
	S3Key           string   `json:"S3Key,omitempty"`
	S3ObjectVersion string   `json:"S3ObjectVersion,omitempty"`
	DryRun          bool     `json:"DryRun,omitempty"`
	Architectures   []string `json:"Architectures,omitempty"`
}

// FunctionCodeLocation is GetFunction's Code member.
type FunctionCodeLocation struct {
	RepositoryType string `json:"RepositoryType"`
	Location       string `json:"Location,omitempty"`
	ImageURI       string `json:"ImageUri,omitempty"`
	// ResolvedImageURI is the image pinned by digest.
	ResolvedImageURI string `json:"ResolvedImageUri,omitempty"`
}

// Concurrency is a function's reserved concurrency (nil: none reserved):
// GetFunctionConcurrency's answer, PutFunctionConcurrency's request and
// answer.
type Concurrency struct {
	ReservedConcurrentExecutions *int32 `json:"ReservedConcurrentExecutions,omitempty"`
}

// GetFunctionOutput is GetFunction's answer.
type GetFunctionOutput struct {
	Configuration FunctionConfiguration `json:"Configuration"`
	Code          FunctionCodeLocation  `json:"Code"`
	Concurrency   *Concurrency          `json:"Concurrency,omitempty"`
	Tags          map[string]string     `json:"Tags,omitempty"`
}

// ListFunctionsOutput is ListFunctions' answer.
type ListFunctionsOutput struct {
	Functions  []FunctionConfiguration `json:"Functions"`
	NextMarker *string                 `json:"NextMarker,omitempty"`
}

// ListVersionsByFunctionOutput is ListVersionsByFunction's answer.
type ListVersionsByFunctionOutput struct {
	Versions   []FunctionConfiguration `json:"Versions"`
	NextMarker *string                 `json:"NextMarker,omitempty"`
}

// PublishVersionInput is PublishVersion's request. CodeSha256 and
// RevisionId, when set, must match $LATEST's.
type PublishVersionInput struct {
	FunctionName string `json:"-"` // in the path
	Description  string `json:"Description"`
	CodeSha256   string `json:"CodeSha256,omitempty"`
	RevisionID   string `json:"RevisionId,omitempty"`
}

// AliasRoutingConfiguration is accepted only empty: wharf has no weighted
// aliases.
type AliasRoutingConfiguration struct {
	AdditionalVersionWeights map[string]float64 `json:"AdditionalVersionWeights"`
}

// AliasInput is CreateAlias's and UpdateAlias's request.
type AliasInput struct {
	FunctionName    string                     `json:"-"` // in the path
	Name            string                     `json:"Name,omitempty"`
	FunctionVersion string                     `json:"FunctionVersion,omitempty"`
	Description     string                     `json:"Description,omitempty"`
	RevisionID      string                     `json:"RevisionId,omitempty"`
	RoutingConfig   *AliasRoutingConfiguration `json:"RoutingConfig,omitempty"`
}

// AliasConfiguration is Lambda's AliasConfiguration.
type AliasConfiguration struct {
	AliasArn        string `json:"AliasArn"`
	Name            string `json:"Name"`
	FunctionVersion string `json:"FunctionVersion"`
	Description     string `json:"Description"`
	RevisionID      string `json:"RevisionId"`
}

// ListAliasesOutput is ListAliases' answer.
type ListAliasesOutput struct {
	Aliases    []AliasConfiguration `json:"Aliases"`
	NextMarker *string              `json:"NextMarker,omitempty"`
}

// Invocation and log types of InvokeInput.
const (
	InvocationRequestResponse = "RequestResponse"
	InvocationEvent           = "Event"
	InvocationDryRun          = "DryRun"
	LogTail                   = "Tail"
)

// InvokeInput is an invocation: the payload is the body, the rest travels
// in headers (X-Amz-Invocation-Type, X-Amz-Log-Type) and the Qualifier
// query.
type InvokeInput struct {
	FunctionName   string
	Qualifier      string
	InvocationType string // default RequestResponse
	LogType        string // "" or None, or Tail
	Payload        []byte
}

// InvokeOutput is an invocation's answer, read from the status, the body
// and the X-Amz-* headers.
type InvokeOutput struct {
	// StatusCode is 200 (synchronous), 202 (Event) or 204 (DryRun).
	StatusCode int
	Payload    []byte
	// FunctionError is X-Amz-Function-Error: Handled or Unhandled when the
	// function failed (the payload is then its error document).
	FunctionError string
	// LogResult is X-Amz-Log-Result: the base64 log tail with LogType Tail.
	LogResult       string
	ExecutedVersion string
	// RequestID is X-Amzn-RequestId.
	RequestID string
}
