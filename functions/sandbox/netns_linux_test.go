package sandbox

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/internal/testutil"
)

func TestSandboxNetNSListener(t *testing.T) {
	testutil.RequiresRoot(t)
	path := filepath.Join(t.TempDir(), "ns")
	l, err := sandboxNetNS(path)
	if err != nil {
		t.Fatal(err)
	}
	defer removeNetNS(path)
	defer l.Close()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("inside")) })}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()

	// From the host's namespace, 127.0.0.1:9001 is not this listener.
	if c, err := net.Dial("tcp", "127.0.0.1:9001"); err == nil {
		c.Close()
		t.Log("something else listens on the host's 127.0.0.1:9001; only checking inside")
	}
	// Inside the namespace it answers (nsenter from util-linux joins it).
	out, err := exec.Command("nsenter", "--net="+path, "/bin/busybox", "wget", "-qO-", "http://127.0.0.1:9001/").CombinedOutput()
	if err != nil {
		if _, serr := os.Stat("/bin/busybox"); serr != nil {
			t.Skip("no busybox for the client")
		}
		t.Fatalf("inside the namespace: %v: %s", err, out)
	}
	if !strings.Contains(string(out), "inside") {
		t.Fatalf("got %q", out)
	}
}

// BenchmarkSandboxNetNS is the cold-start cost of a sandbox's network
// namespace with its Runtime API listener, and of its removal.
func BenchmarkSandboxNetNS(b *testing.B) {
	testutil.RequiresRoot(b)
	dir := b.TempDir()
	i := 0
	for b.Loop() {
		i++
		path := filepath.Join(dir, "ns"+strconv.Itoa(i))
		l, err := sandboxNetNS(path)
		if err != nil {
			b.Fatal(err)
		}
		l.Close()
		if err := removeNetNS(path); err != nil {
			b.Fatal(err)
		}
	}
}

// The directory of the namespace pins is 0700 even when an older daemon
// made it 0755: a pin gives whoever opens it the sandbox's network.
func TestSandboxNetNSTightensDir(t *testing.T) {
	testutil.RequiresRoot(t)
	dir := filepath.Join(t.TempDir(), "fnns")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "ns")
	l, err := sandboxNetNS(path)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	defer removeNetNS(path)
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Fatalf("the namespace directory is %v, want 0700", fi.Mode().Perm())
	}
}
