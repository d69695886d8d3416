package lambdaapi

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/wharf-dev/wharf/api/wharf"
	"github.com/wharf-dev/wharf/functions"
	"github.com/wharf-dev/wharf/functions/fntest"
	"github.com/wharf-dev/wharf/functions/sandbox/inproc"
	"github.com/wharf-dev/wharf/identity"
)

// env is one Lambda API over the real functions engine (its sandboxes
// in-process, fntest), with a key and an SDK client signed with it.
type env struct {
	fn     *fntest.Env
	keys   *identity.Keys
	key    identity.Key // a key with the default policy
	srv    *httptest.Server
	client *lambda.Client
	// admin is a client signed with an admin key (image functions).
	admin *lambda.Client
}

func newEnv(t *testing.T, opts ...fntest.Option) *env {
	t.Helper()
	keys, err := identity.OpenKeys(filepath.Join(t.TempDir(), "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := keys.Create()
	if err != nil {
		t.Fatal(err)
	}
	fn := newEngine(t, opts...)
	srv := httptest.NewServer(New(fn.Engine, keys))
	t.Cleanup(srv.Close)
	e := &env{fn: fn, keys: keys, key: key, srv: srv}
	e.client = e.clientWith(key.AccessKeyID, key.SecretAccessKey)
	admin, err := keys.Create(identity.AdminStatement)
	if err != nil {
		t.Fatal(err)
	}
	e.admin = e.clientWith(admin.AccessKeyID, admin.SecretAccessKey)
	return e
}

func (e *env) clientWith(id, secret string) *lambda.Client {
	return lambda.New(lambda.Options{
		BaseEndpoint: aws.String(e.srv.URL),
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider(id, secret, ""),
		Retryer:      aws.NopRetryer{},
	})
}

// newEngine is the functions engine the tests' APIs serve, with the images
// they name in its image store.
func newEngine(t testing.TB, opts ...fntest.Option) *fntest.Env {
	t.Helper()
	fn := fntest.New(t, opts...)
	for i, ref := range []string{"registry.local/fn:1", "registry.local/fn:2", "r/f:1"} {
		fn.Images.Tag(ref, fntest.Image(i+1, v1.Config{Entrypoint: []string{"/lambda-entrypoint.sh"}, Cmd: []string{"app.handler"}}))
	}
	return fn
}

// testZip is a package whose bootstrap (an executable, as the engine
// requires; the in-process sandboxes play it) holds content.
func testZip(t testing.TB, content string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write([]byte(content))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func (e *env) create(t *testing.T, name string, mutate ...func(*lambda.CreateFunctionInput)) *lambda.CreateFunctionOutput {
	t.Helper()
	return e.createAs(t, e.client, name, mutate...)
}

func (e *env) createAs(t *testing.T, c *lambda.Client, name string, mutate ...func(*lambda.CreateFunctionInput)) *lambda.CreateFunctionOutput {
	t.Helper()
	in := &lambda.CreateFunctionInput{
		FunctionName: aws.String(name),
		Runtime:      types.RuntimeProvidedal2023,
		Role:         aws.String("arn:aws:iam::000000000000:role/lambda"),
		Handler:      aws.String("bootstrap"),
		Code:         &types.FunctionCode{ZipFile: testZip(t, "#!/bin/sh\n")},
	}
	for _, m := range mutate {
		m(in)
	}
	out, err := c.CreateFunction(context.Background(), in)
	if err != nil {
		t.Fatalf("CreateFunction %s: %v", name, err)
	}
	return out
}

// waitFor waits (up to 10 s) until cond holds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wantAPIError checks that err is the SDK's typed error T.
func wantAPIError[T error](t *testing.T, err error) T {
	t.Helper()
	var target T
	if !errors.As(err, &target) {
		t.Fatalf("error = %T %v, want %T", err, err, target)
	}
	return target
}

// wantCode checks an error's Lambda exception name (for errors the
// lambda package has no type for, such as the authentication ones).
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != code {
		t.Fatalf("error = %v, want %s", err, code)
	}
}

func TestCreateGetListDelete(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	zipData := testZip(t, "#!/bin/sh\necho hi\n")
	out := e.create(t, "hello", func(in *lambda.CreateFunctionInput) {
		in.Code.ZipFile = zipData
		in.MemorySize = aws.Int32(256)
		in.Timeout = aws.Int32(10)
		in.Description = aws.String("greets")
		in.Environment = &types.Environment{Variables: map[string]string{"K": "V"}}
		in.EphemeralStorage = &types.EphemeralStorage{Size: aws.Int32(1024)}
		in.Architectures = []types.Architecture{types.ArchitectureX8664}
	})
	sum := sha256.Sum256(zipData)
	switch {
	case aws.ToString(out.FunctionName) != "hello",
		aws.ToString(out.FunctionArn) != "arn:aws:lambda:us-east-1:000000000000:function:hello",
		aws.ToInt32(out.MemorySize) != 256, aws.ToInt32(out.Timeout) != 10,
		aws.ToString(out.Version) != "$LATEST",
		aws.ToString(out.CodeSha256) != base64.StdEncoding.EncodeToString(sum[:]),
		out.CodeSize != int64(len(zipData)),
		out.Runtime != types.RuntimeProvidedal2023,
		out.PackageType != types.PackageTypeZip,
		out.State != types.StateActive,
		out.Environment == nil || out.Environment.Variables["K"] != "V",
		aws.ToInt32(out.EphemeralStorage.Size) != 1024,
		len(out.Architectures) != 1 || out.Architectures[0] != types.ArchitectureX8664,
		aws.ToString(out.RevisionId) == "",
		aws.ToString(out.LastModified) == "":
		t.Fatalf("CreateFunction answered %+v", out)
	}
	if _, err := time.Parse(lastModifiedLayout, aws.ToString(out.LastModified)); err != nil {
		t.Errorf("LastModified %q: %v", aws.ToString(out.LastModified), err)
	}

	got, err := e.client.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("hello")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(got.Configuration.Description) != "greets" || aws.ToString(got.Code.RepositoryType) != "S3" || got.Concurrency != nil {
		t.Errorf("GetFunction = %+v", got)
	}
	cfg, err := e.client.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String("hello")})
	if err != nil || aws.ToInt32(cfg.MemorySize) != 256 {
		t.Fatalf("GetFunctionConfiguration = %+v, %v", cfg, err)
	}

	// Image functions report their image.
	e.createAs(t, e.admin, "img", func(in *lambda.CreateFunctionInput) {
		in.Runtime, in.Handler = "", nil
		in.PackageType = types.PackageTypeImage
		in.Code = &types.FunctionCode{ImageUri: aws.String("registry.local/fn:1")}
	})
	gi, err := e.client.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("img")})
	if err != nil || aws.ToString(gi.Code.RepositoryType) != "ECR" || aws.ToString(gi.Code.ImageUri) != "registry.local/fn:1" || gi.Configuration.PackageType != types.PackageTypeImage {
		t.Fatalf("GetFunction(image) = %+v, %v", gi, err)
	}

	// Pagination: 5 functions, 2 a page, through the SDK's paginator.
	for _, n := range []string{"a1", "a2", "a3"} {
		e.create(t, n)
	}
	var names []string
	pages := 0
	p := lambda.NewListFunctionsPaginator(e.client, &lambda.ListFunctionsInput{MaxItems: aws.Int32(2)})
	for p.HasMorePages() {
		pg, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, f := range pg.Functions {
			names = append(names, aws.ToString(f.FunctionName))
		}
	}
	if strings.Join(names, ",") != "a1,a2,a3,hello,img" || pages != 3 {
		t.Errorf("ListFunctions pages=%d names=%v", pages, names)
	}

	if _, err := e.client.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String("hello")}); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("hello")})
	nf := wantAPIError[*types.ResourceNotFoundException](t, err)
	if !strings.Contains(nf.ErrorMessage(), "Function not found: arn:aws:lambda:us-east-1:000000000000:function:hello") {
		t.Errorf("message = %q", nf.ErrorMessage())
	}
}

