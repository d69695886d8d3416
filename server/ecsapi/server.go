// Package ecsapi serves Amazon ECS's API (JSON 1.1) over the cluster's
// state, so that the aws CLI and aws-sdk-go-v2's ecs client drive wharf's
// clusters unmodified, with the access keys of `wharf keys`.
//
// Requests are POST / with X-Amz-Target:
// AmazonEC2ContainerServiceV20141113.<Operation> and a JSON body, signed
// with AWS Signature Version 4 for the service "ecs". The daemon mounts
// this handler on its --http address beside Lambda's and ECR's; Matches
// tells them apart by the target header.
//
// Every operation is an IAM action of ECS (the operation's name) on the
// resource it names (a task definition family, a cluster name), decided
// by identity.Allowed; List operations need a statement on "*".
//
// Errors are ECS's: HTTP 400 (500 for ServerException) with
// {"__type": "<Exception>", "message": "..."} and the same name in
// X-Amzn-ErrorType. Times are seconds since the epoch.
//
// What is served: clusters (one "default" always, more with
// CreateCluster), task definitions (Register, Describe, List,
// ListTaskDefinitionFamilies, Deregister), container instances (the
// cluster's nodes), tasks (RunTask, StartTask, StopTask, DescribeTasks,
// ListTasks) and services (CreateService, UpdateService,
// DescribeServices, ListServices, DeleteService) over cluster/tasks.
package ecsapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/cluster/agent"
	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/cluster/tasks"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/identity"
	"github.com/wharf-dev/wharf/server/awsapi"
	"github.com/wharf-dev/wharf/server/httperr"
)

// TargetPrefix is what X-Amz-Target starts with on every ECS call.
const TargetPrefix = "AmazonEC2ContainerServiceV20141113."

const service = "ecs"

// Bounds on a request: ECS's task definitions are at most 64 KiB; the
// budget bounds all bodies in flight at once.
const (
	maxBody    = 1 << 20
	bodyBudget = 32 << 20
)

// Store is what the API needs of the cluster's state (state.Store).
type Store interface {
	RegisterTaskDef(ctx context.Context, td state.TaskDefinition, now time.Time) (state.TaskDefinition, error)
	DeregisterTaskDef(ctx context.Context, family string, revision int, now time.Time) (state.TaskDefinition, error)
	TaskDefs() state.Table[state.TaskDefinition]
	Families() state.Table[state.Family]
	Clusters() state.Table[state.Cluster]
}

// Nodes lists the cluster's nodes (agent.Nodes).
type Nodes interface {
	List(ctx context.Context) ([]agent.NodeView, error)
}

// Option configures a Server.
type Option func(*Server)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithClock sets the clock.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// Server is the ECS API handler.
type Server struct {
	st      Store
	nodes   Nodes
	verify  *identity.Verifier
	log     *slog.Logger
	now     func() time.Time
	region  string
	account string
	ops     map[string]op
	tasks   Tasks
	in      *awsapi.Intake
}

type op func(ctx context.Context, id *identity.Identity, body []byte) (any, error)

// New returns the ECS API over st and nodes, accepting keys' signatures.
func New(st Store, nodes Nodes, keys *identity.Keys, opts ...Option) *Server {
	s := &Server{st: st, nodes: nodes, log: slog.New(slog.DiscardHandler), now: time.Now, region: "us-east-1", account: "000000000000"}
	for _, o := range opts {
		o(s)
	}
	s.verify = identity.NewVerifier(keys, s.now, maxBody)
	s.in = &awsapi.Intake{Service: service, Verify: s.verify, Budget: awsapi.NewBudget(bodyBudget),
		Throttle:    awsapi.Error{Type: "ThrottlingException", Msg: "too many requests in flight; retry"},
		BodyTimeout: time.Minute, TooLarge: "ClientException"}
	s.ops = map[string]op{
		"CreateCluster":              s.createCluster,
		"DescribeClusters":           s.describeClusters,
		"ListClusters":               s.listClusters,
		"DeleteCluster":              s.deleteCluster,
		"RegisterTaskDefinition":     s.registerTaskDefinition,
		"DescribeTaskDefinition":     s.describeTaskDefinition,
		"ListTaskDefinitions":        s.listTaskDefinitions,
		"ListTaskDefinitionFamilies": s.listTaskDefinitionFamilies,
		"DeregisterTaskDefinition":   s.deregisterTaskDefinition,
		"ListContainerInstances":     s.listContainerInstances,
		"DescribeContainerInstances": s.describeContainerInstances,
		"RunTask":                    s.runTask,
		"StartTask":                  s.startTask,
		"StopTask":                   s.stopTask,
		"DescribeTasks":              s.describeTasks,
		"ListTasks":                  s.listTasks,
		"CreateService":              s.createService,
		"UpdateService":              s.updateService,
		"DescribeServices":           s.describeServices,
		"ListServices":               s.listServices,
		"DeleteService":              s.deleteService,
	}
	return s
}

