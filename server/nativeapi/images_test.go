package nativeapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/image/store"
)

type pullImages struct {
	Images
	pulled string
}

func (f *pullImages) Pull(_ context.Context, ref string, _ func(store.Progress)) (*store.Image, error) {
	f.pulled = ref
	return &store.Image{ID: "sha256:" + strings.Repeat("c", 64), RepoDigests: []string{"busybox@sha256:" + strings.Repeat("d", 64)}}, nil
}

// The native API reads a pull's reference as the Docker API does: a
// malformed one is answered 400 with dockerd's message before the
// progress stream starts.
func TestNativeAPIPullReference(t *testing.T) {
	imgs := &pullImages{}
	s := New(newRecContainers(), imgs, nil, slog.New(slog.DiscardHandler))
	code, body := serveReq(t, s, "POST", "/wharf/v1/images/pull?ref=Busybox", "")
	var e struct{ Message string }
	_ = json.Unmarshal([]byte(body), &e)
	if code != 400 || e.Message != "invalid reference format: repository name (library/Busybox) must be lowercase" || imgs.pulled != "" {
		t.Errorf("pull Busybox: %d %s (store asked for %q)", code, body, imgs.pulled)
	}
	code, body = serveReq(t, s, "POST", "/wharf/v1/images/pull?ref=busybox", "")
	if code != 200 || imgs.pulled != "busybox" || !strings.Contains(body, "Digest: sha256:dddd") {
		t.Errorf("pull busybox: %d %s", code, body)
	}
}