func TestUpdateVersionsAliases(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.create(t, "fn")

	up, err := e.client.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
		FunctionName: aws.String("fn"), MemorySize: aws.Int32(512),
		Environment: &types.Environment{Variables: map[string]string{"A": "1"}},
	})
	if err != nil || aws.ToInt32(up.MemorySize) != 512 || up.Environment.Variables["A"] != "1" || up.LastUpdateStatus != types.LastUpdateStatusSuccessful {
		t.Fatalf("UpdateFunctionConfiguration = %+v, %v", up, err)
	}
	v1, err := e.client.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("fn"), Description: aws.String("first")})
	if err != nil || aws.ToString(v1.Version) != "1" || aws.ToString(v1.FunctionArn) != "arn:aws:lambda:us-east-1:000000000000:function:fn:1" {
		t.Fatalf("PublishVersion = %+v, %v", v1, err)
	}

	// New code and configuration on $LATEST leave version 1 as it was.
	newZip := testZip(t, "#!/bin/sh\necho v2\n")
	uc, err := e.client.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String("fn"), ZipFile: newZip, Publish: true})
	if err != nil || aws.ToString(uc.Version) != "2" || aws.ToString(uc.CodeSha256) == aws.ToString(v1.CodeSha256) {
		t.Fatalf("UpdateFunctionCode(publish) = %+v, %v", uc, err)
	}
	if _, err := e.client.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
		FunctionName: aws.String("fn"), MemorySize: aws.Int32(1024), Environment: &types.Environment{},
	}); err != nil {
		t.Fatal(err)
	}
	old, err := e.client.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String("fn"), Qualifier: aws.String("1")})
	if err != nil || aws.ToInt32(old.MemorySize) != 512 || aws.ToString(old.CodeSha256) != aws.ToString(v1.CodeSha256) || aws.ToString(old.Description) != "first" {
		t.Fatalf("version 1 changed: %+v, %v", old, err)
	}
	latest, _ := e.client.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String("fn")})
	if aws.ToInt32(latest.MemorySize) != 1024 || latest.Environment != nil {
		t.Errorf("$LATEST = %+v (environment should be cleared)", latest)
	}

	vs, err := e.client.ListVersionsByFunction(ctx, &lambda.ListVersionsByFunctionInput{FunctionName: aws.String("fn")})
	if err != nil || len(vs.Versions) != 3 || aws.ToString(vs.Versions[0].Version) != "$LATEST" || aws.ToString(vs.Versions[2].Version) != "2" {
		t.Fatalf("ListVersionsByFunction = %+v, %v", vs, err)
	}

	a, err := e.client.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live"), FunctionVersion: aws.String("1")})
	if err != nil || aws.ToString(a.AliasArn) != "arn:aws:lambda:us-east-1:000000000000:function:fn:live" || aws.ToString(a.FunctionVersion) != "1" {
		t.Fatalf("CreateAlias = %+v, %v", a, err)
	}
	_, err = e.client.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live"), FunctionVersion: aws.String("1")})
	wantAPIError[*types.ResourceConflictException](t, err)
	_, err = e.client.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("bad"), FunctionVersion: aws.String("9")})
	wantAPIError[*types.ResourceNotFoundException](t, err)

	inv, err := e.client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn"), Qualifier: aws.String("live"), Payload: []byte(`{}`)})
	if err != nil || aws.ToString(inv.ExecutedVersion) != "1" {
		t.Fatalf("Invoke(live) = %+v, %v", inv, err)
	}
	ua, err := e.client.UpdateAlias(ctx, &lambda.UpdateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live"), FunctionVersion: aws.String("2"), Description: aws.String("now 2")})
	if err != nil || aws.ToString(ua.FunctionVersion) != "2" || aws.ToString(ua.Description) != "now 2" {
		t.Fatalf("UpdateAlias = %+v, %v", ua, err)
	}
	inv, err = e.client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn:live"), Payload: []byte(`{}`)})
	if err != nil || aws.ToString(inv.ExecutedVersion) != "2" {
		t.Fatalf("Invoke(fn:live) = %+v, %v", inv, err)
	}
	ga, err := e.client.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live")})
	if err != nil || aws.ToString(ga.FunctionVersion) != "2" {
		t.Fatalf("GetAlias = %+v, %v", ga, err)
	}
	e.client.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String("fn"), Name: aws.String("beta"), FunctionVersion: aws.String("1")})
	la, err := e.client.ListAliases(ctx, &lambda.ListAliasesInput{FunctionName: aws.String("fn")})
	if err != nil || len(la.Aliases) != 2 || aws.ToString(la.Aliases[0].Name) != "beta" {
		t.Fatalf("ListAliases = %+v, %v", la, err)
	}
	la, _ = e.client.ListAliases(ctx, &lambda.ListAliasesInput{FunctionName: aws.String("fn"), FunctionVersion: aws.String("2")})
	if len(la.Aliases) != 1 || aws.ToString(la.Aliases[0].Name) != "live" {
		t.Fatalf("ListAliases(version 2) = %+v", la)
	}

	// A version an alias points at cannot be deleted.
	_, err = e.client.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String("fn"), Qualifier: aws.String("2")})
	wantAPIError[*types.ResourceConflictException](t, err)
	if _, err := e.client.DeleteAlias(ctx, &lambda.DeleteAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live")}); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: aws.String("fn"), Name: aws.String("live")})
	wantAPIError[*types.ResourceNotFoundException](t, err)
	if _, err := e.client.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String("fn:2")}); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("fn"), Qualifier: aws.String("2")})
	wantAPIError[*types.ResourceNotFoundException](t, err)
	_, err = e.client.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String("fn"), Qualifier: aws.String("$LATEST")})
	wantAPIError[*types.InvalidParameterValueException](t, err)
}

