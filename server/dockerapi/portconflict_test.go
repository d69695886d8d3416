package dockerapi

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/engine/network/portspec"
	"github.com/wharf-dev/wharf/errdefs"
)

type portTakenContainers struct{ fakeContainers }

func (portTakenContainers) Start(context.Context, string) error {
	return fmt.Errorf("driver failed programming external connectivity: Bind for 127.0.0.1:8080/tcp failed: %w: %w",
		portspec.ErrPortAllocated, errdefs.ErrConflict)
}

// A host port already taken fails start with 500, as dockerd (whose port
// allocator's error has no class), and dockerd's message.
func TestDockerAPIStartPortTaken(t *testing.T) {
	s := New(&portTakenContainers{fakeContainers{byID: map[string]*container.Container{}}}, &refImages{}, fakeSystem{})
	defer s.Close()
	code, body := do(t, s, "POST", "/v1.41/containers/x/start", "")
	if code != 500 || !strings.Contains(body, "Bind for 127.0.0.1:8080/tcp failed: port is already allocated\"") {
		t.Errorf("start: %d %s", code, body)
	}
}
