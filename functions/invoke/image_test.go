package invoke_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/functions"
	"github.com/wharf-dev/wharf/functions/fntest"
	"github.com/wharf-dev/wharf/functions/invoke"
	"github.com/wharf-dev/wharf/functions/sandbox"
	"github.com/wharf-dev/wharf/functions/sandbox/inproc"
)

// newImageEnv is an engine with images as its image store, whose sandboxes
// echo their event, but for images whose entrypoint is "/nothere": those
// do not start.
func newImageEnv(t *testing.T, images *fntest.Images, opts ...fntest.Option) *fntest.Env {
	t.Helper()
	return fntest.New(t, append([]fntest.Option{fntest.WithImages(images), fntest.WithFunctions(func(spec sandbox.Spec) (inproc.Function, error) {
		if len(spec.Command) > 0 && spec.Command[0] == "/nothere" {
			return inproc.Function{}, errors.New("exec: /nothere: no such file or directory")
		}
		return inproc.Function{Handler: inproc.Echo}, nil
	})}, opts...)...)
}

func last(t *testing.T, env *fntest.Env) sandbox.Spec {
	t.Helper()
	specs := env.Launcher.Launches()
	if len(specs) == 0 {
		t.Fatal("no sandbox was launched")
	}
	return specs[len(specs)-1]
}

func createImageFn(ctx context.Context, e *invoke.Engine, name, ref string, ic *functions.ImageConfig, publish bool) (*functions.Config, error) {
	return e.Create(ctx, functions.CreateInput{
		Config:  functions.Config{FunctionName: name, PackageType: functions.PackageImage, ImageConfig: ic},
		Code:    functions.Code{ImageURI: ref},
		Publish: publish,
	})
}