func TestFunctionNameForms(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.create(t, "named", func(in *lambda.CreateFunctionInput) { in.Publish = true })
	for _, name := range []string{
		"named",
		"arn:aws:lambda:us-east-1:000000000000:function:named",
		"000000000000:function:named",
	} {
		g, err := e.client.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(name)})
		if err != nil || aws.ToString(g.Configuration.Version) != "$LATEST" {
			t.Errorf("GetFunction(%s) = %+v, %v", name, g, err)
		}
	}
	for _, name := range []string{"named:1", "arn:aws:lambda:us-east-1:000000000000:function:named:1", "000000000000:function:named:1"} {
		g, err := e.client.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name)})
		if err != nil || aws.ToString(g.Version) != "1" {
			t.Errorf("GetFunctionConfiguration(%s) = %+v, %v", name, g, err)
		}
		inv, err := e.client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(name), Payload: []byte(`1`)})
		if err != nil || aws.ToString(inv.ExecutedVersion) != "1" {
			t.Errorf("Invoke(%s) = %+v, %v", name, inv, err)
		}
	}
	_, err := e.client.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("named:1"), Qualifier: aws.String("2")})
	wantAPIError[*types.InvalidParameterValueException](t, err)
	_, err = e.client.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("bad name!")})
	wantAPIError[*types.InvalidParameterValueException](t, err)
	_, err = e.client.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("named:1")})
	wantAPIError[*types.InvalidParameterValueException](t, err)
}

