package fnapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/functions"
	"github.com/wharf-dev/wharf/functions/fntest"
	"github.com/wharf-dev/wharf/functions/sandbox/sandboxtest"
	"github.com/wharf-dev/wharf/functions/trigger"
)

func TestAdminEndpoints(t *testing.T) {
	env := fntest.New(t, fntest.WithFunctions(sandboxtest.Hello))
	e, root := env.Engine, env.Root
	ctx := context.Background()
	if _, err := e.Create(ctx, functions.CreateInput{Config: functions.Config{FunctionName: "hello", Runtime: "provided"}, Code: functions.Code{ZipFile: fntest.Zip(t)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Invoke(ctx, functions.InvokeInput{FunctionName: "hello", Payload: []byte(`{"print":"logged-line"}`)}); err != nil {
		t.Fatal(err)
	}
	tbl, _ := trigger.Open(filepath.Join(root, "triggers.json"))
	srv := httptest.NewServer(Handler("/wharf/v1", e, tbl))
	defer srv.Close()
	base := srv.URL + "/wharf/v1/functions"

	post := func(path string, v any) int {
		b, _ := json.Marshal(v)
		resp, err := http.Post(base+path, "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := post("/routes", trigger.Route{Method: "GET", Path: "/users/{id}", Function: "hello"}); c != 201 {
		t.Fatalf("add route: %d", c)
	}
	if c := post("/routes", trigger.Route{Method: "GET", Path: "/x", Function: "missing"}); c != 404 {
		t.Fatalf("route to a missing function: %d", c)
	}
	if c := post("/schedules", trigger.Schedule{Name: "nightly", Expression: "cron(0 1 * * ? *)", Function: "hello"}); c != 201 {
		t.Fatalf("add schedule: %d", c)
	}
	if c := post("/schedules", trigger.Schedule{Name: "bad", Expression: "cron(nope)", Function: "hello"}); c != 400 {
		t.Fatalf("bad schedule: %d", c)
	}
	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if c, body := get("/routes"); c != 200 || !strings.Contains(body, "/users/{id}") {
		t.Fatalf("routes: %d %s", c, body)
	}
	if c, body := get("/hello/logs"); c != 200 || !strings.Contains(body, "logged-line") || !strings.Contains(body, "REPORT RequestId") {
		t.Fatalf("logs: %d %s", c, body)
	}
	if c, body := get("/hello/metrics"); c != 200 || !strings.Contains(body, `"Invocations":1`) {
		t.Fatalf("metrics: %d %s", c, body)
	}
	if c, body := get("/hello/failures"); c != 200 || strings.TrimSpace(body) != "[]" {
		t.Fatalf("failures: %d %s", c, body)
	}
	if c, _ := get("/nope/metrics"); c != 404 {
		t.Fatalf("metrics of a missing function: %d", c)
	}
	req, _ := http.NewRequest("DELETE", base+"/schedules/nightly", nil)
	if resp, _ := http.DefaultClient.Do(req); resp.StatusCode != 204 {
		t.Fatalf("remove schedule: %d", resp.StatusCode)
	}
}
