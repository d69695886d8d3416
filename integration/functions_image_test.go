package integration

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/wharf-dev/wharf/internal/testutil"
)

// imgReply is what the hello function answers, with what its sandbox
// gave it.
type imgReply struct {
	Echo, Greeting, Cwd string
	Pid                 int
	UID                 int `json:"uid"`
}

// tarFile is one file to add to an image's root filesystem.
type tarFile struct {
	name string
	mode int64
	data []byte
}

// rootfsTar returns base (a root filesystem tar, or nothing) with files
// added, their parent directories first.
func rootfsTar(t *testing.T, base []byte, files ...tarFile) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	seen := map[string]bool{}
	if base != nil {
		tr := tar.NewReader(bytes.NewReader(base))
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			seen[strings.Trim(h.Name, "./")] = true
			if err := tw.WriteHeader(h); err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(tw, tr); err != nil {
				t.Fatal(err)
			}
		}
	}
	dir := func(name string) {
		if !seen[name] {
			seen[name] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o755}); err != nil {
				t.Fatal(err)
			}
		}
	}
	dir("tmp")
	for _, f := range files {
		parts := strings.Split(f.name, "/")
		for i := 1; i < len(parts); i++ {
			dir(strings.Join(parts[:i], "/"))
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: f.mode, Size: int64(len(f.data))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// importImage imports a root filesystem tar as ref with Dockerfile-like
// changes, as `wharf import --change` does.
func importImage(t *testing.T, d *testutil.Daemon, data []byte, ref string, changes ...string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "rootfs.tar")
	if err := os.WriteFile(f, data, 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"import"}
	for _, c := range changes {
		args = append(args, "--change", c)
	}
	d.MustWharf(t, append(args, f, ref)...)
	return strings.TrimSpace(d.MustWharf(t, "image", "inspect", "--format", "{{.Id}}", ref))
}

func (e *fnEnv) invokeImage(t *testing.T, name, qualifier, payload string) (*lambda.InvokeOutput, imgReply) {
	t.Helper()
	in := &lambda.InvokeInput{FunctionName: aws.String(name), Payload: []byte(payload), LogType: types.LogTypeTail}
	if qualifier != "" {
		in.Qualifier = aws.String(qualifier)
	}
	out, err := e.client.Invoke(context.Background(), in)
	if err != nil {
		t.Fatalf("invoke %s:%s: %v", name, qualifier, err)
	}
	if out.FunctionError != nil {
		t.Fatalf("invoke %s:%s: function error %s: %s", name, qualifier, aws.ToString(out.FunctionError), out.Payload)
	}
	var r imgReply
	if err := json.Unmarshal(out.Payload, &r); err != nil {
		t.Fatalf("invoke %s: %s: %v", name, out.Payload, err)
	}
	return out, r
}

func TestFunctionsImage(t *testing.T) {
	e := startFnEnv(t)
	ctx := context.Background()
	// A key with the default policy may not make image functions; an
	// admin key may.
	_, err := e.client.CreateFunction(ctx, &lambda.CreateFunctionInput{FunctionName: aws.String("denied"), PackageType: types.PackageTypeImage,
		Role: aws.String("arn:aws:iam::000000000000:role/x"), Code: &types.FunctionCode{ImageUri: aws.String("local/fnimg:1")}})
	if !strings.Contains(fmt.Sprint(err), "AccessDeniedException") || !strings.Contains(fmt.Sprint(err), "StatusCode: 403") {
		t.Fatalf("default key creating an image function: %v", err)
	}
	e.client = e.newClient(t, "--admin")
	bootstrap, err := os.ReadFile(testutil.HelloFunction(t))
	if err != nil {
		t.Fatal(err)
	}

	// Image one: the runtime is the ENTRYPOINT itself, code in /var/task.
	oneID := importImage(t, e.d, rootfsTar(t, nil, tarFile{"var/task/bootstrap", 0o755, bootstrap}), "local/fnimg:1",
		`ENTRYPOINT ["/var/task/bootstrap"]`, "WORKDIR /var/task", "ENV HELLOFN_GREETING=one")
	// Image two is laid out as the AWS base images are: a shell
	// /lambda-entrypoint.sh that starts the runtime, the handler as CMD.
	entry := "#!/bin/sh\nexport HELLOFN_GREETING=\"$HELLOFN_GREETING:$_HANDLER:$1\"\nexec /var/task/bootstrap\n"
	twoID := importImage(t, e.d, rootfsTar(t, testutil.BusyboxRootfsTar(t),
		tarFile{"var/task/bootstrap", 0o755, bootstrap}, tarFile{"lambda-entrypoint.sh", 0o755, []byte(entry)}), "local/fnimg:2",
		`ENTRYPOINT ["/lambda-entrypoint.sh"]`, `CMD ["hello.handler"]`, "ENV HELLOFN_GREETING=two")

	_, err = e.client.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String("imgfn"), Role: aws.String("arn:aws:iam::000000000000:role/test"),
		PackageType: types.PackageTypeImage, Code: &types.FunctionCode{ImageUri: aws.String("local/fnimg:1")},
		MemorySize: aws.Int32(128), Timeout: aws.Int32(5), Publish: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	active := lambda.NewFunctionActiveV2Waiter(e.client, func(o *lambda.FunctionActiveV2WaiterOptions) { o.MinDelay = 50 * time.Millisecond })
	if err := active.Wait(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("imgfn")}, 30*time.Second); err != nil {
		t.Fatal(err)
	}

	got, err := e.client.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("imgfn")})
	if err != nil {
		t.Fatal(err)
	}
	resolved := aws.ToString(got.Code.ResolvedImageUri)
	if aws.ToString(got.Code.ImageUri) != "local/fnimg:1" || aws.ToString(got.Code.RepositoryType) != "ECR" ||
		!regexp.MustCompile(`^local/fnimg@sha256:[0-9a-f]{64}$`).MatchString(resolved) ||
		aws.ToString(got.Configuration.CodeSha256) != strings.TrimPrefix(resolved, "local/fnimg@sha256:") ||
		got.Configuration.PackageType != types.PackageTypeImage || got.Configuration.Runtime != "" {
		t.Fatalf("GetFunction: code %+v, configuration %+v", got.Code, got.Configuration)
	}

	// Cold, then warm in the same sandbox.
	out, r := e.invokeImage(t, "imgfn", "", `{"key1":"v1"}`)
	tail, _ := base64.StdEncoding.DecodeString(aws.ToString(out.LogResult))
	if r.Echo != "v1" || r.Greeting != "one" || r.Cwd != "/var/task" || r.UID != 993 || r.Pid != 1 || !strings.Contains(string(tail), "Init Duration") {
		t.Fatalf("cold invoke: %+v\n%s", r, tail)
	}
	if m := regexp.MustCompile(`Init Duration: [0-9.]+ ms`).Find(tail); m != nil {
		t.Logf("image function cold start: %s", m)
	}
	out, r = e.invokeImage(t, "imgfn", "", `{"key1":"v2"}`)
	tail, _ = base64.StdEncoding.DecodeString(aws.ToString(out.LogResult))
	if r.Echo != "v2" || r.Greeting != "one" || strings.Contains(string(tail), "Init Duration") {
		t.Fatalf("warm invoke: %+v\n%s", r, tail)
	}

	// New code: the AWS-base-image layout, _HANDLER from CMD, no WORKDIR.
	if _, err := e.client.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String("imgfn"), ImageUri: aws.String("local/fnimg:2")}); err != nil {
		t.Fatal(err)
	}
	updated := lambda.NewFunctionUpdatedV2Waiter(e.client, func(o *lambda.FunctionUpdatedV2WaiterOptions) { o.MinDelay = 50 * time.Millisecond })
	if err := updated.Wait(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("imgfn")}, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	_, r = e.invokeImage(t, "imgfn", "", `{"key1":"v3"}`)
	if r.Echo != "v3" || r.Greeting != "two:hello.handler:hello.handler" || r.Cwd != "/" || r.UID != 993 {
		t.Fatalf("after UpdateFunctionCode: %+v", r)
	}
	// ImageConfig overrides CMD and WORKDIR.
	if _, err := e.client.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("imgfn"),
		ImageConfig: &types.ImageConfig{Command: []string{"other.handler"}, WorkingDirectory: aws.String("/tmp")}}); err != nil {
		t.Fatal(err)
	}
	_, r = e.invokeImage(t, "imgfn", "", `{"key1":"v4"}`)
	if r.Greeting != "two:other.handler:other.handler" || r.Cwd != "/tmp" {
		t.Fatalf("with ImageConfig: %+v", r)
	}

	// Version 1 is pinned to image one by digest: moving the tag to image
	// two changes nothing, and the image, now untagged, outlives a prune
	// and refuses rmi while the version exists.
	e.d.MustWharf(t, "tag", "local/fnimg:2", "local/fnimg:1")
	v1, err := e.client.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("imgfn"), Qualifier: aws.String("1")})
	if err != nil || aws.ToString(v1.Code.ResolvedImageUri) != resolved {
		t.Fatalf("version 1: %+v, %v", v1, err)
	}
	_, r = e.invokeImage(t, "imgfn", "1", `{"key1":"v5"}`)
	if r.Greeting != "one" || r.Echo != "v5" {
		t.Fatalf("version 1 after the re-tag: %+v", r)
	}
	e.d.MustWharf(t, "image", "prune", "-f")
	if id := strings.TrimSpace(e.d.MustWharf(t, "image", "inspect", "--format", "{{.Id}}", oneID)); id != oneID {
		t.Fatalf("image one after prune: %q", id)
	}
	// Once the idle sandboxes are reaped, no container uses image one:
	// only the function's pin keeps it.
	deadline := time.Now().Add(20 * time.Second)
	for strings.TrimSpace(e.d.MustWharf(t, "ps", "-aq", "--filter", "label=wharf.function=imgfn")) != "" {
		if time.Now().After(deadline) {
			t.Fatal("idle sandboxes were not reaped")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, stderr, code := e.d.Wharf(t, "rmi", oneID); code == 0 || !strings.Contains(stderr, "used") {
		t.Fatalf("rmi of a pinned image: exit %d, %s", code, stderr)
	}
	e.d.MustWharf(t, "image", "prune", "-af")
	if id := strings.TrimSpace(e.d.MustWharf(t, "image", "inspect", "--format", "{{.Id}}", oneID)); id != oneID {
		t.Fatalf("image one after prune -a: %q", id)
	}

	// A reference no registry answers for: Failed, with Lambda's reason
	// code, and the SDK waiter stops on it. 127.0.0.1:1 refuses at once.
	_, err = e.client.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String("ghost"), Role: aws.String("arn:aws:iam::000000000000:role/test"),
		PackageType: types.PackageTypeImage, Code: &types.FunctionCode{ImageUri: aws.String("127.0.0.1:1/nothere:1")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := active.Wait(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("ghost")}, 60*time.Second); err == nil {
		t.Fatal("the waiter saw an unpullable image become Active")
	}
	g, err := e.client.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String("ghost")})
	if err != nil || g.State != types.StateFailed || g.StateReasonCode != types.StateReasonCodeInvalidImage || !strings.Contains(aws.ToString(g.StateReason), "127.0.0.1:1/nothere:1") {
		t.Fatalf("unpullable image: %+v, %v", g, err)
	}
	if _, err := e.client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("ghost")}); err == nil {
		t.Fatal("a Failed function was invoked")
	}
	// UpdateFunctionCode to an image that does not exist is refused.
	_, err = e.client.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String("imgfn"), ImageUri: aws.String("127.0.0.1:1/nothere:2")})
	var ipe *types.InvalidParameterValueException
	if !errors.As(err, &ipe) {
		t.Fatalf("update to a missing image: %v", err)
	}

	// Deleting the functions leaves their images in the store.
	for _, name := range []string{"imgfn", "ghost"} {
		if _, err := e.client.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String(name)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{oneID, twoID} {
		if got := strings.TrimSpace(e.d.MustWharf(t, "image", "inspect", "--format", "{{.Id}}", id)); got != id {
			t.Fatalf("image %s after the function's deletion: %q", id, got)
		}
	}
	// Once no sandbox and no version holds image one, it can go.
	deadline = time.Now().Add(20 * time.Second)
	for {
		_, stderr, code := e.d.Wharf(t, "rmi", oneID)
		if code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rmi after deleting the function: exit %d: %s", code, stderr)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
