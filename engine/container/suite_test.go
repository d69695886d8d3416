package container_test

import (
	"os"
	"testing"

	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/engine/container/testsuite"
	"github.com/wharf-dev/wharf/internal/testutil"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testutil.RemoveBuiltWharf()
	testutil.RemoveEmptyCgroupParents()
	os.Exit(code)
}

const fakeImage = testsuite.FakeImage

// The engine's container lifecycle conformance suite, on the fake
// runtime: no privilege needed.
func TestLifecycleOnFake(t *testing.T) {
	testsuite.Run(t, testsuite.FakeEnv)
}

func newFakeEngine(t *testing.T, opts ...container.Option) *testsuite.Fake {
	return testsuite.NewFake(t, opts...)
}
