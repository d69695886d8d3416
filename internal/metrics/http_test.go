package metrics

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Requests are counted by the classifier's API and route and by status;
// an unmatched route is "unmatched"; the wrapped writer still hijacks and
// flushes.
func TestAPIMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := NewAPIMetrics(reg)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /things/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "missing" {
			http.NotFound(w, r)
			return
		}
		w.(http.Flusher).Flush()
		_, _ = w.Write([]byte("ok"))
	})
	mux.HandleFunc("POST /attach", func(w http.ResponseWriter, r *http.Request) {
		c, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Errorf("hijack through the recorder: %v", err)
			return
		}
		_, _ = c.Write([]byte("HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\n\r\n"))
		c.Close()
	})
	h := m.Wrap(func(r *http.Request) (string, string) {
		_, p := mux.Handler(r)
		return "test", p
	}, mux)
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, p := range []string{"/things/a", "/things/b", "/things/missing", "/nothing"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	resp, err := http.Post(srv.URL+"/attach", "text/plain", nil)
	if err == nil {
		resp.Body.Close()
	}
	// A handler's request is counted once it returns, which may be after
	// its client read the answer: Close waits for the handlers in flight,
	// but not for a hijacked connection's, which the server no longer
	// tracks: the attach's count is waited for.
	srv.Close()
	for deadline := time.Now().Add(10 * time.Second); testutil.CollectAndCount(m.latency) < 3 && time.Now().Before(deadline); {
		time.Sleep(2 * time.Millisecond)
	}
	want := `
# HELP wharf_api_requests_total Requests served by the daemon's APIs, by API, route template and status code.
# TYPE wharf_api_requests_total counter
wharf_api_requests_total{api="test",code="101",route="POST /attach"} 1
wharf_api_requests_total{api="test",code="200",route="GET /things/{id}"} 2
wharf_api_requests_total{api="test",code="404",route="GET /things/{id}"} 1
wharf_api_requests_total{api="test",code="404",route="unmatched"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "wharf_api_requests_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(m.latency); n != 3 {
		t.Errorf("latency series: %d, want 3 (one per API and route)", n)
	}
}
