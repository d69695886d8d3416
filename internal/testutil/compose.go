package testutil

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/wharfbuild"
)

// The compose v2 CLI plugin the tests drive: built from its Go module at a
// named version, never committed. Go 1.26.8 builds v5.6.0; a newer one may
// need a newer Go.
const (
	ComposeModule  = "github.com/docker/compose/v5"
	ComposeVersion = "v5.6.0"
)

// ComposePlugin returns the path of a docker-compose CLI plugin built from
// ComposeModule at ComposeVersion. It is built once per machine (about two
// minutes on two cores with an empty Go build cache, seconds with a warm
// one) into the user's cache directory and reused; concurrent test
// binaries wait for one build. Building needs only the Go module proxy.
func ComposePlugin(t testing.TB) string {
	t.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(cache, "wharf-test", "compose-"+ComposeVersion)
	bin := filepath.Join(dir, "docker-compose")
	if fi, err := os.Stat(bin); err == nil && fi.Mode()&0o111 != 0 {
		return bin
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if _, err := os.Stat(bin); err == nil {
		return bin // another test binary built it while we waited
	}
	start := time.Now()
	if err := buildCompose(t, bin); err != nil {
		t.Fatalf("build the compose plugin (%s@%s): %v", ComposeModule, ComposeVersion, err)
	}
	t.Logf("built the compose plugin %s@%s in %v", ComposeModule, ComposeVersion, time.Since(start).Round(time.Second))
	return bin
}

// buildCompose builds compose's main package in a throwaway module that
// requires it: compose's go.mod has exclude directives, which `go install
// pkg@version` refuses, so the module's excludes and checksums are carried
// over and the build resolves exactly the versions compose's go.mod names.
func buildCompose(t testing.TB, bin string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	goTool := wharfbuild.GoTool()
	work := t.TempDir()
	run := func(args ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, goTool, args...)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "CGO_ENABLED=0")
		out, err := cmd.Output()
		if ee, ok := err.(*exec.ExitError); ok {
			return out, fmt.Errorf("go %v: %v\n%s", args, err, ee.Stderr)
		}
		return out, err
	}
	mod := ComposeModule + "@" + ComposeVersion
	out, err := run("mod", "download", "-json", mod)
	if err != nil {
		return err
	}
	var dl struct{ GoMod, Dir string }
	if err := json.Unmarshal(out, &dl); err != nil {
		return fmt.Errorf("go mod download %s: %w", mod, err)
	}
	out, err = run("mod", "edit", "-json", dl.GoMod)
	if err != nil {
		return err
	}
	var gm struct {
		Go      string
		Exclude []struct{ Path, Version string }
		Replace []struct {
			Old, New struct{ Path, Version string }
		}
	}
	if err := json.Unmarshal(out, &gm); err != nil {
		return fmt.Errorf("compose's go.mod: %w", err)
	}
	goMod := fmt.Sprintf("module wharf.test/composebuild\n\ngo %s\n\nrequire %s %s\n", gm.Go, ComposeModule, ComposeVersion)
	for _, e := range gm.Exclude {
		goMod += fmt.Sprintf("exclude %s %s\n", e.Path, e.Version)
	}
	for _, r := range gm.Replace {
		if r.New.Version == "" {
			// A local directory replacement cannot be carried over.
			return fmt.Errorf("compose's go.mod replaces %s with a directory", r.Old.Path)
		}
		goMod += fmt.Sprintf("replace %s %s => %s %s\n", r.Old.Path, r.Old.Version, r.New.Path, r.New.Version)
	}
	if err := os.WriteFile(filepath.Join(work, "go.mod"), []byte(goMod), 0o644); err != nil {
		return err
	}
	sum, err := os.ReadFile(filepath.Join(dl.Dir, "go.sum"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(work, "go.sum"), sum, 0o644); err != nil {
		return err
	}
	tmp := bin + ".tmp"
	if _, err := run("build", "-trimpath",
		"-ldflags", "-s -w -X "+ComposeModule+"/internal.Version="+ComposeVersion,
		"-o", tmp, ComposeModule+"/cmd"); err != nil {
		return err
	}
	return os.Rename(tmp, bin)
}
