package identity

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/wharf-dev/wharf/errdefs"
)

func sign(t *testing.T, key Key, method, url, body string, at time.Time) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(body))
	err = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: key.AccessKeyID, SecretAccessKey: key.SecretAccessKey},
		req, hex.EncodeToString(sum[:]), "lambda", "us-east-1", at)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestKeysPersistAndRevoke(t *testing.T) {
	path := filepath.Join(t.TempDir(), "functions", "keys.json")
	k, err := OpenKeys(path)
	if err != nil {
		t.Fatal(err)
	}
	key, err := k.Create()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(key.AccessKeyID, "AKIA") || len(key.AccessKeyID) != 20 || len(key.SecretAccessKey) != 40 {
		t.Fatalf("key shape %+v", key)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v %v", fi.Mode(), err)
	}
	again, err := OpenKeys(path)
	if err != nil {
		t.Fatal(err)
	}
	if list := again.List(); len(list) != 1 || list[0].SecretAccessKey != "" {
		t.Fatalf("list %+v", list)
	}
	if err := again.Remove(key.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	if err := again.Remove(key.AccessKeyID); !errdefs.IsNotFound(err) {
		t.Fatalf("second remove: %v", err)
	}
}

func TestVerify(t *testing.T) {
	k, _ := OpenKeys(filepath.Join(t.TempDir(), "keys.json"))
	key, _ := k.Create()
	now := time.Now()
	v := NewVerifier(k, func() time.Time { return now }, 1<<20)
	url := "http://127.0.0.1:9280/2015-03-31/functions/hello/invocations?Qualifier=%24LATEST"

	id, err := v.Verify(sign(t, key, "POST", url, `{"a":1}`, now))
	if err != nil || id.AccessKeyID != key.AccessKeyID || id.Service != "lambda" {
		t.Fatalf("good request: %v %+v", err, id)
	}
	// Path with characters that need escaping (a function ARN).
	if _, err := v.Verify(sign(t, key, "GET", "http://127.0.0.1:9280/2015-03-31/functions/arn:aws:lambda:us-east-1:000000000000:function:hello", "", now)); err != nil {
		t.Fatalf("ARN path: %v", err)
	}

	unsigned, _ := http.NewRequest("POST", url, strings.NewReader("{}"))
	if _, err := v.Verify(unsigned); !errdefs.IsUnauthorized(err) {
		t.Fatalf("unsigned: %v", err)
	}
	tampered := sign(t, key, "POST", url, `{"a":1}`, now)
	tampered.Body = http.NoBody
	tampered.Header.Del("X-Amz-Content-Sha256")
	if _, err := v.Verify(tampered); !errdefs.IsForbidden(err) {
		t.Fatalf("tampered body: %v", err)
	}
	wrong := key
	wrong.SecretAccessKey = strings.Repeat("x", 40)
	if _, err := v.Verify(sign(t, wrong, "POST", url, "{}", now)); !errdefs.IsForbidden(err) {
		t.Fatalf("wrong secret: %v", err)
	}
	if _, err := v.Verify(sign(t, key, "POST", url, "{}", now.Add(-16*time.Minute))); !errdefs.IsForbidden(err) {
		t.Fatalf("stale: %v", err)
	}
	if _, err := v.Verify(sign(t, key, "POST", url, "{}", now.Add(-14*time.Minute))); err != nil {
		t.Fatalf("14 minutes old: %v", err)
	}
	_ = k.Remove(key.AccessKeyID)
	if _, err := v.Verify(sign(t, key, "POST", url, "{}", now)); !errdefs.IsUnauthorized(err) {
		t.Fatalf("revoked: %v", err)
	}
}

func FuzzVerifyHeaders(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKIAX/20261123/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=00", "20261123T000000Z")
	f.Add("AWS4-HMAC-SHA256 ,,,=", "x")
	f.Fuzz(func(t *testing.T, authz, date string) {
		k := &Keys{keys: map[string]Key{"AKIAX": {AccessKeyID: "AKIAX", SecretAccessKey: "s"}}}
		v := NewVerifier(k, nil, 1024)
		r, _ := http.NewRequest("POST", "http://127.0.0.1/x", strings.NewReader("body"))
		r.Header.Set("Authorization", authz)
		r.Header.Set("X-Amz-Date", date)
		if _, err := v.Verify(r); err == nil {
			t.Fatalf("forged header accepted: %q %q", authz, date)
		}
	})
}

func TestReadBody(t *testing.T) {
	for _, tc := range []struct {
		body   string
		length int64
		want   string
	}{
		{"hello", 5, "hello"},
		{"hello", -1, "hello"},
		{"hello", 3, "hello"}, // announced short: still read whole
		{"hello", 9, "hello"}, // announced long: what there is
		{"", 0, ""},
		{"0123456789abc", 13, "0123456789a"}, // over max: max+1 bytes
		{"0123456789abc", -1, "0123456789a"},
	} {
		got, err := readBody(strings.NewReader(tc.body), tc.length, 10)
		if err != nil || string(got) != tc.want {
			t.Errorf("readBody(%q, %d) = %q, %v; want %q", tc.body, tc.length, got, err, tc.want)
		}
	}
}

// An empty or garbage keys.json does not stop the daemon: it opens with
// no keys, the file is set aside and logged, and new keys can be issued.
func TestOpenKeysSetsAsideDamagedFile(t *testing.T) {
	for name, content := range map[string]string{"empty": "", "garbage": `[{"AccessKeyID": "AKIA`, "no secret": `[{"AccessKeyID":"AKIAX"}]`} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "keys.json")
			if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			var log bytes.Buffer
			k, err := OpenKeys(p, WithLogger(slog.New(slog.NewTextHandler(&log, nil))))
			if err != nil {
				t.Fatalf("a damaged key file stops the daemon: %v", err)
			}
			if len(k.List()) != 0 {
				t.Fatalf("keys %+v", k.List())
			}
			aside, _ := filepath.Glob(p + ".corrupt-*")
			if len(aside) != 1 || !strings.Contains(log.String(), "keys.json") {
				t.Fatalf("set aside as %v, log %q", aside, log.String())
			}
			key, err := k.Create()
			if err != nil {
				t.Fatal(err)
			}
			if again, err := OpenKeys(p); err != nil || len(again.List()) != 1 || again.List()[0].AccessKeyID != key.AccessKeyID {
				t.Fatalf("after a new key: %v", err)
			}
		})
	}
}

