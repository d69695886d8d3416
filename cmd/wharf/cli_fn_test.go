package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/wharf-dev/wharf/api/lambda"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/functions/fntest"
	"github.com/wharf-dev/wharf/functions/invoke"
	"github.com/wharf-dev/wharf/functions/sandbox/inproc"
	"github.com/wharf-dev/wharf/identity"
	"github.com/wharf-dev/wharf/server/lambdaapi"
)

// fnRoot builds a root command holding the fn and keys commands.
func fnRoot(stdout, stderr *bytes.Buffer, stdin string, args ...string) *cobra.Command {
	root := &cobra.Command{Use: "wharf", SilenceUsage: true, SilenceErrors: true}
	root.PersistentFlags().StringP("host", "H", "", "")
	root.AddCommand(newFnCommand(), newKeysCommand())
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetIn(strings.NewReader(stdin))
	return root
}

func runFn(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := fnRoot(&out, &errb, stdin, args...).ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

func flagsGiven(names ...string) func(string) bool {
	return func(f string) bool {
		for _, n := range names {
			if n == f {
				return true
			}
		}
		return false
	}
}

func TestDeployCreateInput(t *testing.T) {
	o := &deployOptions{runtime: "provided", handler: "bootstrap", role: defaultRole, memory: 256, timeout: 10, ephemeral: 1024,
		env: []string{"A=1", "B=x=y"}, publish: true, changed: flagsGiven("memory")}
	in, err := o.createInput("hello", &lambda.FunctionCode{ZipFile: []byte("zip")})
	if err != nil {
		t.Fatal(err)
	}
	if in.FunctionName != "hello" || in.Runtime != "provided" || *in.MemorySize != 256 ||
		*in.Timeout != 10 || in.EphemeralStorage.Size != 1024 || !in.Publish ||
		in.Environment.Variables["B"] != "x=y" || in.PackageType != lambda.PackageTypeZip || in.Role != defaultRole ||
		in.Handler != "bootstrap" {
		t.Fatalf("CreateFunctionInput = %+v", in)
	}
	in, err = o.createInput("img", &lambda.FunctionCode{ImageURI: "r/f:1"})
	if err != nil || in.PackageType != lambda.PackageTypeImage || in.Runtime != "" || in.Handler != "" {
		t.Fatalf("image CreateFunctionInput = %+v, %v", in, err)
	}
	o.changed = flagsGiven("runtime")
	if _, err := o.createInput("img", &lambda.FunctionCode{ImageURI: "r/f:1"}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("--runtime with --image: %v", err)
	}
	o.env = []string{"novalue"}
	if _, err := o.createInput("x", &lambda.FunctionCode{ZipFile: []byte("z")}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("bad --env: %v", err)
	}
	if err := (&deployOptions{zip: "a", image: "b"}).check(); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("--zip and --image: %v", err)
	}
}

func TestDeployImageConfig(t *testing.T) {
	o := &deployOptions{role: defaultRole, imageConfig: `{"EntryPoint":["/bin/run"],"Command":["app.handler"],"WorkingDirectory":"/srv"}`,
		changed: flagsGiven("image-config")}
	in, err := o.createInput("img", &lambda.FunctionCode{ImageURI: "r/f:1"})
	if err != nil {
		t.Fatal(err)
	}
	if ic := in.ImageConfig; ic == nil || ic.EntryPoint[0] != "/bin/run" || ic.Command[0] != "app.handler" || ic.WorkingDirectory != "/srv" {
		t.Fatalf("ImageConfig = %+v", in.ImageConfig)
	}
	if _, err := o.createInput("zip", &lambda.FunctionCode{ZipFile: []byte("z")}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("--image-config on a zip function: %v", err)
	}
	up, err := o.configInput("img")
	if err != nil || up == nil || up.ImageConfig == nil || up.ImageConfig.WorkingDirectory != "/srv" {
		t.Fatalf("update = %+v, %v", up, err)
	}
	// An empty --image-config on update clears the overrides.
	o.imageConfig = ""
	if up, err := o.configInput("img"); err != nil || up == nil || up.ImageConfig == nil || up.ImageConfig.EntryPoint != nil {
		t.Fatalf("clearing update = %+v, %v", up, err)
	}
	for _, bad := range []string{`{"Entry":["x"]}`, `["x"]`, `{"Command":"x"}`} {
		o.imageConfig = bad
		if _, err := o.createInput("img", &lambda.FunctionCode{ImageURI: "r/f:1"}); !errdefs.IsInvalidArgument(err) {
			t.Errorf("--image-config %s: %v", bad, err)
		}
	}
}

