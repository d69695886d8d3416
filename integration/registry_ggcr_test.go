package integration

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/opencontainers/go-digest"
)

// regClient talks to a test daemon's registry as go-containerregistry
// and as raw HTTP with a bearer token.
type regClient struct {
	addr, pw string
	// log records every request the go-containerregistry transport
	// sends, to see which protocol paths it took.
	mu  sync.Mutex
	log []string
}

func (c *regClient) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		c.mu.Lock()
		c.log = append(c.log, fmt.Sprintf("%s %s %d", r.Method, r.URL.RequestURI(), resp.StatusCode))
		c.mu.Unlock()
	}
	return resp, err
}

func (c *regClient) opts() []remote.Option {
	return []remote.Option{remote.WithAuth(&authn.Basic{Username: "AWS", Password: c.pw}), remote.WithTransport(c)}
}

func (c *regClient) ref(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(c.addr+"/"+s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// token fetches a bearer token for scopes from the token endpoint.
func (c *regClient) token(t *testing.T, scopes ...string) string {
	t.Helper()
	q := url.Values{"service": {"wharf"}, "scope": scopes}
	req, _ := http.NewRequest("GET", "http://"+c.addr+"/token?"+q.Encode(), nil)
	req.SetBasicAuth("AWS", c.pw)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr struct {
		Token     string `json:"token"`
		ExpiresIn int    `json:"expires_in"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil || resp.StatusCode != 200 || tr.Token == "" || tr.ExpiresIn <= 0 {
		t.Fatalf("token: %d %+v %v", resp.StatusCode, tr, err)
	}
	return tr.Token
}

// do sends a raw request with a bearer token.
func (c *regClient) do(t *testing.T, tok, method, path string, body []byte, hdr ...string) *http.Response {
	t.Helper()
	u := path
	if !strings.HasPrefix(u, "http") {
		u = "http://" + c.addr + path
	}
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// errCode returns the first registry error code of a response.
func errCode(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	var e struct{ Errors []struct{ Code string } }
	_ = json.NewDecoder(resp.Body).Decode(&e)
	if len(e.Errors) == 0 {
		return ""
	}
	return e.Errors[0].Code
}

func location(t *testing.T, c *regClient, resp *http.Response) string {
	t.Helper()
	loc := resp.Header.Get("Location")
	if loc == "" {
		t.Fatalf("%s %s: no Location (%d)", resp.Request.Method, resp.Request.URL, resp.StatusCode)
	}
	if strings.HasPrefix(loc, "/") {
		loc = "http://" + c.addr + loc
	}
	return loc
}

func withQuery(loc string, kv ...string) string {
	u, _ := url.Parse(loc)
	q := u.Query()
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// TestRegistryRoundTrips drives the registry with go-containerregistry and
// raw HTTP: what goes in comes out byte for byte, by every upload path.
func TestRegistryRoundTrips(t *testing.T) {
	d, addr := registryDaemon(t)
	key := createKey(t, d, "--policy", "ecr:pull,push,delete:team/*")
	c := &regClient{addr: addr, pw: loginPassword(t, d, key)}

	img, err := random.Image(256<<10, 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("random image, byte-identical by digest", func(t *testing.T) {
		if err := remote.Write(c.ref(t, "team/rt:1"), img, c.opts()...); err != nil {
			t.Fatal(err)
		}
		want, _ := img.RawManifest()
		dg, _ := img.Digest()
		got, err := remote.Image(c.ref(t, "team/rt@"+dg.String()), c.opts()...)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := got.RawManifest()
		if !bytes.Equal(raw, want) {
			t.Fatal("the manifest pulled by digest differs from the one pushed")
		}
		ls, _ := img.Layers()
		for _, l := range ls {
			ld, _ := l.Digest()
			rl, err := got.LayerByDigest(ld)
			if err != nil {
				t.Fatal(err)
			}
			a, _ := l.Compressed()
			b, _ := rl.Compressed()
			ab, _ := io.ReadAll(a)
			bb, err := io.ReadAll(b)
			if err != nil || !bytes.Equal(ab, bb) {
				t.Fatalf("layer %s differs (%v)", ld, err)
			}
		}
	})
	t.Run("cross-repository mount", func(t *testing.T) {
		src, err := remote.Image(c.ref(t, "team/rt:1"), c.opts()...)
		if err != nil {
			t.Fatal(err)
		}
		c.mu.Lock()
		c.log = nil
		c.mu.Unlock()
		if err := remote.Write(c.ref(t, "team/mounted:1"), src, c.opts()...); err != nil {
			t.Fatal(err)
		}
		mounts := 0
		c.mu.Lock()
		for _, l := range c.log {
			if strings.Contains(l, "mount=") && strings.Contains(l, "from=team%2Frt") && strings.HasSuffix(l, " 201") {
				mounts++
			}
			if strings.HasPrefix(l, "PATCH") {
				t.Errorf("a layer was uploaded instead of mounted: %s", l)
			}
		}
		c.mu.Unlock()
		// Three layers and the config.
		if mounts != 4 {
			t.Fatalf("%d blobs mounted, want 4: %v", mounts, c.log)
		}
		if _, err := remote.Image(c.ref(t, "team/mounted:1"), c.opts()...); err != nil {
			t.Fatal(err)
		}
	})
	tok := c.token(t, "repository:team/raw:pull,push")
	t.Run("monolithic upload", func(t *testing.T) {
		blob := bytes.Repeat([]byte("monolithic "), 10000)
		dg := digest.FromBytes(blob)
		resp := c.do(t, tok, "POST", "/v2/team/raw/blobs/uploads/", nil)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("POST: %d", resp.StatusCode)
		}
		resp = c.do(t, tok, "PUT", withQuery(location(t, c, resp), "digest", dg.String()), blob, "Content-Type", "application/octet-stream")
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated || resp.Header.Get("Docker-Content-Digest") != dg.String() {
			t.Fatalf("PUT: %d %s", resp.StatusCode, resp.Header.Get("Docker-Content-Digest"))
		}
		resp = c.do(t, tok, "GET", "/v2/team/raw/blobs/"+dg.String(), nil)
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !bytes.Equal(got, blob) {
			t.Fatal("blob differs")
		}
	})
	t.Run("chunked upload", func(t *testing.T) {
		blob := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
		dg := digest.FromBytes(blob)
		resp := c.do(t, tok, "POST", "/v2/team/raw/blobs/uploads/", nil)
		resp.Body.Close()
		loc := location(t, c, resp)
		const chunk = 300 << 10
		for off := 0; off < len(blob); off += chunk {
			end := min(off+chunk, len(blob))
			resp = c.do(t, tok, "PATCH", loc, blob[off:end], "Content-Type", "application/octet-stream",
				"Content-Range", fmt.Sprintf("%d-%d", off, end-1))
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted || resp.Header.Get("Range") != fmt.Sprintf("0-%d", end-1) {
				t.Fatalf("PATCH %d-%d: %d Range %q", off, end-1, resp.StatusCode, resp.Header.Get("Range"))
			}
			loc = location(t, c, resp)
		}
		resp = c.do(t, tok, "PUT", withQuery(loc, "digest", dg.String()), nil)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("PUT: %d", resp.StatusCode)
		}
		resp = c.do(t, tok, "GET", "/v2/team/raw/blobs/"+dg.String(), nil)
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !bytes.Equal(got, blob) {
			t.Fatal("blob differs")
		}
	})
	t.Run("a blob whose digest does not match is refused and never visible", func(t *testing.T) {
		blob := []byte("the bytes the client sends")
		claimed := digest.FromBytes([]byte("the bytes the client claims"))
		resp := c.do(t, tok, "POST", "/v2/team/raw/blobs/uploads/", nil)
		resp.Body.Close()
		resp = c.do(t, tok, "PUT", withQuery(location(t, c, resp), "digest", claimed.String()), blob, "Content-Type", "application/octet-stream")
		if code := errCode(t, resp); resp.StatusCode != http.StatusBadRequest || code != "DIGEST_INVALID" {
			t.Fatalf("PUT with a wrong digest: %d %s", resp.StatusCode, code)
		}
		for _, dg := range []digest.Digest{claimed, digest.FromBytes(blob)} {
			resp = c.do(t, tok, "HEAD", "/v2/team/raw/blobs/"+dg.String(), nil)
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound {
				t.Fatalf("HEAD %s after a refused upload: %d", dg, resp.StatusCode)
			}
		}
	})
	t.Run("a manifest naming missing blobs is MANIFEST_BLOB_UNKNOWN", func(t *testing.T) {
		cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
		cd := digest.FromBytes(cfg)
		m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[]}`, cd, len(cfg))
		resp := c.do(t, tok, "PUT", "/v2/team/raw/manifests/missing", []byte(m), "Content-Type", "application/vnd.oci.image.manifest.v1+json")
		if code := errCode(t, resp); resp.StatusCode != http.StatusBadRequest || code != "MANIFEST_BLOB_UNKNOWN" {
			t.Fatalf("PUT: %d %s", resp.StatusCode, code)
		}
		resp = c.do(t, tok, "GET", "/v2/team/raw/manifests/missing", nil)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("GET after a refused manifest: %d", resp.StatusCode)
		}
	})
	t.Run("1000 tags, paginated", func(t *testing.T) {
		if err := remote.Write(c.ref(t, "team/tags:t0000"), img, c.opts()...); err != nil {
			t.Fatal(err)
		}
		raw, _ := img.RawManifest()
		mt, _ := img.MediaType()
		tt := c.token(t, "repository:team/tags:pull,push")
		want := []string{"t0000"}
		for i := 1; i < 1000; i++ {
			tag := fmt.Sprintf("t%04d", i)
			want = append(want, tag)
			resp := c.do(t, tt, "PUT", "/v2/team/tags/manifests/"+tag, raw, "Content-Type", string(mt))
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("PUT tag %s: %d", tag, resp.StatusCode)
			}
		}
		// go-containerregistry follows the Link headers.
		got, err := remote.List(c.ref(t, "team/tags:t0000").Context(), append(c.opts(), remote.WithPageSize(100))...)
		if err != nil {
			t.Fatal(err)
		}
		if !slicesEqual(got, want) {
			t.Fatalf("remote.List: %d tags, first %v", len(got), got[:min(5, len(got))])
		}
		// And by hand: n and last, page by page.
		var pages [][]string
		next := "/v2/team/tags/tags/list?n=300"
		for next != "" {
			resp := c.do(t, tt, "GET", next, nil)
			var tl struct{ Tags []string }
			if err := json.NewDecoder(resp.Body).Decode(&tl); err != nil || resp.StatusCode != 200 {
				t.Fatalf("GET %s: %d %v", next, resp.StatusCode, err)
			}
			resp.Body.Close()
			pages = append(pages, tl.Tags)
			next = ""
			if link := resp.Header.Get("Link"); link != "" {
				next = strings.TrimSuffix(strings.TrimPrefix(strings.Split(link, ";")[0], "<"), ">")
			}
			if len(pages) > 10 {
				t.Fatal("pagination does not end")
			}
		}
		var all []string
		for i, p := range pages {
			if i < 3 && len(p) != 300 || i == 3 && len(p) != 100 {
				t.Fatalf("page %d has %d tags", i, len(p))
			}
			all = append(all, p...)
		}
		if len(pages) != 4 || !slicesEqual(all, want) || !sort.StringsAreSorted(all) {
			t.Fatalf("%d pages, %d tags", len(pages), len(all))
		}
	})
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Policies decide: a pull-only key cannot push (403 DENIED), a revoked
// key's token stops working (401 with the challenge).
func TestRegistryPolicyDenials(t *testing.T) {
	d, addr := registryDaemon(t)
	admin := &regClient{addr: addr, pw: loginPassword(t, d, createKey(t, d, "--admin"))}
	img, err := random.Image(1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(admin.ref(t, "team/app:1"), img, admin.opts()...); err != nil {
		t.Fatal(err)
	}
	roKey := createKey(t, d, "--policy", "ecr:pull:team/*")
	ro := &regClient{addr: addr, pw: loginPassword(t, d, roKey)}
	if _, err := remote.Image(ro.ref(t, "team/app:1"), ro.opts()...); err != nil {
		t.Fatalf("pull with a pull-only key: %v", err)
	}
	err = remote.Write(ro.ref(t, "team/app:2"), img, ro.opts()...)
	var terr *transport.Error
	if !errors.As(err, &terr) || terr.StatusCode != http.StatusForbidden || len(terr.Errors) == 0 || terr.Errors[0].Code != transport.DeniedErrorCode {
		t.Fatalf("push with a pull-only key: %v, want 403 DENIED", err)
	}
	if _, err := remote.Image(ro.ref(t, "other/app:1"), ro.opts()...); !errors.As(err, &terr) || terr.StatusCode != http.StatusForbidden {
		t.Fatalf("pull outside the key's prefix: %v, want 403", err)
	}
	// Basic AWS:<token> straight on a registry request, as ECR takes it.
	req, _ := http.NewRequest("GET", "http://"+addr+"/v2/team/app/manifests/1", nil)
	req.SetBasicAuth("AWS", ro.pw)
	req.Header.Set("Accept", mustMediaType(t, img))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET with Basic AWS:<token>: %d", resp.StatusCode)
	}
	// Revoked: the token endpoint refuses the login token (401), and a
	// bearer token issued before stops working (401, invalid_token).
	tok := ro.token(t, "repository:team/app:pull")
	d.MustWharf(t, "keys", "rm", roKey)
	resp = ro.do(t, tok, "GET", "/v2/team/app/manifests/1", nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("bearer token of a revoked key: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	req, _ = http.NewRequest("GET", "http://"+addr+"/token?service=wharf&scope=repository:team/app:pull", nil)
	req.SetBasicAuth("AWS", ro.pw)
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("token endpoint with a revoked key's login: %d", resp.StatusCode)
	}
	// Wrong credentials on a registry request: 401 with the challenge.
	req, _ = http.NewRequest("GET", "http://"+addr+"/v2/team/app/manifests/1", nil)
	req.SetBasicAuth("AWS", "not-a-token")
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), `Bearer realm="http://`+addr+`/token",service="wharf",scope="repository:team/app:pull"`) {
		t.Fatalf("wrong credentials: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}

func mustMediaType(t *testing.T, img v1.Image) string {
	mt, err := img.MediaType()
	if err != nil {
		t.Fatal(err)
	}
	return string(mt)
}
