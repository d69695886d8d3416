package snapshot_test

import (
	"testing"

	"github.com/wharf-dev/wharf/image/snapshot"
	"github.com/wharf-dev/wharf/image/snapshot/testsuite"
	"github.com/wharf-dev/wharf/internal/testutil"
)

// The kernel's overlayfs passes the mounter conformance suite.
func TestOverlayConformance(t *testing.T) {
	testutil.RequiresRoot(t)
	testsuite.Run(t, func(*testing.T) snapshot.Mounter { return snapshot.Overlay{} })
}
