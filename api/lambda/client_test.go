package lambda_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/api/lambda"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/functions"
	"github.com/wharf-dev/wharf/functions/fntest"
	"github.com/wharf-dev/wharf/functions/invoke"
	"github.com/wharf-dev/wharf/functions/sandbox/inproc"
	"github.com/wharf-dev/wharf/identity"
	"github.com/wharf-dev/wharf/internal/testutil"
	"github.com/wharf-dev/wharf/server/lambdaapi"
)

// server is the real Lambda API handler over the real functions engine
// (its sandboxes in-process), and a client signed with a key it issued.
func server(t *testing.T, opts ...fntest.Option) (*lambda.Client, *invoke.Engine, *identity.Keys, string) {
	t.Helper()
	keys, err := identity.OpenKeys(filepath.Join(t.TempDir(), "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := keys.Create()
	if err != nil {
		t.Fatal(err)
	}
	svc := fntest.New(t, opts...).Engine
	srv := httptest.NewServer(lambdaapi.New(svc, keys))
	t.Cleanup(srv.Close)
	return lambda.New(srv.URL, "eu-central-1", key.AccessKeyID, key.SecretAccessKey, lambda.WithRetries(1, 0)), svc, keys, srv.URL
}

func i32(v int32) *int32 { return &v }

// zipOf is a package whose executable bootstrap holds body.
func zipOf(t *testing.T, body string) []byte {
	return testutil.ZipOf(t, map[string][]byte{"bootstrap": []byte("#!/bin/sh\n" + body)}, map[string]bool{"bootstrap": true})
}

func TestFunctionLifecycle(t *testing.T) {
	c, svc, _, _ := server(t)
	ctx := context.Background()

	_, err := c.GetFunctionConfiguration(ctx, "hello", "")
	if !lambda.IsCode(err, "ResourceNotFoundException") || !errdefs.IsNotFound(err) {
		t.Fatalf("missing function: %v", err)
	}
	var ae *lambda.Error
	if !errors.As(err, &ae) || ae.StatusCode != 404 || ae.RequestID == "" || !strings.HasPrefix(err.Error(), "ResourceNotFoundException: Function not found") {
		t.Fatalf("error = %#v", ae)
	}

	created, err := c.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: "hello", Role: "arn:aws:iam::000000000000:role/r", Runtime: "provided.al2023", Handler: "bootstrap",
		Description: "first", Timeout: i32(5), MemorySize: i32(256), PackageType: lambda.PackageTypeZip,
		Code: lambda.FunctionCode{ZipFile: zipOf(t, "v1")}, Environment: &lambda.Environment{Variables: map[string]string{"A": "1"}},
		EphemeralStorage: &lambda.EphemeralStorage{Size: 1024},
	})
	if err != nil {
		t.Fatal(err)
	}
	if created.FunctionName != "hello" || created.Version != "$LATEST" || !strings.HasSuffix(created.FunctionArn, ":function:hello") ||
		created.MemorySize != 256 || created.Timeout != 5 || created.Environment.Variables["A"] != "1" || created.EphemeralStorage.Size != 1024 ||
		created.PackageType != lambda.PackageTypeZip || created.CodeSize == 0 {
		t.Fatalf("created %+v", created)
	}
	if _, err := c.CreateFunction(ctx, &lambda.CreateFunctionInput{FunctionName: "hello", Role: "r", Runtime: "provided", Handler: "h", Code: lambda.FunctionCode{ZipFile: zipOf(t, "")}}); !lambda.IsCode(err, "ResourceConflictException") || !errdefs.IsConflict(err) {
		t.Fatalf("second create: %v", err)
	}

	// Only what is set changes.
	cfg, err := c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: "hello", MemorySize: i32(512), Environment: &lambda.Environment{}})
	if err != nil || cfg.MemorySize != 512 || cfg.Timeout != 5 || cfg.Environment != nil || cfg.Description != "first" {
		t.Fatalf("update configuration = %+v, %v", cfg, err)
	}
	if _, err := c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: "hello", MemorySize: i32(1)}); !lambda.IsCode(err, "InvalidParameterValueException") || !errdefs.IsInvalidArgument(err) {
		t.Fatalf("bad memory: %v", err)
	}
	code, err := c.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: "hello", ZipFile: zipOf(t, "v2"), Publish: true})
	if err != nil || code.Version != "1" {
		t.Fatalf("update code = %+v, %v", code, err)
	}
	v, err := c.PublishVersion(ctx, "hello", "again")
	if err != nil || v.Version != "1" { // nothing changed since 1
		t.Fatalf("publish = %+v, %v", v, err)
	}
	got, err := c.GetFunctionConfiguration(ctx, "hello", "1")
	if err != nil || got.Version != "1" || got.MemorySize != 512 || got.State != lambda.StateActive {
		t.Fatalf("get 1 = %+v, %v", got, err)
	}

	if err := c.PutFunctionConcurrency(ctx, "hello", 7); err != nil {
		t.Fatal(err)
	}
	n, err := c.GetFunctionConcurrency(ctx, "hello")
	if err != nil || n == nil || *n != 7 {
		t.Fatalf("concurrency = %v, %v", n, err)
	}
	fn, err := c.GetFunction(ctx, "hello", "")
	if err != nil || fn.Configuration.FunctionName != "hello" || fn.Code.RepositoryType != "S3" || *fn.Concurrency.ReservedConcurrentExecutions != 7 {
		t.Fatalf("get function = %+v, %v", fn, err)
	}
	if err := c.DeleteFunctionConcurrency(ctx, "hello"); err != nil {
		t.Fatal(err)
	}
	if n, err := c.GetFunctionConcurrency(ctx, "hello"); err != nil || n != nil {
		t.Fatalf("concurrency after delete = %v, %v", n, err)
	}

	a, err := c.CreateAlias(ctx, &lambda.AliasInput{FunctionName: "hello", Name: "live", FunctionVersion: "1", Description: "d"})
	if err != nil || a.Name != "live" || a.FunctionVersion != "1" || !strings.HasSuffix(a.AliasArn, ":function:hello:live") {
		t.Fatalf("create alias = %+v, %v", a, err)
	}
	if _, err := c.UpdateAlias(ctx, &lambda.AliasInput{FunctionName: "hello", Name: "nope", FunctionVersion: "1"}); !lambda.IsCode(err, "ResourceNotFoundException") {
		t.Fatalf("update of a missing alias: %v", err)
	}
	a, err = c.UpdateAlias(ctx, &lambda.AliasInput{FunctionName: "hello", Name: "live", FunctionVersion: "$LATEST"})
	if err != nil || a.FunctionVersion != "$LATEST" || a.Description != "d" {
		t.Fatalf("update alias = %+v, %v", a, err)
	}
	as, err := c.ListAliases(ctx, "hello")
	if err != nil || len(as) != 1 || as[0].Name != "live" {
		t.Fatalf("aliases = %+v, %v", as, err)
	}
	// The qualifier may travel in the name or the query; an ARN works too.
	for _, q := range [][2]string{{"hello:live", ""}, {"hello", "live"}, {"arn:aws:lambda:us-east-1:000000000000:function:hello", "live"}} {
		if got, err := c.GetFunctionConfiguration(ctx, q[0], q[1]); err != nil || got.Version != "$LATEST" {
			t.Fatalf("get %v = %+v, %v", q, got, err)
		}
	}
	if err := c.DeleteAlias(ctx, "hello", "live"); err != nil {
		t.Fatal(err)
	}

	vs, err := c.ListVersionsByFunction(ctx, "hello")
	if err != nil || len(vs) != 2 || vs[0].Version != "$LATEST" || vs[1].Version != "1" {
		t.Fatalf("versions = %+v, %v", vs, err)
	}
	if err := c.DeleteFunction(ctx, "hello", "1"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteFunction(ctx, "hello", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Get(ctx, "hello", ""); !errdefs.IsNotFound(err) {
		t.Fatalf("after delete: %v", err)
	}
}

// TestListFollowsPages creates more functions than a page (50) holds.
func TestListFollowsPages(t *testing.T) {
	c, svc, _, _ := server(t)
	ctx := context.Background()
	for i := range 57 {
		if _, err := svc.Create(ctx, functions.CreateInput{Config: functions.Config{FunctionName: fmt.Sprintf("f%02d", i), Runtime: "provided",
			Role: "r", Handler: "h"}, Code: functions.Code{ZipFile: fntest.Zip(t)}}); err != nil {
			t.Fatal(err)
		}
	}
	fns, err := c.ListFunctions(ctx)
	if err != nil || len(fns) != 57 {
		t.Fatalf("list = %d, %v", len(fns), err)
	}
	seen := map[string]bool{}
	for _, f := range fns {
		seen[f.FunctionName] = true
	}
	if len(seen) != 57 {
		t.Fatalf("%d distinct functions", len(seen))
	}
}

func TestInvoke(t *testing.T) {
	events := make(chan string, 1) // request IDs of the events run
	c, svc, _, _ := server(t, fntest.WithHandler(func(ctx context.Context, inv *inproc.Invocation) ([]byte, error) {
		switch string(inv.Payload) {
		case `"fail"`:
			fmt.Fprintln(inv.Log, "failing")
			return nil, &inproc.Error{Type: "Oops", Message: "bad"}
		case `{"e":1}`:
			events <- inv.RequestID
		}
		fmt.Fprintln(inv.Log, "ran "+inv.Env["AWS_LAMBDA_FUNCTION_VERSION"])
		return inv.Payload, nil
	}))
	ctx := context.Background()
	if _, err := svc.Create(ctx, functions.CreateInput{Config: functions.Config{FunctionName: "fn", Runtime: "provided", Role: "r", Handler: "h"},
		Code: functions.Code{ZipFile: fntest.Zip(t)}, Publish: true}); err != nil {
		t.Fatal(err)
	}

	out, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: "fn", Payload: []byte(`{"a":1}`), LogType: lambda.LogTail})
	if err != nil || out.StatusCode != 200 || string(out.Payload) != `{"a":1}` || out.ExecutedVersion != "$LATEST" || out.FunctionError != "" || out.RequestID == "" {
		t.Fatalf("sync = %+v, %v", out, err)
	}
	tail, err := base64.StdEncoding.DecodeString(out.LogResult)
	if err != nil || !strings.Contains(string(tail), "ran $LATEST") || !strings.Contains(string(tail), "REPORT RequestId: "+out.RequestID) {
		t.Fatalf("tail %q, %v", tail, err)
	}
	out, err = c.Invoke(ctx, &lambda.InvokeInput{FunctionName: "fn", Qualifier: "1", Payload: []byte(`{}`)})
	if err != nil || out.ExecutedVersion != "1" || out.LogResult != "" {
		t.Fatalf("qualified, no tail = %+v, %v", out, err)
	}
	out, err = c.Invoke(ctx, &lambda.InvokeInput{FunctionName: "fn", Payload: []byte(`"fail"`), InvocationType: lambda.InvocationRequestResponse})
	if err != nil || out.FunctionError != "Unhandled" || !strings.Contains(string(out.Payload), "Oops") {
		t.Fatalf("function error = %+v, %v", out, err)
	}
	out, err = c.Invoke(ctx, &lambda.InvokeInput{FunctionName: "fn", Payload: []byte(`{"e":1}`), InvocationType: lambda.InvocationEvent})
	if err != nil || out.StatusCode != 202 || len(out.Payload) != 0 || out.RequestID == "" {
		t.Fatalf("event = %+v, %v", out, err)
	}
	select {
	case id := <-events:
		if id != out.RequestID {
			t.Fatalf("the event ran as request %s, accepted as %s", id, out.RequestID)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the event did not run")
	}
	out, err = c.Invoke(ctx, &lambda.InvokeInput{FunctionName: "fn", InvocationType: lambda.InvocationDryRun})
	if err != nil || out.StatusCode != 204 || out.ExecutedVersion != "$LATEST" {
		t.Fatalf("dry run = %+v, %v", out, err)
	}
	if _, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: "fn", InvocationType: "Sometimes"}); !lambda.IsCode(err, "InvalidParameterValueException") {
		t.Fatalf("bad type: %v", err)
	}
	if _, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: "fn", Payload: []byte(`{`)}); !lambda.IsCode(err, "InvalidRequestContentException") || !errdefs.IsInvalidArgument(err) {
		t.Fatalf("bad payload: %v", err)
	}

	// Throttled: 429, TooManyRequestsException with its Reason, retried.
	if err := svc.PutConcurrency(ctx, "fn", 0); err != nil {
		t.Fatal(err)
	}
	_, err = c.Invoke(ctx, &lambda.InvokeInput{FunctionName: "fn", Payload: []byte(`{}`)})
	var ae *lambda.Error
	if !errors.As(err, &ae) || ae.StatusCode != 429 || ae.Code != "TooManyRequestsException" || ae.Reason != "ReservedFunctionConcurrentInvocationLimitExceeded" || !errdefs.IsUnavailable(err) {
		t.Fatalf("throttled: %#v", err)
	}
}

