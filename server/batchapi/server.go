// Package batchapi serves AWS Batch's API (REST JSON under /v1/) over a
// batch.Manager, so that the aws CLI and aws-sdk-go-v2's batch client
// drive wharf's Batch unmodified, with the access keys of `wharf keys`.
//
// Requests are POST /v1/<operation, lowercased> with a JSON body (tags:
// POST, GET and DELETE /v1/tags/<arn>), signed with AWS Signature
// Version 4 for the service "batch". Every operation is an IAM action of
// Batch (its name) on the resource it names (a queue, environment,
// definition, policy, or job id), decided by identity.Allowed; Describe
// and List operations without names need a statement on "*".
//
// Errors are Batch's: ClientException (HTTP 400) for what the caller
// can fix, ServerException (500) for what it cannot, with
// {"__type": ..., "message": ...} and the type in X-Amzn-ErrorType.
// Times are milliseconds since the epoch.
package batchapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/batch"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/identity"
	"github.com/wharf-dev/wharf/server/awsapi"
	"github.com/wharf-dev/wharf/server/httperr"
)

const service = "batch"

// Bounds on a request: Batch's largest bodies (job definitions) are far
// below 1 MiB; the budget bounds all bodies in flight at once.
const (
	maxBody    = 1 << 20
	bodyBudget = 32 << 20
)

// Option configures a Server.
type Option func(*Server)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithAccount sets the region and account of the ARNs.
func WithAccount(region, account string) Option {
	return func(s *Server) { s.region, s.account = region, account }
}

// WithTaskARN sets the ARN DescribeJobs gives an attempt's task from the
// reference its launcher returned (a cluster's task id); by default the
// attempt's own id names a task of the pseudo-cluster wharf-batch.
func WithTaskARN(f func(ref string) string) Option { return func(s *Server) { s.taskARNOf = f } }

// Server is Batch's API handler.
type Server struct {
	m       *batch.Manager
	verify  *identity.Verifier
	log     *slog.Logger
	region  string
	account string
	ops     map[string]op
	in      *awsapi.Intake
	// taskARNOf names an attempt's task (WithTaskARN).
	taskARNOf func(ref string) string
}

type op func(ctx context.Context, id *identity.Identity, body []byte) (any, error)

// New returns Batch's API over m, accepting keys' signatures.
func New(m *batch.Manager, keys *identity.Keys, opts ...Option) *Server {
	s := &Server{m: m, log: slog.New(slog.DiscardHandler), region: "us-east-1", account: "000000000000"}
	for _, o := range opts {
		o(s)
	}
	s.verify = identity.NewVerifier(keys, nil, maxBody)
	s.in = &awsapi.Intake{Service: service, Verify: s.verify, Budget: awsapi.NewBudget(bodyBudget),
		Throttle:    awsapi.Error{Status: http.StatusTooManyRequests, Type: "TooManyRequestsException", Msg: "too many requests in flight; retry"},
		BodyTimeout: time.Minute, TooLarge: "ClientException"}
	s.ops = map[string]op{
		"createcomputeenvironment":    s.createComputeEnvironment,
		"describecomputeenvironments": s.describeComputeEnvironments,
		"updatecomputeenvironment":    s.updateComputeEnvironment,
		"deletecomputeenvironment":    s.deleteComputeEnvironment,
		"createjobqueue":              s.createJobQueue,
		"describejobqueues":           s.describeJobQueues,
		"updatejobqueue":              s.updateJobQueue,
		"deletejobqueue":              s.deleteJobQueue,
		"createschedulingpolicy":      s.createSchedulingPolicy,
		"describeschedulingpolicies":  s.describeSchedulingPolicies,
		"registerjobdefinition":       s.registerJobDefinition,
		"describejobdefinitions":      s.describeJobDefinitions,
		"deregisterjobdefinition":     s.deregisterJobDefinition,
		"submitjob":                   s.submitJob,
		"describejobs":                s.describeJobs,
		"listjobs":                    s.listJobs,
		"canceljob":                   s.cancelJob,
		"terminatejob":                s.terminateJob,
	}
	return s
}

// Matches reports whether r is a Batch call: POST /v1/<operation> of
// Batch's, or /v1/tags/<a Batch ARN>.
func Matches(r *http.Request) bool {
	p := r.URL.Path
	rest, ok := strings.CutPrefix(p, "/v1/")
	if !ok {
		return false
	}
	if t, ok := strings.CutPrefix(rest, "tags/"); ok {
		arn, _ := url.PathUnescape(t)
		return strings.HasPrefix(arn, "arn:aws:batch:")
	}
	return r.Method == http.MethodPost && knownOps[rest]
}

