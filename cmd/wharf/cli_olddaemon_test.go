package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/wharf-dev/wharf/api/wharf"
	"github.com/wharf-dev/wharf/errdefs"
)

// oldDaemon is an httptest server on a unix socket that speaks the native
// API as daemons before API versioning did: no version header, /version
// says "1", and neither the one-request run nor the one-request exec
// exist (its router answers them with Go's plain-text 404). It records
// the requests it gets.
type oldDaemon struct {
	sock string
	mu   sync.Mutex
	reqs []string
}

func (d *oldDaemon) requests() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.reqs...)
}

func startOldDaemon(t *testing.T) *oldDaemon {
	t.Helper()
	d := &oldDaemon{sock: filepath.Join(t.TempDir(), "wharf.sock")}
	l, err := net.Listen("unix", d.sock)
	if err != nil {
		t.Fatal(err)
	}
	hijack := func(w http.ResponseWriter) (net.Conn, *bytes.Buffer) {
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return nil, nil
		}
		fmt.Fprint(buf, "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
		_ = buf.Flush()
		return conn, &bytes.Buffer{}
	}
	attached := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /wharf/v1/version", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"Version":"0.9","APIVersion":"1"}`)
	})
	mux.HandleFunc("POST /wharf/v1/containers/create", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"Id":"cid"}`)
	})
	mux.HandleFunc("POST /wharf/v1/containers/cid/attach", func(w http.ResponseWriter, r *http.Request) {
		conn, _ := hijack(w)
		if conn == nil {
			return
		}
		defer conn.Close()
		out, errw := wharf.NewMuxWriters(conn)
		fmt.Fprint(out, "hello\n")
		fmt.Fprint(errw, "oops\n")
		close(attached)
	})
	mux.HandleFunc("POST /wharf/v1/containers/cid/wait", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		<-attached
		fmt.Fprint(w, `{"StatusCode":3}`)
	})
	mux.HandleFunc("POST /wharf/v1/containers/cid/start", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /wharf/v1/containers/cid/exec", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"Id":"xid"}`)
	})
	mux.HandleFunc("POST /wharf/v1/exec/xid/start", func(w http.ResponseWriter, r *http.Request) {
		conn, _ := hijack(w)
		if conn == nil {
			return
		}
		defer conn.Close()
		out, _ := wharf.NewMuxWriters(conn)
		fmt.Fprint(out, "from exec\n")
	})
	mux.HandleFunc("GET /wharf/v1/exec/xid/json", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"ID":"xid","Running":false,"ExitCode":4}`)
	})
	mux.HandleFunc("POST /wharf/v1/images/import", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"Id":"sha256:abc"}`)
	})
	mux.HandleFunc("POST /wharf/v1/images/pull", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, `{"status":"Pull complete"}`)
	})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		d.reqs = append(d.reqs, r.Method+" "+r.URL.Path)
		d.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return d
}

// A CLI newer than its daemon read the daemon's 404 for the one-request
// run as a missing image and pulled; it now sees that the daemon does not
// know the request and runs the container in the older steps.
func TestRunOnAnOldDaemonFallsBackToTheSteps(t *testing.T) {
	d := startOldDaemon(t)
	var stdout, stderr bytes.Buffer
	err := testRoot(&stdout, &stderr, "-H", "unix://"+d.sock, "run", "alpine", "echo", "hello").Execute()
	var ee exitError
	if !errors.As(err, &ee) || ee.code != 3 || ee.err != nil {
		t.Fatalf("err = %#v, want exit status 3; stderr:\n%s", err, stderr.String())
	}
	if stdout.String() != "hello\n" || !strings.Contains(stderr.String(), "oops\n") {
		t.Errorf("stdout %q, stderr %q", stdout.String(), stderr.String())
	}
	for _, r := range d.requests() {
		if strings.Contains(r, "/images/pull") {
			t.Errorf("the CLI pulled the image: %v", d.requests())
		}
	}
	if strings.Contains(stderr.String(), "Unable to find image") {
		t.Errorf("the CLI took the old daemon's 404 for a missing image:\n%s", stderr.String())
	}
}

// The one-request exec falls back to exec create and start, with the exit
// code from the exec's inspect.
func TestExecOnAnOldDaemonFallsBack(t *testing.T) {
	d := startOldDaemon(t)
	var stdout, stderr bytes.Buffer
	err := testRoot(&stdout, &stderr, "-H", "unix://"+d.sock, "exec", "cid", "sh", "-c", "exit 4").Execute()
	var ee exitError
	if !errors.As(err, &ee) || ee.code != 4 {
		t.Fatalf("err = %#v, want exit status 4; stderr:\n%s", err, stderr.String())
	}
	if stdout.String() != "from exec\n" {
		t.Errorf("stdout %q", stdout.String())
	}
}

// What an old daemon would drop silently is refused with a clear error,
// before anything is sent.
func TestImportMessageNeedsANewerDaemon(t *testing.T) {
	d := startOldDaemon(t)
	f := filepath.Join(t.TempDir(), "rootfs.tar")
	if err := os.WriteFile(f, []byte("not read"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	err := testRoot(&stdout, &stderr, "-H", "unix://"+d.sock, "import", "-m", "msg", f, "x:1").Execute()
	if !errdefs.IsNotImplemented(err) || !strings.Contains(fmt.Sprint(err), "needs a daemon with API version 1.1 or later; this daemon has 1.0") {
		t.Fatalf("import -m on an old daemon: %v", err)
	}
	for _, r := range d.requests() {
		if strings.Contains(r, "/images/import") {
			t.Errorf("the import was sent: %v", d.requests())
		}
	}
	// Without -m the old daemon serves it.
	if err := testRoot(&stdout, &stderr, "-H", "unix://"+d.sock, "import", f, "x:1").Execute(); err != nil {
		t.Errorf("import without -m: %v", err)
	}
}