func TestSignatureRefused(t *testing.T) {
	c, _, keys, url := server(t)
	ctx := context.Background()
	bad := lambda.New(url, "us-east-1", keys.List()[0].AccessKeyID, strings.Repeat("x", 40))
	_, err := bad.ListFunctions(ctx)
	if !lambda.IsCode(err, "InvalidSignatureException") || !errdefs.IsUnauthorized(err) {
		t.Fatalf("wrong secret: %v", err)
	}
	unknown := lambda.New(url, "us-east-1", "AKIANOSUCHKEY", "s")
	if _, err := unknown.ListFunctions(ctx); !lambda.IsCode(err, "UnrecognizedClientException") {
		t.Fatalf("unknown key: %v", err)
	}
	// A clock 20 minutes off is refused: the signature carries the time.
	skewed := *c
	lambda.WithClock(func() time.Time { return time.Now().Add(-20 * time.Minute) })(&skewed)
	if _, err := skewed.ListFunctions(ctx); !lambda.IsCode(err, "InvalidSignatureException") || !strings.Contains(err.Error(), "Signature expired") {
		t.Fatalf("stale: %v", err)
	}
}

// TestErrorShapes decodes the error documents AWS services send: the code
// in X-Amzn-ErrorType (with a ":detail" suffix), in __type (with a
// namespace), or in code; the message as message or Message.
func TestErrorShapes(t *testing.T) {
	cases := []struct {
		header, body   string
		status         int
		code, msg      string
		class          error
		wantRetryCount int32
	}{
		{"ResourceNotFoundException:http://internal.amazon.com/", `{"Type":"User","message":"Function not found: x"}`, 404, "ResourceNotFoundException", "Function not found: x", errdefs.ErrNotFound, 1},
		{"", `{"__type":"com.amazonaws.lambda#ResourceConflictException","Message":"exists"}`, 409, "ResourceConflictException", "exists", errdefs.ErrConflict, 1},
		{"", `{"code":"AccessDeniedException","message":"no"}`, 403, "AccessDeniedException", "no", errdefs.ErrUnauthorized, 1},
		{"ServiceException", `{"Type":"Service","message":"boom"}`, 500, "ServiceException", "boom", errdefs.ErrUnavailable, 3},
		{"", `not json`, 502, "UnknownError", "Bad Gateway", errdefs.ErrUnavailable, 3},
		{"TooManyRequestsException", `{"message":"Rate Exceeded."}`, 429, "TooManyRequestsException", "Rate Exceeded.", errdefs.ErrUnavailable, 3},
	}
	for _, tc := range cases {
		var calls atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			if tc.header != "" {
				w.Header().Set("X-Amzn-ErrorType", tc.header)
			}
			w.Header().Set("X-Amzn-RequestId", "req-1")
			w.WriteHeader(tc.status)
			fmt.Fprint(w, tc.body)
		}))
		c := lambda.New(srv.URL, "us-east-1", "A", "B", lambda.WithRetries(3, time.Millisecond))
		err := c.DeleteFunction(context.Background(), "x", "")
		srv.Close()
		var ae *lambda.Error
		if !errors.As(err, &ae) || ae.Code != tc.code || ae.Message != tc.msg || ae.RequestID != "req-1" || !errors.Is(err, tc.class) {
			t.Errorf("%d %q %s: %#v", tc.status, tc.header, tc.body, err)
		}
		if err.Error() != tc.code+": "+tc.msg {
			t.Errorf("Error() = %q", err.Error())
		}
		if calls.Load() != tc.wantRetryCount {
			t.Errorf("%d %s: %d attempts, want %d", tc.status, tc.code, calls.Load(), tc.wantRetryCount)
		}
	}
}

