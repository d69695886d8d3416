// Package smapi serves the part of AWS Secrets Manager's API (JSON 1.1)
// that creates and reads the cluster's secrets (package secrets), so
// that the aws CLI and aws-sdk-go-v2's secretsmanager client manage
// them with the access keys of `wharf keys`:
//
//	CreateSecret     Name, SecretString | SecretBinary (once: no versions)
//	GetSecretValue   SecretId (a name or an ARN)
//	DescribeSecret   SecretId
//	ListSecrets      MaxResults, NextToken
//	DeleteSecret     SecretId (immediately: wharf keeps no recovery window)
//
// Requests are POST / with X-Amz-Target: secretsmanager.<Operation>,
// signed with SigV4 for the service "secretsmanager"; every operation is
// an action of that service on the secret's name (List on "*"), decided
// by the key's policy. Errors are Secrets Manager's exception names.
package smapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wharf-dev/wharf/cluster/secrets"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/identity"
	"github.com/wharf-dev/wharf/server/awsapi"
	"github.com/wharf-dev/wharf/server/httperr"
)

// TargetPrefix is what X-Amz-Target starts with on every call.
const TargetPrefix = "secretsmanager."

const service = "secretsmanager"

// Bounds: a value of 64 KiB in base64 and its name; all bodies in flight.
const (
	maxBody    = 128 << 10
	bodyBudget = 16 << 20
)

// Secrets is the cluster's secrets (secrets.Store).
type Secrets interface {
	Create(ctx context.Context, name string, value []byte) (secrets.Info, error)
	List(ctx context.Context) ([]secrets.Info, error)
	Inspect(ctx context.Context, name string) (secrets.Info, error)
	Remove(ctx context.Context, name string) error
	Value(ctx context.Context, name string) ([]byte, error)
}

// Server is the Secrets Manager API handler.
type Server struct {
	s       Secrets
	in      *awsapi.Intake
	region  string
	account string
	ops     map[string]func(ctx context.Context, id *identity.Identity, body []byte) (any, error)
}

// New returns the API over s, accepting keys' signatures.
func New(s Secrets, keys *identity.Keys) *Server {
	srv := &Server{s: s, region: "us-east-1", account: "000000000000"}
	srv.in = &awsapi.Intake{Service: service, Verify: identity.NewVerifier(keys, time.Now, maxBody), Budget: awsapi.NewBudget(bodyBudget),
		Throttle:    awsapi.Error{Type: "ThrottlingException", Msg: "too many requests in flight; retry"},
		BodyTimeout: time.Minute, TooLarge: "InvalidRequestException"}
	srv.ops = map[string]func(ctx context.Context, id *identity.Identity, body []byte) (any, error){
		"CreateSecret":   srv.create,
		"GetSecretValue": srv.getValue,
		"DescribeSecret": srv.describe,
		"ListSecrets":    srv.list,
		"DeleteSecret":   srv.delete,
	}
	return srv
}

// Matches reports whether r is a Secrets Manager call.
func Matches(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("X-Amz-Target"), TargetPrefix)
}

type apiError struct {
	status int
	typ    string
	msg    string
}

func (e *apiError) Error() string { return e.typ + ": " + e.msg }

// ServeHTTP authenticates the call, then runs its operation.
func (srv *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Amzn-RequestId", awsapi.RequestID())
	opName := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), TargetPrefix)
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		writeError(w, &apiError{typ: "InvalidRequestException", msg: "Secrets Manager's operations are POST / with X-Amz-Target"})
		return
	}
	id, body, done, err := srv.in.Begin(w, r, maxBody)
	if err != nil {
		writeError(w, err)
		return
	}
	defer done()
	o, ok := srv.ops[opName]
	if !ok {
		writeError(w, &apiError{typ: "InvalidRequestException", msg: "wharf does not implement Secrets Manager's " + opName})
		return
	}
	out, err := o(r.Context(), id, body)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(out)
}

func writeError(w http.ResponseWriter, err error) {
	var ae *apiError
	var aw *awsapi.Error
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &aw):
		ae = &apiError{status: aw.Status, typ: aw.Type, msg: aw.Msg}
	case errdefs.IsNotFound(err):
		ae = &apiError{typ: "ResourceNotFoundException", msg: "Secrets Manager can't find the specified secret."}
	case errdefs.IsConflict(err):
		ae = &apiError{typ: "ResourceExistsException", msg: httperr.Message(err)}
	case errdefs.IsInvalidArgument(err):
		ae = &apiError{typ: "InvalidParameterException", msg: httperr.Message(err)}
	default:
		ae = &apiError{status: http.StatusInternalServerError, typ: "InternalServiceError", msg: httperr.Message(err)}
	}
	awsapi.WriteError(w, "application/x-amz-json-1.1", ae.status, ae.typ, ae.msg)
}

func (srv *Server) authorize(id *identity.Identity, action, resource string) error {
	if id.Allowed(action, resource) {
		return nil
	}
	if resource == "" {
		resource = "*"
	}
	return &apiError{typ: "AccessDeniedException", msg: fmt.Sprintf("User: arn:aws:iam::%s:user/%s is not authorized to perform: secretsmanager:%s on resource: %s", srv.account, id.AccessKeyID, action, resource)}
}

