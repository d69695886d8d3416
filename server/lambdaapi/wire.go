package lambdaapi

import (
	"net/http"
	"strconv"

	"github.com/wharf-dev/wharf/functions"
)

// The wire types below are Lambda's JSON shapes, with AWS's member names;
// only the members wharf supports are listed, others are ignored on input.

// Environment is a function's environment as requests carry it.
type Environment struct {
	Variables map[string]string `json:"Variables"`
}

// EphemeralStorage is the size of /tmp in MB.
type EphemeralStorage struct {
	Size int `json:"Size"`
}

// TracingConfig is reported as Lambda's default: PassThrough.
type TracingConfig struct {
	Mode string `json:"Mode"`
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

// FunctionConfiguration is Lambda's FunctionConfiguration.
type FunctionConfiguration struct {
	FunctionName     string            `json:"FunctionName"`
	FunctionArn      string            `json:"FunctionArn"`
	Runtime          string            `json:"Runtime,omitempty"`
	Role             string            `json:"Role"`
	Handler          string            `json:"Handler,omitempty"`
	CodeSize         int64             `json:"CodeSize"`
	Description      string            `json:"Description"`
	Timeout          int               `json:"Timeout"`
	MemorySize       int               `json:"MemorySize"`
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
}

// FunctionCode is the code member of CreateFunction.
type FunctionCode struct {
	ZipFile         []byte `json:"ZipFile,omitempty"` // base64 on the wire
	ImageURI        string `json:"ImageUri,omitempty"`
	S3Bucket        string `json:"S3Bucket,omitempty"`
	S3Key           string `json:"S3Key,omitempty"`
	S3ObjectVersion string `json:"S3ObjectVersion,omitempty"`
}

// CreateFunctionRequest is CreateFunction's body.
type CreateFunctionRequest struct {
	FunctionName     string            `json:"FunctionName"`
	Runtime          string            `json:"Runtime"`
	Role             string            `json:"Role"`
	Handler          string            `json:"Handler"`
	Description      string            `json:"Description"`
	Timeout          int               `json:"Timeout"`
	MemorySize       int               `json:"MemorySize"`
	Publish          bool              `json:"Publish"`
	PackageType      string            `json:"PackageType"`
	Code             FunctionCode      `json:"Code"`
	Environment      *Environment      `json:"Environment"`
	EphemeralStorage *EphemeralStorage `json:"EphemeralStorage"`
	Architectures    []string          `json:"Architectures"`
	Layers           []string          `json:"Layers"`
	ImageConfig      *ImageConfig      `json:"ImageConfig"`
}

// UpdateFunctionCodeRequest is UpdateFunctionCode's body.
type UpdateFunctionCodeRequest struct {
	ZipFile         []byte   `json:"ZipFile"`
	ImageURI        string   `json:"ImageUri"`
	S3Bucket        string   `json:"S3Bucket"`
	S3Key           string   `json:"S3Key"`
	S3ObjectVersion string   `json:"S3ObjectVersion"`
	Publish         bool     `json:"Publish"`
	DryRun          bool     `json:"DryRun"`
	Architectures   []string `json:"Architectures"`
}

// UpdateFunctionConfigurationRequest is UpdateFunctionConfiguration's body.
type UpdateFunctionConfigurationRequest struct {
	Role             *string           `json:"Role"`
	Handler          *string           `json:"Handler"`
	Description      *string           `json:"Description"`
	Timeout          *int              `json:"Timeout"`
	MemorySize       *int              `json:"MemorySize"`
	Runtime          *string           `json:"Runtime"`
	Environment      *Environment      `json:"Environment"`
	EphemeralStorage *EphemeralStorage `json:"EphemeralStorage"`
	Layers           []string          `json:"Layers"`
	ImageConfig      *ImageConfig      `json:"ImageConfig"`
}

// FunctionCodeLocation is GetFunction's Code member.
type FunctionCodeLocation struct {
	RepositoryType   string `json:"RepositoryType"`
	Location         string `json:"Location,omitempty"`
	ImageURI         string `json:"ImageUri,omitempty"`
	ResolvedImageURI string `json:"ResolvedImageUri,omitempty"`
}

// Concurrency is a function's reserved concurrency.
type Concurrency struct {
	ReservedConcurrentExecutions *int `json:"ReservedConcurrentExecutions,omitempty"`
}

// GetFunctionResponse is GetFunction's answer.
type GetFunctionResponse struct {
	Configuration FunctionConfiguration `json:"Configuration"`
	Code          FunctionCodeLocation  `json:"Code"`
	Concurrency   *Concurrency          `json:"Concurrency,omitempty"`
	Tags          map[string]string     `json:"Tags,omitempty"`
}

// ListFunctionsResponse is ListFunctions' answer.
type ListFunctionsResponse struct {
	Functions  []FunctionConfiguration `json:"Functions"`
	NextMarker *string                 `json:"NextMarker,omitempty"`
}

// ListVersionsResponse is ListVersionsByFunction's answer.
type ListVersionsResponse struct {
	Versions   []FunctionConfiguration `json:"Versions"`
	NextMarker *string                 `json:"NextMarker,omitempty"`
}

// PublishVersionRequest is PublishVersion's body.
type PublishVersionRequest struct {
	Description string `json:"Description"`
	CodeSha256  string `json:"CodeSha256"`
	RevisionID  string `json:"RevisionId"`
}

// AliasRoutingConfiguration is accepted only empty: wharf has no weighted aliases.
type AliasRoutingConfiguration struct {
	AdditionalVersionWeights map[string]float64 `json:"AdditionalVersionWeights"`
}

// AliasRequest is CreateAlias's and UpdateAlias's body.
type AliasRequest struct {
	Name            string                     `json:"Name"`
	FunctionVersion string                     `json:"FunctionVersion"`
	Description     string                     `json:"Description"`
	RevisionID      string                     `json:"RevisionId"`
	RoutingConfig   *AliasRoutingConfiguration `json:"RoutingConfig"`
}

// AliasConfiguration is Lambda's AliasConfiguration.
type AliasConfiguration struct {
	AliasArn        string `json:"AliasArn"`
	Name            string `json:"Name"`
	FunctionVersion string `json:"FunctionVersion"`
	Description     string `json:"Description"`
	RevisionID      string `json:"RevisionId"`
}

// ListAliasesResponse is ListAliases' answer.
type ListAliasesResponse struct {
	Aliases    []AliasConfiguration `json:"Aliases"`
	NextMarker *string              `json:"NextMarker,omitempty"`
}

// PutConcurrencyRequest is PutFunctionConcurrency's body.
type PutConcurrencyRequest struct {
	ReservedConcurrentExecutions *int `json:"ReservedConcurrentExecutions"`
}

// lastModifiedLayout is how Lambda writes LastModified.
const lastModifiedLayout = "2006-01-02T15:04:05.000-0700"

func toWire(c *functions.Config) FunctionConfiguration {
	out := FunctionConfiguration{
		FunctionName: c.FunctionName, FunctionArn: c.FunctionArn, Runtime: c.Runtime, Role: c.Role,
		Handler: c.Handler, CodeSize: c.CodeSize, Description: c.Description, Timeout: c.Timeout,
		MemorySize: c.MemorySize, CodeSha256: c.CodeSha256, Version: c.Version,
		TracingConfig: TracingConfig{Mode: "PassThrough"}, RevisionID: c.RevisionID, State: c.State,
		StateReason: c.StateReason, StateReasonCode: c.StateReasonCode, LastUpdateStatus: c.LastUpdateStatus,
		PackageType: c.PackageType, Architectures: c.Architectures,
	}
	if !c.LastModified.IsZero() {
		out.LastModified = c.LastModified.UTC().Format(lastModifiedLayout)
	}
	if len(c.Environment) > 0 {
		out.Environment = &Environment{Variables: c.Environment}
	}
	if c.EphemeralStorage > 0 {
		out.EphemeralStorage = &EphemeralStorage{Size: c.EphemeralStorage}
	}
	if out.Architectures == nil {
		out.Architectures = []string{}
	}
	if ic := c.ImageConfig; ic != nil {
		out.ImageConfigResponse = &ImageConfigResponse{ImageConfig: &ImageConfig{EntryPoint: ic.EntryPoint, Command: ic.Command, WorkingDirectory: ic.WorkingDirectory}}
	}
	return out
}

// fromWireImageConfig is the engine's form of a request's ImageConfig.
func fromWireImageConfig(ic *ImageConfig) *functions.ImageConfig {
	if ic == nil {
		return nil
	}
	return &functions.ImageConfig{EntryPoint: ic.EntryPoint, Command: ic.Command, WorkingDirectory: ic.WorkingDirectory}
}

func toWireAll(cs []*functions.Config) []FunctionConfiguration {
	out := make([]FunctionConfiguration, 0, len(cs))
	for _, c := range cs {
		out = append(out, toWire(c))
	}
	return out
}

func aliasToWire(a *functions.Alias) AliasConfiguration {
	return AliasConfiguration{AliasArn: a.AliasArn, Name: a.Name, FunctionVersion: a.FunctionVersion, Description: a.Description, RevisionID: a.RevisionID}
}

// functionName resolves the {name} path value and the Qualifier query to
// a plain function name and qualifier. A qualifier in the name and one in
// the query must agree, as Lambda requires.
func functionName(r *http.Request) (name, qualifier string, err error) {
	name, qualifier, err = functions.ParseName(r.PathValue("name"))
	if err != nil {
		return "", "", err
	}
	if q := r.URL.Query().Get("Qualifier"); q != "" {
		if qualifier != "" && qualifier != q {
			return "", "", invalidParam("The derived qualifier from the function name does not match the specified qualifier.")
		}
		qualifier = q
	}
	return name, qualifier, nil
}

// unqualifiedName is functionName for operations on the function itself,
// which take no qualifier.
func unqualifiedName(r *http.Request) (string, error) {
	name, qualifier, err := functions.ParseName(r.PathValue("name"))
	if err != nil {
		return "", err
	}
	if qualifier != "" {
		return "", invalidParam("This operation does not take a qualified function name: %s", r.PathValue("name"))
	}
	return name, nil
}

// maxPage is the most items a list answers with, as Lambda (50).
const maxPage = 50

// page cuts one page of n items by the Marker and MaxItems queries. The
// marker is the offset of the next item, opaque to clients.
func page(r *http.Request, n int) (from, to int, next *string, err error) {
	q := r.URL.Query()
	max := maxPage
	if v := q.Get("MaxItems"); v != "" {
		m, err := strconv.Atoi(v)
		if err != nil || m < 1 || m > 10000 {
			return 0, 0, nil, invalidParam("1 validation error detected: Value '%s' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 10000", v)
		}
		max = min(m, maxPage)
	}
	if v := q.Get("Marker"); v != "" {
		m, err := strconv.Atoi(v)
		if err != nil || m < 0 {
			return 0, 0, nil, invalidParam("invalid Marker %q", v)
		}
		from = min(m, n)
	}
	to = min(from+max, n)
	if to < n {
		s := strconv.Itoa(to)
		next = &s
	}
	return from, to, next, nil
}
