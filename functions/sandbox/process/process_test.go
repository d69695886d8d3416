package process_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/wharf-dev/wharf/functions/sandbox"
	"github.com/wharf-dev/wharf/functions/sandbox/process"
	"github.com/wharf-dev/wharf/functions/sandbox/sandboxtest"
	"github.com/wharf-dev/wharf/internal/testutil"
)

// The process launcher runs the real hellofn, an aws-lambda-go program.
func TestSuite(t *testing.T) {
	bin, err := os.ReadFile(testutil.HelloFunction(t))
	if err != nil {
		t.Fatal(err)
	}
	sandboxtest.Run(t, func(t *testing.T) sandboxtest.Target {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "bootstrap"), bin, 0o755); err != nil {
			t.Fatal(err)
		}
		return sandboxtest.Target{Launcher: process.Launcher{}, Spec: sandbox.Spec{Function: "fn", Version: "$LATEST", CodeDir: dir, Env: []string{"AWS_LAMBDA_FUNCTION_NAME=fn", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128"}}}
	})
}