func TestDeployConfigInputSendsOnlyGivenFlags(t *testing.T) {
	o := &deployOptions{runtime: "provided.al2023", handler: "bootstrap", role: defaultRole, memory: 512, timeout: 3, ephemeral: 512,
		changed: flagsGiven("memory", "env")}
	in, err := o.configInput("fn")
	if err != nil {
		t.Fatal(err)
	}
	if *in.MemorySize != 512 || in.Timeout != nil || in.Role != nil || in.Handler != nil || in.Runtime != nil ||
		in.EphemeralStorage != nil || in.Environment == nil || len(in.Environment.Variables) != 0 {
		t.Fatalf("UpdateFunctionConfigurationInput = %+v", in)
	}
	o.changed = flagsGiven("zip", "publish")
	if in, err := o.configInput("fn"); in != nil || err != nil {
		t.Fatalf("no configuration flag: %+v, %v", in, err)
	}
}

func TestInvokeInputAndReport(t *testing.T) {
	in, err := invokeInput("fn", []string{`{"a":1}`}, nil, invokeOptions{qualifier: "live"})
	if err != nil || in.InvocationType != lambda.InvocationRequestResponse || in.LogType != lambda.LogTail ||
		in.Qualifier != "live" || string(in.Payload) != `{"a":1}` {
		t.Fatalf("sync = %+v, %v", in, err)
	}
	in, err = invokeInput("fn", []string{"-"}, strings.NewReader(`[1]`), invokeOptions{async: true})
	if err != nil || in.InvocationType != lambda.InvocationEvent || in.LogType != "" || string(in.Payload) != `[1]` {
		t.Fatalf("async = %+v, %v", in, err)
	}
	in, err = invokeInput("fn", nil, nil, invokeOptions{dryRun: true})
	if err != nil || in.InvocationType != lambda.InvocationDryRun || in.Payload != nil {
		t.Fatalf("dry run = %+v, %v", in, err)
	}
	if _, err := invokeInput("fn", []string{`{`}, nil, invokeOptions{}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("bad JSON: %v", err)
	}
	if _, err := invokeInput("fn", nil, nil, invokeOptions{async: true, dryRun: true}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("--async --dry-run: %v", err)
	}

	var out, errb bytes.Buffer
	err = reportInvoke(&out, &errb, &lambda.InvokeOutput{
		StatusCode: 200, Payload: []byte(`{"errorMessage":"boom","errorType":"Oops"}`), FunctionError: "Unhandled",
		LogResult: base64.StdEncoding.EncodeToString([]byte("START\nREPORT RequestId: x")),
	})
	var ee exitError
	if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(err.Error(), "Unhandled") || !strings.Contains(err.Error(), "Oops: boom") {
		t.Fatalf("function error = %v", err)
	}
	if out.String() != `{"errorMessage":"boom","errorType":"Oops"}`+"\n" || errb.String() != "START\nREPORT RequestId: x\n" {
		t.Fatalf("stdout %q stderr %q", out.String(), errb.String())
	}
}

func TestCredentialsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "credentials")
	if err := writeCredentials(path, "AKIAX", "secret/+="); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", fi.Mode(), err)
	}
	id, secret, err := readCredentials(path, "default")
	if err != nil || id != "AKIAX" || secret != "secret/+=" {
		t.Fatalf("read = %q %q %v", id, secret, err)
	}
	if _, _, err := readCredentials(path, "other"); err == nil {
		t.Fatal("missing profile read")
	}
	os.WriteFile(path, []byte("[profile dev]\naws_access_key_id=A\naws_secret_access_key = B\n"), 0o600)
	if id, secret, err := readCredentials(path, "dev"); err != nil || id != "A" || secret != "B" {
		t.Fatalf("profile dev = %q %q %v", id, secret, err)
	}

	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("WHARF_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	if _, _, err := fnCredentials(); !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "wharf keys create --save") {
		t.Fatalf("no credentials: %v", err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "ENVID")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "ENVSECRET")
	if id, _, _ := fnCredentials(); id != "ENVID" {
		t.Fatalf("env credentials not preferred: %s", id)
	}
}

