package lambdaclient

// The types below are Lambda's JSON shapes with AWS's member names, as the
// client sends and reads them; members wharf does not serve are left out.

// Environment is a function's environment variables.
type Environment struct {
	Variables map[string]string `json:"Variables"`
}

// EphemeralStorage is the size of /tmp in MB.
type EphemeralStorage struct {
	Size int32 `json:"Size"`
}

// FunctionConfiguration is Lambda's FunctionConfiguration.
type FunctionConfiguration struct {
	FunctionName           string            `json:"FunctionName"`
	FunctionArn            string            `json:"FunctionArn"`
	Runtime                string            `json:"Runtime,omitempty"`
	Role                   string            `json:"Role"`
	Handler                string            `json:"Handler,omitempty"`
	CodeSize               int64             `json:"CodeSize"`
	Description            string            `json:"Description"`
	Timeout                int32             `json:"Timeout"`
	MemorySize             int32             `json:"MemorySize"`
	LastModified           string            `json:"LastModified"`
	CodeSha256             string            `json:"CodeSha256"`
	Version                string            `json:"Version"`
	Environment            *Environment      `json:"Environment"`
	RevisionID             string            `json:"RevisionId"`
	State                  string            `json:"State"`
	StateReason            string            `json:"StateReason"`
	StateReasonCode        string            `json:"StateReasonCode"`
	LastUpdateStatus       string            `json:"LastUpdateStatus"`
	LastUpdateStatusReason string            `json:"LastUpdateStatusReason"`
	PackageType            string            `json:"PackageType"`
	Architectures          []string          `json:"Architectures"`
	EphemeralStorage       *EphemeralStorage `json:"EphemeralStorage"`
	// ImageConfigResponse is present for image functions with overrides.
	ImageConfigResponse *ImageConfigResponse `json:"ImageConfigResponse,omitempty"`
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
// base64-encoded, as encoding/json does with []byte) or an image.
type FunctionCode struct {
	ZipFile  []byte `json:"ZipFile,omitempty"`
	ImageURI string `json:"ImageUri,omitempty"`
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
}

// UpdateFunctionConfigurationInput is UpdateFunctionConfiguration's
// request: only the members set change.
type UpdateFunctionConfigurationInput struct {
	FunctionName     string            `json:"-"`
	Role             *string           `json:"Role,omitempty"`
	Handler          *string           `json:"Handler,omitempty"`
	Description      *string           `json:"Description,omitempty"`
	Runtime          *string           `json:"Runtime,omitempty"`
	Timeout          *int32            `json:"Timeout,omitempty"`
	MemorySize       *int32            `json:"MemorySize,omitempty"`
	Environment      *Environment      `json:"Environment,omitempty"`
	EphemeralStorage *EphemeralStorage `json:"EphemeralStorage,omitempty"`
	ImageConfig      *ImageConfig      `json:"ImageConfig,omitempty"`
}

// UpdateFunctionCodeInput is UpdateFunctionCode's request.
type UpdateFunctionCodeInput struct {
	FunctionName string `json:"-"`
	ZipFile      []byte `json:"ZipFile,omitempty"`
	ImageURI     string `json:"ImageUri,omitempty"`
	Publish      bool   `json:"Publish"`
}

// FunctionCodeLocation is GetFunction's Code member.
type FunctionCodeLocation struct {
	RepositoryType string `json:"RepositoryType"`
	Location       string `json:"Location"`
	ImageURI       string `json:"ImageUri,omitempty"`
	// ResolvedImageURI is the image pinned by digest.
	ResolvedImageURI string `json:"ResolvedImageUri,omitempty"`
}

// Concurrency is a function's reserved concurrency (nil: none reserved).
type Concurrency struct {
	ReservedConcurrentExecutions *int32 `json:"ReservedConcurrentExecutions,omitempty"`
}

// GetFunctionOutput is GetFunction's answer.
type GetFunctionOutput struct {
	Configuration *FunctionConfiguration `json:"Configuration"`
	Code          *FunctionCodeLocation  `json:"Code"`
	Concurrency   *Concurrency           `json:"Concurrency"`
}

// AliasInput is CreateAlias's and UpdateAlias's request.
type AliasInput struct {
	FunctionName    string `json:"-"`
	Name            string `json:"Name,omitempty"`
	FunctionVersion string `json:"FunctionVersion,omitempty"`
	Description     string `json:"Description,omitempty"`
}

// AliasConfiguration is Lambda's AliasConfiguration.
type AliasConfiguration struct {
	AliasArn        string `json:"AliasArn"`
	Name            string `json:"Name"`
	FunctionVersion string `json:"FunctionVersion"`
	Description     string `json:"Description"`
	RevisionID      string `json:"RevisionId"`
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
