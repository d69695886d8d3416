package functions

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
	imagestore "github.com/wharf-dev/wharf/image/store"
	"github.com/wharf-dev/wharf/internal/testutil"
)

// memImages is an image store in memory: tags to images, and a Pull that
// a test scripts (it may block until released, or fail).
type memImages struct {
	mu      sync.Mutex
	tags    map[string]*imagestore.Image
	pullErr error
	release chan struct{} // Pull waits for it when not nil
	pullTo  *imagestore.Image
	pulls   int
}

func newMemImages() *memImages { return &memImages{tags: map[string]*imagestore.Image{}} }

func testImage(n int, cfg v1.Config) *imagestore.Image {
	return &imagestore.Image{
		ID:       fmt.Sprintf("sha256:%064x", n),
		Manifest: fmt.Sprintf("sha256:%064x", 1000+n),
		Config:   &v1.ConfigFile{OS: "linux", Config: cfg},
	}
}

func (m *memImages) tag(ref string, img *imagestore.Image) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tags[ref] = img
}

func (m *memImages) Get(ctx context.Context, ref string) (*imagestore.Image, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if strings.ContainsAny(ref, " A") {
		return nil, fmt.Errorf("bad reference %q: %w", ref, errdefs.ErrInvalidArgument)
	}
	if img, ok := m.tags[ref]; ok {
		return img, nil
	}
	for _, img := range m.tags {
		if img.ID == ref {
			return img, nil
		}
	}
	return nil, fmt.Errorf("image %q: %w", ref, errdefs.ErrNotFound)
}

func (m *memImages) List(ctx context.Context) ([]*imagestore.Image, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*imagestore.Image
	for _, img := range m.tags {
		out = append(out, img)
	}
	return out, nil
}

