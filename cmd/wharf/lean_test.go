package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// deniedModules are the daemon's dependencies that the lean entry must not
// link: every CLI call, shim, init and spare sandbox process would pay for
// their package initialisation (nats-server alone also starts a ticker in
// every process). A prefix ending in "/" denies every module under it.
var deniedModules = []string{
	"github.com/nats-io/",
	"github.com/containerd/",
	"google.golang.org/protobuf",
	"google.golang.org/grpc",
	"github.com/moby/moby/",
	"github.com/moby/buildkit",
	"github.com/google/go-containerregistry",
	"github.com/opencontainers/go-digest",
	"github.com/miekg/dns",
	"github.com/vishvananda/netlink",
	"github.com/prometheus/",
	"github.com/distribution/",
	"github.com/aws/",
}

func denied(module string) bool {
	for _, d := range deniedModules {
		if strings.HasSuffix(d, "/") && strings.HasPrefix(module, d) {
			return true
		}
		if d = strings.TrimSuffix(d, "/"); module == d || strings.HasPrefix(module, d+"/") {
			return true
		}
	}
	return false
}

// listedPackage is the part of `go list -json` this test reads.
type listedPackage struct {
	ImportPath string
	Imports    []string
	Module     *struct{ Path string }
}

// TestLeanEntryLinksNoDaemonDependency keeps the lean entry lean: it fails,
// naming the import chain, when this package (built either way: alone or
// with the daemon embedded) depends on a module of the daemon's.
func TestLeanEntryLinksNoDaemonDependency(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	for _, tags := range []string{"", embedTag} {
		args := []string{"list", "-e", "-deps", "-json=ImportPath,Imports,Module"}
		if tags != "" {
			args = append(args, "-tags", tags)
		}
		cmd := exec.Command(goTool(), append(args, ".")...)
		cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list: %v\n%s", err, stderr.String())
		}
		pkgs := map[string]listedPackage{}
		var self string
		dec := json.NewDecoder(bytes.NewReader(out))
		for {
			var p listedPackage
			if err := dec.Decode(&p); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatal(err)
			}
			pkgs[p.ImportPath] = p
			self = p.ImportPath // go list -deps prints the package itself last
		}
		// One report per denied module, through its first package.
		offenders := map[string]string{}
		for path, p := range pkgs {
			if p.Module != nil && denied(p.Module.Path) {
				if first, ok := offenders[p.Module.Path]; !ok || path < first {
					offenders[p.Module.Path] = path
				}
			}
		}
		for _, m := range slices.Sorted(maps.Keys(offenders)) {
			t.Errorf("tags %q: the lean entry links module %s: %s", tags, m, strings.Join(importChain(pkgs, self, offenders[m]), " -> "))
		}
	}
}

// importChain returns a shortest import path from one package to another.
func importChain(pkgs map[string]listedPackage, from, to string) []string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if p == to {
			var chain []string
			for ; p != ""; p = prev[p] {
				chain = append([]string{p}, chain...)
			}
			return chain
		}
		for _, imp := range pkgs[p].Imports {
			if _, seen := prev[imp]; !seen {
				prev[imp] = p
				queue = append(queue, imp)
			}
		}
	}
	return []string{from, "…", to}
}

func TestDenied(t *testing.T) {
	for m, want := range map[string]bool{
		"github.com/nats-io/nats-server/v2": true,
		"github.com/miekg/dns":              true,
		"github.com/miekg/dnsx":             false,
		"github.com/moby/moby/api":          true,
		"github.com/moby/sys/user":          false,
		"github.com/spf13/cobra":            false,
		"google.golang.org/protobuf":        true,
	} {
		if got := denied(m); got != want {
			t.Errorf("denied(%q) = %v, want %v", m, got, want)
		}
	}
}

// goTool returns the go command: the one on PATH, else the toolchain's.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}
