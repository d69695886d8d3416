package lambdaapi

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/wharf-dev/wharf/identity"
)

// wantDenied checks Lambda's refusal: AccessDeniedException, 403.
func wantDenied(t *testing.T, what string, err error) {
	t.Helper()
	var ae smithy.APIError
	var re *smithyhttp.ResponseError
	if err == nil || !errors.As(err, &ae) || ae.ErrorCode() != "AccessDeniedException" || !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusForbidden {
		t.Fatalf("%s: %v, want AccessDeniedException (403)", what, err)
	}
}

// A key without statements (the default) has Lambda's API on every
// function but cannot create or re-point image functions; an admin key
// can. A key with statements has what they allow and nothing else.
func TestKeyPolicies(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	img := imageFn("registry.local/fn:1", nil)

	// Default key: zip functions yes, image functions no.
	e.create(t, "zipfn")
	_, err := e.client.CreateFunction(ctx, createInput("imgfn", img))
	wantDenied(t, "default key creating an image function", err)
	if _, err := e.client.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("imgfn")}); err == nil {
		t.Fatal("a refused CreateFunction created the function")
	}
	// Admin key: yes.
	e.createAs(t, e.admin, "imgfn", img)
	_, err = e.client.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String("imgfn"), ImageUri: aws.String("registry.local/fn:2")})
	wantDenied(t, "default key pointing a function at an image", err)
	_, err = e.client.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("imgfn"), ImageConfig: &types.ImageConfig{EntryPoint: []string{"/bin/sh"}}})
	wantDenied(t, "default key changing an image function's entrypoint", err)
	if _, err := e.admin.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String("imgfn"), ImageUri: aws.String("registry.local/fn:2")}); err != nil {
		t.Fatalf("admin UpdateFunctionCode: %v", err)
	}
	// The rest of Lambda works on image functions with the default key.
	if _, err := e.client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("imgfn"), Payload: []byte(`{}`)}); err != nil {
		t.Fatalf("default key invoking an image function: %v", err)
	}

	// A key limited to invoking and reading orders-*.
	orders, err := e.keys.Create(mustStatement(t, "lambda:InvokeFunction,GetFunction:orders-*"))
	if err != nil {
		t.Fatal(err)
	}
	oc := e.clientWith(orders.AccessKeyID, orders.SecretAccessKey)
	e.createAs(t, e.admin, "orders-eu")
	if _, err := oc.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("orders-eu"), Payload: []byte(`{}`)}); err != nil {
		t.Fatalf("orders key invoking orders-eu: %v", err)
	}
	if _, err := oc.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("arn:aws:lambda:us-east-1:000000000000:function:orders-eu")}); err != nil {
		t.Fatalf("orders key reading orders-eu by ARN: %v", err)
	}
	_, err = oc.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("zipfn"), Payload: []byte(`{}`)})
	wantDenied(t, "orders key invoking another function", err)
	_, err = oc.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String("orders-eu")})
	wantDenied(t, "orders key deleting", err)
	_, err = oc.ListFunctions(ctx, &lambda.ListFunctionsInput{})
	wantDenied(t, "orders key listing (no resource)", err)
	_, err = oc.CreateFunction(ctx, createInput("orders-new"))
	wantDenied(t, "orders key creating", err)

	// A key for another service has nothing of Lambda.
	ecr, _ := e.keys.Create(mustStatement(t, "ecr:*:*"))
	_, err = e.clientWith(ecr.AccessKeyID, ecr.SecretAccessKey).ListFunctions(ctx, &lambda.ListFunctionsInput{})
	wantDenied(t, "ecr key on Lambda", err)
	if !strings.Contains(err.Error(), "lambda:ListFunctions") {
		t.Fatalf("the refusal does not name the action: %v", err)
	}
}

func mustStatement(t *testing.T, s string) identity.Statement {
	t.Helper()
	st, err := identity.ParseStatement(s)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func createInput(name string, mutate ...func(*lambda.CreateFunctionInput)) *lambda.CreateFunctionInput {
	in := &lambda.CreateFunctionInput{
		FunctionName: aws.String(name), Runtime: types.RuntimeProvidedal2023,
		Role: aws.String("arn:aws:iam::000000000000:role/lambda"), Handler: aws.String("bootstrap"),
		Code: &types.FunctionCode{ZipFile: []byte("PK\x05\x06" + strings.Repeat("\x00", 18))},
	}
	for _, m := range mutate {
		m(in)
	}
	return in
}