func TestInvoke(t *testing.T) {
	var mu sync.Mutex
	var events []string // the payloads of the events run
	e := newEnv(t, fntest.WithHandler(func(ctx context.Context, inv *inproc.Invocation) ([]byte, error) {
		if string(inv.Payload) == `"fail"` {
			fmt.Fprintln(inv.Log, "failing")
			return nil, errors.New("boom")
		}
		if strings.Contains(string(inv.Payload), `"e"`) || strings.Contains(string(inv.Payload), `"old"`) {
			mu.Lock()
			events = append(events, string(inv.Payload))
			mu.Unlock()
		}
		fmt.Fprintln(inv.Log, "handling")
		return append([]byte(`{"got":`), append(inv.Payload, '}')...), nil
	}))
	ran := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), events...)
	}
	ctx := context.Background()
	e.create(t, "fn")

	out, err := e.client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn"), Payload: []byte(`{"k":"v"}`), LogType: types.LogTypeTail})
	if err != nil {
		t.Fatal(err)
	}
	if out.StatusCode != 200 || string(out.Payload) != `{"got":{"k":"v"}}` || out.FunctionError != nil || aws.ToString(out.ExecutedVersion) != "$LATEST" {
		t.Fatalf("Invoke = %+v", out)
	}
	logs, err := base64.StdEncoding.DecodeString(aws.ToString(out.LogResult))
	if err != nil || !strings.Contains(string(logs), "handling\n") || !strings.Contains(string(logs), "REPORT RequestId: ") {
		t.Fatalf("LogResult = %q, %v", logs, err)
	}

	// Without Tail there is no log header.
	out, err = e.client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn"), Payload: []byte(`1`)})
	if err != nil || out.LogResult != nil {
		t.Fatalf("Invoke(no tail) = %+v, %v", out, err)
	}

	out, err = e.client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn"), Payload: []byte(`"fail"`)})
	if err != nil || aws.ToString(out.FunctionError) != "Unhandled" || !strings.Contains(string(out.Payload), "boom") || !strings.Contains(string(out.Payload), "errorString") {
		t.Fatalf("Invoke(fail) = %+v, %v", out, err)
	}

	out, err = e.client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn"), Payload: []byte(`{"e":1}`), InvocationType: types.InvocationTypeEvent})
	if err != nil || out.StatusCode != 202 || len(out.Payload) != 0 {
		t.Fatalf("Invoke(Event) = %+v, %v", out, err)
	}
	waitFor(t, func() bool { ev := ran(); return len(ev) == 1 && ev[0] == `{"e":1}` })
	out, err = e.client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn"), InvocationType: types.InvocationTypeDryRun})
	if err != nil || out.StatusCode != 204 {
		t.Fatalf("Invoke(DryRun) = %+v, %v", out, err)
	}
	ia, err := e.client.InvokeAsync(ctx, &lambda.InvokeAsyncInput{FunctionName: aws.String("fn"), InvokeArgs: strings.NewReader(`{"old":true}`)})
	if err != nil || ia.Status != 202 {
		t.Fatalf("InvokeAsync = %+v, %v", ia, err)
	}
	waitFor(t, func() bool { return len(ran()) == 2 })

	_, err = e.client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn"), Payload: []byte(`{not json`)})
	wantAPIError[*types.InvalidRequestContentException](t, err)
	_, err = e.client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("missing"), Payload: []byte(`{}`)})
	wantAPIError[*types.ResourceNotFoundException](t, err)
	_, err = e.client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn"), Qualifier: aws.String("7")})
	wantAPIError[*types.ResourceNotFoundException](t, err)
}

