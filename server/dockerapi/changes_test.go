package dockerapi

import (
	"context"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/engine/container"
)

type changesContainers struct {
	fakeContainers
	ch []container.Change
}

func (f *changesContainers) Changes(context.Context, string) ([]container.Change, error) {
	return f.ch, nil
}

// /changes of a container that changed nothing is null, as dockerd; a
// change is listed with Docker's kind.
func TestDockerAPIChangesNull(t *testing.T) {
	f := &changesContainers{fakeContainers: fakeContainers{byID: map[string]*container.Container{}}, ch: []container.Change{}}
	s := New(f, &refImages{}, fakeSystem{})
	defer s.Close()
	if code, body := do(t, s, "GET", "/v1.41/containers/x/changes", ""); code != 200 || strings.TrimSpace(body) != "null" {
		t.Errorf("untouched: %d %q, want null", code, body)
	}
	f.ch = []container.Change{{Path: "/new", Kind: container.ChangeAdd}}
	if code, body := do(t, s, "GET", "/v1.41/containers/x/changes", ""); code != 200 || strings.TrimSpace(body) != `[{"Kind":1,"Path":"/new"}]` {
		t.Errorf("one addition: %d %q", code, body)
	}
}