// The signature can be checked in two steps: the headers before the body
// is read, then the hash of the body as the caller read it.
func TestCheckHeadersThenPayload(t *testing.T) {
	k, _ := OpenKeys(filepath.Join(t.TempDir(), "keys.json"))
	key, _ := k.Create()
	now := time.Now()
	v := NewVerifier(k, func() time.Time { return now }, 1<<20)
	url := "http://127.0.0.1:9280/2015-03-31/functions/hello/code"
	body := `{"ZipFile":"UEsDBA=="}`
	sum := sha256.Sum256([]byte(body))

	r := sign(t, key, "PUT", url, body, now)
	sr, err := v.CheckHeaders(r)
	if err != nil || sr.Identity().AccessKeyID != key.AccessKeyID || sr.Identity().Service != "lambda" {
		t.Fatalf("headers: %v %+v", err, sr)
	}
	if _, err := sr.VerifyPayload(r, hex.EncodeToString(sum[:])); err != nil {
		t.Fatalf("payload hash: %v", err)
	}
	other := sha256.Sum256([]byte(body + " "))
	if _, err := sr.VerifyPayload(r, hex.EncodeToString(other[:])); !errdefs.IsForbidden(err) {
		t.Fatalf("another body's hash: %v", err)
	}
	// A stale request, or one of an unknown key, fails before any body.
	if _, err := v.CheckHeaders(sign(t, key, "PUT", url, body, now.Add(-time.Hour))); !errdefs.IsForbidden(err) {
		t.Fatalf("stale: %v", err)
	}
	unknown := Key{AccessKeyID: "AKIAUNKNOWN", SecretAccessKey: key.SecretAccessKey}
	if _, err := v.CheckHeaders(sign(t, unknown, "PUT", url, body, now)); !errdefs.IsUnauthorized(err) {
		t.Fatalf("unknown key: %v", err)
	}
}