func TestFnEndpoint(t *testing.T) {
	cmd := newFnCommand()
	t.Setenv("WHARF_FN_ENDPOINT", "")
	if got := fnEndpoint(cmd); got != defaultFnEndpoint {
		t.Errorf("default = %s", got)
	}
	t.Setenv("WHARF_FN_ENDPOINT", "10.0.0.1:9280")
	if got := fnEndpoint(cmd); got != "http://10.0.0.1:9280" {
		t.Errorf("env = %s", got)
	}
	if err := cmd.ParseFlags([]string{"--endpoint", "https://fn.example/"}); err != nil {
		t.Fatal(err)
	}
	if got := fnEndpoint(cmd); got != "https://fn.example" {
		t.Errorf("flag = %s", got)
	}
}

// lambdaServer serves the real Lambda API over the real functions engine
// (its sandboxes in-process) and points the fn commands at it with a
// fresh key.
func lambdaServer(t *testing.T, opts ...fntest.Option) *invoke.Engine {
	t.Helper()
	keys, err := identity.OpenKeys(filepath.Join(t.TempDir(), "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	key, _ := keys.Create()
	svc := fntest.New(t, opts...).Engine
	srv := httptest.NewServer(lambdaapi.New(svc, keys))
	t.Cleanup(srv.Close)
	t.Setenv("WHARF_FN_ENDPOINT", srv.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", key.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", key.SecretAccessKey)
	return svc
}

func writeZip(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fn.zip")
	f, _ := os.Create(path)
	zw := zip.NewWriter(f)
	h := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate}
	h.SetMode(0o755) // the engine runs only an executable bootstrap
	w, _ := zw.CreateHeader(h)
	w.Write([]byte("#!/bin/sh\n"))
	zw.Close()
	f.Close()
	return path
}

func TestFnCommandsAgainstLambdaAPI(t *testing.T) {
	async := make(chan string, 1) // the events run
	svc := lambdaServer(t, fntest.WithHandler(func(ctx context.Context, inv *inproc.Invocation) ([]byte, error) {
		switch string(inv.Payload) {
		case `"fail"`:
			return nil, &inproc.Error{Type: "Invalid", Message: "bad input"}
		case `{"async":1}`:
			async <- inv.RequestID
		}
		fmt.Fprintln(inv.Log, "hello from "+inv.Env["AWS_LAMBDA_FUNCTION_VERSION"])
		return inv.Payload, nil
	}))
	zipPath := writeZip(t)
	ctx := context.Background()

	out, _, err := runFn(t, "", "fn", "deploy", "hello", "--zip", zipPath, "--runtime", "provided", "--memory", "256",
		"--timeout", "5", "--env", "A=1", "--concurrency", "3", "--publish")
	if err != nil || !strings.Contains(out, "hello: Active, version 1") {
		t.Fatalf("deploy (create) = %q, %v", out, err)
	}
	c, _ := svc.Get(ctx, "hello", "1")
	if c.MemorySize != 256 || c.Timeout != 5 || c.Runtime != "provided" || c.Environment["A"] != "1" || *c.ReservedConcurrency != 3 {
		t.Fatalf("created %+v", c)
	}

	// An update changes only what is given.
	out, _, err = runFn(t, "", "fn", "deploy", "hello", "--memory", "512")
	if err != nil || !strings.Contains(out, "version $LATEST") {
		t.Fatalf("deploy (update) = %q, %v", out, err)
	}
	c, _ = svc.Get(ctx, "hello", "")
	if c.MemorySize != 512 || c.Timeout != 5 || c.Environment["A"] != "1" {
		t.Fatalf("updated %+v", c)
	}
	out, _, err = runFn(t, "", "fn", "deploy", "hello", "--zip", zipPath, "--publish")
	if err != nil || !strings.Contains(out, "version 2") {
		t.Fatalf("deploy (code+publish) = %q, %v", out, err)
	}

	out, errOut, err := runFn(t, "", "fn", "invoke", "hello", `{"k":"v"}`)
	if err != nil || out != `{"k":"v"}`+"\n" || !strings.Contains(errOut, "hello from $LATEST") || !strings.Contains(errOut, "REPORT RequestId:") {
		t.Fatalf("invoke = %q %q %v", out, errOut, err)
	}
	out, _, err = runFn(t, "", "fn", "invoke", "hello", `"fail"`)
	var ee exitError
	if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(err.Error(), "Invalid: bad input") || !strings.Contains(out, "bad input") {
		t.Fatalf("failing invoke = %q %v", out, err)
	}
	_, errOut, err = runFn(t, "", "fn", "invoke", "--async", "hello", `{"async":1}`)
	if err != nil || !strings.Contains(errOut, "Accepted") {
		t.Fatalf("async invoke = %q %v", errOut, err)
	}
	select {
	case id := <-async:
		if !strings.Contains(errOut, id) {
			t.Fatalf("the event ran as %s; the CLI said %q", id, errOut)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the async event did not run")
	}
	_, errOut, err = runFn(t, "", "fn", "invoke", "--dry-run", "hello")
	if err != nil || !strings.Contains(errOut, "Dry run") {
		t.Fatalf("dry-run invoke = %q %v", errOut, err)
	}

	out, _, err = runFn(t, "", "fn", "alias", "set", "hello", "live", "1")
	if err != nil || !strings.HasSuffix(strings.TrimSpace(out), "function:hello:live") {
		t.Fatalf("alias set (create) = %q %v", out, err)
	}
	if _, _, err = runFn(t, "", "fn", "alias", "set", "hello", "live", "2"); err != nil {
		t.Fatal(err)
	}
	out, errOut, err = runFn(t, "", "fn", "invoke", "hello", "-q", "live", "-")
	if err != nil || !strings.Contains(errOut, "hello from 2") {
		t.Fatalf("invoke alias = %q %q %v", out, errOut, err)
	}
	out, _, _ = runFn(t, "", "fn", "alias", "ls", "hello")
	if !strings.Contains(out, "live") || !strings.Contains(out, "2") {
		t.Fatalf("alias ls = %q", out)
	}

	out, _, err = runFn(t, "", "fn", "ls")
	if err != nil || !strings.Contains(out, "NAME") || !strings.Contains(out, "hello") || !strings.Contains(out, "512 MB") {
		t.Fatalf("ls = %q %v", out, err)
	}
	out, _, err = runFn(t, "", "fn", "versions", "hello")
	if err != nil || !strings.Contains(out, "$LATEST") || !strings.Contains(out, "\n2 ") {
		t.Fatalf("versions = %q %v", out, err)
	}
	out, _, err = runFn(t, "", "fn", "get", "hello")
	if err != nil || !strings.Contains(out, `"ReservedConcurrentExecutions": 3`) || !strings.Contains(out, `"MemorySize": 512`) {
		t.Fatalf("get = %q %v", out, err)
	}
	out, _, err = runFn(t, "", "fn", "publish", "hello")
	if err != nil || strings.TrimSpace(out) != "2" { // nothing changed since version 2
		t.Fatalf("publish = %q %v", out, err)
	}

	if _, _, err = runFn(t, "", "fn", "concurrency", "hello", "0"); err != nil {
		t.Fatal(err)
	}
	out, _, _ = runFn(t, "", "fn", "concurrency", "hello")
	if strings.TrimSpace(out) != "0" {
		t.Fatalf("concurrency = %q", out)
	}
	_, _, err = runFn(t, "", "fn", "invoke", "hello", "{}")
	if !errdefs.IsUnavailable(err) || !strings.HasPrefix(err.Error(), "TooManyRequestsException: ") {
		t.Fatalf("throttled invoke = %v", err)
	}
	if _, _, err = runFn(t, "", "fn", "concurrency", "--clear", "hello"); err != nil {
		t.Fatal(err)
	}
	out, _, _ = runFn(t, "", "fn", "concurrency", "hello")
	if strings.TrimSpace(out) != "unreserved" {
		t.Fatalf("concurrency after clear = %q", out)
	}

	if _, _, err = runFn(t, "", "fn", "rm", "hello"); err != nil {
		t.Fatal(err)
	}
	_, _, err = runFn(t, "", "fn", "get", "hello")
	if !errdefs.IsNotFound(err) || !strings.HasPrefix(err.Error(), "ResourceNotFoundException: Function not found") {
		t.Fatalf("get after rm = %v", err)
	}
	_, _, err = runFn(t, "", "fn", "deploy", "nozip", "--memory", "256")
	if !errdefs.IsInvalidArgument(err) {
		t.Fatalf("deploy of a new function without code = %v", err)
	}
}

func TestFnUnreachableEndpoint(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	t.Setenv("AWS_ACCESS_KEY_ID", "A")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "B")
	t.Setenv("WHARF_FN_ENDPOINT", "")
	_, _, err := runFn(t, "", "fn", "--endpoint", addr, "publish", "x")
	if !errdefs.IsUnavailable(err) || !strings.Contains(err.Error(), "cannot reach the Lambda API at http://"+addr) {
		t.Fatalf("unreachable = %v", err)
	}
}

// keysDaemon serves KeysHandler on a unix socket, as the daemon mounts it.
func keysDaemon(t *testing.T) (*identity.Keys, string) {
	t.Helper()
	dir := t.TempDir()
	keys, err := identity.OpenKeys(filepath.Join(dir, "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "wharf.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: lambdaapi.KeysHandler(keys)}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return keys, "unix://" + sock
}

func TestKeysCommands(t *testing.T) {
	keys, host := keysDaemon(t)
	creds := filepath.Join(t.TempDir(), "credentials")
	t.Setenv("WHARF_CREDENTIALS_FILE", creds)

	out, errOut, err := runFn(t, "", "-H", host, "keys", "create", "--json", "--save")
	if err != nil {
		t.Fatal(err)
	}
	var k struct{ AccessKeyId, SecretAccessKey string }
	if err := jsonUnmarshal(out, &k); err != nil || !strings.HasPrefix(k.AccessKeyId, "AKIA") || len(k.SecretAccessKey) != 40 {
		t.Fatalf("create --json = %q, %v", out, err)
	}
	if !strings.Contains(errOut, creds) {
		t.Errorf("stderr = %q", errOut)
	}
	id, secret, err := readCredentials(creds, "default")
	if err != nil || id != k.AccessKeyId || secret != k.SecretAccessKey {
		t.Fatalf("saved %q %q %v", id, secret, err)
	}
	out, _, err = runFn(t, "", "-H", host, "keys", "create")
	if err != nil || !strings.Contains(out, "AccessKeyId:") || !strings.Contains(out, "SecretAccessKey:") {
		t.Fatalf("create = %q %v", out, err)
	}
	out, _, err = runFn(t, "", "-H", host, "keys", "ls")
	if err != nil || !strings.Contains(out, k.AccessKeyId) || strings.Contains(out, k.SecretAccessKey) || strings.Count(out, "AKIA") != 2 {
		t.Fatalf("ls = %q %v", out, err)
	}
	if _, _, err = runFn(t, "", "-H", host, "keys", "rm", k.AccessKeyId); err != nil {
		t.Fatal(err)
	}
	if len(keys.List()) != 1 {
		t.Fatalf("keys after rm: %v", keys.List())
	}
	_, errOut, err = runFn(t, "", "-H", host, "keys", "rm", k.AccessKeyId)
	var ee exitError
	if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(errOut, "no such access key") {
		t.Fatalf("rm again = %q %v", errOut, err)
	}

	// Policies: --admin, --policy (repeatable), shown by ls; a bad one is
	// refused and creates nothing.
	if _, _, err = runFn(t, "", "-H", host, "keys", "create", "--admin"); err != nil {
		t.Fatal(err)
	}
	if _, _, err = runFn(t, "", "-H", host, "keys", "create", "--policy", "lambda:InvokeFunction:orders-*", "--policy", "lambda:GetFunction:*"); err != nil {
		t.Fatal(err)
	}
	if _, errOut, err = runFn(t, "", "-H", host, "keys", "create", "--policy", "lambda:*"); err == nil || !strings.Contains(errOut+err.Error(), "service:actions:resource") {
		t.Fatalf("a bad policy: %q %v", errOut, err)
	}
	out, _, err = runFn(t, "", "-H", host, "keys", "ls")
	if err != nil || !strings.Contains(out, "POLICY") || !strings.Contains(out, "default") || !strings.Contains(out, "admin") ||
		!strings.Contains(out, "lambda:InvokeFunction:orders-* lambda:GetFunction:*") || strings.Count(out, "AKIA") != 3 {
		t.Fatalf("ls with policies = %q %v", out, err)
	}
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
