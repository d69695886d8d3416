package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
)

// MaxSkew is how far a request's X-Amz-Date may be from the server's clock.
const MaxSkew = 15 * time.Minute

const algorithm = "AWS4-HMAC-SHA256"

// Identity is who signed a request.
type Identity struct {
	AccessKeyID string
	Region      string
	Service     string
}

// Verifier checks AWS Signature Version 4 on requests.
type Verifier struct {
	keys *Keys
	now  func() time.Time
	// maxBody bounds how much of a body is read to hash it.
	maxBody int64

	// signing keys derived per (secret, date, region, service): four
	// HMACs a request otherwise, for a key that changes once a day.
	kmu     sync.Mutex
	sigKeys map[string][]byte
}

// maxCachedKeys bounds the signing-key cache (it is emptied when full).
const maxCachedKeys = 1024

func (v *Verifier) signingKey(secret, date, region, service string) []byte {
	ck := secret + "\x00" + date + "\x00" + region + "\x00" + service
	v.kmu.Lock()
	k, ok := v.sigKeys[ck]
	v.kmu.Unlock()
	if ok {
		return k
	}
	k = signingKey(secret, date, region, service)
	v.kmu.Lock()
	if v.sigKeys == nil || len(v.sigKeys) >= maxCachedKeys {
		v.sigKeys = map[string][]byte{}
	}
	v.sigKeys[ck] = k
	v.kmu.Unlock()
	return k
}

// NewVerifier returns a verifier over keys. now may be nil (time.Now).
func NewVerifier(keys *Keys, now func() time.Time, maxBody int64) *Verifier {
	if now == nil {
		now = time.Now
	}
	return &Verifier{keys: keys, now: now, maxBody: maxBody}
}

// Verify checks r's signature. It reads the body to hash it and replaces
// r.Body with a reader of the same bytes. Failures are ErrUnauthorized
// (missing, unknown or wrong) or ErrForbidden (stale) with a message that
// names the problem but never a secret.
func (v *Verifier) Verify(r *http.Request) (*Identity, error) {
	authz := r.Header.Get("Authorization")
	if authz == "" {
		return nil, fmt.Errorf("MissingAuthenticationToken: request is not signed: %w", errdefs.ErrUnauthorized)
	}
	alg, rest, _ := strings.Cut(authz, " ")
	if alg != algorithm {
		return nil, fmt.Errorf("IncompleteSignature: unsupported algorithm %q: %w", alg, errdefs.ErrUnauthorized)
	}
	var credential, signedHeaders, signature string
	for rest != "" {
		var part string
		part, rest, _ = strings.Cut(rest, ",")
		k, val, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			credential = val
		case "SignedHeaders":
			signedHeaders = val
		case "Signature":
			signature = val
		}
	}
	cred := strings.Split(credential, "/")
	if len(cred) != 5 || cred[4] != "aws4_request" || signedHeaders == "" || signature == "" {
		return nil, fmt.Errorf("IncompleteSignature: malformed Authorization header: %w", errdefs.ErrUnauthorized)
	}
	id := &Identity{AccessKeyID: cred[0], Region: cred[2], Service: cred[3]}
	secret, ok := v.keys.secret(cred[0])
	if !ok {
		return nil, fmt.Errorf("UnrecognizedClientException: the security token included in the request is invalid: %w", errdefs.ErrUnauthorized)
	}
	amzDate := r.Header.Get("X-Amz-Date")
	t, err := time.Parse("20060102T150405Z", amzDate)
	if err != nil {
		return nil, fmt.Errorf("IncompleteSignature: missing or bad X-Amz-Date: %w", errdefs.ErrUnauthorized)
	}
	if d := v.now().Sub(t); d > MaxSkew || d < -MaxSkew {
		return nil, fmt.Errorf("InvalidSignatureException: Signature expired: %s is now earlier than %s (%s - 15 min.): %w",
			amzDate, v.now().UTC().Add(-MaxSkew).Format("20060102T150405Z"), v.now().UTC().Format("20060102T150405Z"), errdefs.ErrForbidden)
	}
	if cred[1] != amzDate[:8] {
		return nil, fmt.Errorf("InvalidSignatureException: credential date does not match X-Amz-Date: %w", errdefs.ErrForbidden)
	}

	// The body is always hashed: a client's X-Amz-Content-Sha256 is
	// checked against it, never trusted.
	var body []byte
	if r.Body != nil {
		body, err = readBody(r.Body, r.ContentLength, v.maxBody)
		if err != nil {
			return nil, err
		}
		r.Body = &Body{Reader: bytes.NewReader(body), b: body}
	}
	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" && h != payloadHash {
		return nil, fmt.Errorf("InvalidSignatureException: X-Amz-Content-Sha256 does not match the body: %w", errdefs.ErrForbidden)
	}
	signed := strings.Split(signedHeaders, ";")
	scope := credential[len(cred[0])+1:]
	key := v.signingKey(secret, cred[1], cred[2], cred[3])
	want, err := hex.DecodeString(signature)
	if err != nil {
		return nil, fmt.Errorf("IncompleteSignature: signature is not hex: %w", errdefs.ErrUnauthorized)
	}
	// Clients differ in how often they escape the path (once, or twice
	// as SigV4 asks of most services); both are a proof of the secret.
	query := ""
	if r.URL.RawQuery != "" {
		query = canonicalQuery(r.URL.Query())
	}
	headers := canonicalHeaders(r, signed)
	for _, uri := range canonicalURIs(r) {
		creq := strings.Join([]string{r.Method, uri, query, headers, signedHeaders, payloadHash}, "\n")
		h := sha256.Sum256([]byte(creq))
		sts := strings.Join([]string{algorithm, amzDate, scope, hex.EncodeToString(h[:])}, "\n")
		if subtle.ConstantTimeCompare(hmacSHA256(key, sts), want) == 1 {
			return id, nil
		}
	}
	return nil, fmt.Errorf("InvalidSignatureException: The request signature we calculated does not match the signature you provided: %w", errdefs.ErrForbidden)
}