func TestInvokePayloadLimits(t *testing.T) {
	e := newEnv(t, fntest.WithHandler(func(context.Context, *inproc.Invocation) ([]byte, error) {
		return []byte(`null`), nil
	}))
	ctx := context.Background()
	e.create(t, "fn")
	jsonOf := func(n int) []byte { // a JSON string of exactly n bytes
		b := bytes.Repeat([]byte("a"), n)
		b[0], b[n-1] = '"', '"'
		return b
	}
	if _, err := e.client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn"), Payload: jsonOf(functions.MaxSyncPayload)}); err != nil {
		t.Fatalf("6 MB payload: %v", err)
	}
	_, err := e.client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn"), Payload: jsonOf(functions.MaxSyncPayload + 1)})
	wantAPIError[*types.RequestTooLargeException](t, err)

	if _, err := e.client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn"), Payload: jsonOf(functions.MaxAsyncPayload), InvocationType: types.InvocationTypeEvent}); err != nil {
		t.Fatalf("256 KB event: %v", err)
	}
	_, err = e.client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn"), Payload: jsonOf(functions.MaxAsyncPayload + 1), InvocationType: types.InvocationTypeEvent})
	tl := wantAPIError[*types.RequestTooLargeException](t, err)
	if !strings.Contains(tl.ErrorMessage(), "262144") {
		t.Errorf("message = %q", tl.ErrorMessage())
	}
}

func TestConcurrencyAndThrottle(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	e := newEnv(t, fntest.WithHandler(func(ctx context.Context, inv *inproc.Invocation) ([]byte, error) {
		if string(inv.Payload) == `"block"` {
			entered <- struct{}{}
			<-release
		}
		return inv.Payload, nil
	}))
	ctx := context.Background()
	e.create(t, "fn")

	gc, err := e.client.GetFunctionConcurrency(ctx, &lambda.GetFunctionConcurrencyInput{FunctionName: aws.String("fn")})
	if err != nil || gc.ReservedConcurrentExecutions != nil {
		t.Fatalf("GetFunctionConcurrency(unset) = %+v, %v", gc, err)
	}
	pc, err := e.client.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String("fn"), ReservedConcurrentExecutions: aws.Int32(0)})
	if err != nil || aws.ToInt32(pc.ReservedConcurrentExecutions) != 0 || pc.ReservedConcurrentExecutions == nil {
		t.Fatalf("PutFunctionConcurrency = %+v, %v", pc, err)
	}
	_, err = e.client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn"), Payload: []byte(`1`)})
	tm := wantAPIError[*types.TooManyRequestsException](t, err)
	if tm.Reason != types.ThrottleReasonReservedFunctionConcurrentInvocationLimitExceeded || aws.ToString(tm.Type) != "User" {
		t.Errorf("throttle = %+v", tm)
	}

	// At 1, a second invocation while the first runs is throttled.
	e.client.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String("fn"), ReservedConcurrentExecutions: aws.Int32(1)})
	g, err := e.client.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("fn")})
	if err != nil || g.Concurrency == nil || aws.ToInt32(g.Concurrency.ReservedConcurrentExecutions) != 1 {
		t.Fatalf("GetFunction.Concurrency = %+v, %v", g.Concurrency, err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, err := e.client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn"), Payload: []byte(`"block"`)}); err != nil {
			t.Error(err)
		}
	}()
	<-entered
	_, err = e.client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn"), Payload: []byte(`2`)})
	wantAPIError[*types.TooManyRequestsException](t, err)
	close(release)
	wg.Wait()
	if _, err := e.client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn"), Payload: []byte(`3`)}); err != nil {
		t.Fatalf("after the first finished: %v", err)
	}

	if _, err := e.client.DeleteFunctionConcurrency(ctx, &lambda.DeleteFunctionConcurrencyInput{FunctionName: aws.String("fn")}); err != nil {
		t.Fatal(err)
	}
	gc, err = e.client.GetFunctionConcurrency(ctx, &lambda.GetFunctionConcurrencyInput{FunctionName: aws.String("fn")})
	if err != nil || gc.ReservedConcurrentExecutions != nil {
		t.Fatalf("GetFunctionConcurrency(deleted) = %+v, %v", gc, err)
	}
	_, err = e.client.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String("fn"), ReservedConcurrentExecutions: aws.Int32(-1)})
	wantAPIError[*types.InvalidParameterValueException](t, err)
	_, err = e.client.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String("nope"), ReservedConcurrentExecutions: aws.Int32(1)})
	wantAPIError[*types.ResourceNotFoundException](t, err)
}

