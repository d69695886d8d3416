package lambdaapi

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/wharf-dev/wharf/functions/fntest"
	"github.com/wharf-dev/wharf/functions/sandbox/inproc"
	"github.com/wharf-dev/wharf/identity"
)

// zeros is an endless body that costs the client no memory.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// signedHead returns the head of a request of n body bytes signed with
// key for service, as an SDK would send it: the signature covers a body
// that the test then sends only part of (or none).
func signedHead(t *testing.T, srvURL, method, path string, n int64, key identity.Key, service string) string {
	t.Helper()
	req, err := http.NewRequest(method, srvURL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = n
	req.Header.Set("Content-Type", "application/json")
	err = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: key.AccessKeyID, SecretAccessKey: key.SecretAccessKey},
		req, strings.Repeat("0", 64), service, "us-east-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", method, path, req.URL.Host, n)
	for k, vs := range req.Header {
		for _, v := range vs {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	b.WriteString("\r\n")
	return b.String()
}

// stalled sends head and a few body bytes, and returns the connection.
func stalled(t *testing.T, srv *httptest.Server, head string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, head+`{"Zip`); err != nil {
		t.Fatal(err)
	}
	return c, bufio.NewReader(c)
}

// answer reads the response on a connection within d.
func answer(c net.Conn, r *bufio.Reader, d time.Duration) (*http.Response, error) {
	_ = c.SetReadDeadline(time.Now().Add(d))
	resp, err := http.ReadResponse(r, nil)
	if err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return resp, err
}

// A code upload under a known key but with a bad signature is spooled to
// disk while it is hashed, not buffered: the server does not allocate the
// body before the signature is checked.
func TestCodeUploadNotBufferedBeforeSignature(t *testing.T) {
	e := newEnv(t)
	const size = 32 << 20
	bad := e.key
	bad.SecretAccessKey = strings.Repeat("x", 40)
	req, _ := http.NewRequest("PUT", e.srv.URL+"/2015-03-31/functions/x/code", io.LimitReader(zeros{}, size))
	req.ContentLength = size
	err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: bad.AccessKeyID, SecretAccessKey: bad.SecretAccessKey},
		req, strings.Repeat("0", 64), "lambda", "us-east-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	runtime.ReadMemStats(&after)
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-Amzn-ErrorType") != "InvalidSignatureException" {
		t.Fatalf("bad signature: %d %s", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"))
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > size/4 {
		t.Fatalf("a %d MB upload with a bad signature made the server allocate %d MB", size>>20, alloc>>20)
	}
}

// What can be checked before the body is checked before it: a request
// whose credential is scoped to another service, stale, or of an unknown
// key is refused without its body being read.
func TestSignatureHeadersCheckedBeforeBody(t *testing.T) {
	e := newEnv(t)
	path := "/2015-03-31/functions/x/code"
	unknown := identity.Key{AccessKeyID: "AKIAUNKNOWNUNKNOWN00", SecretAccessKey: strings.Repeat("s", 40)}
	for name, head := range map[string]string{
		"other service": signedHead(t, e.srv.URL, "PUT", path, MaxCodeBody, e.key, "s3"),
		"unknown key":   signedHead(t, e.srv.URL, "PUT", path, MaxCodeBody, unknown, "lambda"),
		"too large":     signedHead(t, e.srv.URL, "PUT", path, MaxCodeBody+1, e.key, "lambda"),
	} {
		c, r := stalled(t, e.srv, head)
		resp, err := answer(c, r, 2*time.Second)
		if err != nil {
			t.Fatalf("%s: no answer before the body: %v", name, err)
		}
		if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("%s: status %d", name, resp.StatusCode)
		}
	}
}

