package identity

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/internal/atomicfile"
)

// Registry credentials.
//
// The registry speaks Docker's token protocol, and two kinds of token are
// derived from the access keys for it. Both are JWTs (compact JWS,
// HMAC-SHA256, github.com/go-jose/go-jose), each kind signed with its own
// key derived from one daemon secret: 32 random bytes in
// <root>/identity/token.key (mode 0600), made at the first start. Losing
// the file only invalidates the tokens in circulation.
//
// A login token is a key's password for `docker login -u AWS`: what ECR's
// GetAuthorizationToken returns. It names its key and expires after
// LoginTokenTTL (12 hours, as ECR's do); it carries no permission of its
// own. Every use looks the key up, so a revoked key's tokens stop working
// at once, and the key's policy at the time of use decides.
//
// A bearer token is what the registry's token endpoint issues for the
// scopes a client asks: the key it was issued to ("" for an anonymous
// client), the access it grants (Docker's "access" claim: type, name,
// actions), the service it is for, and a short expiry (BearerTokenTTL).
// The registry checks it on every request; a bearer token of a revoked
// key stops working at once too.

// LoginTokenTTL is how long a login token is valid: 12 hours, as ECR's
// authorization tokens.
const LoginTokenTTL = 12 * time.Hour

// BearerTokenTTL is how long a bearer token is valid. Clients fetch a new
// one when it runs out (Docker's token protocol says expires_in).
const BearerTokenTTL = 5 * time.Minute

// LoginUser is the user name that goes with a login token, as on ECR.
const LoginUser = "AWS"

const (
	issuer        = "wharf"
	loginAudience = "wharf-login"
	secretSize    = 32
)

// Access is one grant of a bearer token: the actions allowed on a
// resource (Docker's token "access" claim).
type Access struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// Principal is the key a credential names, with its effective statements.
type Principal struct {
	AccessKeyID string
	Statements  []Statement
}

// Bearer is a verified bearer token.
type Bearer struct {
	// Subject is the key the token was issued to; "" for an anonymous
	// client.
	Subject string
	// Statements are the subject's effective statements now ("" subject:
	// none).
	Statements []Statement
	Access     []Access
	Expires    time.Time
}

// Grants reports whether the token grants action on the resource of type
// typ named name.
func (b *Bearer) Grants(typ, name, action string) bool {
	for _, a := range b.Access {
		if a.Type != typ || a.Name != name {
			continue
		}
		for _, x := range a.Actions {
			if x == action || x == "*" {
				return true
			}
		}
	}
	return false
}

// Tokens mints and checks the registry's tokens. It is safe for
// concurrent use.
type Tokens struct {
	keys      *Keys
	now       func() time.Time
	log       *slog.Logger
	loginKey  []byte
	bearerKey []byte
}

// TokensOption configures OpenTokens.
type TokensOption func(*Tokens)

// WithClock sets the clock tokens are dated and checked with (tests).
func WithClock(now func() time.Time) TokensOption { return func(t *Tokens) { t.now = now } }

// WithTokenLogger sets where OpenTokens reports a replaced secret.
func WithTokenLogger(l *slog.Logger) TokensOption { return func(t *Tokens) { t.log = l } }

// OpenTokens loads the daemon secret at secretPath (creating it when
// missing or unusable) and returns a minter over keys.
func OpenTokens(secretPath string, keys *Keys, opts ...TokensOption) (*Tokens, error) {
	t := &Tokens{keys: keys, now: time.Now, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(t)
	}
	secret, err := loadSecret(secretPath, t.log)
	if err != nil {
		return nil, err
	}
	t.loginKey = derive(secret, "wharf login token v1")
	t.bearerKey = derive(secret, "wharf bearer token v1")
	return t, nil
}

// loadSecret reads the secret, or writes a new one when there is none or
// it is not 32 bytes (a damaged file: the tokens it signed die with it).
func loadSecret(path string, log *slog.Logger) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil && len(b) == 2*secretSize {
		if s, derr := hex.DecodeString(string(b)); derr == nil {
			return s, nil
		}
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("token secret: %w", err)
	}
	if err == nil {
		log.Warn("the token secret was damaged and is replaced; registry logins issued before are no longer valid", "file", path)
	}
	s := make([]byte, secretSize)
	if _, err := rand.Read(s); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(path, []byte(hex.EncodeToString(s)), 0o600); err != nil {
		return nil, fmt.Errorf("token secret: %w", err)
	}
	return s, nil
}

// derive returns a key for one kind of token, so that a token of one
// kind never verifies as the other.
func derive(secret []byte, label string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(label))
	return m.Sum(nil)
}

func (t *Tokens) sign(key []byte, claims any) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	return jwt.Signed(signer).Claims(claims).Serialize()
}

// maxTokenLen bounds what is parsed: a token longer than this is not one
// of ours.
const maxTokenLen = 16 << 10