func (srv *Server) arn(name string) string {
	return fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s", srv.region, srv.account, name)
}

// versionID is the one version a secret has: secrets are created once.
const versionID = "00000000-0000-4000-8000-000000000001"

type epoch time.Time

func (t epoch) MarshalJSON() ([]byte, error) {
	return []byte(fmt.Sprintf("%.3f", float64(time.Time(t).UnixMilli())/1000)), nil
}

func decode(body []byte, v any) error { return awsapi.Decode(body, v, "InvalidRequestException") }

type idIn struct {
	SecretID string `json:"SecretId"`
}

// secretOf is the secret a call on one secret names (its SecretId), once
// the key may do action on it.
func (srv *Server) secretOf(id *identity.Identity, body []byte, action string) (string, error) {
	var in idIn
	if err := decode(body, &in); err != nil {
		return "", err
	}
	n, err := name(in.SecretID)
	if err != nil {
		return "", err
	}
	if err := srv.authorize(id, action, n); err != nil {
		return "", err
	}
	return n, nil
}

// name resolves a SecretId: a name or an ARN.
func name(secretID string) (string, error) {
	if secretID == "" {
		return "", &apiError{typ: "InvalidParameterException", msg: "SecretId is required."}
	}
	n, err := secrets.Ref(secretID)
	if err != nil {
		return "", &apiError{typ: "ResourceNotFoundException", msg: "Secrets Manager can't find the specified secret."}
	}
	return n, nil
}

func (srv *Server) create(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		Name         string `json:"Name"`
		SecretString *string
		SecretBinary []byte
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := srv.authorize(id, "CreateSecret", in.Name); err != nil {
		return nil, err
	}
	var value []byte
	switch {
	case in.SecretString != nil && in.SecretBinary != nil:
		return nil, &apiError{typ: "InvalidParameterException", msg: "You can't specify both a binary secret value and a string secret value in the same secret."}
	case in.SecretString != nil:
		value = []byte(*in.SecretString)
	case in.SecretBinary != nil:
		value = in.SecretBinary
	default:
		return nil, &apiError{typ: "InvalidRequestException", msg: "wharf keeps secrets created with a value: SecretString or SecretBinary is required."}
	}
	if _, err := srv.s.Create(ctx, in.Name, value); err != nil {
		if errdefs.IsConflict(err) {
			return nil, &apiError{typ: "ResourceExistsException", msg: "The operation failed because the secret " + in.Name + " already exists."}
		}
		return nil, err
	}
	return map[string]any{"ARN": srv.arn(in.Name), "Name": in.Name, "VersionId": versionID}, nil
}

func (srv *Server) getValue(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	n, err := srv.secretOf(id, body, "GetSecretValue")
	if err != nil {
		return nil, err
	}
	info, err := srv.s.Inspect(ctx, n)
	if err != nil {
		return nil, err
	}
	v, err := srv.s.Value(ctx, n)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"ARN": srv.arn(n), "Name": n, "VersionId": versionID, "VersionStages": []string{"AWSCURRENT"}, "CreatedDate": epoch(info.CreatedAt)}
	if utf8.Valid(v) {
		out["SecretString"] = string(v)
	} else {
		out["SecretBinary"] = v
	}
	return out, nil
}

func (srv *Server) entry(i secrets.Info) map[string]any {
	return map[string]any{"ARN": srv.arn(i.Name), "Name": i.Name, "CreatedDate": epoch(i.CreatedAt), "LastChangedDate": epoch(i.UpdatedAt),
		"SecretVersionsToStages": map[string][]string{versionID: {"AWSCURRENT"}}}
}

func (srv *Server) describe(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	n, err := srv.secretOf(id, body, "DescribeSecret")
	if err != nil {
		return nil, err
	}
	i, err := srv.s.Inspect(ctx, n)
	if err != nil {
		return nil, err
	}
	return srv.entry(i), nil
}

func (srv *Server) list(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	var in struct {
		MaxResults int
		NextToken  string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := srv.authorize(id, "ListSecrets", ""); err != nil {
		return nil, err
	}
	all, err := srv.s.List(ctx)
	if err != nil {
		return nil, err
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	start := 0
	if in.NextToken != "" {
		n, err := strconv.Atoi(in.NextToken)
		if err != nil || n < 0 || n > len(all) {
			return nil, &apiError{typ: "InvalidNextTokenException", msg: "The NextToken value is invalid."}
		}
		start = n
	}
	max := in.MaxResults
	if max <= 0 || max > 100 {
		max = 100
	}
	end := min(start+max, len(all))
	list := make([]map[string]any, 0, end-start)
	for _, i := range all[start:end] {
		list = append(list, srv.entry(i))
	}
	out := map[string]any{"SecretList": list}
	if end < len(all) {
		out["NextToken"] = strconv.Itoa(end)
	}
	return out, nil
}

func (srv *Server) delete(ctx context.Context, id *identity.Identity, body []byte) (any, error) {
	n, err := srv.secretOf(id, body, "DeleteSecret")
	if err != nil {
		return nil, err
	}
	if err := srv.s.Remove(ctx, n); err != nil {
		return nil, err
	}
	return map[string]any{"ARN": srv.arn(n), "Name": n, "DeletionDate": epoch(time.Now())}, nil
}
