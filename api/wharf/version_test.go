package wharf

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/wharf-dev/wharf/errdefs"
)

func unixServer(t *testing.T, h http.Handler) *Client {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "s.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	c, err := NewClient("unix://" + sock)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A request the daemon's router does not know is a MissingRouteError of
// class not-implemented, never a not-found: a handler's 404 (a JSON
// error) stays one.
func TestMissingRouteIsNotANotFound(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /wharf/v1/containers/create", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"message":"No such image: x:latest"}`)
	})
	mux.HandleFunc("GET /wharf/v1/version", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"APIVersion":"1"}`)
	})
	c := unixServer(t, mux)
	ctx := context.Background()
	err := c.Do(ctx, "POST", "/containers/create", nil, struct{}{}, nil)
	if !errdefs.IsNotFound(err) || IsMissingRoute(err) || err.Error() != "No such image: x:latest" {
		t.Errorf("a handler's 404: %v", err)
	}
	err = c.Do(ctx, "POST", "/containers/run", nil, struct{}{}, nil)
	if !IsMissingRoute(err) || errdefs.IsNotFound(err) || !errdefs.IsNotImplemented(err) {
		t.Errorf("a route the daemon lacks: %v", err)
	}
	if v, err := c.DaemonAPIVersion(ctx); err != nil || v != LegacyAPIVersion {
		t.Errorf("version of a daemon without the header: %q %v", v, err)
	}
	if err := c.RequireAPIVersion(ctx, "1.1", "x"); !errdefs.IsNotImplemented(err) {
		t.Errorf("RequireAPIVersion on a 1.0 daemon: %v", err)
	}
}

// A daemon that sends the header is taken at its word.
func TestDaemonVersionFromTheHeader(t *testing.T) {
	c := unixServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(VersionHeader, "1.7")
		fmt.Fprint(w, `{}`)
	}))
	if v, err := c.DaemonAPIVersion(context.Background()); err != nil || v != "1.7" {
		t.Errorf("DaemonAPIVersion: %q %v", v, err)
	}
	if err := c.RequireAPIVersion(context.Background(), "1.1", "x"); err != nil {
		t.Errorf("RequireAPIVersion(1.1) on 1.7: %v", err)
	}
	for _, tc := range []struct {
		a, b string
		less bool
	}{{"1", "1.1", true}, {"1.0", "1", false}, {"1.9", "1.10", true}, {"2.0", "1.10", false}, {"1.1", "1.1", false}} {
		if VersionLess(tc.a, tc.b) != tc.less {
			t.Errorf("VersionLess(%s, %s) != %v", tc.a, tc.b, tc.less)
		}
	}
}