func TestValidationAndConflictErrors(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.create(t, "fn")
	_, err := e.client.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String("fn"), Role: aws.String("r"), Runtime: types.RuntimeProvided,
		Code: &types.FunctionCode{ZipFile: testZip(t, "x")},
	})
	wantAPIError[*types.ResourceConflictException](t, err)

	for name, in := range map[string]*lambda.CreateFunctionInput{
		"memory":  {MemorySize: aws.Int32(64)},
		"timeout": {Timeout: aws.Int32(901)},
		"runtime": {Runtime: types.RuntimeNodejs20x},
		"s3":      {Code: &types.FunctionCode{S3Bucket: aws.String("b"), S3Key: aws.String("k")}},
		"arch":    {Architectures: []types.Architecture{types.ArchitectureArm64}},
		"nocode":  {Code: &types.FunctionCode{}},
		"layers":  {Layers: []string{"arn:aws:lambda:us-east-1:000000000000:layer:x:1"}},
		"qualify": {FunctionName: aws.String("other:1")},
	} {
		in.Role = aws.String("r")
		if in.FunctionName == nil {
			in.FunctionName = aws.String("new-" + name)
		}
		if in.Runtime == "" {
			in.Runtime = types.RuntimeProvided
		}
		if in.Code == nil {
			in.Code = &types.FunctionCode{ZipFile: testZip(t, "x")}
		}
		_, err := e.client.CreateFunction(ctx, in)
		ip := wantAPIError[*types.InvalidParameterValueException](t, err)
		if ip.ErrorMessage() == "" || strings.HasSuffix(ip.ErrorMessage(), "invalid argument") {
			t.Errorf("%s: message %q", name, ip.ErrorMessage())
		}
	}
	_, err = e.client.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
		FunctionName: aws.String("fn"), Environment: &types.Environment{Variables: map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "x"}},
	})
	wantAPIError[*types.InvalidParameterValueException](t, err)
	_, err = e.client.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String("missing"), ZipFile: testZip(t, "x")})
	wantAPIError[*types.ResourceNotFoundException](t, err)
}

// An image function is Pending while its image is pulled; the SDK's
// waiter follows it to Active, or stops at Failed.
func TestPendingStateAndWaiter(t *testing.T) {
	e := newEnv(t)
	e.client = e.admin // image functions need an admin key
	release := make(chan struct{})
	e.fn.Images.SetPull(fntest.Image(7, v1.Config{Cmd: []string{"/bootstrap"}}), nil, release)
	ctx := context.Background()
	out := e.create(t, "slow", imageFn("registry.local/slow:1", nil))
	if out.State != types.StatePending || out.StateReasonCode != types.StateReasonCodeCreating {
		t.Fatalf("state = %s %s", out.State, out.StateReasonCode)
	}
	_, err := e.client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("slow")})
	wantAPIError[*types.ResourceConflictException](t, err)
	_, err = e.client.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("slow")})
	wantAPIError[*types.ResourceConflictException](t, err)

	go func() {
		time.Sleep(50 * time.Millisecond)
		close(release)
	}()
	w := lambda.NewFunctionActiveV2Waiter(e.client, func(o *lambda.FunctionActiveV2WaiterOptions) {
		o.MinDelay, o.MaxDelay = 10*time.Millisecond, 20*time.Millisecond
	})
	if err := w.Wait(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("slow")}, 5*time.Second); err != nil {
		t.Fatalf("FunctionActiveV2 waiter: %v", err)
	}
	// An image that cannot be pulled: Failed, InvalidImage.
	e.fn.Images.SetPull(nil, nil, nil)
	e.create(t, "gone", imageFn("registry.local/gone:1", nil))
	err = w.Wait(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("gone")}, 2*time.Second)
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "failure") {
		t.Fatalf("waiter on a Failed function = %v", err)
	}
	g, err := e.client.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("gone")})
	if err != nil || g.Configuration.State != types.StateFailed || g.Configuration.StateReasonCode != types.StateReasonCodeInvalidImage {
		t.Fatalf("failed function = %+v, %v", g.Configuration, err)
	}
}