func waitState(t *testing.T, e *invoke.Engine, name string) *functions.Config {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := e.Get(context.Background(), name, "")
		if err != nil {
			t.Fatal(err)
		}
		if c.State != functions.StatePending || time.Now().After(deadline) {
			return c
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var lambdaImageConfig = v1.Config{
	Entrypoint: []string{"/lambda-entrypoint.sh"},
	Cmd:        []string{"app.handler"},
	WorkingDir: "/var/task",
	Env:        []string{"PATH=/var/lang/bin:/usr/bin:/bin", "LANG=C.UTF-8", "AWS_EXECUTION_ENV=AWS_Lambda_image"},
}

func TestImageFunctionPinsDigestAcrossRetagAndVersions(t *testing.T) {
	ctx := context.Background()
	images := fntest.NewImages()
	one, two := fntest.Image(1, lambdaImageConfig), fntest.Image(2, lambdaImageConfig)
	images.Tag("local/fn:1", one)
	env := newImageEnv(t, images)
	e := env.Engine

	v1c, err := createImageFn(ctx, e, "img", "local/fn:1", nil, true)
	if err != nil {
		t.Fatal(err)
	}
	wantResolved := "local/fn@" + one.Manifest
	if v1c.Version != "1" || v1c.State != functions.StateActive || v1c.ImageID != one.ID || v1c.ResolvedImageURI != wantResolved ||
		v1c.CodeSha256 != strings.TrimPrefix(one.Manifest, "sha256:") || v1c.ImageURI != "local/fn:1" || v1c.Runtime != "" {
		t.Fatalf("published version 1 = %+v", v1c)
	}

	// The tag moves; nothing published or current follows it until the
	// code is updated.
	images.Tag("local/fn:old", one)
	images.Tag("local/fn:1", two)
	if c, _ := e.Get(ctx, "img", ""); c.ImageID != one.ID || c.ResolvedImageURI != wantResolved {
		t.Fatalf("$LATEST followed a re-tag: %+v", c)
	}
	up, err := e.UpdateCode(ctx, "img", functions.Code{ImageURI: "local/fn:1"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if up.Version != "2" || up.ImageID != two.ID || up.ResolvedImageURI != "local/fn@"+two.Manifest {
		t.Fatalf("version 2 = %+v", up)
	}
	if c, _ := e.Get(ctx, "img", "1"); c.ImageID != one.ID || c.ResolvedImageURI != wantResolved {
		t.Fatalf("version 1 changed: %+v", c)
	}

	// A digest reference (the ResolvedImageUri of an imported image,
	// which the store knows only by its manifest) pins that image.
	back, err := e.UpdateCode(ctx, "img", functions.Code{ImageURI: wantResolved}, false)
	if err != nil || back.ImageID != one.ID || back.ResolvedImageURI != wantResolved {
		t.Fatalf("update to %s: %+v, %v", wantResolved, back, err)
	}

	// Both images are pinned (version 1 and 2); deleting the function
	// releases them and removes no image.
	if !e.ImageInUse(one.ID) || !e.ImageInUse(two.ID) || e.ImageInUse("sha256:other") {
		t.Fatal("ImageInUse does not report the pinned images")
	}
	if err := e.Delete(ctx, "img", ""); err != nil {
		t.Fatal(err)
	}
	if e.ImageInUse(one.ID) || e.ImageInUse(two.ID) {
		t.Fatal("a deleted function still pins its images")
	}
	if _, err := images.Get(ctx, one.ID); err != nil {
		t.Fatalf("deleting the function touched its image: %v", err)
	}
}

func TestImageFunctionValidation(t *testing.T) {
	ctx := context.Background()
	images := fntest.NewImages()
	images.Tag("local/fn:1", fntest.Image(1, lambdaImageConfig))
	env := newImageEnv(t, images)
	e := env.Engine
	for name, in := range map[string]functions.CreateInput{
		"runtime":     {Config: functions.Config{FunctionName: "f", PackageType: functions.PackageImage, Runtime: "provided"}, Code: functions.Code{ImageURI: "local/fn:1"}},
		"handler":     {Config: functions.Config{FunctionName: "f", PackageType: functions.PackageImage, Handler: "bootstrap"}, Code: functions.Code{ImageURI: "local/fn:1"}},
		"no uri":      {Config: functions.Config{FunctionName: "f", PackageType: functions.PackageImage}},
		"zip file":    {Config: functions.Config{FunctionName: "f", PackageType: functions.PackageImage}, Code: functions.Code{ImageURI: "local/fn:1", ZipFile: []byte("PK")}},
		"uri for zip": {Config: functions.Config{FunctionName: "f", Runtime: "provided"}, Code: functions.Code{ImageURI: "local/fn:1"}},
		"config zip":  {Config: functions.Config{FunctionName: "f", Runtime: "provided", ImageConfig: &functions.ImageConfig{Command: []string{"x"}}}, Code: functions.Code{ZipFile: []byte("PK")}},
		"relative wd": {Config: functions.Config{FunctionName: "f", PackageType: functions.PackageImage, ImageConfig: &functions.ImageConfig{WorkingDirectory: "task"}}, Code: functions.Code{ImageURI: "local/fn:1"}},
		"bad ref":     {Config: functions.Config{FunctionName: "f", PackageType: functions.PackageImage}, Code: functions.Code{ImageURI: "Not A Ref"}},
		"capitals":    {Config: functions.Config{FunctionName: "f", PackageType: functions.PackageImage}, Code: functions.Code{ImageURI: "UPPER/fn:1"}},
		"bad tag":     {Config: functions.Config{FunctionName: "f", PackageType: functions.PackageImage}, Code: functions.Code{ImageURI: "local/fn:-1"}},
		"separator":   {Config: functions.Config{FunctionName: "f", PackageType: functions.PackageImage}, Code: functions.Code{ImageURI: "local/-fn:1"}},
		"bad type":    {Config: functions.Config{FunctionName: "f", PackageType: "Oci"}, Code: functions.Code{ImageURI: "local/fn:1"}},
	} {
		if _, err := e.Create(ctx, in); !errdefs.IsInvalidArgument(err) {
			t.Errorf("%s: %v, want InvalidArgument", name, err)
		}
	}
	if fns, _ := e.List(ctx); len(fns) != 0 {
		t.Fatalf("refused creates left functions: %d", len(fns))
	}

	// A zip function takes no image and no ImageConfig, an image function
	// no zip and no Handler.
	if _, err := e.Create(ctx, functions.CreateInput{Config: functions.Config{FunctionName: "z", Runtime: "provided"}, Code: functions.Code{ZipFile: fntest.Zip(t)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.UpdateCode(ctx, "z", functions.Code{ImageURI: "local/fn:1"}, false); !errdefs.IsInvalidArgument(err) {
		t.Errorf("image for a zip function: %v", err)
	}
	if _, err := e.UpdateConfig(ctx, "z", functions.ConfigUpdate{ImageConfig: &functions.ImageConfig{Command: []string{"x"}}}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("ImageConfig for a zip function: %v", err)
	}
	if _, err := createImageFn(ctx, e, "i", "local/fn:1", nil, false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.UpdateCode(ctx, "i", functions.Code{ZipFile: []byte("PK")}, false); !errdefs.IsInvalidArgument(err) {
		t.Errorf("zip for an image function: %v", err)
	}
	h := "bootstrap"
	if _, err := e.UpdateConfig(ctx, "i", functions.ConfigUpdate{Handler: &h}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("Handler for an image function: %v", err)
	}
	c, err := e.UpdateConfig(ctx, "i", functions.ConfigUpdate{ImageConfig: &functions.ImageConfig{Command: []string{"other.handler"}}})
	if err != nil || c.ImageConfig == nil || !reflect.DeepEqual(c.ImageConfig.Command, []string{"other.handler"}) {
		t.Fatalf("ImageConfig update: %+v, %v", c, err)
	}
	c, err = e.UpdateConfig(ctx, "i", functions.ConfigUpdate{ImageConfig: &functions.ImageConfig{}})
	if err != nil || c.ImageConfig != nil {
		t.Fatalf("an empty ImageConfig clears the overrides: %+v, %v", c, err)
	}
}

func TestImageFunctionPullsWhilePending(t *testing.T) {
	ctx := context.Background()
	images := fntest.NewImages()
	release := make(chan struct{})
	pulled := fntest.Image(7, lambdaImageConfig)
	images.SetPull(pulled, nil, release)
	env := newImageEnv(t, images)
	e := env.Engine

	c, err := createImageFn(ctx, e, "later", "127.0.0.1:5000/fn:1", nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if c.State != functions.StatePending || c.StateReasonCode != "Creating" || c.ResolvedImageURI != "" {
		t.Fatalf("while pulling: %+v", c)
	}
	if _, err := e.Invoke(ctx, functions.InvokeInput{FunctionName: "later"}); !errors.Is(err, functions.ErrNotReady) {
		t.Fatalf("invoke while Pending: %v", err)
	}
	// A configuration change meanwhile does not lose the pull.
	desc := "changed while pulling"
	if _, err := e.UpdateConfig(ctx, "later", functions.ConfigUpdate{Description: &desc}); err != nil {
		t.Fatal(err)
	}
	close(release)
	got := waitState(t, e, "later")
	if got.State != functions.StateActive || got.ImageID != pulled.ID || got.ResolvedImageURI != "127.0.0.1:5000/fn@"+pulled.Manifest || got.Description != desc {
		t.Fatalf("after the pull: %+v", got)
	}
	// Publish was asked for at create: it happens once the image is in.
	if vs, _ := e.ListVersions(ctx, "later"); len(vs) != 2 || vs[1].ImageID != pulled.ID {
		t.Fatalf("versions after the pull: %d", len(vs))
	}
}

func TestImageFunctionMissingImage(t *testing.T) {
	ctx := context.Background()
	images := fntest.NewImages()
	env := newImageEnv(t, images)
	e := env.Engine

	// Create: Failed with Lambda's reason code, as the SDK waiter expects.
	if _, err := createImageFn(ctx, e, "gone", "127.0.0.1:1/nothere:1", nil, false); err != nil {
		t.Fatal(err)
	}
	got := waitState(t, e, "gone")
	if got.State != functions.StateFailed || got.StateReasonCode != "InvalidImage" || !strings.Contains(got.StateReason, "127.0.0.1:1/nothere:1 does not exist") || strings.HasSuffix(got.StateReason, "argument") {
		t.Fatalf("missing image: %+v", got)
	}

	// Update: refused, and the function keeps its image.
	images.Tag("local/fn:1", fntest.Image(1, lambdaImageConfig))
	if _, err := createImageFn(ctx, e, "ok", "local/fn:1", nil, false); err != nil {
		t.Fatal(err)
	}
	before, _ := e.Get(ctx, "ok", "")
	if _, err := e.UpdateCode(ctx, "ok", functions.Code{ImageURI: "127.0.0.1:1/nothere:2"}, false); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("update to a missing image: %v", err)
	}
	after, _ := e.Get(ctx, "ok", "")
	if after.RevisionID != before.RevisionID || after.ImageID != before.ImageID || after.State != functions.StateActive {
		t.Fatalf("a refused update changed the function: %+v", after)
	}

	// An image that can be pulled after all fixes a Failed function.
	pulled := fntest.Image(3, lambdaImageConfig)
	images.SetPull(pulled, nil, nil)
	fixed, err := e.UpdateCode(ctx, "gone", functions.Code{ImageURI: "127.0.0.1:1/nothere:1"}, false)
	if err != nil || fixed.State != functions.StateActive || fixed.ImageID != pulled.ID {
		t.Fatalf("update of a Failed function: %+v, %v", fixed, err)
	}
}

func TestImageSandboxSpec(t *testing.T) {
	ctx := context.Background()
	images := fntest.NewImages()
	img := fntest.Image(1, lambdaImageConfig)
	images.Tag("local/fn:1", img)
	env := newImageEnv(t, images)
	e := env.Engine

	if _, err := createImageFn(ctx, e, "spec", "local/fn:1", nil, false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.UpdateConfig(ctx, "spec", functions.ConfigUpdate{Environment: map[string]string{"LANG": "de_DE.UTF-8", "MINE": "1"}}); err != nil {
		t.Fatal(err)
	}
	out, err := e.Invoke(ctx, functions.InvokeInput{FunctionName: "spec", Payload: []byte(`{"a":1}`)})
	if err != nil || out.FunctionError != "" || string(out.Payload) != `{"a":1}` {
		t.Fatalf("invoke: %+v %v", out, err)
	}
	s := last(t, env)
	if s.Image != img.ID || !reflect.DeepEqual(s.Command, []string{"/lambda-entrypoint.sh", "app.handler"}) || s.WorkingDir != "/var/task" || s.CodeDir != "" {
		t.Fatalf("image defaults: %+v", s)
	}
	// Later entries win, as the engine merges them.
	vars := map[string]string{}
	for _, kv := range s.Env {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	for k, want := range map[string]string{"_HANDLER": "app.handler", "AWS_LAMBDA_FUNCTION_NAME": "spec", "LANG": "de_DE.UTF-8", "MINE": "1", "LAMBDA_TASK_ROOT": "/var/task"} {
		if vars[k] != want {
			t.Errorf("%s=%q, want %q", k, vars[k], want)
		}
	}
	// The image's PATH and AWS_EXECUTION_ENV stand (the engine puts the
	// image's ENV under the sandbox's).
	for _, k := range []string{"PATH", "AWS_EXECUTION_ENV"} {
		if _, ok := vars[k]; ok {
			t.Errorf("%s overrides the image's: %v", k, s.Env)
		}
	}

	// ImageConfig overrides each part on its own.
	if _, err := e.UpdateConfig(ctx, "spec", functions.ConfigUpdate{ImageConfig: &functions.ImageConfig{EntryPoint: []string{"/var/task/bootstrap"}, WorkingDirectory: "/opt"}}); err != nil {
		t.Fatal(err)
	}
	_, _ = e.Invoke(ctx, functions.InvokeInput{FunctionName: "spec"})
	s = last(t, env)
	if !reflect.DeepEqual(s.Command, []string{"/var/task/bootstrap", "app.handler"}) || s.WorkingDir != "/opt" {
		t.Fatalf("overridden entrypoint and workdir: %+v", s)
	}

	// An image with nothing to run is Lambda's Runtime.InvalidEntrypoint
	// before any sandbox starts.
	images.Tag("local/empty:1", fntest.Image(9, v1.Config{}))
	if _, err := createImageFn(ctx, e, "empty", "local/empty:1", nil, false); err != nil {
		t.Fatal(err)
	}
	n := len(env.Launcher.Launches())
	out, err = e.Invoke(ctx, functions.InvokeInput{FunctionName: "empty"})
	if err != nil || !strings.Contains(string(out.Payload), "Runtime.InvalidEntrypoint") || !strings.Contains(string(out.Payload), "no ENTRYPOINT or CMD") || len(env.Launcher.Launches()) != n {
		t.Fatalf("image without a command: %+v %s %v", out, out.Payload, err)
	}

	// A sandbox that cannot start (an entrypoint that is not there) is
	// Lambda's Runtime.InvalidEntrypoint too.
	images.Tag("local/broken:1", fntest.Image(10, v1.Config{Entrypoint: []string{"/nothere"}}))
	if _, err := createImageFn(ctx, e, "broken", "local/broken:1", nil, false); err != nil {
		t.Fatal(err)
	}
	out, err = e.Invoke(ctx, functions.InvokeInput{FunctionName: "broken"})
	if err != nil || out.FunctionError == "" || !strings.Contains(string(out.Payload), "Runtime.InvalidEntrypoint") || !strings.Contains(string(out.Payload), "/nothere") {
		t.Fatalf("image whose entrypoint is missing: %+v %s %v", out, out.Payload, err)
	}
}

func TestImageEngineRestartResumesPull(t *testing.T) {
	images := fntest.NewImages()
	images.SetPull(nil, nil, make(chan struct{})) // never released in the first engine
	env := newImageEnv(t, images)
	if _, err := createImageFn(context.Background(), env.Engine, "resume", "127.0.0.1:5000/fn:1", nil, false); err != nil {
		t.Fatal(err)
	}
	env.Close() // cancels the pull; the record stays Pending

	images2 := fntest.NewImages()
	pulled := fntest.Image(4, lambdaImageConfig)
	images2.SetPull(pulled, nil, nil)
	e2 := newImageEnv(t, images2, fntest.WithRoot(env.Root)).Engine
	got := waitState(t, e2, "resume")
	if got.State != functions.StateActive || got.ImageID != pulled.ID {
		t.Fatalf("after a restart: %+v", got)
	}
}

// A pull's own error may hold another registry's response (its body, its
// headers): it goes to the daemon's log with the API request's ID, never
// to the client, who gets a generic message with the image reference.
func TestImagePullErrorNotEchoed(t *testing.T) {
	const upstream = "UPSTREAM-BODY: <html>internal registry 10.9.8.7 says: token for root expired</html>"
	images := fntest.NewImages()
	images.SetPull(nil, fmt.Errorf("GET https://10.9.8.7/v2/fn/manifests/1: UNAUTHORIZED: %s: %w", upstream, errdefs.ErrUnauthorized), nil)
	var log strings.Builder
	var mu sync.Mutex
	l := slog.New(slog.NewTextHandler(lockedWriter{&mu, &log}, nil))
	e := newImageEnv(t, images, fntest.WithEngineOptions(invoke.WithLogger(l))).Engine
	ctx := functions.WithRequestID(context.Background(), "req-1234")

	// Create pulls in the background: the reason a client reads is clean.
	if _, err := createImageFn(ctx, e, "bg", "10.9.8.7/fn:1", nil, false); err != nil {
		t.Fatal(err)
	}
	got := waitState(t, e, "bg")
	if got.State != functions.StateFailed || strings.Contains(got.StateReason, "UPSTREAM") || strings.Contains(got.StateReason, "10.9.8.7/v2") ||
		!strings.Contains(got.StateReason, "10.9.8.7/fn:1") {
		t.Fatalf("StateReason of a failed pull: %q", got.StateReason)
	}
	// UpdateCode pulls within the request: so is its error.
	images.Tag("local/fn:1", fntest.Image(1, lambdaImageConfig))
	if _, err := createImageFn(ctx, e, "fg", "local/fn:1", nil, false); err != nil {
		t.Fatal(err)
	}
	_, err := e.UpdateCode(ctx, "fg", functions.Code{ImageURI: "10.9.8.7/fn:2"}, false)
	if !errdefs.IsInvalidArgument(err) || strings.Contains(err.Error(), "UPSTREAM") || !strings.Contains(err.Error(), "10.9.8.7/fn:2") || !strings.Contains(err.Error(), "req-1234") {
		t.Fatalf("UpdateCode error: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(log.String(), "UPSTREAM-BODY") || !strings.Contains(log.String(), "request=req-1234") {
		t.Fatalf("the daemon's log lacks the pull error or the request ID:\n%s", log.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *strings.Builder
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
