package identity

import (
	"bytes"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/internal/sigv4"
)

// MaxSkew is how far a request's X-Amz-Date may be from the server's clock.
const MaxSkew = 15 * time.Minute

const algorithm = sigv4.Algorithm

// Identity is who signed a request, and what its key may do.
type Identity struct {
	AccessKeyID string
	Region      string
	Service     string
	// Statements are the key's effective statements (policy.go).
	Statements []Statement
}

// Allowed reports whether the key may perform action on resource of the
// service it signed for.
func (id *Identity) Allowed(action, resource string) bool {
	return Allowed(id.Statements, Request{Service: id.Service, Action: action, Resource: resource})
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
	k = sigv4.SigningKey(secret, date, region, service)
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

// Verify checks r's signature. It reads the body (at most the verifier's
// maxBody bytes) to hash it and replaces r.Body with a reader of the same
// bytes. Failures are ErrUnauthorized (missing, unknown or wrong) or
// ErrForbidden (stale) with a message that names the problem but never a
// secret.
func (v *Verifier) Verify(r *http.Request) (*Identity, error) {
	sr, err := v.CheckHeaders(r)
	if err != nil {
		return nil, err
	}
	return sr.VerifyBody(r, v.maxBody)
}

// Signed is a request whose signature has been checked as far as its
// headers allow: it is well formed, names an active key, and is dated
// within MaxSkew with a credential scope of the same day. What remains is
// the hash of its body, which the caller may compute while it reads the
// body wherever it likes (VerifyPayload), or have read into memory
// (VerifyBody). Nothing of a body need be read before CheckHeaders passes.
type Signed struct {
	v                                *Verifier
	id                               Identity
	secret, amzDate, scope, credDate string
	signedHeaders                    []string
	signature                        []byte
}

// Identity is the key, region and service the request claims; it is not
// proven before VerifyPayload or VerifyBody succeeds.
func (s *Signed) Identity() Identity { return s.id }

// CheckHeaders checks everything of r's signature that does not need its
// body. Failures are as Verify's.
func (v *Verifier) CheckHeaders(r *http.Request) (*Signed, error) {
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
	key, ok := v.keys.lookup(cred[0])
	if !ok {
		return nil, fmt.Errorf("UnrecognizedClientException: the security token included in the request is invalid: %w", errdefs.ErrUnauthorized)
	}
	amzDate := r.Header.Get("X-Amz-Date")
	t, err := time.Parse(sigv4.TimeFormat, amzDate)
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
	want, err := hex.DecodeString(signature)
	if err != nil {
		return nil, fmt.Errorf("IncompleteSignature: signature is not hex: %w", errdefs.ErrUnauthorized)
	}
	return &Signed{
		v: v, id: Identity{AccessKeyID: cred[0], Region: cred[2], Service: cred[3], Statements: Effective(key.Statements)},
		secret: key.SecretAccessKey, amzDate: amzDate, scope: credential[len(cred[0])+1:], credDate: cred[1],
		signedHeaders: strings.Split(signedHeaders, ";"), signature: want,
	}, nil
}

// VerifyBody reads r's body (at most max bytes: a longer one fails with
// the reader's error, or an *http.MaxBytesError when r.Body is an
// http.MaxBytesReader), replaces r.Body with a reader of the same bytes,
// and verifies the signature over them.
func (s *Signed) VerifyBody(r *http.Request, max int64) (*Identity, error) {
	var body []byte
	if r.Body != nil {
		var err error
		body, err = readBody(r.Body, r.ContentLength, max)
		if err != nil {
			return nil, err
		}
		r.Body = &Body{Reader: bytes.NewReader(body), b: body}
	}
	return s.VerifyPayload(r, sigv4.PayloadHash(body))
}

// VerifyPayload verifies the signature of r given the hex SHA-256 of its
// body, which the caller computed from the bytes it read: a client's
// X-Amz-Content-Sha256 is checked against it, never trusted.
func (s *Signed) VerifyPayload(r *http.Request, payloadHash string) (*Identity, error) {
	if h := r.Header.Get("X-Amz-Content-Sha256"); h != "" && h != payloadHash {
		return nil, fmt.Errorf("InvalidSignatureException: X-Amz-Content-Sha256 does not match the body: %w", errdefs.ErrForbidden)
	}
	key := s.v.signingKey(s.secret, s.credDate, s.id.Region, s.id.Service)
	query := ""
	if r.URL.RawQuery != "" {
		query = sigv4.CanonicalQuery(r.URL.Query())
	}
	headers := sigv4.CanonicalHeaders(r, s.signedHeaders)
	for _, uri := range canonicalURIs(r) {
		sts := sigv4.StringToSign(s.amzDate, s.scope, sigv4.CanonicalRequest(r.Method, uri, query, headers, s.signedHeaders, payloadHash))
		if subtle.ConstantTimeCompare(sigv4.HMACSHA256(key, sts), s.signature) == 1 {
			id := s.id
			return &id, nil
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

// canonicalURIs are the canonical URIs a client may have signed r's path
// as: clients differ in how often they escape it (once, or twice as SigV4
// asks of most services); either is a proof of the secret.
func canonicalURIs(r *http.Request) []string {
	path := r.URL.Path
	if path == "" {
		path = "/"
	}
	once := sigv4.Escape(path, true)
	raw := r.URL.EscapedPath()
	twice := sigv4.CanonicalURI(r.URL)
	out := []string{once}
	for _, u := range []string{raw, twice} {
		if u != once {
			out = append(out, u)
		}
	}
	return out
}
