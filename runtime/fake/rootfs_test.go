package fake_test

import (
	"testing"

	"github.com/wharf-dev/wharf/image/snapshot"
	"github.com/wharf-dev/wharf/image/snapshot/testsuite"
	"github.com/wharf-dev/wharf/runtime/fake"
)

// The fake mounter passes the mounter conformance suite that overlayfs
// passes, without privilege.
func TestRootFSConformance(t *testing.T) {
	testsuite.Run(t, func(*testing.T) snapshot.Mounter { return fake.NewRootFS() })
}