func TestAuthentication(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.create(t, "fn")

	// Unsigned.
	resp, err := http.Get(e.srv.URL + "/2015-03-31/functions/fn")
	if err != nil {
		t.Fatal(err)
	}
	var body errorBody
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != 403 || resp.Header.Get("X-Amzn-ErrorType") != "MissingAuthenticationTokenException" || body.Message == "" {
		t.Errorf("unsigned: %d %q %+v", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), body)
	}

	// Unknown key, wrong secret.
	_, err = e.clientWith("AKIAUNKNOWNUNKNOWN00", e.key.SecretAccessKey).GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("fn")})
	wantCode(t, err, "UnrecognizedClientException")
	_, err = e.clientWith(e.key.AccessKeyID, "wrong"+e.key.SecretAccessKey[5:]).GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("fn")})
	wantCode(t, err, "InvalidSignatureException")
	var ae smithy.APIError
	if errors.As(err, &ae) && strings.Contains(ae.ErrorMessage(), e.key.SecretAccessKey) {
		t.Error("error message carries the secret")
	}

	// Stale: signed 20 minutes ago.
	req, _ := http.NewRequest("GET", e.srv.URL+"/2015-03-31/functions/fn", nil)
	sign(t, req, e.key, nil, time.Now().Add(-20*time.Minute))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 || resp.Header.Get("X-Amzn-ErrorType") != "InvalidSignatureException" {
		t.Errorf("stale: %d %s", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"))
	}

	// A body changed after signing.
	req, _ = http.NewRequest("POST", e.srv.URL+"/2015-03-31/functions/fn/invocations", strings.NewReader(`{"a":2}`))
	sign(t, req, e.key, []byte(`{"a":1}`), time.Now())
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 || resp.Header.Get("X-Amzn-ErrorType") != "InvalidSignatureException" {
		t.Errorf("tampered: %d %s", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"))
	}

	// A properly signed raw request works; after revoking, it does not.
	req, _ = http.NewRequest("GET", e.srv.URL+"/2015-03-31/functions/fn", nil)
	sign(t, req, e.key, nil, time.Now())
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("signed: %d", resp.StatusCode)
	}
	if err := e.keys.Remove(e.key.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("fn")})
	wantCode(t, err, "UnrecognizedClientException")
}

// sign signs req with SigV4 as of t.
func sign(t testing.TB, req *http.Request, key identity.Key, body []byte, at time.Time) {
	t.Helper()
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: key.AccessKeyID, SecretAccessKey: key.SecretAccessKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "lambda", "us-east-1", at); err != nil {
		t.Fatal(err)
	}
}

