package lambdaapi

import (
	"net/http"
	"strconv"

	"github.com/wharf-dev/wharf/api/lambda"
	"github.com/wharf-dev/wharf/functions"
)

// The wire types are api/lambda's, shared with the client; the functions
// below convert between them and the engine's records.

// deref is an optional member's value, 0 when absent.
func deref(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

// intPtr is the engine's form of an optional int32 member.
func intPtr(p *int32) *int {
	if p == nil {
		return nil
	}
	n := int(*p)
	return &n
}

// int32Ptr is the wire form of an optional int.
func int32Ptr(p *int) *int32 {
	if p == nil {
		return nil
	}
	n := int32(*p)
	return &n
}

// lastModifiedLayout is how Lambda writes LastModified.
const lastModifiedLayout = "2006-01-02T15:04:05.000-0700"

func toWire(c *functions.Config) lambda.FunctionConfiguration {
	out := lambda.FunctionConfiguration{
		FunctionName: c.FunctionName, FunctionArn: c.FunctionArn, Runtime: c.Runtime, Role: c.Role,
		Handler: c.Handler, CodeSize: c.CodeSize, Description: c.Description, Timeout: int32(c.Timeout),
		MemorySize: int32(c.MemorySize), CodeSha256: c.CodeSha256, Version: c.Version,
		TracingConfig: lambda.TracingConfig{Mode: "PassThrough"}, RevisionID: c.RevisionID, State: c.State,
		StateReason: c.StateReason, StateReasonCode: c.StateReasonCode, LastUpdateStatus: c.LastUpdateStatus,
		PackageType: c.PackageType, Architectures: c.Architectures,
	}
	if !c.LastModified.IsZero() {
		out.LastModified = c.LastModified.UTC().Format(lastModifiedLayout)
	}
	if len(c.Environment) > 0 {
		out.Environment = &lambda.Environment{Variables: c.Environment}
	}
	if c.EphemeralStorage > 0 {
		out.EphemeralStorage = &lambda.EphemeralStorage{Size: int32(c.EphemeralStorage)}
	}
	if out.Architectures == nil {
		out.Architectures = []string{}
	}
	if ic := c.ImageConfig; ic != nil {
		out.ImageConfigResponse = &lambda.ImageConfigResponse{ImageConfig: &lambda.ImageConfig{EntryPoint: ic.EntryPoint, Command: ic.Command, WorkingDirectory: ic.WorkingDirectory}}
	}
	return out
}

// fromWireImageConfig is the engine's form of a request's ImageConfig.
func fromWireImageConfig(ic *lambda.ImageConfig) *functions.ImageConfig {
	if ic == nil {
		return nil
	}
	return &functions.ImageConfig{EntryPoint: ic.EntryPoint, Command: ic.Command, WorkingDirectory: ic.WorkingDirectory}
}

func toWireAll(cs []*functions.Config) []lambda.FunctionConfiguration {
	out := make([]lambda.FunctionConfiguration, 0, len(cs))
	for _, c := range cs {
		out = append(out, toWire(c))
	}
	return out
}

func aliasToWire(a *functions.Alias) lambda.AliasConfiguration {
	return lambda.AliasConfiguration{AliasArn: a.AliasArn, Name: a.Name, FunctionVersion: a.FunctionVersion, Description: a.Description, RevisionID: a.RevisionID}
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