// knownOps are Batch's operations (those served and those refused with
// Batch's error shape).
var knownOps = func() map[string]bool {
	m := map[string]bool{}
	for _, o := range []string{"createcomputeenvironment", "describecomputeenvironments", "updatecomputeenvironment", "deletecomputeenvironment",
		"createjobqueue", "describejobqueues", "updatejobqueue", "deletejobqueue", "createschedulingpolicy", "describeschedulingpolicies",
		"updateschedulingpolicy", "deleteschedulingpolicy", "listschedulingpolicies",
		"registerjobdefinition", "describejobdefinitions", "deregisterjobdefinition", "submitjob", "describejobs", "listjobs",
		"canceljob", "terminatejob"} {
		m[o] = true
	}
	return m
}()

// Route names the request's operation for metrics (a bounded set).
func (s *Server) Route(r *http.Request) string { return Route(r) }

// Route names a Batch call's operation for metrics (a bounded set).
func Route(r *http.Request) string {
	rest := strings.TrimPrefix(r.URL.Path, "/v1/")
	if strings.HasPrefix(rest, "tags/") {
		return r.Method + " /v1/tags/{arn}"
	}
	if knownOps[rest] {
		return "POST /v1/" + rest
	}
	return "POST /v1/{unknown}"
}

// ServeHTTP authenticates the call, then runs its operation.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Amzn-RequestId", awsapi.RequestID())
	id, body, done, err := s.in.Begin(w, r, maxBody)
	if err != nil {
		s.writeError(w, err)
		return
	}
	defer done()
	var out any
	rest := strings.TrimPrefix(r.URL.Path, "/v1/")
	if t, ok := strings.CutPrefix(rest, "tags/"); ok {
		out, err = s.tags(r.Context(), id, r.Method, t, r.URL.Query(), body)
	} else if o, ok := s.ops[rest]; ok && r.Method == http.MethodPost {
		out, err = o(r.Context(), id, body)
	} else {
		err = clientErr("wharf does not implement Batch's %s", rest)
	}
	if err != nil {
		s.writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(out)
}

// apiError is a Batch exception.
type apiError struct {
	status int // 0: 400
	typ    string
	msg    string
}

func (e *apiError) Error() string { return e.typ + ": " + e.msg }

func clientErr(format string, a ...any) error {
	return &apiError{typ: "ClientException", msg: fmt.Sprintf(format, a...)}
}

func classify(err error) *apiError {
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
		return &apiError{typ: "ClientException", msg: fmt.Sprintf("the request is larger than %d bytes", mbe.Limit)}
	case errdefs.IsInvalidArgument(err), errdefs.IsNotFound(err), errdefs.IsConflict(err):
		return &apiError{typ: "ClientException", msg: msg}
	case errdefs.IsForbidden(err), errdefs.IsUnauthorized(err):
		return &apiError{status: http.StatusForbidden, typ: "AccessDeniedException", msg: msg}
	}
	return &apiError{status: http.StatusInternalServerError, typ: "ServerException", msg: msg}
}

func (s *Server) writeError(w http.ResponseWriter, err error) {
	e := classify(err)
	if e.status >= 500 {
		s.log.Error("batch request failed", "err", err)
	}
	awsapi.WriteError(w, "application/json", e.status, e.typ, e.msg)
}

// decode reads an operation's input; unknown members are ignored, as AWS
// does.
func decode(body []byte, v any) error {
	return awsapi.Decode(body, v, "ClientException")
}

func (s *Server) authorize(id *identity.Identity, action, resource string) error {
	if id.Allowed(action, resource) {
		return nil
	}
	if resource == "" {
		resource = "*"
	}
	return &apiError{status: http.StatusForbidden, typ: "AccessDeniedException", msg: fmt.Sprintf("User: arn:aws:iam::%s:user/%s is not authorized to perform: batch:%s on resource: %s because no statement of the key allows it", s.account, id.AccessKeyID, action, resource)}
}

func (s *Server) arn(kind, name string) string {
	return fmt.Sprintf("arn:aws:batch:%s:%s:%s/%s", s.region, s.account, kind, name)
}

// parseARN splits a Batch ARN into its resource kind and name.
func parseARN(arn string) (kind, name string, ok bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "batch" {
		return "", "", false
	}
	kind, name, ok = strings.Cut(parts[5], "/")
	return kind, name, ok && name != ""
}

// ms is a time as Batch has it: milliseconds since the epoch.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}
