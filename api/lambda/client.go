// Package lambda holds the wire types of the AWS Lambda REST API as wharf
// serves it — one definition used by server/lambdaapi and by the client
// here — and a client of it: function management, versions, aliases,
// concurrency and Invoke, with requests signed by AWS Signature Version 4.
//
// The client is what `wharf fn` uses in the lean CLI, where
// aws-sdk-go-v2's lambda client would cost every start its package
// initialisation (service/lambda/schemas and endpoints allocate ~0.8 MB).
// It speaks the same wire protocol: the same paths, JSON members and
// headers, the same signature, the same retries of throttled and failed
// requests, and the same error codes (Lambda's exception names).
package lambda

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/internal/sigv4"
)

// Service is the SigV4 service name of Lambda.
const Service = "lambda"

// Client calls one Lambda API endpoint with one key pair. It is safe for
// concurrent use.
type Client struct {
	endpoint    string
	signer      sigv4.Signer
	http        *http.Client
	now         func() time.Time
	maxAttempts int
	maxBackoff  time.Duration
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (default: http.DefaultClient).
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithClock sets the clock requests are signed with (default: time.Now).
func WithClock(now func() time.Time) Option { return func(c *Client) { c.now = now } }

// WithRetries sets how many attempts a request gets (default 3, as the
// AWS SDKs' standard retryer) and the longest pause between two.
func WithRetries(maxAttempts int, maxBackoff time.Duration) Option {
	return func(c *Client) { c.maxAttempts, c.maxBackoff = max(1, maxAttempts), maxBackoff }
}

// New returns a client of the Lambda API at endpoint ("http://host:port"),
// signing for region with the key pair given.
func New(endpoint, region, accessKeyID, secretAccessKey string, opts ...Option) *Client {
	c := &Client{
		endpoint: strings.TrimRight(endpoint, "/"),
		signer:   sigv4.Signer{AccessKeyID: accessKeyID, SecretAccessKey: secretAccessKey, Region: region, Service: Service},
		http:     http.DefaultClient, now: time.Now, maxAttempts: 3, maxBackoff: 20 * time.Second,
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Error is an error answer of the API: the HTTP status, Lambda's exception
// name (X-Amzn-ErrorType, else the body's __type or code) and message.
// It unwraps to the errdefs class of its status.
type Error struct {
	StatusCode int
	Code       string
	Message    string
	// Reason is the body's Reason member (why a throttle happened).
	Reason    string
	RequestID string
}

// Error reads "Code: message", as Lambda's errors are shown by the aws CLI.
func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Unwrap is the errdefs class of the status.
func (e *Error) Unwrap() error {
	switch s := e.StatusCode; {
	case s == http.StatusNotFound:
		return errdefs.ErrNotFound
	case s == http.StatusConflict:
		return errdefs.ErrConflict
	case s == http.StatusUnauthorized, s == http.StatusForbidden:
		return errdefs.ErrUnauthorized
	case s == http.StatusTooManyRequests, s >= 500:
		return errdefs.ErrUnavailable
	}
	return errdefs.ErrInvalidArgument
}

// IsCode reports whether err is an API error with the exception name code
// (e.g. "ResourceNotFoundException").
func IsCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// sanitizeCode strips what may surround an exception name: a
// "namespace#" prefix and a ":detail" suffix (as the SDKs do).
func sanitizeCode(code string) string {
	code, _, _ = strings.Cut(code, ":")
	if i := strings.LastIndexByte(code, '#'); i >= 0 {
		code = code[i+1:]
	}
	return strings.TrimSpace(code)
}

// decodeError builds an Error from a non-2xx answer.
func decodeError(resp *http.Response, body []byte) *Error {
	e := &Error{StatusCode: resp.StatusCode, RequestID: resp.Header.Get("X-Amzn-RequestId")}
	var doc struct {
		Type    string `json:"__type"`
		Code    string `json:"code"`
		Message string `json:"message"`
		Msg     string `json:"Message"`
		Reason  string `json:"Reason"`
	}
	_ = json.Unmarshal(body, &doc)
	e.Code = sanitizeCode(resp.Header.Get("X-Amzn-ErrorType"))
	if e.Code == "" {
		e.Code = sanitizeCode(doc.Type)
	}
	if e.Code == "" {
		e.Code = sanitizeCode(doc.Code)
	}
	if e.Code == "" {
		e.Code = "UnknownError"
	}
	e.Message = doc.Message
	if e.Message == "" {
		e.Message = doc.Msg
	}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	e.Reason = doc.Reason
	return e
}

// request is one API call.
type request struct {
	method, path string
	query        url.Values
	header       http.Header
	body         []byte
	json         bool
}

// response is a 2xx answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

// call sends r, retrying as the AWS SDKs' standard retryer does: throttled
// requests (429, TooManyRequestsException and the like) and 500, 502, 503
// and 504 answers, up to maxAttempts, after a jittered exponential pause.
func (c *Client) call(ctx context.Context, r request) (*response, error) {
	for attempt := 1; ; attempt++ {
		resp, err := c.once(ctx, r)
		var ae *Error
		if err == nil || !errors.As(err, &ae) || !retryable(ae) || attempt >= c.maxAttempts {
			return resp, err
		}
		// rand * 2^attempt seconds, at most maxBackoff.
		pause := min(time.Duration(rand.Float64()*float64(int64(1)<<attempt)*float64(time.Second)), c.maxBackoff)
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
	}
}

func retryable(e *Error) bool {
	switch e.StatusCode {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	switch e.Code {
	case "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException", "TooManyRequestsException",
		"RequestLimitExceeded", "RequestThrottled", "LimitExceededException", "RequestTimeout", "RequestTimeoutException":
		return true
	}
	return false
}

func (c *Client) once(ctx context.Context, r request) (*response, error) {
	u := c.endpoint + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, bytes.NewReader(r.body))
	if err != nil {
		return nil, err
	}
	if len(r.body) == 0 {
		req.Body, req.ContentLength, req.GetBody = http.NoBody, 0, nil
	}
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	if r.json {
		req.Header.Set("Content-Type", "application/json")
	}
	c.signer.Sign(req, sigv4.PayloadHash(r.body), c.now())
	req.Header.Set("User-Agent", "wharf")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading the answer to %s %s: %w", r.method, r.path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, decodeError(resp, body)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

// do sends in (nil: no body) as JSON and decodes the answer into out
// (nil: ignored).
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	r := request{method: method, path: path, query: query}
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		r.body, r.json = b, true
	}
	resp, err := c.call(ctx, r)
	if err != nil {
		return err
	}
	if out == nil || len(resp.body) == 0 {
		return nil
	}
	if err := json.Unmarshal(resp.body, out); err != nil {
		return fmt.Errorf("decoding the answer to %s %s: %w", method, path, err)
	}
	return nil
}

// fnPath is a path under /{version}/functions/{name}, the name escaped as
// the SDKs escape a path label (':' and '/' included).
func fnPath(version, name, rest string) string {
	return "/" + version + "/functions/" + sigv4.Escape(name, false) + rest
}

const v2015 = "2015-03-31"

func qualifierQuery(q string) url.Values {
	if q == "" {
		return nil
	}
	return url.Values{"Qualifier": {q}}
}

// GetFunctionConfiguration is a version's configuration (qualifier ""
// is $LATEST).
func (c *Client) GetFunctionConfiguration(ctx context.Context, name, qualifier string) (*FunctionConfiguration, error) {
	var out FunctionConfiguration
	if err := c.do(ctx, "GET", fnPath(v2015, name, "/configuration"), qualifierQuery(qualifier), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetFunction is a version's configuration, code location and reserved
// concurrency.
func (c *Client) GetFunction(ctx context.Context, name, qualifier string) (*GetFunctionOutput, error) {
	var out GetFunctionOutput
	if err := c.do(ctx, "GET", fnPath(v2015, name, ""), qualifierQuery(qualifier), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateFunction creates a function.
func (c *Client) CreateFunction(ctx context.Context, in *CreateFunctionInput) (*FunctionConfiguration, error) {
	var out FunctionConfiguration
	if err := c.do(ctx, "POST", "/"+v2015+"/functions", nil, in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateFunctionConfiguration changes the members of in that are set.
func (c *Client) UpdateFunctionConfiguration(ctx context.Context, in *UpdateFunctionConfigurationInput) (*FunctionConfiguration, error) {
	var out FunctionConfiguration
	if err := c.do(ctx, "PUT", fnPath(v2015, in.FunctionName, "/configuration"), nil, in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateFunctionCode uploads new code, and publishes a version with Publish.
func (c *Client) UpdateFunctionCode(ctx context.Context, in *UpdateFunctionCodeInput) (*FunctionConfiguration, error) {
	var out FunctionConfiguration
	if err := c.do(ctx, "PUT", fnPath(v2015, in.FunctionName, "/code"), nil, in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// PublishVersion publishes $LATEST as a version.
func (c *Client) PublishVersion(ctx context.Context, name, description string) (*FunctionConfiguration, error) {
	var out FunctionConfiguration
	in := PublishVersionInput{Description: description}
	if err := c.do(ctx, "POST", fnPath(v2015, name, "/versions"), nil, in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteFunction deletes a function, or one version of it.
func (c *Client) DeleteFunction(ctx context.Context, name, qualifier string) error {
	return c.do(ctx, "DELETE", fnPath(v2015, name, ""), qualifierQuery(qualifier), nil, nil)
}

// listAll follows NextMarker through every page of a list whose items
// are the member named member.
func listAll[T any](ctx context.Context, c *Client, path, member string) ([]T, error) {
	var all []T
	q := url.Values{}
	for {
		var page map[string]json.RawMessage
		if err := c.do(ctx, "GET", path, q, nil, &page); err != nil {
			return nil, err
		}
		var items []T
		var next string
		if err := json.Unmarshal(page[member], &items); err != nil && page[member] != nil {
			return nil, fmt.Errorf("decoding %s of GET %s: %w", member, path, err)
		}
		if m := page["NextMarker"]; m != nil {
			_ = json.Unmarshal(m, &next)
		}
		all = append(all, items...)
		if next == "" || next == q.Get("Marker") {
			return all, nil
		}
		q.Set("Marker", next)
	}
}

// ListFunctions lists every function's $LATEST, following the pages.
func (c *Client) ListFunctions(ctx context.Context) ([]FunctionConfiguration, error) {
	return listAll[FunctionConfiguration](ctx, c, "/"+v2015+"/functions/", "Functions")
}

// ListVersionsByFunction lists a function's versions, $LATEST first.
func (c *Client) ListVersionsByFunction(ctx context.Context, name string) ([]FunctionConfiguration, error) {
	return listAll[FunctionConfiguration](ctx, c, fnPath(v2015, name, "/versions"), "Versions")
}

// ListAliases lists a function's aliases.
func (c *Client) ListAliases(ctx context.Context, name string) ([]AliasConfiguration, error) {
	return listAll[AliasConfiguration](ctx, c, fnPath(v2015, name, "/aliases"), "Aliases")
}

// CreateAlias creates an alias of a version.
func (c *Client) CreateAlias(ctx context.Context, in *AliasInput) (*AliasConfiguration, error) {
	var out AliasConfiguration
	if err := c.do(ctx, "POST", fnPath(v2015, in.FunctionName, "/aliases"), nil, in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateAlias points an existing alias (in.Name) at in.FunctionVersion.
func (c *Client) UpdateAlias(ctx context.Context, in *AliasInput) (*AliasConfiguration, error) {
	var out AliasConfiguration
	body := *in
	body.Name = "" // in the path
	if err := c.do(ctx, "PUT", fnPath(v2015, in.FunctionName, "/aliases/"+sigv4.Escape(in.Name, false)), nil, body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteAlias deletes an alias.
func (c *Client) DeleteAlias(ctx context.Context, name, alias string) error {
	return c.do(ctx, "DELETE", fnPath(v2015, name, "/aliases/"+sigv4.Escape(alias, false)), nil, nil, nil)
}

// PutFunctionConcurrency reserves n concurrent executions (0 stops the
// function from running).
func (c *Client) PutFunctionConcurrency(ctx context.Context, name string, n int32) error {
	return c.do(ctx, "PUT", fnPath("2017-10-31", name, "/concurrency"), nil, Concurrency{ReservedConcurrentExecutions: &n}, nil)
}

// GetFunctionConcurrency is the reserved concurrency, nil when none is.
func (c *Client) GetFunctionConcurrency(ctx context.Context, name string) (*int32, error) {
	var out Concurrency
	if err := c.do(ctx, "GET", fnPath("2019-09-30", name, "/concurrency"), nil, nil, &out); err != nil {
		return nil, err
	}
	return out.ReservedConcurrentExecutions, nil
}

// DeleteFunctionConcurrency removes the reservation.
func (c *Client) DeleteFunctionConcurrency(ctx context.Context, name string) error {
	return c.do(ctx, "DELETE", fnPath("2017-10-31", name, "/concurrency"), nil, nil, nil)
}

// Invoke invokes a function. A function error is not an error here: it is
// InvokeOutput.FunctionError, with the error document as the payload.
func (c *Client) Invoke(ctx context.Context, in *InvokeInput) (*InvokeOutput, error) {
	h := http.Header{}
	if in.InvocationType != "" {
		h.Set("X-Amz-Invocation-Type", in.InvocationType)
	}
	if in.LogType != "" {
		h.Set("X-Amz-Log-Type", in.LogType)
	}
	r := request{method: "POST", path: fnPath(v2015, in.FunctionName, "/invocations"), query: qualifierQuery(in.Qualifier), header: h, body: in.Payload}
	resp, err := c.call(ctx, r)
	if err != nil {
		return nil, err
	}
	return &InvokeOutput{
		StatusCode: resp.status, Payload: resp.body,
		FunctionError:   resp.header.Get("X-Amz-Function-Error"),
		LogResult:       resp.header.Get("X-Amz-Log-Result"),
		ExecutedVersion: resp.header.Get("X-Amz-Executed-Version"),
		RequestID:       resp.header.Get("X-Amzn-RequestId"),
	}, nil
}

// String is for debugging: the endpoint and region, never the secret.
func (c *Client) String() string {
	return "lambda " + c.endpoint + " (" + c.signer.Region + ", key " + c.signer.AccessKeyID + ")"
}