func TestUnknownOperationAndBadJSON(t *testing.T) {
	e := newEnv(t)
	e.create(t, "fn")
	do := func(method, path, body string) (*http.Response, errorBody) {
		t.Helper()
		req, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
		sign(t, req, e.key, []byte(body), time.Now())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var eb errorBody
		_ = json.NewDecoder(resp.Body).Decode(&eb)
		return resp, eb
	}
	resp, eb := do("GET", "/2015-03-31/nothing", "")
	if resp.StatusCode != 404 || resp.Header.Get("X-Amzn-ErrorType") != "UnknownOperationException" || eb.Type != "User" {
		t.Errorf("unknown path: %d %s %+v", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), eb)
	}
	resp, eb = do("PUT", "/2015-03-31/functions/fn/configuration", `{"MemorySize":"big"}`)
	if resp.StatusCode != 400 || resp.Header.Get("X-Amzn-ErrorType") != "InvalidRequestContentException" || eb.Message == "" {
		t.Errorf("bad JSON: %d %s %+v", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), eb)
	}
	resp, _ = do("POST", "/2015-03-31/functions/fn/invocations", `{}`)
	if resp.StatusCode != 200 || resp.Header.Get("X-Amzn-RequestId") == "" {
		t.Errorf("invoke: %d", resp.StatusCode)
	}
	// botocore lists functions with a trailing slash.
	resp, _ = do("GET", "/2015-03-31/functions/", "")
	if resp.StatusCode != 200 {
		t.Errorf("list with slash: %d", resp.StatusCode)
	}
	resp, eb = do("POST", "/2015-03-31/functions/fn/invocations", `{}`+strings.Repeat(" ", 10))
	if resp.StatusCode != 200 {
		t.Errorf("invoke with trailing space: %d %+v", resp.StatusCode, eb)
	}
}

func TestKeysHandler(t *testing.T) {
	keys, err := identity.OpenKeys(filepath.Join(t.TempDir(), "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(KeysHandler(keys))
	defer srv.Close()

	resp, err := http.Post(srv.URL+"/wharf/v1/keys", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	var created map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	id, _ := created["AccessKeyId"].(string)
	secret, _ := created["SecretAccessKey"].(string)
	if resp.StatusCode != 201 || !strings.HasPrefix(id, "AKIA") || len(secret) != 40 {
		t.Fatalf("create: %d %v", resp.StatusCode, created)
	}

	resp, _ = http.Get(srv.URL + "/wharf/v1/keys")
	var list []map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if len(list) != 1 || list[0]["AccessKeyId"] != id || list[0]["SecretAccessKey"] != nil || list[0]["Created"] == nil {
		t.Fatalf("list: %v", list)
	}

	req, _ := http.NewRequest("DELETE", srv.URL+"/wharf/v1/keys/"+id, nil)
	resp, _ = http.DefaultClient.Do(req)
	resp.Body.Close()
	if resp.StatusCode != 204 || len(keys.List()) != 0 {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	resp, _ = http.DefaultClient.Do(req)
	var eb map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&eb)
	resp.Body.Close()
	if resp.StatusCode != 404 || !strings.Contains(eb["message"], id) || strings.HasSuffix(eb["message"], "not found") {
		t.Fatalf("delete again: %d %v", resp.StatusCode, eb)
	}

	// Keys with policies: kept, listed, and bad ones refused.
	resp, err = http.Post(srv.URL+"/wharf/v1/keys", "application/json", strings.NewReader(`{"Admin":true,"Policies":["lambda:InvokeFunction:orders-*"]}`))
	if err != nil {
		t.Fatal(err)
	}
	var withPolicy wharf.AccessKey
	_ = json.NewDecoder(resp.Body).Decode(&withPolicy)
	resp.Body.Close()
	if resp.StatusCode != 201 || strings.Join(withPolicy.Policies, " ") != "*:*:* lambda:InvokeFunction:orders-*" {
		t.Fatalf("create with policies: %d %+v", resp.StatusCode, withPolicy)
	}
	if l := keys.List(); len(l) != 1 || !identity.IsAdmin(l[0].Statements) {
		t.Fatalf("stored statements: %+v", l)
	}
	for _, bad := range []string{`{"Policies":["lambda:*"]}`, `{"Policies":["lambda:*:a b"]}`, `{"Admin":"yes"}`, `[`} {
		resp, _ = http.Post(srv.URL+"/wharf/v1/keys", "application/json", strings.NewReader(bad))
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Fatalf("create with %s: %d", bad, resp.StatusCode)
		}
	}
	if len(keys.List()) != 1 {
		t.Fatal("a refused key was created")
	}
}

func TestWriteMetrics(t *testing.T) {
	var b bytes.Buffer
	err := WriteMetrics(&b, "fn", &functions.Metrics{Invocations: 4, Errors: 1, Throttles: 2, DurationsMs: []float64{4, 1, 3, 2}})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Invocations:", "4", "Errors:", "1 (25.0%)", "Throttles:", "p50 2.00 ms", "max 4.00 ms"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("missing %q in\n%s", want, b.String())
		}
	}
	if p := Percentiles([]float64{5}, 50, 99); p[0] != 5 || p[1] != 5 {
		t.Errorf("Percentiles = %v", p)
	}
}
