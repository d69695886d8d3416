package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/internal/natsbox"
)

// A call on a node that does not lead goes to the leader's handler as it
// came (method, URI, Host, headers, body: a SigV4 signature still holds)
// and its answer comes back whole; with no leader the call is a 503; an
// oversized answer is refused rather than cut.
func TestBatchForwardToLeader(t *testing.T) {
	box, err := natsbox.Start(natsbox.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	log := slog.New(slog.DiscardHandler)
	follower := &clusterBatch{nc: box.Conn(), log: log}
	leader := &clusterBatch{nc: box.Conn(), log: log}

	call := func(kind, method, target, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, target, strings.NewReader(body))
		r.Host = "10.0.0.1:9280"
		r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AK/20261204/us-east-1/batch/aws4_request, SignedHeaders=host, Signature=00")
		w := httptest.NewRecorder()
		follower.handler(kind).ServeHTTP(w, r)
		return w
	}
	if w := call("api", "POST", "/v1/describejobs", `{}`); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("without a leader: %d %s", w.Code, w.Body)
	}

	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Seen", r.Method+" "+r.RequestURI+" "+r.Host+" "+strings.Fields(r.Header.Get("Authorization") + " -")[0])
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write(append([]byte("api:"), body...))
	})
	big := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(make([]byte, 2<<20))
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sub, err := leader.serve(ctx, &batchTerm{api: echo, native: big})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	w := call("api", "POST", "/v1/submitjob?x=1", `{"jobName":"a"}`)
	if w.Code != http.StatusAccepted || w.Body.String() != `api:{"jobName":"a"}` ||
		w.Header().Get("X-Seen") != "POST /v1/submitjob?x=1 10.0.0.1:9280 AWS4-HMAC-SHA256" {
		t.Fatalf("forwarded: %d %q %q", w.Code, w.Body, w.Header().Get("X-Seen"))
	}
	if w := call("native", "GET", "/wharf/v1/batch/jobs", ""); w.Code != http.StatusBadGateway {
		t.Fatalf("an answer too large: %d", w.Code)
	}
	// The leader serves its own calls without NATS.
	leader.cur = &batchTerm{api: echo}
	r := httptest.NewRequest("POST", "/v1/listjobs", strings.NewReader("x"))
	lw := httptest.NewRecorder()
	leader.handler("api").ServeHTTP(lw, r)
	if lw.Code != http.StatusAccepted || lw.Body.String() != "api:x" {
		t.Fatalf("on the leader: %d %s", lw.Code, lw.Body)
	}
}
