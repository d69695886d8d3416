package dockerapi

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/image/store"
)

type layeredImages struct{ refImages }

func (layeredImages) LayerDirs(_ context.Context, img *store.Image) ([]string, error) {
	return []string{"/l/base/fs", "/l/mid/fs", "/l/top/fs"}, nil
}

// Image inspect names the storage driver and where the layers are, in
// dockerd's overlay2 shape: the top layer as UpperDir, the others nearest
// first as LowerDir.
func TestDockerAPIImageGraphDriver(t *testing.T) {
	id := "sha256:" + strings.Repeat("a", 64)
	imgs := &layeredImages{refImages{imgs: []*store.Image{{ID: id, RepoTags: []string{"busybox:latest"}}}}}
	s := New(&fakeContainers{byID: map[string]*container.Container{}}, imgs, fakeSystem{})
	defer s.Close()
	code, body := do(t, s, "GET", "/v1.41/images/busybox/json", "")
	var got struct {
		GraphDriver struct {
			Name string
			Data map[string]string
		}
	}
	_ = json.Unmarshal([]byte(body), &got)
	gd := got.GraphDriver
	if code != 200 || gd.Name != "overlay2" || gd.Data["UpperDir"] != "/l/top/fs" || gd.Data["LowerDir"] != "/l/mid/fs:/l/base/fs" {
		t.Errorf("%d %s", code, body)
	}
}