// Body is the request body after Verify: the bytes it hashed, readable
// again, and available at once to a handler that wants them whole.
type Body struct {
	*bytes.Reader
	b []byte
}

// Close implements io.Closer.
func (*Body) Close() error { return nil }

// Bytes returns the whole body (not a copy).
func (b *Body) Bytes() []byte { return b.b }

// readBody reads at most max+1 bytes of r (so that a caller can tell a
// body over max), in one allocation when the length is announced.
func readBody(r io.Reader, length, max int64) ([]byte, error) {
	lr := io.LimitReader(r, max+1)
	if length < 0 || length > max {
		return io.ReadAll(lr)
	}
	// One byte more than announced, to read EOF in the same buffer.
	buf := make([]byte, 0, length+1)
	for {
		n, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
		if len(buf) == cap(buf) {
			rest, err := io.ReadAll(lr)
			return append(buf, rest...), err
		}
	}
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

func signingKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, "aws4_request")
}

// escape is SigV4's URI encoding: everything but unreserved characters.
func escape(s string, keepSlash bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' || keepSlash && c == '/' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func canonicalURIs(r *http.Request) []string {
	path := r.URL.Path
	if path == "" {
		path = "/"
	}
	once := escape(path, true)
	raw := r.URL.EscapedPath()
	twice := escape(raw, true)
	out := []string{once}
	for _, u := range []string{raw, twice} {
		if u != once {
			out = append(out, u)
		}
	}
	return out
}

func canonicalQuery(q url.Values) string {
	var pairs []string
	for k, vs := range q {
		for _, v := range vs {
			pairs = append(pairs, escape(k, false)+"="+escape(v, false))
		}
	}
	sort.Strings(pairs)
	return strings.Join(pairs, "&")
}

func canonicalHeaders(r *http.Request, signed []string) string {
	var b strings.Builder
	for _, h := range signed {
		var v string
		// Go's server moves these two out of the header map.
		switch h {
		case "host":
			v = r.Host
			if v == "" {
				v = r.URL.Host
			}
		case "content-length":
			v = strconv.FormatInt(r.ContentLength, 10)
		default:
			v = strings.Join(r.Header.Values(h), ",")
		}
		b.WriteString(h + ":" + strings.Join(strings.Fields(v), " ") + "\n")
	}
	return b.String()
}