// TestRequestShape checks what goes on the wire: paths escaped as the
// SDKs escape path labels, the invoke headers, the signature's scope.
func TestRequestShape(t *testing.T) {
	var got *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		w.Header().Set("X-Amz-Executed-Version", "3")
		w.Header().Set("X-Amz-Function-Error", "Handled")
		w.Header().Set("X-Amz-Log-Result", base64.StdEncoding.EncodeToString([]byte("log")))
		w.Header().Set("X-Amzn-RequestId", "rid")
		fmt.Fprint(w, `{"errorMessage":"x"}`)
	}))
	defer srv.Close()
	c := lambda.New(srv.URL+"/", "eu-west-1", "AKIAX", "S")
	out, err := c.Invoke(context.Background(), &lambda.InvokeInput{FunctionName: "arn:aws:lambda:eu-west-1:000000000000:function:f", Qualifier: "$LATEST",
		InvocationType: lambda.InvocationRequestResponse, LogType: lambda.LogTail, Payload: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	if out.ExecutedVersion != "3" || out.FunctionError != "Handled" || out.LogResult != "bG9n" || out.RequestID != "rid" || string(out.Payload) != `{"errorMessage":"x"}` {
		t.Fatalf("out = %+v", out)
	}
	if got.URL.EscapedPath() != "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-west-1%3A000000000000%3Afunction%3Af/invocations" ||
		got.URL.Query().Get("Qualifier") != "$LATEST" || got.Header.Get("X-Amz-Invocation-Type") != "RequestResponse" ||
		got.Header.Get("X-Amz-Log-Type") != "Tail" || got.Method != "POST" {
		t.Fatalf("request %s %s %v", got.Method, got.URL, got.Header)
	}
	if a := got.Header.Get("Authorization"); !strings.HasPrefix(a, "AWS4-HMAC-SHA256 Credential=AKIAX/") || !strings.Contains(a, "/eu-west-1/lambda/aws4_request") ||
		!strings.Contains(a, "x-amz-invocation-type") || !strings.Contains(a, "x-amz-log-type") {
		t.Fatalf("Authorization %s", a)
	}
}
