package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/spf13/cobra"

	"github.com/wharf-dev/wharf/api/wharf"
	"github.com/wharf-dev/wharf/stream"
)

// fakeDaemon serves the part of the native API that `run` uses, over a
// unix socket, speaking the real wire protocol (the one-request run,
// hijacked attach, streamed wait, JSON progress).
func fakeDaemon(t *testing.T) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "wharf.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var creates atomic.Int32
	attachDone := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("POST /wharf/v1/containers/create", func(w http.ResponseWriter, r *http.Request) {
		if creates.Add(1) == 1 {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"message":"No such image: alpine:latest"}`)
			return
		}
		fmt.Fprint(w, `{"Id":"cid"}`)
	})
	// `run` without -d or a TTY: one request (see nativeapi's runContainer).
	mux.HandleFunc("POST /wharf/v1/containers/run", func(w http.ResponseWriter, r *http.Request) {
		if creates.Add(1) == 1 {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"message":"No such image: alpine:latest"}`)
			return
		}
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		fmt.Fprint(buf, "HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nX-Wharf-Container-Id: cid\r\n\r\n")
		if r.URL.Query().Get("name") == "nostart" {
			_ = stream.WriteFrame(buf, stream.Systemerr, []byte("exec: \"nosuch\": executable file not found in $PATH"))
			_ = stream.WriteFrame(buf, stream.Exit, []byte("127"))
			_ = buf.Flush()
			return
		}
		out, errw := wharf.NewMuxWriters(buf)
		fmt.Fprint(out, "hello\n")
		fmt.Fprint(errw, "oops\n")
		_ = stream.WriteFrame(buf, stream.Exit, []byte("3"))
		_ = buf.Flush()
	})
	mux.HandleFunc("POST /wharf/v1/images/pull", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, `{"id":"l1","status":"Pull complete"}`)
	})
	mux.HandleFunc("POST /wharf/v1/containers/cid/attach", func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		fmt.Fprint(buf, "HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
		out, errw := wharf.NewMuxWriters(buf)
		fmt.Fprint(out, "hello\n")
		fmt.Fprint(errw, "oops\n")
		_ = buf.Flush()
		close(attachDone)
	})
	mux.HandleFunc("POST /wharf/v1/containers/cid/wait", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("condition") != "next-exit" {
			t.Errorf("wait condition = %q", r.URL.Query().Get("condition"))
		}
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		<-attachDone
		fmt.Fprint(w, `{"StatusCode":3}`)
	})
	mux.HandleFunc("POST /wharf/v1/containers/cid/start", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return sock
}

// A run whose start fails gets the daemon's message and docker's exit code.
func TestRunStartFailureExitCode(t *testing.T) {
	sock := fakeDaemon(t)
	var stdout, stderr bytes.Buffer
	err := testRoot(&stdout, &stderr, "-H", "unix://"+sock, "run", "--name", "nostart", "alpine:latest", "nosuch").Execute()
	var ee exitError
	if !errors.As(err, &ee) || ee.code != 127 || ee.err == nil || !strings.Contains(ee.err.Error(), "executable file not found") {
		t.Fatalf("err = %#v, want exit status 127 with the daemon's message", err)
	}
}

// testRoot builds a root command with the CLI commands, as main does.
func testRoot(stdout, stderr *bytes.Buffer, args ...string) *cobra.Command {
	root := &cobra.Command{Use: "wharf", SilenceUsage: true, SilenceErrors: true}
	root.PersistentFlags().StringP("host", "H", "", "")
	addCLICommands(root)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetIn(strings.NewReader(""))
	return root
}

func TestRunPullsAttachesAndExits(t *testing.T) {
	sock := fakeDaemon(t)
	var stdout, stderr bytes.Buffer
	err := testRoot(&stdout, &stderr, "-H", "unix://"+sock, "run", "alpine", "echo", "hello").Execute()
	var ee exitError
	if !errors.As(err, &ee) || ee.code != 3 || ee.err != nil {
		t.Fatalf("err = %#v, want exit status 3", err)
	}
	if stdout.String() != "hello\n" {
		t.Errorf("stdout = %q", stdout.String())
	}
	for _, want := range []string{"Unable to find image 'alpine:latest' locally\n", "l1: Pull complete\n", "Status: Downloaded newer image for alpine:latest\n", "oops\n"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
}
