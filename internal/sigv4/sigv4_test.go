package sigv4

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// TestSignMatchesSDK signs the same requests with Signer and with
// aws-sdk-go-v2's signer (what the CLI used before) and wants the same
// Authorization header, byte for byte.
func TestSignMatchesSDK(t *testing.T) {
	at := time.Date(2026, 11, 23, 22, 1, 2, 0, time.UTC)
	cases := []struct {
		method, url, body string
		headers           map[string]string
	}{
		{"GET", "http://127.0.0.1:9280/2015-03-31/functions/", "", nil},
		{"GET", "http://127.0.0.1:9280/2015-03-31/functions/hello?Qualifier=%24LATEST", "", nil},
		{"GET", "http://127.0.0.1:9280/2015-03-31/functions/?Marker=50&MaxItems=10&FunctionVersion=ALL", "", nil},
		// A function ARN: the SDK escapes ':' in the path label, and the
		// signature escapes the escaped path again.
		{"GET", "http://127.0.0.1:9280/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Ahello/configuration", "", nil},
		{"POST", "http://localhost:9280/2015-03-31/functions/hello/invocations?Qualifier=live", `{"a": "b  c"}`, map[string]string{
			"Content-Type": "application/json", "X-Amz-Invocation-Type": "RequestResponse", "X-Amz-Log-Type": "Tail",
			"User-Agent": "wharf", "Expect": "100-continue",
		}},
		{"PUT", "http://[::1]:9280/2017-10-31/functions/a%20b/concurrency", `{"ReservedConcurrentExecutions":3}`, map[string]string{"Content-Type": "application/json"}},
	}
	for _, c := range cases {
		build := func() *http.Request {
			r, err := http.NewRequest(c.method, c.url, strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			if c.body == "" {
				r.Body, r.ContentLength = http.NoBody, 0
			}
			for k, v := range c.headers {
				r.Header.Set(k, v)
			}
			return r
		}
		hash := PayloadHash([]byte(c.body))
		ours := build()
		Signer{AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: "s3cr3t/+=", Region: "eu-west-3", Service: "lambda"}.Sign(ours, hash, at)
		theirs := build()
		if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: "s3cr3t/+="},
			theirs, hash, "lambda", "eu-west-3", at); err != nil {
			t.Fatal(err)
		}
		if got, want := ours.Header.Get("Authorization"), theirs.Header.Get("Authorization"); got != want {
			t.Errorf("%s %s:\n got %s\nwant %s", c.method, c.url, got, want)
		}
		if got, want := ours.Header.Get("X-Amz-Date"), theirs.Header.Get("X-Amz-Date"); got != want {
			t.Errorf("X-Amz-Date %s, want %s", got, want)
		}
	}
}

// TestKnownVector is the get-vanilla case of AWS's SigV4 test suite.
func TestKnownVector(t *testing.T) {
	r, _ := http.NewRequest("GET", "https://example.amazonaws.com/", nil)
	Signer{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", Region: "us-east-1", Service: "service"}.
		Sign(r, EmptyPayloadHash, time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC))
	want := "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
	if got := r.Header.Get("Authorization"); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{"a-Z_0.9~": "a-Z_0.9~", "a b/c": "a%20b%2Fc", "$LATEST": "%24LATEST", "é": "%C3%A9"} {
		if got := Escape(in, false); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
	}
	if got := Escape("/a b/", true); got != "/a%20b/" {
		t.Errorf("keepSlash: %q", got)
	}
}
