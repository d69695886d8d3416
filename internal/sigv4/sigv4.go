// Package sigv4 is AWS Signature Version 4 for HTTP requests signed in the
// Authorization header: the canonical request, the signing key and the
// signature. Both sides of wharf's AWS-shaped APIs use it: identity
// to verify what clients send, api/lambda to sign what the CLI sends,
// so the two agree on every canonicalisation rule by construction.
//
// It is written against the specification
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html)
// and checked against aws-sdk-go-v2's signer in the tests; it depends on
// the standard library alone, so linking it costs no package init.
package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Algorithm is the only signing algorithm SigV4 defines for HMAC keys.
const Algorithm = "AWS4-HMAC-SHA256"

// TimeFormat is the layout of X-Amz-Date; DateFormat that of the
// credential scope's date.
const (
	TimeFormat = "20060102T150405Z"
	DateFormat = "20060102"
)

// EmptyPayloadHash is the hex SHA-256 of no bytes.
const EmptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// HMACSHA256 is HMAC-SHA256(key, data).
func HMACSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// SigningKey derives the key of one day, region and service from a secret.
func SigningKey(secret, date, region, service string) []byte {
	k := HMACSHA256([]byte("AWS4"+secret), date)
	k = HMACSHA256(k, region)
	k = HMACSHA256(k, service)
	return HMACSHA256(k, "aws4_request")
}

// PayloadHash is the hex SHA-256 of a body.
func PayloadHash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

const hexDigits = "0123456789ABCDEF"

// Escape is SigV4's URI encoding: every byte but the unreserved characters
// (A-Z a-z 0-9 - _ . ~), and '/' when keepSlash, becomes %XX.
func Escape(s string, keepSlash bool) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' || keepSlash && c == '/' {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}

// CanonicalURI is the path as SigV4 asks of every service but S3: the
// path as sent (escaped once), escaped again. A path an AWS SDK builds
// from a function ARN ("arn%3Aaws%3A...") is thus signed as
// "arn%253Aaws%253A...".
func CanonicalURI(u *url.URL) string {
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	return Escape(p, true)
}

// CanonicalQuery is the query, every name and value escaped, sorted.
func CanonicalQuery(q url.Values) string {
	var pairs []string
	for k, vs := range q {
		for _, v := range vs {
			pairs = append(pairs, Escape(k, false)+"="+Escape(v, false))
		}
	}
	sort.Strings(pairs)
	return strings.Join(pairs, "&")
}

// CanonicalHeaders is the canonical header block of the signed headers
// (lower-case names, in the order given): values joined by "," with runs
// of spaces folded. Host and Content-Length are read where Go's HTTP
// packages keep them (r.Host or r.URL.Host, r.ContentLength) on both the
// client and the server side.
func CanonicalHeaders(r *http.Request, signed []string) string {
	var b strings.Builder
	for _, h := range signed {
		var v string
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
		b.WriteString(h)
		b.WriteByte(':')
		b.WriteString(strings.Join(strings.Fields(v), " "))
		b.WriteByte('\n')
	}
	return b.String()
}

// CanonicalRequest joins the parts of a canonical request.
func CanonicalRequest(method, uri, query, headers string, signed []string, payloadHash string) string {
	return strings.Join([]string{method, uri, query, headers, strings.Join(signed, ";"), payloadHash}, "\n")
}

// StringToSign is what the signing key signs: the algorithm, the time, the
// credential scope and the hash of the canonical request.
func StringToSign(amzDate, scope, canonicalRequest string) string {
	h := sha256.Sum256([]byte(canonicalRequest))
	return strings.Join([]string{Algorithm, amzDate, scope, hex.EncodeToString(h[:])}, "\n")
}

// Scope is the credential scope of a day, region and service.
func Scope(date, region, service string) string {
	return date + "/" + region + "/" + service + "/aws4_request"
}

// unsigned tells the headers the AWS SDKs leave out of a signature: they
// are changed or added by proxies and transports. (A switch, not a map:
// a map literal would be built at package init.)
func unsigned(lowerName string) bool {
	switch lowerName {
	case "authorization", "user-agent", "x-amzn-trace-id", "expect", "transfer-encoding":
		return true
	}
	return false
}

// Signer signs requests with one key pair for one region and service.
type Signer struct {
	AccessKeyID, SecretAccessKey string
	Region, Service              string
}

// Sign sets X-Amz-Date and Authorization on r, signing the host, the
// content length when there is a body, and every header already set but
// those in unsigned. payloadHash is the hex SHA-256 of the body
// (EmptyPayloadHash for none); r.ContentLength must be set to the body's
// length, as http.NewRequest does for in-memory bodies.
func (s Signer) Sign(r *http.Request, payloadHash string, at time.Time) {
	at = at.UTC()
	amzDate := at.Format(TimeFormat)
	r.Header.Set("X-Amz-Date", amzDate)
	r.Header.Del("Authorization")
	signed := []string{"host"}
	if r.ContentLength > 0 {
		signed = append(signed, "content-length")
	}
	for k := range r.Header {
		lk := strings.ToLower(k)
		if !unsigned(lk) && lk != "host" && lk != "content-length" {
			signed = append(signed, lk)
		}
	}
	sort.Strings(signed)
	creq := CanonicalRequest(r.Method, CanonicalURI(r.URL), CanonicalQuery(r.URL.Query()), CanonicalHeaders(r, signed), signed, payloadHash)
	date := at.Format(DateFormat)
	scope := Scope(date, s.Region, s.Service)
	sig := HMACSHA256(SigningKey(s.SecretAccessKey, date, s.Region, s.Service), StringToSign(amzDate, scope, creq))
	r.Header.Set("Authorization", Algorithm+" Credential="+s.AccessKeyID+"/"+scope+", SignedHeaders="+strings.Join(signed, ";")+", Signature="+hex.EncodeToString(sig))
}
