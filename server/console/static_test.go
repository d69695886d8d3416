package console

import (
	"compress/gzip"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// TestStaticCaching checks what makes a console opened again cheap: the
// page names its assets by version, those are cached for good, every
// asset revalidates by ETag and comes gzip-compressed, and the page shows
// its sign-in form itself when there is no session.
func TestStaticCaching(t *testing.T) {
	e := newEnv(t)
	get := func(path string, hdr ...string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		tr := &http.Transport{DisableCompression: true}
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r io.Reader = resp.Body
		if resp.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			r = zr
		}
		b, _ := io.ReadAll(r)
		return resp, string(b)
	}
	resp, page := get("/console/")
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("the page's Cache-Control: %q", resp.Header.Get("Cache-Control"))
	}
	if !strings.Contains(page, `<section id="signin" class="signin" aria-labelledby`) {
		t.Error("without a session the page does not show its sign-in form")
	}
	// The style is inline, allowed by its hash and nothing else.
	if !strings.Contains(page, "<style>") || strings.Contains(page, "app.css") {
		t.Error("the page links its style instead of holding it")
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !regexp.MustCompile(`; style-src 'self' 'sha256-[A-Za-z0-9+/]+=*'$`).MatchString(csp) || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("the page's CSP: %s", csp)
	}
	refs := regexp.MustCompile(`static/(boot\.js)\?v=([0-9a-f]{16})`).FindAllStringSubmatch(page, -1)
	refs = append(refs, []string{"", "app.css", e.con.assets["app.css"].version})
	if len(refs) != 2 {
		t.Fatalf("the page names %d versioned scripts, want 1: %s", len(refs)-1, page)
	}
	for _, ref := range refs {
		resp, body := get("/console/static/"+ref[1]+"?v="+ref[2], "Accept-Encoding", "gzip, deflate")
		if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
			t.Errorf("%s: %d, Cache-Control %q", ref[0], resp.StatusCode, resp.Header.Get("Cache-Control"))
		}
		if resp.Header.Get("Content-Encoding") != "gzip" || !strings.Contains(resp.Header.Get("Vary"), "Accept-Encoding") {
			t.Errorf("%s: not gzip for a browser that takes it (%q)", ref[0], resp.Header.Get("Content-Encoding"))
		}
		if len(body) < 100 || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
			t.Errorf("%s: %d bytes, CSP %q", ref[0], len(body), resp.Header.Get("Content-Security-Policy"))
		}
		etag := resp.Header.Get("ETag")
		if resp, _ := get("/console/static/"+ref[1], "If-None-Match", etag); resp.StatusCode != http.StatusNotModified {
			t.Errorf("%s revalidated with its ETag: %d, want 304", ref[1], resp.StatusCode)
		}
		// An old or no version is served, but revalidated.
		resp, _ = get("/console/static/" + ref[1] + "?v=0000")
		if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-cache" || resp.Header.Get("Content-Encoding") != "" {
			t.Errorf("%s under an old version: %d %q %q", ref[1], resp.StatusCode, resp.Header.Get("Cache-Control"), resp.Header.Get("Content-Encoding"))
		}
	}
	// boot.js loads app.js by its version, app.js the terminal.
	if _, boot := get("/console/static/boot.js"); !strings.Contains(boot, "static/app.js?v="+e.con.assets["app.js"].version) {
		t.Errorf("boot.js does not name app.js by its version: %s", boot)
	}
	_, js := get("/console/static/app.js")
	m := regexp.MustCompile(`static/term\.js\?v=([0-9a-f]{16})`).FindStringSubmatch(js)
	if m == nil || m[1] != e.con.assets["term.js"].version {
		t.Errorf("app.js names the terminal %v, want version %s", m, e.con.assets["term.js"].version)
	}
	if resp, _ := get("/console/static/nosuch.js"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a missing asset: %d", resp.StatusCode)
	}

	// Signed in, the page leaves the form hidden for its script.
	c := e.client()
	if code := c.signIn("ADMIN", "s3cret"); code != http.StatusOK {
		t.Fatal(code)
	}
	if _, body := c.do("GET", "/console/", ""); !strings.Contains(body, `<section id="signin" class="signin" hidden`) {
		t.Error("with a session the page shows its sign-in form")
	}
}
