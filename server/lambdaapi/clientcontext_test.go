package lambdaapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/wharf-dev/wharf/functions/fntest"
	"github.com/wharf-dev/wharf/functions/sandbox/inproc"
)

// The client context of a synchronous Invoke reaches the runtime as
// Lambda-Runtime-Client-Context, decoded from its base64 and on one line;
// an Event invocation drops it, as Lambda does; a context that is not
// base64 of a JSON object, or longer than Lambda takes, is refused with
// InvalidRequestContentException.
func TestInvokeClientContext(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]string{} // payload -> client context the runtime got
	e := newEnv(t, fntest.WithHandler(func(ctx context.Context, inv *inproc.Invocation) ([]byte, error) {
		mu.Lock()
		seen[string(inv.Payload)] = inv.ClientContext
		mu.Unlock()
		return []byte(`null`), nil
	}))
	got := func(payload string) (string, bool) {
		mu.Lock()
		defer mu.Unlock()
		cc, ok := seen[payload]
		return cc, ok
	}
	ctx := context.Background()
	e.create(t, "fn")
	b64 := base64.StdEncoding.EncodeToString

	doc := "{\n  \"client\": {\"installation_id\": \"i-1\", \"app_title\": \"t\"},\n  \"env\": {\"locale\": \"fr\"},\n  \"custom\": {\"k\": \"v \u00e9\"}\n}"
	want := `{"client":{"installation_id":"i-1","app_title":"t"},"env":{"locale":"fr"},"custom":{"k":"v ` + "\u00e9" + `"}}`
	for payload, enc := range map[string]string{`"padded"`: b64([]byte(doc)), `"raw"`: base64.RawStdEncoding.EncodeToString([]byte(doc))} {
		if _, err := e.client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn"), Payload: []byte(payload), ClientContext: aws.String(enc)}); err != nil {
			t.Fatalf("Invoke %s: %v", payload, err)
		}
		if cc, _ := got(payload); cc != want {
			t.Errorf("%s: the runtime got client context %q, want %q", payload, cc, want)
		}
	}
	if _, err := e.client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn"), Payload: []byte(`"none"`)}); err != nil {
		t.Fatal(err)
	}
	if cc, ok := got(`"none"`); !ok || cc != "" {
		t.Errorf("without a client context the runtime got %q (ran: %v)", cc, ok)
	}

	// Event: accepted, run, and without the context.
	out, err := e.client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn"), Payload: []byte(`"event"`), InvocationType: types.InvocationTypeEvent, ClientContext: aws.String(b64([]byte(`{"custom":{"a":"b"}}`)))})
	if err != nil || out.StatusCode != 202 {
		t.Fatalf("Invoke(Event) = %+v, %v", out, err)
	}
	waitFor(t, func() bool { _, ok := got(`"event"`); return ok })
	if cc, _ := got(`"event"`); cc != "" {
		t.Errorf("an Event invocation passed its client context %q to the function", cc)
	}

	// The longest context Lambda takes passes (unpadded: 3,583 is no
	// multiple of 4); one byte more does not.
	ofSize := func(n int) []byte {
		return []byte(`{"custom":{"k":"` + strings.Repeat("x", n-len(`{"custom":{"k":""}}`)) + `"}}`)
	}
	longest := base64.RawStdEncoding.EncodeToString(ofSize(2687))
	if len(longest) != maxClientContext {
		t.Fatalf("test context is %d bytes of base64, want %d", len(longest), maxClientContext)
	}
	if _, err := e.client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn"), Payload: []byte(`"long"`), ClientContext: aws.String(longest)}); err != nil {
		t.Fatalf("a %d-byte client context: %v", len(longest), err)
	}
	for name, bad := range map[string]string{
		"not base64":     "not base64!",
		"not JSON":       b64([]byte(`{"custom":`)),
		"not an object":  b64([]byte(`["a"]`)),
		"a JSON string":  b64([]byte(`"s"`)),
		"too long":       b64(ofSize(2688)),
		"padding only":   "====",
		"trailing bytes": b64([]byte(`{} x`)),
		"empty header":   "",
	} {
		_, err := e.client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn"), Payload: []byte(`{}`), ClientContext: aws.String(bad)})
		if bad == "" {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		wantAPIError[*types.InvalidRequestContentException](t, err)
		// Refused before anything ran: also for an Event.
		_, err = e.client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("fn"), Payload: []byte(`{}`), InvocationType: types.InvocationTypeEvent, ClientContext: aws.String(bad)})
		wantAPIError[*types.InvalidRequestContentException](t, err)
	}
}

// FuzzClientContext: X-Amz-Client-Context comes from any client. What
// clientContext accepts is a JSON object on one line that an HTTP client
// takes as a header value, with the same values as what was sent;
// anything else is InvalidRequestContentException.
func FuzzClientContext(f *testing.F) {
	for _, s := range []string{
		base64.StdEncoding.EncodeToString([]byte(`{"custom":{"k":"v"}}`)),
		base64.RawStdEncoding.EncodeToString([]byte("{\n\"env\":\t{\"a\":\"\x7f\u2028\"}}")),
		base64.StdEncoding.EncodeToString([]byte(`{"a":"\r\n"}`)),
		base64.StdEncoding.EncodeToString([]byte("{\"a\":\"\r\n\"}")),
		base64.StdEncoding.EncodeToString([]byte("{\"a\":\"\x00\"}")),
		base64.StdEncoding.EncodeToString([]byte(`[]`)),
		base64.StdEncoding.EncodeToString([]byte(` {} `)),
		base64.StdEncoding.EncodeToString([]byte("\xff{}")),
		"e30", "e30=", "e30==", "e3 0=", "====", "!!!!", strings.Repeat("A", 4000),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		got, err := clientContext(h)
		if err != nil {
			if e := classify(err); e.typ != "InvalidRequestContentException" || e.status != 400 {
				t.Fatalf("clientContext(%q) = %v: %s %d", h, err, e.typ, e.status)
			}
			return
		}
		if h == "" {
			if got != "" {
				t.Fatalf("no header gave %q", got)
			}
			return
		}
		if len(h) > maxClientContext {
			t.Fatalf("a %d-byte context passed", len(h))
		}
		var v any
		if err := json.Unmarshal([]byte(got), &v); err != nil {
			t.Fatalf("passed %q, not JSON: %v", got, err)
		}
		if _, ok := v.(map[string]any); !ok {
			t.Fatalf("passed %q, not an object", got)
		}
		for i := 0; i < len(got); i++ {
			if c := got[i]; c < 0x20 || c == 0x7f {
				t.Fatalf("passed %q, with byte %#x no header value may hold", got, c)
			}
		}
		raw, err := base64.StdEncoding.DecodeString(h)
		if err != nil {
			raw, _ = base64.RawStdEncoding.DecodeString(h)
		}
		var sent any
		if err := json.Unmarshal(raw, &sent); err != nil || !reflect.DeepEqual(sent, v) {
			t.Fatalf("sent %q, passed %q", raw, got)
		}
	})
}
