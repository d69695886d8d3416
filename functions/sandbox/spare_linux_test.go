package sandbox

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/functions/spareproc"
)

func TestStaticBinary(t *testing.T) {
	for path, want := range map[string]bool{"/bin/busybox": true, "/bin/sh": false} {
		if _, err := os.Stat(path); err != nil {
			t.Skipf("%s: %v", path, err)
		}
		got, err := StaticBinary(path)
		if err != nil || got != want {
			t.Errorf("StaticBinary(%s) = %v, %v; want %v", path, got, err, want)
		}
	}
	if _, err := StaticBinary("/etc/passwd"); err == nil {
		t.Error("a text file passed as an ELF binary")
	}
}

// The waiting process's request blocks until the claim, gets the order
// once; later asks are refused; everything else is the Runtime API's.
func TestSpareHandler(t *testing.T) {
	sp := &spare{order: make(chan []byte, 1), waiting: make(chan struct{})}
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "runtime api") })
	srv := httptest.NewServer(spareHandler{api: api, sp: sp})
	defer srv.Close()

	got := make(chan string, 1)
	go func() {
		resp, err := http.Get(srv.URL + spareproc.StartPath)
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	select {
	case <-sp.waiting:
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting request was not seen")
	}
	select {
	case s := <-got:
		t.Fatalf("answered before the claim: %q", s)
	case <-time.After(50 * time.Millisecond):
	}
	sp.order <- []byte(`{"args":["/var/task/bootstrap"]}`)
	if s := <-got; s != `{"args":["/var/task/bootstrap"]}` {
		t.Fatalf("order %q", s)
	}
	resp, err := http.Get(srv.URL + spareproc.StartPath)
	if err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("a second ask: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	resp, err = http.Get(srv.URL + "/2018-06-01/runtime/invocation/next")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "runtime api" {
		t.Fatalf("Runtime API path answered %q", b)
	}
}