// Matches reports whether r is an ECS call.
func Matches(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("X-Amz-Target"), TargetPrefix)
}

// ServeHTTP authenticates the call, then runs its operation.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Amzn-RequestId", awsapi.RequestID())
	opName := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), TargetPrefix)
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		s.writeError(w, opName, &apiError{typ: "UnknownOperationException", msg: "ECS's operations are POST / with X-Amz-Target"})
		return
	}
	id, body, done, err := s.in.Begin(w, r, maxBody)
	if err != nil {
		s.writeError(w, opName, err)
		return
	}
	defer done()
	o, ok := s.ops[opName]
	if !ok {
		s.writeError(w, opName, &apiError{typ: "UnknownOperationException", msg: "wharf does not implement ECS's " + opName + " yet"})
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

// apiError is an ECS exception.
type apiError struct {
	status int // 0: 400
	typ    string
	msg    string
}

func (e *apiError) Error() string { return e.typ + ": " + e.msg }

func clientErr(format string, a ...any) error {
	return &apiError{typ: "ClientException", msg: fmt.Sprintf(format, a...)}
}

func invalidParam(format string, a ...any) error {
	return &apiError{typ: "InvalidParameterException", msg: fmt.Sprintf(format, a...)}
}

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
		return &apiError{typ: "ClientException", msg: fmt.Sprintf("the request is larger than %d bytes", mbe.Limit)}
	case errors.Is(err, tasks.ErrServiceNotFound):
		return &apiError{typ: "ServiceNotFoundException", msg: "Service not found."}
	case errors.Is(err, tasks.ErrServiceNotActive):
		return &apiError{typ: "ServiceNotActiveException", msg: "Service was not ACTIVE."}
	case errdefs.IsInvalidArgument(err):
		return &apiError{typ: "InvalidParameterException", msg: msg}
	case errdefs.IsNotFound(err):
		return &apiError{typ: "ClientException", msg: msg}
	case errdefs.IsForbidden(err), errdefs.IsUnauthorized(err):
		return &apiError{typ: "AccessDeniedException", msg: msg}
	case errdefs.IsUnavailable(err):
		return &apiError{status: http.StatusInternalServerError, typ: "ServerException", msg: msg}
	}
	return &apiError{status: http.StatusInternalServerError, typ: "ServerException", msg: msg}
}

func (s *Server) writeError(w http.ResponseWriter, opName string, err error) {
	e := s.classify(err)
	if e.status >= 500 {
		s.log.Error("ecs request failed", "op", opName, "err", err)
	}
	awsapi.WriteError(w, "application/x-amz-json-1.1", e.status, e.typ, e.msg)
}

// decode reads an operation's input; unknown members are ignored, as AWS
// does.
func decode(body []byte, v any) error {
	return awsapi.Decode(body, v, "SerializationException")
}

func (s *Server) authorize(id *identity.Identity, action, resource string) error {
	if id.Allowed(action, resource) {
		return nil
	}
	if resource == "" {
		resource = "*"
	}
	return &apiError{typ: "AccessDeniedException", msg: fmt.Sprintf("User: arn:aws:iam::%s:user/%s is not authorized to perform: ecs:%s on resource: %s because no statement of the key allows it", s.account, id.AccessKeyID, action, resource)}
}

func (s *Server) arn(kind, name string) string {
	return fmt.Sprintf("arn:aws:ecs:%s:%s:%s/%s", s.region, s.account, kind, name)
}

// epoch is a time as JSON 1.1 has it: seconds since the epoch.
type epoch time.Time

func (t epoch) MarshalJSON() ([]byte, error) {
	return []byte(fmt.Sprintf("%.3f", float64(time.Time(t).UnixMilli())/1000)), nil
}

func epochPtr(t *time.Time) *epoch {
	if t == nil || t.IsZero() {
		return nil
	}
	e := epoch(*t)
	return &e
}

// NoCluster answers ECS's calls on a daemon that is in no cluster, with
// ECS's error shape and what to do, rather than another API's 404.
func NoCluster() http.Handler {
	s := &Server{log: slog.New(slog.DiscardHandler)}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Amzn-RequestId", awsapi.RequestID())
		s.writeError(w, "", &apiError{typ: "ClusterNotFoundException", msg: "this wharf daemon is in no cluster: start it with --cluster-init or --join"})
	})
}
