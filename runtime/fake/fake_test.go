package fake_test

import (
	"testing"

	"github.com/wharf-dev/wharf/runtime/fake"
	"github.com/wharf-dev/wharf/runtime/task"
	"github.com/wharf-dev/wharf/runtime/testsuite"
)

// The fake passes the runtime conformance suite, without privilege.
func TestConformance(t *testing.T) {
	image, err := fake.RootfsTar()
	if err != nil {
		t.Fatal(err)
	}
	hosts := map[task.Runtime]*fake.Host{}
	testsuite.Run(t, testsuite.Config{
		New: func(t *testing.T) task.Runtime {
			h := fake.NewHost()
			rt := h.Runtime()
			hosts[rt] = h
			return rt
		},
		Restart: func(t *testing.T, old task.Runtime) task.Runtime {
			old.Close()
			rt := hosts[old].Runtime()
			hosts[rt] = hosts[old]
			return rt
		},
		Rootfs:   func(t *testing.T) string { return testsuite.RootfsFromTar(t, image) },
		InitPath: "/bin/sh",
	})
}
