package console

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/errdefs"
)

// FuzzDecodeSignIn feeds the sign-in decoder what a browser, or anyone,
// may post: it must answer a value or ErrInvalidArgument, never panic,
// and never accept a body over its bound.
func FuzzDecodeSignIn(f *testing.F) {
	for _, s := range []string{
		`{"accessKeyId":"AKIA","secretAccessKey":"s"}`,
		`{"accessKeyId":"AKIA","secretAccessKey":"s"} {}`,
		`{"accessKeyId":"AKIA","secretAccessKey":"s","extra":1}`,
		`{"accessKeyId":"` + strings.Repeat("A", 5000) + `","secretAccessKey":"s"}`,
		`{"accessKeyId":1}`, `null`, `[]`, `{"accessKeyId":"\u0000","secretAccessKey":"\ud800"}`, ``,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest("POST", "/console/api/session", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		in, err := decodeSignIn(r)
		if err != nil {
			if !errdefs.IsInvalidArgument(err) {
				t.Fatalf("error %v without a class", err)
			}
			return
		}
		if len(body) > maxSignInBody+1 || in.AccessKeyID == "" || in.SecretAccessKey == "" {
			t.Fatalf("accepted %q as %+v", body, in)
		}
		var lr LinkSignIn
		r = httptest.NewRequest("POST", "/console/api/session/link", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		if lr, err = decodeLinkSignIn(r); err == nil && lr.Token == "" {
			t.Fatal("an empty link token accepted")
		}
	})
}

// FuzzDecodeInvoke feeds the test-event editor's invocation decoder.
func FuzzDecodeInvoke(f *testing.F) {
	for _, s := range []string{
		`{"payload":{"a":1}}`, `{"payload":"x","qualifier":"prod"}`, `{"payload":null}`, `{}`,
		`{"qualifier":"a:b"}`, `{"payload":[1,2,3]} x`, `{"payload":{"a":` + strings.Repeat("[", 10000) + `}}`, `{"payload":1e999}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		in, err := decodeInvoke(strings.NewReader(body))
		if err != nil {
			if !errdefs.IsInvalidArgument(err) {
				t.Fatalf("error %v without a class", err)
			}
			return
		}
		if len(in.Payload) == 0 || strings.ContainsAny(in.Qualifier, ":/ ") {
			t.Fatalf("accepted %q as %+v", body, in)
		}
	})
}

// FuzzLogEvents feeds the Docker log stream demultiplexer arbitrary
// frames, split anywhere.
func FuzzLogEvents(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 2, 'h', 'i'}, 3)
	f.Add([]byte{2, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 'x'}, 1)
	f.Add([]byte{}, 0)
	f.Fuzz(func(t *testing.T, data []byte, split int) {
		rec := httptest.NewRecorder()
		l := &logEvents{header: http.Header{}, out: rec}
		l.Header().Set("Content-Type", "application/vnd.docker.multiplexed-stream")
		l.WriteHeader(http.StatusOK)
		if split < 0 {
			split = -split
		}
		split %= len(data) + 1
		_, _ = l.Write(data[:split])
		_, _ = l.Write(data[split:])
		if len(l.buf) > len(data) {
			t.Fatalf("buffered %d of %d bytes", len(l.buf), len(data))
		}
		if len(l.buf) > maxLogFrame+8 {
			t.Fatalf("buffered %d bytes, over the frame bound", len(l.buf))
		}
	})
}