// At most maxSpooling code uploads are read at once; one more is refused
// with TooManyRequestsException before its body is read.
func TestCodeUploadsBounded(t *testing.T) {
	e := newEnv(t)
	head := signedHead(t, e.srv.URL, "PUT", "/2015-03-31/functions/x/code", 1<<20, e.key, "lambda")
	for i := 0; i < maxSpooling; i++ {
		stalled(t, e.srv, head)
	}
	time.Sleep(100 * time.Millisecond)
	c, r := stalled(t, e.srv, head)
	resp, err := answer(c, r, 2*time.Second)
	if err != nil {
		t.Fatalf("upload over the bound: no answer: %v", err)
	}
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("X-Amzn-ErrorType") != "TooManyRequestsException" {
		t.Fatalf("upload over the bound: %d %s", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"))
	}
	// ListFunctions shares the path of CreateFunction but has no body:
	// it takes no slot.
	if _, err := e.client.ListFunctions(context.Background(), nil); err != nil {
		t.Fatalf("ListFunctions while uploads hold every slot: %v", err)
	}
}

// Invocation bodies being read and verified share a memory budget: past
// it, one more is refused before its body is read.
func TestInvokeBodiesBounded(t *testing.T) {
	e := newEnv(t)
	head := signedHead(t, e.srv.URL, "POST", "/2015-03-31/functions/x/invocations", MaxInvokeBody, e.key, "lambda")
	for i := 0; i < memoryBudget/MaxInvokeBody; i++ {
		stalled(t, e.srv, head)
	}
	time.Sleep(100 * time.Millisecond)
	c, r := stalled(t, e.srv, head)
	resp, err := answer(c, r, 2*time.Second)
	if err != nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("invocation over the memory budget: %v %v", resp, err)
	}
	// A small one still fits.
	if _, err := e.client.ListFunctions(context.Background(), nil); err != nil {
		t.Fatalf("a request without a body: %v", err)
	}
}

// A body that does not arrive in time is given up: the connection is
// answered and closed, and frees what it held.
func TestSlowBodyTimesOut(t *testing.T) {
	keys, key := fuzzKeys(t)
	srv := httptest.NewServer(New(newEngine(t).Engine, keys, WithBodyDeadline(200*time.Millisecond, 1<<30)))
	t.Cleanup(srv.Close)
	head := signedHead(t, srv.URL, "PUT", "/2015-03-31/functions/x/code", 1<<20, key, "lambda")
	c, r := stalled(t, srv, head)
	start := time.Now()
	resp, err := answer(c, r, 3*time.Second)
	if err != nil {
		t.Fatalf("a stalled body holds its connection: %v", err)
	}
	if took := time.Since(start); took > 2*time.Second || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("stalled body: status %d after %v", resp.StatusCode, took)
	}
	// The same for a request refused before its body (unsigned): the
	// server does not drain it for ever.
	c, r = stalled(t, srv, "POST /2015-03-31/functions/x/invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
	if _, err := answer(c, r, 3*time.Second); err != nil {
		t.Fatalf("unsigned stalled body: %v", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := r.ReadByte(); err == nil {
		t.Fatal("the connection of an unsigned stalled body stays open")
	}
}

// The body deadline ends with the body: a synchronous invocation that
// runs longer than it still answers.
func TestLongInvokeOutlivesBodyDeadline(t *testing.T) {
	keys, key := fuzzKeys(t)
	fn := newEngine(t, fntest.WithHandler(func(ctx context.Context, inv *inproc.Invocation) ([]byte, error) {
		time.Sleep(700 * time.Millisecond)
		return inv.Payload, nil
	}))
	srv := httptest.NewServer(New(fn.Engine, keys, WithBodyDeadline(200*time.Millisecond, 1<<30)))
	t.Cleanup(srv.Close)
	e := &env{fn: fn, keys: keys, key: key, srv: srv}
	e.client = e.clientWith(key.AccessKeyID, key.SecretAccessKey)
	e.create(t, "slow")
	out, err := e.client.Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String("slow"), Payload: []byte(`{"a":1}`)})
	if err != nil || string(out.Payload) != `{"a":1}` {
		t.Fatalf("long invoke: %v %s", err, out.Payload)
	}
}
