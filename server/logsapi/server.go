// Package logsapi serves Amazon CloudWatch Logs' API (JSON 1.1) over the
// daemon's logs, so that the aws CLI (`aws logs describe-log-groups`,
// `get-log-events`, `filter-log-events`, `tail --follow`) and
// aws-sdk-go-v2's cloudwatchlogs client read them unmodified, with the
// access keys of `wharf keys`.
//
// Requests are POST / with X-Amz-Target: Logs_20140328.<Operation> and a
// JSON body, signed with AWS Signature Version 4 for the service "logs".
// The daemon mounts this handler on its --http address beside Lambda's
// and ECR's APIs: Matches tells them apart by the target header alone.
//
// Log groups come from Sources, each owning the groups under a prefix:
//
//	/aws/lambda/NAME         a function's log, one stream per sandbox,
//	                         named as Lambda names them
//	                         (YYYY/MM/DD/[$LATEST]<32 hex>)
//	/wharf/containers/NAME   a container's log, one stream: its id
//
// Events are read at request time from the logs' files, through the same
// readers as `wharf logs` and `wharf fn logs`; nothing is copied.
//
// Every operation is an IAM action of CloudWatch Logs (the operation's
// name) on the log group it names, decided by identity.Allowed (service
// "logs", resource: the group's name, "/aws/lambda/*" for all functions'
// groups); DescribeLogGroups lists the groups the key may describe.
//
// Responses are bounded as AWS bounds them: 10,000 events or 1 MB, 50
// groups or streams a page. Tokens are opaque to clients; here they are
// positions in a group's or stream's order of events (their time and
// their rank among events of the same nanosecond), so a position stays
// valid across rotations. GetLogEvents answers the token it was given when
// nothing is new, as AWS does (that is how its paginators stop).
//
// Errors are CloudWatch Logs': HTTP 400 with {"__type": "<Exception>",
// "message": "..."} and the same name in X-Amzn-ErrorType.
package logsapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/identity"
	"github.com/wharf-dev/wharf/server/awsapi"
	"github.com/wharf-dev/wharf/server/httperr"
)

// TargetPrefix is what X-Amz-Target starts with on every call.
const TargetPrefix = "Logs_20140328."

// service is the SigV4 service name of CloudWatch Logs.
const service = "logs"

const (
	// maxBody bounds a request's body (its largest inputs are a few
	// names, a pattern and a token).
	maxBody = 64 << 10
	// bodyTimeout bounds how long a body may take to arrive.
	bodyTimeout = 30 * time.Second
	// maxEvents and maxBytes bound the events of one response, as AWS.
	maxEvents = 10000
	maxBytes  = 1 << 20
	// maxPage bounds the groups and streams of one response.
	maxPage = 50
	// maxInFlight bounds the requests reading logs at once: each scans
	// files.
	maxInFlight = 16
)

// Server is the CloudWatch Logs API handler.
type Server struct {
	sources []Source
	ret     *Retention
	verify  *identity.Verifier
	log     *slog.Logger
	now     func() time.Time
	region  string
	account string
	ops     map[string]op
	slots   chan struct{}
	in      *awsapi.Intake
}

type op func(ctx context.Context, id *identity.Identity, body []byte) (any, error)

// Option configures a Server.
type Option func(*Server)

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithClock sets the clock signatures and retention are checked against.
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithAccount sets the region and account id of the ARNs.
func WithAccount(region, account string) Option {
	return func(s *Server) { s.region, s.account = region, account }
}

// New returns the API over the groups of sources, with the retention
// settings ret, accepting requests signed with keys.
func New(keys *identity.Keys, ret *Retention, sources []Source, opts ...Option) *Server {
	s := &Server{sources: sources, ret: ret, log: slog.New(slog.DiscardHandler), now: time.Now,
		region: "us-east-1", account: "000000000000", slots: make(chan struct{}, maxInFlight)}
	for _, o := range opts {
		o(s)
	}
	s.verify = identity.NewVerifier(keys, s.now, maxBody)
	s.in = &awsapi.Intake{Service: service, Verify: s.verify, BodyTimeout: bodyTimeout,
		TooLarge: "InvalidParameterException", AuthStatus: http.StatusBadRequest}
	s.ops = map[string]op{
		"DescribeLogGroups":     s.describeLogGroups,
		"DescribeLogStreams":    s.describeLogStreams,
		"GetLogEvents":          s.getLogEvents,
		"FilterLogEvents":       s.filterLogEvents,
		"PutRetentionPolicy":    s.putRetentionPolicy,
		"DeleteRetentionPolicy": s.deleteRetentionPolicy,
	}
	return s
}