func (t *Tokens) verify(key []byte, raw, audience string, claims any, std *jwt.Claims) error {
	if len(raw) > maxTokenLen {
		return fmt.Errorf("invalid token: %w", errdefs.ErrUnauthorized)
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.HS256})
	if err != nil {
		return fmt.Errorf("invalid token: %w", errdefs.ErrUnauthorized)
	}
	if err := tok.Claims(key, claims); err != nil {
		return fmt.Errorf("invalid token: %w", errdefs.ErrUnauthorized)
	}
	if err := std.ValidateWithLeeway(jwt.Expected{Issuer: issuer, AnyAudience: jwt.Audience{audience}, Time: t.now()}, 0); err != nil {
		if errors.Is(err, jwt.ErrExpired) {
			return fmt.Errorf("token expired: %w", errdefs.ErrUnauthorized)
		}
		return fmt.Errorf("invalid token: %w", errdefs.ErrUnauthorized)
	}
	if std.Expiry == nil {
		return fmt.Errorf("invalid token: no expiry: %w", errdefs.ErrUnauthorized)
	}
	return nil
}

func randomID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// MintLogin returns a login token for the key keyID and when it expires.
// An unknown key is ErrNotFound.
func (t *Tokens) MintLogin(keyID string) (string, time.Time, error) {
	if _, ok := t.keys.lookup(keyID); !ok {
		return "", time.Time{}, fmt.Errorf("no such access key: %s: %w", keyID, errdefs.ErrNotFound)
	}
	now := t.now().UTC().Truncate(time.Second)
	exp := now.Add(LoginTokenTTL)
	tok, err := t.sign(t.loginKey, jwt.Claims{
		Issuer: issuer, Subject: keyID, Audience: jwt.Audience{loginAudience},
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(exp), ID: randomID(),
	})
	return tok, exp, err
}

// AuthorizationToken is what ECR's GetAuthorizationToken answers for the
// key keyID: base64 of "AWS:<login token>", and when it expires. An
// unknown key is ErrNotFound.
func (t *Tokens) AuthorizationToken(keyID string) (string, time.Time, error) {
	tok, exp, err := t.MintLogin(keyID)
	if err != nil {
		return "", time.Time{}, err
	}
	return base64.StdEncoding.EncodeToString([]byte(LoginUser + ":" + tok)), exp, nil
}

// CheckLogin checks the credentials of `docker login -u AWS`: user must be
// LoginUser and password a valid login token of a key that still exists.
// Failures are ErrUnauthorized.
func (t *Tokens) CheckLogin(user, password string) (Principal, error) {
	if user != LoginUser {
		return Principal{}, fmt.Errorf("the user name is %s and the password a token from GetAuthorizationToken: %w", LoginUser, errdefs.ErrUnauthorized)
	}
	var c jwt.Claims
	if err := t.verify(t.loginKey, password, loginAudience, &c, &c); err != nil {
		return Principal{}, err
	}
	key, ok := t.keys.lookup(c.Subject)
	if !ok {
		return Principal{}, fmt.Errorf("the access key of this token was revoked: %w", errdefs.ErrUnauthorized)
	}
	return Principal{AccessKeyID: key.AccessKeyID, Statements: Effective(key.Statements)}, nil
}

type bearerClaims struct {
	jwt.Claims
	Access []Access `json:"access"`
}

// MintBearer returns a bearer token for service granting access to
// subject ("" for an anonymous client), when it was issued, and how long
// it is valid.
func (t *Tokens) MintBearer(service, subject string, access []Access) (string, time.Time, time.Duration, error) {
	now := t.now().UTC().Truncate(time.Second)
	if access == nil {
		access = []Access{}
	}
	tok, err := t.sign(t.bearerKey, bearerClaims{
		Claims: jwt.Claims{
			Issuer: issuer, Subject: subject, Audience: jwt.Audience{service},
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now),
			Expiry: jwt.NewNumericDate(now.Add(BearerTokenTTL)), ID: randomID(),
		},
		Access: access,
	})
	return tok, now, BearerTokenTTL, err
}

// CheckBearer verifies a bearer token for service. A bad, expired or
// foreign token, or one whose key was revoked, is ErrUnauthorized.
func (t *Tokens) CheckBearer(service, raw string) (*Bearer, error) {
	var c bearerClaims
	if err := t.verify(t.bearerKey, raw, service, &c, &c.Claims); err != nil {
		return nil, err
	}
	b := &Bearer{Subject: c.Subject, Access: c.Access, Expires: c.Expiry.Time()}
	if c.Subject != "" {
		key, ok := t.keys.lookup(c.Subject)
		if !ok {
			return nil, fmt.Errorf("the access key of this token was revoked: %w", errdefs.ErrUnauthorized)
		}
		b.Statements = Effective(key.Statements)
	}
	return b, nil
}
