package health

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestReadyz(t *testing.T) {
	ok := Check{"engine", func(context.Context) error { return nil }}
	down := Check{"nats", func(context.Context) error { return errors.New("not connected") }}
	stuck := Check{"images", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }}

	rec := httptest.NewRecorder()
	Readyz(ok)(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != http.StatusOK || rec.Body.String() != "ok" {
		t.Errorf("all ready: %d %q", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	Readyz(ok, down, stuck)(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("not ready: %d", rec.Code)
	}
	var body struct {
		Status string
		Failed map[string]string
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if body.Status != "not ready" || body.Failed["nats"] != "not connected" || body.Failed["images"] == "" || len(body.Failed) != 2 {
		t.Errorf("body: %s", rec.Body)
	}
	rec = httptest.NewRecorder()
	Healthz(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != 200 || rec.Body.String() != "ok" {
		t.Errorf("healthz: %d %q", rec.Code, rec.Body)
	}
}
