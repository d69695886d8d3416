package dockerapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/image/store"
)

// refImages records the references the handlers hand to the store.
type refImages struct {
	Images
	imgs   []*store.Image
	pulled string
	tagged string
}

func (f *refImages) List(context.Context) ([]*store.Image, error) { return f.imgs, nil }
func (f *refImages) Get(_ context.Context, ref string) (*store.Image, error) {
	for _, img := range f.imgs {
		if img.ID == ref {
			return img, nil
		}
		for _, t := range img.RepoTags {
			if t == ref || t == ref+":latest" {
				return img, nil
			}
		}
	}
	return nil, fmt.Errorf("image %q: %w", ref, errdefs.ErrNotFound)
}
func (f *refImages) Pull(_ context.Context, ref string, _ func(store.Progress)) (*store.Image, error) {
	f.pulled = ref
	return &store.Image{ID: "sha256:" + strings.Repeat("c", 64), RepoDigests: []string{"busybox@sha256:" + strings.Repeat("d", 64)}}, nil
}
func (f *refImages) Tag(_ context.Context, _, target string) error {
	f.tagged = target
	return nil
}

// The Docker API reads image references as dockerd does (image/reference
// over go-containerregistry's name): a malformed one is answered 400 with
// dockerd's message before anything streams or reaches the store, a
// well-formed one reaches the store in its familiar form, and the
// reference filter matches normalised names.
func TestDockerAPIImageReferences(t *testing.T) {
	imgs := &refImages{imgs: []*store.Image{
		{ID: "sha256:" + strings.Repeat("a", 64), RepoTags: []string{"busybox:latest"}},
		{ID: "sha256:" + strings.Repeat("b", 64), RepoTags: []string{"localhost:5000/app:1"}},
	}}
	s := New(&fakeContainers{byID: map[string]*container.Container{}}, imgs, fakeSystem{})
	defer s.Close()
	message := func(body string) string {
		var e struct{ Message string }
		_ = json.Unmarshal([]byte(body), &e)
		return e.Message
	}

	for _, tc := range []struct{ path, msg string }{
		{"/images/create?fromImage=Busybox", "invalid reference format: repository name (library/Busybox) must be lowercase"},
		{"/images/create?fromImage=foo//bar", "invalid reference format"},
		{"/images/create?fromImage=busybox&tag=-x", "invalid tag format"},
		{"/images/busybox/tag?repo=foo/-bar", "invalid reference format"},
		{"/images/busybox/tag?repo=busybox&tag=a:b", "invalid tag format"},
		{"/images/busybox/tag?repo=sha256", "refusing to create an ambiguous tag using digest algorithm as name"},
	} {
		code, body := do(t, s, "POST", "/v1.44"+tc.path, "")
		if code != 400 || message(body) != tc.msg {
			t.Errorf("POST %s: %d %s, want 400 %q", tc.path, code, body, tc.msg)
		}
	}
	if imgs.pulled != "" || imgs.tagged != "" {
		t.Errorf("a malformed reference reached the store: pull %q, tag %q", imgs.pulled, imgs.tagged)
	}

	code, body := do(t, s, "POST", "/v1.44/images/create?fromImage=docker.io/library/busybox&tag=1.36", "")
	if code != 200 || imgs.pulled != "busybox:1.36" || !strings.Contains(body, "Downloaded newer image for busybox:1.36") ||
		!strings.Contains(body, `"status":"Digest: sha256:dddd`) {
		t.Errorf("pull: %d %q, store asked for %q", code, body, imgs.pulled)
	}
	if code, _ := do(t, s, "POST", "/v1.44/images/busybox/tag?repo=docker.io/user/app&tag=2", ""); code != 201 || imgs.tagged != "user/app:2" {
		t.Errorf("tag: %d, store asked for %q", code, imgs.tagged)
	}

	for pattern, want := range map[string]string{
		"busybox":                      "busybox:latest",
		"docker.io/library/busybox":    "busybox:latest",
		"busybox:*":                    "busybox:latest",
		"localhost:5000/app":           "localhost:5000/app:1",
		"localhost:5000/*:1":           "localhost:5000/app:1",
		"docker.io/library/busybox:l*": "busybox:latest",
	} {
		f, _ := json.Marshal(map[string][]string{"reference": {pattern}})
		code, body := do(t, s, "GET", "/v1.44/images/json?filters="+url.QueryEscape(string(f)), "")
		var list []struct{ RepoTags []string }
		_ = json.Unmarshal([]byte(body), &list)
		if code != 200 || len(list) != 1 || len(list[0].RepoTags) != 1 || list[0].RepoTags[0] != want {
			t.Errorf("reference=%s: %d %s, want only %s", pattern, code, body, want)
		}
	}
}

// An image with neither tag nor digest lists as "<none>:<none>" and
// "<none>@<none>" before API 1.43 (dockerd 20.10) and as empty lists from
// 1.43 on.
func TestDockerAPIImageListNone(t *testing.T) {
	imgs := &refImages{imgs: []*store.Image{{ID: "sha256:" + strings.Repeat("a", 64)}}}
	s := New(&fakeContainers{byID: map[string]*container.Container{}}, imgs, fakeSystem{})
	defer s.Close()
	for v, want := range map[string][2][]string{
		"1.41": {{"<none>:<none>"}, {"<none>@<none>"}},
		"1.43": {{}, {}},
	} {
		code, body := do(t, s, "GET", "/v"+v+"/images/json", "")
		var list []struct{ RepoTags, RepoDigests []string }
		_ = json.Unmarshal([]byte(body), &list)
		if code != 200 || len(list) != 1 || list[0].RepoTags == nil || list[0].RepoDigests == nil ||
			fmt.Sprint(list[0].RepoTags, list[0].RepoDigests) != fmt.Sprint(want[0], want[1]) {
			t.Errorf("API %s: %d %s, want tags %q digests %q", v, code, body, want[0], want[1])
		}
	}
}
