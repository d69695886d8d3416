package imagefn

import (
	"reflect"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/wharf-dev/wharf/functions"
	imagestore "github.com/wharf-dev/wharf/image/store"
)

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

// ImageConfig overrides each part of the image's config on its own, and
// the Lambda environment gives way to the image's where Lambda's does.
func TestImageCommandAndEnv(t *testing.T) {
	img := &imagestore.Image{Config: &v1.ConfigFile{Config: v1.Config{
		Entrypoint: []string{"/lambda-entrypoint.sh"}, Cmd: []string{"app.handler"}, WorkingDir: "/var/task",
		Env: []string{"PATH=/var/lang/bin:/usr/bin:/bin", "LANG=C.UTF-8", "AWS_EXECUTION_ENV=AWS_Lambda_image"},
	}}}
	argv, cmd, wd := imageCommand(nil, img)
	if !reflect.DeepEqual(argv, []string{"/lambda-entrypoint.sh", "app.handler"}) || !reflect.DeepEqual(cmd, []string{"app.handler"}) || wd != "/var/task" {
		t.Fatalf("image defaults: %v %v %q", argv, cmd, wd)
	}
	argv, _, wd = imageCommand(&functions.ImageConfig{EntryPoint: []string{"/var/task/bootstrap"}, WorkingDirectory: "/opt"}, img)
	if !reflect.DeepEqual(argv, []string{"/var/task/bootstrap", "app.handler"}) || wd != "/opt" {
		t.Fatalf("overrides: %v %q", argv, wd)
	}
	c := &functions.Config{Environment: map[string]string{"LANG": "de_DE.UTF-8"}}
	env := imageEnv([]string{"PATH=/usr/bin", "LANG=en_US.UTF-8", "AWS_EXECUTION_ENV=AWS_Lambda_", "_HANDLER=", "MINE=1"}, c, img, []string{"app.handler"})
	if !reflect.DeepEqual(env, []string{"LANG=en_US.UTF-8", "_HANDLER=app.handler", "MINE=1"}) {
		t.Fatalf("env %v", env)
	}
}
