package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The shim collector counts shims by the program their process runs now,
// keeps one file per shim between scrapes, and forgets shims that end.
func TestShimCollector(t *testing.T) {
	dir := t.TempDir()
	shim := func(name, argv0 string) *exec.Cmd {
		t.Helper()
		cmd := exec.Command("sleep", "60")
		cmd.Args[0] = argv0
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		if err := os.MkdirAll(filepath.Join(dir, name), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name, "shim.pid"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o600); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	shim("a", "sleep")
	b := shim("b", "wharf-shim-dormant")
	shim("c", "wharf-shim-dormant")
	c := newShimCollector(dir)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	want := func(active, dormant int) {
		t.Helper()
		exp := "# HELP wharf_shims Container shims alive, by state (active, dormant).\n# TYPE wharf_shims gauge\n" +
			"wharf_shims{state=\"active\"} " + strconv.Itoa(active) + "\nwharf_shims{state=\"dormant\"} " + strconv.Itoa(dormant) + "\n"
		if err := testutil.GatherAndCompare(reg, strings.NewReader(exp), "wharf_shims"); err != nil {
			t.Fatal(err)
		}
	}
	want(1, 2)
	if len(c.open) != 3 {
		t.Fatalf("%d cmdline files held, want 3", len(c.open))
	}
	// A shim that ends is no longer counted, even with its pid file left.
	_ = b.Process.Kill()
	_ = b.Wait()
	want(1, 1)
	if _, ok := c.open["b"]; ok {
		t.Fatal("the file of an ended shim is still held")
	}
	// A shim whose directory goes is forgotten.
	if err := os.RemoveAll(filepath.Join(dir, "c")); err != nil {
		t.Fatal(err)
	}
	want(1, 0)
	if len(c.open) != 1 {
		t.Fatalf("%d cmdline files held, want 1", len(c.open))
	}
}