func (m *memImages) Pull(ctx context.Context, ref string, _ func(imagestore.Progress)) (*imagestore.Image, error) {
	m.mu.Lock()
	m.pulls++
	release, err, to := m.release, m.pullErr, m.pullTo
	m.mu.Unlock()
	if release != nil {
		select {
		case <-release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err != nil {
		return nil, err
	}
	if to == nil {
		return nil, fmt.Errorf("manifest unknown: %w", errdefs.ErrNotFound)
	}
	m.tag(ref, to)
	return to, nil
}

// specLauncher records the sandbox specs it is asked for and starts none.
type specLauncher struct {
	mu    sync.Mutex
	specs []SandboxSpec
}

var errNoSandbox = errors.New("test launcher starts no sandboxes")

func (l *specLauncher) Launch(ctx context.Context, spec SandboxSpec) (Sandbox, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.specs = append(l.specs, spec)
	return nil, errNoSandbox
}

func (l *specLauncher) last(t *testing.T) SandboxSpec {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.specs) == 0 {
		t.Fatal("no sandbox was launched")
	}
	return l.specs[len(l.specs)-1]
}

func newImageEngine(t *testing.T, images *memImages) (*Engine, *specLauncher) {
	t.Helper()
	l := &specLauncher{}
	e, err := NewEngine(t.TempDir(), l, WithImages(images))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e, l
}

func createImageFn(ctx context.Context, e *Engine, name, ref string, ic *ImageConfig, publish bool) (*Config, error) {
	return e.Create(ctx, CreateInput{
		Config:  Config{FunctionName: name, PackageType: PackageImage, ImageConfig: ic},
		Code:    Code{ImageURI: ref},
		Publish: publish,
	})
}

func waitState(t *testing.T, e *Engine, name string) *Config {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := e.Get(context.Background(), name, "")
		if err != nil {
			t.Fatal(err)
		}
		if c.State != StatePending || time.Now().After(deadline) {
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
	images := newMemImages()
	one, two := testImage(1, lambdaImageConfig), testImage(2, lambdaImageConfig)
	images.tag("local/fn:1", one)
	e, _ := newImageEngine(t, images)

	v1c, err := createImageFn(ctx, e, "img", "local/fn:1", nil, true)
	if err != nil {
		t.Fatal(err)
	}
	wantResolved := "local/fn@" + one.Manifest
	if v1c.Version != "1" || v1c.State != StateActive || v1c.ImageID != one.ID || v1c.ResolvedImageURI != wantResolved ||
		v1c.CodeSha256 != strings.TrimPrefix(one.Manifest, "sha256:") || v1c.ImageURI != "local/fn:1" || v1c.Runtime != "" {
		t.Fatalf("published version 1 = %+v", v1c)
	}

	// The tag moves; nothing published or current follows it until the
	// code is updated.
	images.tag("local/fn:old", one)
	images.tag("local/fn:1", two)
	if c, _ := e.Get(ctx, "img", ""); c.ImageID != one.ID || c.ResolvedImageURI != wantResolved {
		t.Fatalf("$LATEST followed a re-tag: %+v", c)
	}
	up, err := e.UpdateCode(ctx, "img", Code{ImageURI: "local/fn:1"}, true)
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
	back, err := e.UpdateCode(ctx, "img", Code{ImageURI: wantResolved}, false)
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
	images := newMemImages()
	images.tag("local/fn:1", testImage(1, lambdaImageConfig))
	e, _ := newImageEngine(t, images)
	for name, in := range map[string]CreateInput{
		"runtime":     {Config: Config{FunctionName: "f", PackageType: PackageImage, Runtime: "provided"}, Code: Code{ImageURI: "local/fn:1"}},
		"handler":     {Config: Config{FunctionName: "f", PackageType: PackageImage, Handler: "bootstrap"}, Code: Code{ImageURI: "local/fn:1"}},
		"no uri":      {Config: Config{FunctionName: "f", PackageType: PackageImage}},
		"zip file":    {Config: Config{FunctionName: "f", PackageType: PackageImage}, Code: Code{ImageURI: "local/fn:1", ZipFile: []byte("PK")}},
		"uri for zip": {Config: Config{FunctionName: "f", Runtime: "provided"}, Code: Code{ImageURI: "local/fn:1"}},
		"config zip":  {Config: Config{FunctionName: "f", Runtime: "provided", ImageConfig: &ImageConfig{Command: []string{"x"}}}, Code: Code{ZipFile: []byte("PK")}},
		"relative wd": {Config: Config{FunctionName: "f", PackageType: PackageImage, ImageConfig: &ImageConfig{WorkingDirectory: "task"}}, Code: Code{ImageURI: "local/fn:1"}},
		"bad ref":     {Config: Config{FunctionName: "f", PackageType: PackageImage}, Code: Code{ImageURI: "Not A Ref"}},
		"capitals":    {Config: Config{FunctionName: "f", PackageType: PackageImage}, Code: Code{ImageURI: "UPPER/fn:1"}},
		"bad tag":     {Config: Config{FunctionName: "f", PackageType: PackageImage}, Code: Code{ImageURI: "local/fn:-1"}},
		"separator":   {Config: Config{FunctionName: "f", PackageType: PackageImage}, Code: Code{ImageURI: "local/-fn:1"}},
		"bad type":    {Config: Config{FunctionName: "f", PackageType: "Oci"}, Code: Code{ImageURI: "local/fn:1"}},
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
	if _, err := e.Create(ctx, CreateInput{Config: Config{FunctionName: "z", Runtime: "provided"}, Code: Code{ZipFile: testutil.ZipOf(t, map[string][]byte{"bootstrap": []byte("#!/bin/false\n")}, map[string]bool{"bootstrap": true})}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.UpdateCode(ctx, "z", Code{ImageURI: "local/fn:1"}, false); !errdefs.IsInvalidArgument(err) {
		t.Errorf("image for a zip function: %v", err)
	}
	if _, err := e.UpdateConfig(ctx, "z", ConfigUpdate{ImageConfig: &ImageConfig{Command: []string{"x"}}}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("ImageConfig for a zip function: %v", err)
	}
	if _, err := createImageFn(ctx, e, "i", "local/fn:1", nil, false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.UpdateCode(ctx, "i", Code{ZipFile: []byte("PK")}, false); !errdefs.IsInvalidArgument(err) {
		t.Errorf("zip for an image function: %v", err)
	}
	h := "bootstrap"
	if _, err := e.UpdateConfig(ctx, "i", ConfigUpdate{Handler: &h}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("Handler for an image function: %v", err)
	}
	c, err := e.UpdateConfig(ctx, "i", ConfigUpdate{ImageConfig: &ImageConfig{Command: []string{"other.handler"}}})
	if err != nil || c.ImageConfig == nil || !reflect.DeepEqual(c.ImageConfig.Command, []string{"other.handler"}) {
		t.Fatalf("ImageConfig update: %+v, %v", c, err)
	}
	c, err = e.UpdateConfig(ctx, "i", ConfigUpdate{ImageConfig: &ImageConfig{}})
	if err != nil || c.ImageConfig != nil {
		t.Fatalf("an empty ImageConfig clears the overrides: %+v, %v", c, err)
	}
}

func TestImageFunctionPullsWhilePending(t *testing.T) {
	ctx := context.Background()
	images := newMemImages()
	images.release = make(chan struct{})
	images.pullTo = testImage(7, lambdaImageConfig)
	e, _ := newImageEngine(t, images)

	c, err := createImageFn(ctx, e, "later", "127.0.0.1:5000/fn:1", nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if c.State != StatePending || c.StateReasonCode != "Creating" || c.ResolvedImageURI != "" {
		t.Fatalf("while pulling: %+v", c)
	}
	if _, err := e.Invoke(ctx, InvokeInput{FunctionName: "later"}); !errors.Is(err, ErrNotReady) {
		t.Fatalf("invoke while Pending: %v", err)
	}
	// A configuration change meanwhile does not lose the pull.
	desc := "changed while pulling"
	if _, err := e.UpdateConfig(ctx, "later", ConfigUpdate{Description: &desc}); err != nil {
		t.Fatal(err)
	}
	close(images.release)
	got := waitState(t, e, "later")
	if got.State != StateActive || got.ImageID != images.pullTo.ID || got.ResolvedImageURI != "127.0.0.1:5000/fn@"+images.pullTo.Manifest || got.Description != desc {
		t.Fatalf("after the pull: %+v", got)
	}
	// Publish was asked for at create: it happens once the image is in.
	if vs, _ := e.ListVersions(ctx, "later"); len(vs) != 2 || vs[1].ImageID != images.pullTo.ID {
		t.Fatalf("versions after the pull: %d", len(vs))
	}
}

func TestImageFunctionMissingImage(t *testing.T) {
	ctx := context.Background()
	images := newMemImages()
	e, _ := newImageEngine(t, images)

	// Create: Failed with Lambda's reason code, as the SDK waiter expects.
	if _, err := createImageFn(ctx, e, "gone", "127.0.0.1:1/nothere:1", nil, false); err != nil {
		t.Fatal(err)
	}
	got := waitState(t, e, "gone")
	if got.State != StateFailed || got.StateReasonCode != "InvalidImage" || !strings.Contains(got.StateReason, "127.0.0.1:1/nothere:1 does not exist") || strings.HasSuffix(got.StateReason, "argument") {
		t.Fatalf("missing image: %+v", got)
	}

	// Update: refused, and the function keeps its image.
	images.tag("local/fn:1", testImage(1, lambdaImageConfig))
	if _, err := createImageFn(ctx, e, "ok", "local/fn:1", nil, false); err != nil {
		t.Fatal(err)
	}
	before, _ := e.Get(ctx, "ok", "")
	if _, err := e.UpdateCode(ctx, "ok", Code{ImageURI: "127.0.0.1:1/nothere:2"}, false); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("update to a missing image: %v", err)
	}
	after, _ := e.Get(ctx, "ok", "")
	if after.RevisionID != before.RevisionID || after.ImageID != before.ImageID || after.State != StateActive {
		t.Fatalf("a refused update changed the function: %+v", after)
	}

	// An image that can be pulled after all fixes a Failed function.
	images.pullTo = testImage(3, lambdaImageConfig)
	fixed, err := e.UpdateCode(ctx, "gone", Code{ImageURI: "127.0.0.1:1/nothere:1"}, false)
	if err != nil || fixed.State != StateActive || fixed.ImageID != images.pullTo.ID {
		t.Fatalf("update of a Failed function: %+v, %v", fixed, err)
	}
}

func TestImageSandboxSpec(t *testing.T) {
	ctx := context.Background()
	images := newMemImages()
	img := testImage(1, lambdaImageConfig)
	images.tag("local/fn:1", img)
	e, l := newImageEngine(t, images)

	if _, err := createImageFn(ctx, e, "spec", "local/fn:1", nil, false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.UpdateConfig(ctx, "spec", ConfigUpdate{Environment: map[string]string{"LANG": "de_DE.UTF-8", "MINE": "1"}}); err != nil {
		t.Fatal(err)
	}
	out, err := e.Invoke(ctx, InvokeInput{FunctionName: "spec", Payload: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	// The launch failed (this launcher starts nothing): Lambda's answer.
	if out.FunctionError != FunctionErrorUnhandl || !strings.Contains(string(out.Payload), "Runtime.InvalidEntrypoint") {
		t.Fatalf("failed launch: %+v %s", out, out.Payload)
	}
	s := l.last(t)
	if s.Image != img.ID || !reflect.DeepEqual(s.Command, []string{"/lambda-entrypoint.sh", "app.handler"}) || s.WorkingDir != "/var/task" || s.CodeDir != "" {
		t.Fatalf("image defaults: %+v", s)
	}
	// Later entries win, as the engine merges them.
	env := map[string]string{}
	for _, kv := range s.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	for k, want := range map[string]string{"_HANDLER": "app.handler", "AWS_LAMBDA_FUNCTION_NAME": "spec", "LANG": "de_DE.UTF-8", "MINE": "1", "LAMBDA_TASK_ROOT": "/var/task"} {
		if env[k] != want {
			t.Errorf("%s=%q, want %q", k, env[k], want)
		}
	}
	// The image's PATH and AWS_EXECUTION_ENV stand (the engine puts the
	// image's ENV under the sandbox's).
	for _, k := range []string{"PATH", "AWS_EXECUTION_ENV"} {
		if _, ok := env[k]; ok {
			t.Errorf("%s overrides the image's: %v", k, s.Env)
		}
	}

	// ImageConfig overrides each part on its own.
	if _, err := e.UpdateConfig(ctx, "spec", ConfigUpdate{ImageConfig: &ImageConfig{EntryPoint: []string{"/var/task/bootstrap"}, WorkingDirectory: "/opt"}}); err != nil {
		t.Fatal(err)
	}
	_, _ = e.Invoke(ctx, InvokeInput{FunctionName: "spec"})
	s = l.last(t)
	if !reflect.DeepEqual(s.Command, []string{"/var/task/bootstrap", "app.handler"}) || s.WorkingDir != "/opt" {
		t.Fatalf("overridden entrypoint and workdir: %+v", s)
	}

	// An image with nothing to run is Lambda's Runtime.InvalidEntrypoint
	// before any sandbox starts.
	images.tag("local/empty:1", testImage(9, v1.Config{}))
	if _, err := createImageFn(ctx, e, "empty", "local/empty:1", nil, false); err != nil {
		t.Fatal(err)
	}
	n := len(l.specs)
	out, err = e.Invoke(ctx, InvokeInput{FunctionName: "empty"})
	if err != nil || !strings.Contains(string(out.Payload), "Runtime.InvalidEntrypoint") || len(l.specs) != n {
		t.Fatalf("image without a command: %+v %v", out, err)
	}
}

func TestImageContainerSpec(t *testing.T) {
	var cs ContainerSpec
	imageContainer(&cs, SandboxSpec{Image: "sha256:abc", Command: []string{"/e", "h"}, WorkingDir: "/w"})
	if cs.Image != "sha256:abc" || !reflect.DeepEqual(cs.Entrypoint, []string{"/e", "h"}) || cs.WorkingDir != "/w" || cs.User != sandboxUser || len(cs.Binds) != 0 {
		t.Fatalf("container of an image function: %+v", cs)
	}
}

func TestImageEngineRestartResumesPull(t *testing.T) {
	root := t.TempDir()
	images := newMemImages()
	images.release = make(chan struct{}) // never released in the first engine
	e, err := NewEngine(root, &specLauncher{}, WithImages(images))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := createImageFn(context.Background(), e, "resume", "127.0.0.1:5000/fn:1", nil, false); err != nil {
		t.Fatal(err)
	}
	e.Close() // cancels the pull; the record stays Pending

	images2 := newMemImages()
	images2.pullTo = testImage(4, lambdaImageConfig)
	e2, err := NewEngine(root, &specLauncher{}, WithImages(images2))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e2.Close)
	got := waitState(t, e2, "resume")
	if got.State != StateActive || got.ImageID != images2.pullTo.ID {
		t.Fatalf("after a restart: %+v", got)
	}
}

func TestResolvedURI(t *testing.T) {
	dg := func(c byte) string { return "sha256:" + strings.Repeat(string(c), 64) }
	local, remote, hub, evil, other := dg('0'), dg('1'), dg('2'), dg('3'), dg('4')
	img := &imagestore.Image{Manifest: local, RepoDigests: []string{"127.0.0.1:5000/team/fn@" + remote, "alpine@" + hub, "evil.io/library/alpine@" + evil, "other/alpine@" + other}}
	for ref, want := range map[string]string{
		"127.0.0.1:5000/team/fn:1":         "127.0.0.1:5000/team/fn@" + remote, // the registry's digest
		"docker.io/library/alpine:3":       "docker.io/library/alpine@" + hub,
		"alpine":                           "alpine@" + hub,
		"docker.io/alpine:3":               "docker.io/alpine@" + hub,
		"local/other:2":                    "local/other@" + local, // imported, or tagged locally
		"local/other":                      "local/other@" + local,
		"localhost:5000/other":             "localhost:5000/other@" + local,
		"127.0.0.1:5000/team/fn@" + remote: "127.0.0.1:5000/team/fn@" + remote, // already pinned
		// Repositories are compared by their normalised names, not by
		// how their names end: another registry's library/alpine, or
		// Docker Hub's other/alpine, is not Docker Hub's alpine.
		"evil.io/library/alpine:1": "evil.io/library/alpine@" + evil,
		"other/alpine:1":           "other/alpine@" + other,
		"evil.io/alpine:1":         "evil.io/alpine@" + local,
	} {
		if got := resolvedURI(ref, img); got != want {
			t.Errorf("resolvedURI(%q) = %q, want %q", ref, got, want)
		}
	}
	img.RepoDigests = []string{"other/alpine@" + other}
	if got := resolvedURI("alpine:3", img); got != "alpine@"+local {
		t.Errorf("resolvedURI(alpine:3) took another repository's digest: %q", got)
	}
}

// A pull's own error may hold another registry's response (its body, its
// headers): it goes to the daemon's log with the API request's ID, never
// to the client, who gets a generic message with the image reference.
func TestImagePullErrorNotEchoed(t *testing.T) {
	const upstream = "UPSTREAM-BODY: <html>internal registry 10.9.8.7 says: token for root expired</html>"
	images := newMemImages()
	images.pullErr = fmt.Errorf("GET https://10.9.8.7/v2/fn/manifests/1: UNAUTHORIZED: %s: %w", upstream, errdefs.ErrUnauthorized)
	var log strings.Builder
	var mu sync.Mutex
	l := slog.New(slog.NewTextHandler(lockedWriter{&mu, &log}, nil))
	e, err := NewEngine(t.TempDir(), &specLauncher{}, WithImages(images), WithLogger(l))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	ctx := WithRequestID(context.Background(), "req-1234")

	// Create pulls in the background: the reason a client reads is clean.
	if _, err := createImageFn(ctx, e, "bg", "10.9.8.7/fn:1", nil, false); err != nil {
		t.Fatal(err)
	}
	got := waitState(t, e, "bg")
	if got.State != StateFailed || strings.Contains(got.StateReason, "UPSTREAM") || strings.Contains(got.StateReason, "10.9.8.7/v2") ||
		!strings.Contains(got.StateReason, "10.9.8.7/fn:1") {
		t.Fatalf("StateReason of a failed pull: %q", got.StateReason)
	}
	// UpdateCode pulls within the request: so is its error.
	images.tag("local/fn:1", testImage(1, lambdaImageConfig))
	if _, err := createImageFn(ctx, e, "fg", "local/fn:1", nil, false); err != nil {
		t.Fatal(err)
	}
	_, err = e.UpdateCode(ctx, "fg", Code{ImageURI: "10.9.8.7/fn:2"}, false)
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
