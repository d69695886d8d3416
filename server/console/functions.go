package console

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/functions"
)

// Functions is what the console needs of the functions engine: the calls
// the Lambda API and `wharf fn logs` make.
type Functions interface {
	List(ctx context.Context) ([]*functions.Config, error)
	Get(ctx context.Context, name, qualifier string) (*functions.Config, error)
	ListVersions(ctx context.Context, name string) ([]*functions.Config, error)
	ListAliases(ctx context.Context, name string) ([]*functions.Alias, error)
	Invoke(ctx context.Context, in functions.InvokeInput) (*functions.InvokeOutput, error)
	// CopyLog writes a function's log, across its rotated files, to w.
	CopyLog(ctx context.Context, name string, follow bool, w io.Writer) error
}

// lambdaService and logsService are the policy services the functions
// pages are authorised by: Lambda's actions on the function, and
// CloudWatch Logs' GetLogEvents on its log group for the REPORT lines.
const (
	lambdaService = "lambda"
	logsService   = "logs"
)

// Bounds of the functions pages.
const (
	// maxInvokeBody bounds an invocation's body: Lambda's synchronous
	// payload limit and the JSON around it.
	maxInvokeBody = functions.MaxSyncPayload + 4<<10
	// maxReports is how many recent REPORT lines a page gets.
	maxReports = 50
)

func (s *Server) functionRoutes(mux *http.ServeMux, api string) {
	mux.HandleFunc("GET "+api+"/functions", s.authed(s.listFunctions))
	mux.HandleFunc("GET "+api+"/functions/{name}", s.authed(s.getFunction))
	mux.HandleFunc("POST "+api+"/functions/{name}/invoke", s.authed(s.invokeFunction))
	mux.HandleFunc("GET "+api+"/functions/{name}/reports", s.authed(s.functionReports))
}

func (s *Server) functionsOr(err *error) bool {
	if s.fns == nil {
		*err = fmt.Errorf("this daemon's console has no functions: %w", errdefs.ErrNotImplemented)
		return false
	}
	return true
}

