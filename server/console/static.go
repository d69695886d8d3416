package console

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
)

// The pages' assets are built into the binary, so they change only with
// it. Each is served with its content's hash as ETag and, under the
// versioned name index.html gives it (static/app.js?v=<hash>), cached by
// the browser for a year without revalidation: a console opened again
// costs one request, the page itself. A new binary gives new names.
// Each asset is kept gzip-compressed too, for browsers that take it.
//
// The page itself (index.html) is never cached: it is small, it names
// the current assets, and it is answered for its session: without a
// live session its sign-in form is shown as sent, so that the form paints
// before the script has run and asked.

// asset is one static file, ready to serve.
type asset struct {
	body, gz []byte
	ctype    string
	etag     string
	version  string
}

// assets are the console's static files by name ("app.js").
type assets map[string]*asset

// versioned are the assets that name one another by path: their
// references are rewritten to versioned names, the referenced first.
var versioned = []struct{ file, refs string }{
	{"term.js", ""},
	{"app.css", ""},
	{"app.js", "term.js"},
	{"boot.js", "app.js"},
	{"index.html", "app.css boot.js"},
}

// loadAssets reads the embedded files and prepares them.
func loadAssets(static fs.FS) (assets, error) {
	out := assets{}
	err := fs.WalkDir(static, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(static, p)
		if err != nil {
			return err
		}
		out[p] = &asset{body: body}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, v := range versioned {
		a := out[v.file]
		if a == nil {
			return nil, fmt.Errorf("console: static/%s is missing", v.file)
		}
		for _, ref := range strings.Fields(v.refs) {
			old := "static/" + ref
			a.body = bytes.ReplaceAll(a.body, []byte(`"`+old+`"`), []byte(`"`+old+"?v="+out[ref].version+`"`))
			a.body = bytes.ReplaceAll(a.body, []byte(`'`+old+`'`), []byte(`'`+old+"?v="+out[ref].version+`'`))
		}
		out[v.file].version = hashOf(a.body)
	}
	for name, a := range out {
		if a.version == "" {
			a.version = hashOf(a.body)
		}
		a.etag = `"` + a.version + `"`
		a.ctype = mime.TypeByExtension(path.Ext(name))
		if a.ctype == "" {
			a.ctype = http.DetectContentType(a.body)
		}
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
		_, _ = zw.Write(a.body)
		_ = zw.Close()
		if b.Len() < len(a.body) {
			a.gz = b.Bytes()
		}
	}
	return out, nil
}

func hashOf(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

// serve answers r with the asset, or with body when given (the page,
// answered per session, is not compressed: 2 kB), under cache as its
// Cache-Control: 304 when the browser holds it, gzip when it takes it.
func (a *asset) serve(w http.ResponseWriter, r *http.Request, body []byte, cache string) {
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("Vary", "Accept-Encoding")
	h.Set("Cache-Control", cache)
	if body == nil {
		// Only the assets revalidate; the page is answered per session.
		h.Set("ETag", a.etag)
		if inm := r.Header.Get("If-None-Match"); inm != "" && strings.Contains(inm, a.etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		body = a.body
		if a.gz != nil && acceptsGzip(r) {
			h.Set("Content-Encoding", "gzip")
			body = a.gz
		}
	}
	h.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") && strings.ReplaceAll(q, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

// serveStatic answers GET /console/static/<name>.
func (s *Server) serveStatic(w http.ResponseWriter, r *http.Request) {
	secureHeaders(w)
	name := strings.TrimPrefix(r.URL.Path, Prefix+"static/")
	a := s.assets[name]
	if a == nil {
		http.NotFound(w, r)
		return
	}
	cache := "no-cache"
	if r.URL.Query().Get("v") == a.version {
		cache = "public, max-age=31536000, immutable"
	}
	a.serve(w, r, nil, cache)
}

// signInShown is index.html with its sign-in form shown (no session).
func signInShown(index []byte) []byte {
	return bytes.Replace(index, []byte(`<section id="signin" class="signin" hidden`), []byte(`<section id="signin" class="signin"`), 1)
}

// inlineStyle puts the style sheet into the page, in place of its link:
// a browser paints nothing before it has the style sheet, and one that
// does not hold it yet (the first visit, a new profile) would wait for a
// second request first. It returns the page and the Content-Security-
// Policy that allows exactly that style element (by its hash) and
// nothing else inline.
func inlineStyle(index []byte, a assets) ([]byte, string) {
	css := a["app.css"]
	link := []byte(`<link rel="stylesheet" href="static/app.css?v=` + css.version + `">`)
	if !bytes.Contains(index, link) {
		return index, cspOf("")
	}
	h := sha256.Sum256(css.body)
	page := bytes.Replace(index, link, append(append([]byte("<style>"), css.body...), "</style>"...), 1)
	return page, cspOf("'sha256-" + base64.StdEncoding.EncodeToString(h[:]) + "'")
}

// serveIndex answers the page: with the sign-in form shown unless the
// request carries a live session. It is never cached (no-store): which
// form it shows depends on the session.
func (s *Server) serveIndex(w http.ResponseWriter, r *http.Request) {
	secureHeaders(w)
	w.Header().Set("Content-Security-Policy", s.indexCSP)
	a := s.assets["index.html"]
	body := s.indexSignIn
	if ck, _ := r.Cookie(cookieName); ck != nil && s.sessions.Peek(ck.Value) {
		body = s.index
	}
	a.serve(w, r, body, "no-store")
}
