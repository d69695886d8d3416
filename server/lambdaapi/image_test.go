package lambdaapi

import (
	"context"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

func imageFn(uri string, ic *types.ImageConfig) func(*lambda.CreateFunctionInput) {
	return func(in *lambda.CreateFunctionInput) {
		in.Runtime, in.Handler = "", nil
		in.PackageType = types.PackageTypeImage
		in.Code = &types.FunctionCode{ImageUri: aws.String(uri)}
		in.ImageConfig = ic
	}
}

var resolvedForm = regexp.MustCompile(`^registry\.local/fn@sha256:[0-9a-f]{64}$`)

func TestImageFunctionShapes(t *testing.T) {
	e := newEnv(t)
	e.client = e.admin // image functions need an admin key
	ctx := context.Background()
	ic := &types.ImageConfig{EntryPoint: []string{"/lambda-entrypoint.sh"}, Command: []string{"app.handler"}, WorkingDirectory: aws.String("/var/task")}
	out := e.create(t, "img", imageFn("registry.local/fn:1", ic), func(in *lambda.CreateFunctionInput) { in.Publish = true })
	if out.PackageType != types.PackageTypeImage || out.Runtime != "" || out.Handler != nil || aws.ToString(out.Version) != "1" ||
		out.ImageConfigResponse == nil || !reflect.DeepEqual(out.ImageConfigResponse.ImageConfig, ic) {
		t.Fatalf("CreateFunction(image) = %+v", out)
	}
	got, err := e.client.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("img")})
	if err != nil {
		t.Fatal(err)
	}
	v1Resolved := aws.ToString(got.Code.ResolvedImageUri)
	if aws.ToString(got.Code.RepositoryType) != "ECR" || aws.ToString(got.Code.ImageUri) != "registry.local/fn:1" || !resolvedForm.MatchString(v1Resolved) ||
		aws.ToString(got.Configuration.CodeSha256) != strings.TrimPrefix(v1Resolved, "registry.local/fn@sha256:") ||
		got.Configuration.PackageType != types.PackageTypeImage || got.Configuration.ImageConfigResponse == nil ||
		aws.ToString(got.Configuration.ImageConfigResponse.ImageConfig.WorkingDirectory) != "/var/task" {
		t.Fatalf("GetFunction(image) = %+v / %+v", got.Code, got.Configuration)
	}

	// New code: $LATEST moves to the new digest, version 1 keeps its own.
	up, err := e.client.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String("img"), ImageUri: aws.String("registry.local/fn:2"), Publish: true})
	if err != nil || aws.ToString(up.Version) != "2" {
		t.Fatalf("UpdateFunctionCode(image) = %+v, %v", up, err)
	}
	latest, _ := e.client.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("img")})
	v1, _ := e.client.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("img"), Qualifier: aws.String("1")})
	if r := aws.ToString(latest.Code.ResolvedImageUri); r == v1Resolved || !resolvedForm.MatchString(r) || aws.ToString(latest.Code.ImageUri) != "registry.local/fn:2" {
		t.Fatalf("$LATEST after update: %+v", latest.Code)
	}
	if aws.ToString(v1.Code.ResolvedImageUri) != v1Resolved || aws.ToString(v1.Code.ImageUri) != "registry.local/fn:1" {
		t.Fatalf("version 1 after update: %+v", v1.Code)
	}

	// ImageConfig changes with the configuration; an empty one clears it.
	cfg, err := e.client.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("img"), ImageConfig: &types.ImageConfig{Command: []string{"other.handler"}}})
	if err != nil || cfg.ImageConfigResponse == nil || !reflect.DeepEqual(cfg.ImageConfigResponse.ImageConfig.Command, []string{"other.handler"}) || cfg.ImageConfigResponse.ImageConfig.EntryPoint != nil {
		t.Fatalf("UpdateFunctionConfiguration(ImageConfig) = %+v, %v", cfg, err)
	}
	cfg, err = e.client.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("img"), ImageConfig: &types.ImageConfig{}})
	if err != nil || cfg.ImageConfigResponse != nil {
		t.Fatalf("clearing ImageConfig = %+v, %v", cfg, err)
	}
}

func TestImageFunctionValidation(t *testing.T) {
	e := newEnv(t)
	e.client = e.admin // image functions need an admin key
	ctx := context.Background()
	role := aws.String("arn:aws:iam::000000000000:role/lambda")
	for name, in := range map[string]*lambda.CreateFunctionInput{
		"runtime": {FunctionName: aws.String("a"), Role: role, PackageType: types.PackageTypeImage, Runtime: types.RuntimeProvidedal2023, Code: &types.FunctionCode{ImageUri: aws.String("r/f:1")}},
		"handler": {FunctionName: aws.String("a"), Role: role, PackageType: types.PackageTypeImage, Handler: aws.String("bootstrap"), Code: &types.FunctionCode{ImageUri: aws.String("r/f:1")}},
		"layers":  {FunctionName: aws.String("a"), Role: role, PackageType: types.PackageTypeImage, Layers: []string{"arn:aws:lambda:us-east-1:000000000000:layer:l:1"}, Code: &types.FunctionCode{ImageUri: aws.String("r/f:1")}},
		"no uri":  {FunctionName: aws.String("a"), Role: role, PackageType: types.PackageTypeImage, Code: &types.FunctionCode{}},
		"uri zip": {FunctionName: aws.String("a"), Role: role, Runtime: types.RuntimeProvidedal2023, Handler: aws.String("b"), Code: &types.FunctionCode{ImageUri: aws.String("r/f:1")}},
		"config zip": {FunctionName: aws.String("a"), Role: role, Runtime: types.RuntimeProvidedal2023, Handler: aws.String("b"), Code: &types.FunctionCode{ZipFile: testZip(t, "x")},
			ImageConfig: &types.ImageConfig{Command: []string{"x"}}},
	} {
		_, err := e.client.CreateFunction(ctx, in)
		if err == nil {
			t.Errorf("%s: created", name)
			continue
		}
		pe := wantAPIError[*types.InvalidParameterValueException](t, err)
		if (name == "runtime" || name == "handler" || name == "layers") && !strings.Contains(aws.ToString(pe.Message), "PackageType is Image") {
			t.Errorf("%s: message %q", name, aws.ToString(pe.Message))
		}
	}
	e.create(t, "img", imageFn("r/f:1", nil))
	_, err := e.client.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String("img"), ZipFile: testZip(t, "x")})
	wantAPIError[*types.InvalidParameterValueException](t, err)
	_, err = e.client.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("img"), Runtime: types.RuntimeProvidedal2023})
	wantAPIError[*types.InvalidParameterValueException](t, err)
}
