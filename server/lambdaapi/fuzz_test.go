package lambdaapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/functions"
	"github.com/wharf-dev/wharf/functions/fntest"
	"github.com/wharf-dev/wharf/identity"
)

// fuzzServer is a Lambda API over a fresh engine holding function "fn"
// (published once, alias "live"), and a key to sign with.
func fuzzServer(t testing.TB, keys *identity.Keys, opts ...fntest.Option) http.Handler {
	svc := newEngine(t, opts...).Engine
	ctx := context.Background()
	if _, err := svc.Create(ctx, functions.CreateInput{
		Config: functions.Config{FunctionName: "fn", Runtime: "provided"}, Code: functions.Code{ZipFile: testZip(t, "")}, Publish: true,
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateAlias(ctx, "fn", functions.Alias{Name: "live", FunctionVersion: "1"}); err != nil {
		t.Fatal(err)
	}
	return New(svc, keys)
}

func fuzzKeys(t testing.TB) (*identity.Keys, identity.Key) {
	keys, err := identity.OpenKeys(filepath.Join(t.TempDir(), "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	// An admin key: every operation gets past authorization to the
	// decoding the fuzzers are after.
	key, err := keys.Create(identity.AdminStatement)
	if err != nil {
		t.Fatal(err)
	}
	return keys, key
}

// checkLambdaShape fails unless an answer is a success or a Lambda-shaped
// client error: a known status, X-Amzn-ErrorType, {"Type","message"}.
func checkLambdaShape(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	switch rec.Code {
	case 200, 201, 202, 204:
		return
	case 400, 404, 409, 413, 429:
	default:
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if rec.Header().Get("X-Amzn-ErrorType") == "" {
		t.Fatalf("status %d without X-Amzn-ErrorType", rec.Code)
	}
	var body errorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Message == "" || body.Type != "User" {
		t.Fatalf("error body %q: %v", rec.Body, err)
	}
}

func FuzzInvoke(f *testing.F) {
	f.Add("fn", "RequestResponse", "Tail", []byte(`{"k":"v"}`))
	f.Add("fn:live", "", "", []byte(``))
	f.Add("arn:aws:lambda:us-east-1:000000000000:function:fn:1", "Event", "None", []byte(`[1,2,3]`))
	f.Add("000000000000:function:fn", "DryRun", "Tail", []byte(`"x"`))
	f.Add("fn", "Bogus", "Head", []byte(`{`))
	f.Add("fn:nope", "RequestResponse", "", []byte(`null`))
	f.Add("a:b:c:d:e:f:g:h:i", "Event", "", bytes.Repeat([]byte("1"), 300*1024))
	f.Add("", "", "", []byte("\xff\xfe"))
	keys, key := fuzzKeys(f)
	f.Fuzz(func(t *testing.T, name, invType, logType string, payload []byte) {
		if strings.ContainsAny(invType+logType, "\r\n\x00") || name == "" {
			t.Skip("not expressible in an HTTP request")
		}
		h := fuzzServer(t, keys)
		req := httptest.NewRequest("POST", "http://lambda.local/2015-03-31/functions/"+url.PathEscape(name)+"/invocations", bytes.NewReader(payload))
		if invType != "" {
			req.Header.Set("X-Amz-Invocation-Type", invType)
		}
		if logType != "" {
			req.Header.Set("X-Amz-Log-Type", logType)
		}
		sign(t, req, key, payload, time.Now())
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == 403 {
			t.Skipf("name %q does not survive signing: %s", name, rec.Body)
		}
		checkLambdaShape(t, rec)
		if rec.Code == 200 && logType == "Tail" && rec.Header().Get("X-Amz-Log-Result") == "" {
			t.Fatal("Tail without X-Amz-Log-Result")
		}
	})
}

// decodeTargets are the operations that decode a JSON body.
var decodeTargets = []struct{ method, path string }{
	{"POST", "/2015-03-31/functions"},
	{"PUT", "/2015-03-31/functions/fn/configuration"},
	{"PUT", "/2015-03-31/functions/fn/code"},
	{"POST", "/2015-03-31/functions/fn/versions"},
	{"POST", "/2015-03-31/functions/fn/aliases"},
	{"PUT", "/2015-03-31/functions/fn/aliases/live"},
	{"PUT", "/2017-10-31/functions/fn/concurrency"},
}

func FuzzRequestJSON(f *testing.F) {
	seeds := []string{
		`{"FunctionName":"x","Runtime":"provided","Role":"r","Code":{"ZipFile":"UEs="}}`,
		`{"FunctionName":"x","PackageType":"Image","Code":{"ImageUri":"img"}}`,
		`{"FunctionName":"x","Code":{"ZipFile":"not base64!"}}`,
		`{"MemorySize":1024,"Environment":{"Variables":{"A":"b"}},"EphemeralStorage":{"Size":512}}`,
		`{"MemorySize":"big"}`,
		`{"Environment":{}}`,
		`{"ZipFile":"UEs=","Publish":true}`,
		`{"Description":"v"}`,
		`{"Name":"beta","FunctionVersion":"1"}`,
		`{"Name":"w","FunctionVersion":"1","RoutingConfig":{"AdditionalVersionWeights":{"2":0.5}}}`,
		`{"ReservedConcurrentExecutions":3}`,
		`{"ReservedConcurrentExecutions":-3}`,
		`{}`, ``, `null`, `[]`, `{"a":1}{"b":2}`, `{"Timeout":1e400}`,
	}
	for i := range decodeTargets {
		for _, s := range seeds {
			f.Add(uint8(i), []byte(s))
		}
	}
	keys, key := fuzzKeys(f)
	f.Fuzz(func(t *testing.T, target uint8, body []byte) {
		op := decodeTargets[int(target)%len(decodeTargets)]
		// No operation decoded here queues an event.
		h := fuzzServer(t, keys, fntest.WithoutQueue())
		req := httptest.NewRequest(op.method, "http://lambda.local"+op.path, bytes.NewReader(body))
		sign(t, req, key, body, time.Now())
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		checkLambdaShape(t, rec)
	})
}