func (s *Server) listFunctions(w http.ResponseWriter, r *http.Request, c *call) (err error) {
	if !s.functionsOr(&err) {
		return err
	}
	if err := c.allow(lambdaService, "ListFunctions", ""); err != nil {
		return err
	}
	list, err := s.fns.List(r.Context())
	if err != nil {
		return err
	}
	if list == nil {
		list = []*functions.Config{}
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

// FunctionView is a function's page: its configuration, versions and
// aliases (each omitted, with a note, when the key may not read it).
type FunctionView struct {
	Configuration *functions.Config   `json:"configuration"`
	Versions      []*functions.Config `json:"versions"`
	Aliases       []*functions.Alias  `json:"aliases"`
	Denied        []string            `json:"denied,omitempty"`
}

func (s *Server) getFunction(w http.ResponseWriter, r *http.Request, c *call) (err error) {
	if !s.functionsOr(&err) {
		return err
	}
	name, err := functionName(r)
	if err != nil {
		return err
	}
	if err := c.allow(lambdaService, "GetFunction", name); err != nil {
		return err
	}
	ctx := r.Context()
	v := FunctionView{Versions: []*functions.Config{}, Aliases: []*functions.Alias{}}
	if v.Configuration, err = s.fns.Get(ctx, name, ""); err != nil {
		return err
	}
	if err := c.allow(lambdaService, "ListVersionsByFunction", name); err != nil {
		v.Denied = append(v.Denied, err.Error())
	} else if vs, err := s.fns.ListVersions(ctx, name); err == nil {
		v.Versions = vs
	}
	if err := c.allow(lambdaService, "ListAliases", name); err != nil {
		v.Denied = append(v.Denied, err.Error())
	} else if as, err := s.fns.ListAliases(ctx, name); err == nil && as != nil {
		v.Aliases = as
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// functionName is the function the path names (no qualifier, no ARN).
func functionName(r *http.Request) (string, error) {
	name, q, err := functions.ParseName(r.PathValue("name"))
	if err != nil {
		return "", err
	}
	if q != "" {
		return "", fmt.Errorf("name the function without a qualifier (the body carries it): %w", errdefs.ErrInvalidArgument)
	}
	return name, nil
}

// InvokeRequest is the body of an invocation from the test-event editor.
type InvokeRequest struct {
	// Payload is the event: any JSON value.
	Payload json.RawMessage `json:"payload"`
	// Qualifier is a version or alias ("": $LATEST).
	Qualifier string `json:"qualifier,omitempty"`
}

// InvokeResult is what the page shows of an invocation.
type InvokeResult struct {
	StatusCode      int    `json:"statusCode"`
	FunctionError   string `json:"functionError,omitempty"`
	Payload         string `json:"payload"`
	LogTail         string `json:"logTail"`
	ExecutedVersion string `json:"executedVersion"`
	RequestID       string `json:"requestId"`
}

// decodeInvoke reads an invocation's body: JSON, bounded, its payload a
// JSON value (null when absent), its qualifier a version or alias name.
func decodeInvoke(body io.Reader) (InvokeRequest, error) {
	var in InvokeRequest
	if err := decodeJSON(body, maxInvokeBody, &in); err != nil {
		return in, err
	}
	if len(in.Payload) == 0 {
		in.Payload = json.RawMessage("null")
	}
	if len(in.Qualifier) > 128 || strings.ContainsAny(in.Qualifier, ":/ \t\r\n") {
		return in, fmt.Errorf("qualifier %q is not a version or alias: %w", in.Qualifier, errdefs.ErrInvalidArgument)
	}
	return in, nil
}

func (s *Server) invokeFunction(w http.ResponseWriter, r *http.Request, c *call) (err error) {
	if !s.functionsOr(&err) {
		return err
	}
	name, err := functionName(r)
	if err != nil {
		return err
	}
	if err := c.allow(lambdaService, "InvokeFunction", name); err != nil {
		return err
	}
	if err := jsonOnly(r); err != nil {
		return err
	}
	in, err := decodeInvoke(r.Body)
	if err != nil {
		return err
	}
	out, err := s.fns.Invoke(r.Context(), functions.InvokeInput{FunctionName: name, Qualifier: in.Qualifier,
		Payload: in.Payload, Type: functions.InvocationSync, LogTail: true})
	if err != nil {
		return err
	}
	tail, _ := base64.StdEncoding.DecodeString(out.LogResult)
	writeJSON(w, http.StatusOK, InvokeResult{StatusCode: out.StatusCode, FunctionError: out.FunctionError,
		Payload: string(out.Payload), LogTail: string(tail), ExecutedVersion: out.ExecutedVersion, RequestID: out.RequestID})
	return nil
}

// functionReports answers the function's last REPORT lines (the log's
// summary of each invocation), newest last.
func (s *Server) functionReports(w http.ResponseWriter, r *http.Request, c *call) (err error) {
	if !s.functionsOr(&err) {
		return err
	}
	name, err := functionName(r)
	if err != nil {
		return err
	}
	if err := c.allow(logsService, "GetLogEvents", "/aws/lambda/"+name); err != nil {
		return err
	}
	if _, err := s.fns.Get(r.Context(), name, ""); err != nil {
		return err
	}
	rep := &reportLines{max: maxReports}
	if err := s.fns.CopyLog(r.Context(), name, false, rep); err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	rep.flush()
	out := rep.lines
	if out == nil {
		out = []string{}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// reportLines keeps the last max REPORT lines written to it, in memory
// bounded by max lines of at most 4 KiB.
type reportLines struct {
	max     int
	partial []byte
	lines   []string
}

func (r *reportLines) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			if len(r.partial) < 4<<10 {
				r.partial = append(r.partial, p[:min(len(p), 4<<10-len(r.partial))]...)
			}
			break
		}
		if len(r.partial) < 4<<10 {
			r.partial = append(r.partial, p[:min(i, 4<<10-len(r.partial))]...)
		}
		r.line(r.partial)
		r.partial = r.partial[:0]
		p = p[i+1:]
	}
	return n, nil
}

func (r *reportLines) flush() {
	if len(r.partial) > 0 {
		r.line(r.partial)
		r.partial = r.partial[:0]
	}
}

func (r *reportLines) line(b []byte) {
	// A function's log lines may carry a stream prefix or timestamp
	// before Lambda's "REPORT RequestId: ...".
	i := bytes.Index(b, []byte("REPORT RequestId:"))
	if i < 0 {
		return
	}
	r.lines = append(r.lines, strings.TrimRight(string(b[i:]), "\r"))
	if len(r.lines) > r.max {
		r.lines = append(r.lines[:0:0], r.lines[len(r.lines)-r.max:]...)
	}
}
