package lambdaapi

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/functions"
	"github.com/wharf-dev/wharf/identity"
)

// BenchmarkInvokeHandler is the cost of one warm Invoke through the Lambda
// API: the SigV4 verification, routing, decoding and encoding, and the
// engine's invocation over the Runtime API of an in-process sandbox that
// answers at once (a loopback round trip).
func BenchmarkInvokeHandler(b *testing.B) {
	keys, err := identity.OpenKeys(filepath.Join(b.TempDir(), "keys.json"))
	if err != nil {
		b.Fatal(err)
	}
	key, err := keys.Create()
	if err != nil {
		b.Fatal(err)
	}
	svc := newEngine(b).Engine
	if _, err := svc.Create(b.Context(), functions.CreateInput{Config: functions.Config{FunctionName: "fn", Runtime: "provided.al2023", Role: "arn:aws:iam::000000000000:role/x", Handler: "bootstrap"}, Code: functions.Code{ZipFile: testZip(b, "x")}}); err != nil {
		b.Fatal(err)
	}
	s := New(svc, keys)
	body := []byte(`{"key1":"v1"}`)
	req := httptest.NewRequest("POST", "http://127.0.0.1/2015-03-31/functions/fn/invocations", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	sign(b, req, key, body, time.Now())
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r := req.Clone(req.Context())
		r.Body = io.NopCloser(bytes.NewReader(body))
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}