// Matches reports whether r is a CloudWatch Logs call.
func (s *Server) Matches(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("X-Amz-Target"), TargetPrefix)
}

// Route returns the operation r calls when implemented, else "": the
// daemon's metrics label requests by it.
func (s *Server) Route(r *http.Request) string {
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), TargetPrefix)
	if _, ok := s.ops[op]; ok {
		return op
	}
	return ""
}

// ServeHTTP authenticates the call, then runs its operation.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Amzn-RequestId", awsapi.RequestID())
	opName := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), TargetPrefix)
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		s.writeError(w, opName, &apiError{typ: "UnknownOperationException", msg: "CloudWatch Logs' operations are POST / with X-Amz-Target"})
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
		s.writeError(w, opName, &apiError{typ: "UnknownOperationException", msg: "wharf does not implement CloudWatch Logs' " + opName})
		return
	}
	select {
	case s.slots <- struct{}{}:
		defer func() { <-s.slots }()
	default:
		s.writeError(w, opName, &apiError{typ: "ThrottlingException", msg: "Rate exceeded"})
		return
	}
	out, err := o(r.Context(), id, body)
	if err != nil {
		s.writeError(w, opName, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(out)
}

// apiError is a CloudWatch Logs exception decided by this package.
type apiError struct {
	status int // 0: 400
	typ    string
	msg    string
}

func (e *apiError) Error() string { return e.typ + ": " + e.msg }

func invalidParam(format string, a ...any) error {
	return &apiError{typ: "InvalidParameterException", msg: fmt.Sprintf(format, a...)}
}

// classify maps an error to CloudWatch Logs' exception.
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
	switch {
	case errdefs.IsNotFound(err):
		return &apiError{typ: "ResourceNotFoundException", msg: msg}
	case errdefs.IsInvalidArgument(err), errdefs.IsNotImplemented(err):
		return &apiError{typ: "InvalidParameterException", msg: msg}
	case errdefs.IsForbidden(err), errdefs.IsUnauthorized(err):
		return &apiError{typ: "AccessDeniedException", msg: msg}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded), errdefs.IsUnavailable(err):
		return &apiError{status: http.StatusServiceUnavailable, typ: "ServiceUnavailableException", msg: msg}
	}
	return &apiError{status: http.StatusInternalServerError, typ: "ServiceUnavailableException", msg: msg}
}

func (s *Server) writeError(w http.ResponseWriter, opName string, err error) {
	e := classify(err)
	if e.status >= 500 {
		s.log.Error("logs request failed", "op", opName, "err", err)
	}
	awsapi.WriteError(w, "application/x-amz-json-1.1", e.status, e.typ, e.msg)
}

// decode reads an operation's input; unknown members are ignored, as AWS
// does.
func decode(body []byte, v any) error {
	return awsapi.Decode(body, v, "SerializationException")
}

// authorize checks that id may perform action on group ("": none named).
func (s *Server) authorize(id *identity.Identity, action, group string) error {
	if id.Allowed(action, group) {
		return nil
	}
	arn := "*"
	if group != "" {
		arn = s.groupArn(group)
	}
	return &apiError{typ: "AccessDeniedException", msg: fmt.Sprintf("User: arn:aws:iam::%s:user/%s is not authorized to perform: logs:%s on resource: %s because no statement of the key allows it", s.account, id.AccessKeyID, action, arn)}
}

func (s *Server) groupArn(group string) string {
	return fmt.Sprintf("arn:aws:logs:%s:%s:log-group:%s", s.region, s.account, group)
}
