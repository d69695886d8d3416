// Package wharfbuild builds the one wharf artifact. It is the single place
// that knows how: `make build` (through ./scripts/build), the test harness
// (internal/testutil.BuildWharf) and the benchmarks all call Build.
//
// wharf is two main packages linked into one file:
//
//   - cmd/wharfd, the daemon, with every library the engine, the image
//     store, the networks and the functions need;
//   - cmd/wharf, the lean entry: the CLI, the shim, wharf-init and the spare
//     sandbox process, which start often and must not pay for the daemon's
//     package initialisation. On amd64 it is linked with the dormant shim's
//     assembly entry (runtime/shim/dormant_amd64.s).
//
// Build compiles the daemon first and hands it, with its sha256, to the
// lean entry's compilation as cmd/wharf/embedded/{wharfd,wharfd.sha256}
// through a -overlay file, with the build tag wharfd_embed. Nothing is
// generated inside the source tree, so concurrent builds (parallel test
// packages, a `make build` beside them) never see each other's files, and
// a clean clone builds, vets and tests without the tag.
//
// Both binaries are static (CGO_ENABLED=0): no dynamic loader and no libc
// at the start of every CLI call and shim, and a spare function sandbox can
// run the lean binary in an image without libc.
package wharfbuild

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// dormantEntry is runtime/shim.DormantEntry, spelled out so that this
// package (which the testcontainers module links through testutil) does
// not pull in the shim's dependencies; a test keeps the two equal.
const dormantEntry = "wharf_rt0"

// embedTag is the build tag under which cmd/wharf embeds the daemon.
const embedTag = "wharfd_embed"

// Build builds the wharf artifact of the module rooted at root into out
// (relative to the working directory). The go command's output is in the
// error when a step fails.
func Build(ctx context.Context, root, out string) error {
	root, err := filepath.Abs(root)
	if err != nil {
		return err
	}
	if out, err = filepath.Abs(out); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "wharfbuild-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	daemon := filepath.Join(tmp, "wharfd")
	if err := goBuild(ctx, root, "-o", daemon, "./cmd/wharfd"); err != nil {
		return err
	}
	digest, err := fileSHA256(daemon)
	if err != nil {
		return err
	}
	sumFile := filepath.Join(tmp, "wharfd.sha256")
	if err := os.WriteFile(sumFile, []byte(digest+"\n"), 0o644); err != nil {
		return err
	}
	embedded := filepath.Join(root, "cmd", "wharf", "embedded")
	overlay, err := json.Marshal(map[string]map[string]string{"Replace": {
		filepath.Join(embedded, "wharfd"):        daemon,
		filepath.Join(embedded, "wharfd.sha256"): sumFile,
	}})
	if err != nil {
		return err
	}
	overlayFile := filepath.Join(tmp, "overlay.json")
	if err := os.WriteFile(overlayFile, overlay, 0o644); err != nil {
		return err
	}
	args := []string{"-tags", embedTag, "-overlay", overlayFile}
	arch, err := goEnv(ctx, root, "GOARCH")
	if err != nil {
		return err
	}
	if arch == "amd64" {
		args = append(args, "-ldflags=-E="+dormantEntry)
	}
	return goBuild(ctx, root, append(args, "-o", out, "./cmd/wharf")...)
}

func goBuild(ctx context.Context, root string, args ...string) error {
	cmd := exec.CommandContext(ctx, GoTool(), append([]string{"build"}, args...)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

func goEnv(ctx context.Context, root, name string) (string, error) {
	cmd := exec.CommandContext(ctx, GoTool(), "env", name)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go env %s: %w", name, err)
	}
	return strings.TrimSpace(string(out)), nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// GoTool returns the go command: the one on PATH, else the toolchain's.
func GoTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// ModuleRoot walks up from the working directory to the directory holding
// go.mod.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}
