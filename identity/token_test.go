package identity

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newTokens(t *testing.T) (*Tokens, *Keys, *clock, string) {
	t.Helper()
	dir := t.TempDir()
	keys, err := OpenKeys(filepath.Join(dir, "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	secret := filepath.Join(dir, "identity", "token.key")
	tok, err := OpenTokens(secret, keys, WithClock(c.now))
	if err != nil {
		t.Fatal(err)
	}
	return tok, keys, c, secret
}

func TestLoginToken(t *testing.T) {
	tok, keys, c, secret := newTokens(t)
	key, err := keys.Create(mustParse(t, "ecr:pull:team/*"))
	if err != nil {
		t.Fatal(err)
	}
	pw, exp, err := tok.MintLogin(key.AccessKeyID)
	if err != nil {
		t.Fatal(err)
	}
	if want := c.t.Add(12 * time.Hour); !exp.Equal(want) {
		t.Fatalf("expires %v, want %v", exp, want)
	}
	p, err := tok.CheckLogin("AWS", pw)
	if err != nil || p.AccessKeyID != key.AccessKeyID || !Allowed(p.Statements, Request{"ecr", "pull", "team/app"}) {
		t.Fatalf("CheckLogin = %+v, %v", p, err)
	}
	if strings.Contains(pw, key.SecretAccessKey) {
		t.Fatal("the token carries the secret")
	}

	// The authorization token is base64 of AWS:<login token>.
	at, _, err := tok.AuthorizationToken(key.AccessKeyID)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(at)
	user, pw2, _ := strings.Cut(string(raw), ":")
	if _, err := tok.CheckLogin(user, pw2); err != nil {
		t.Fatalf("authorization token: %v", err)
	}

	for name, check := range map[string]func() error{
		"wrong user": func() error { _, err := tok.CheckLogin("root", pw); return err },
		"tampered":   func() error { _, err := tok.CheckLogin("AWS", pw[:len(pw)-2]+"xx"); return err },
		"garbage":    func() error { _, err := tok.CheckLogin("AWS", "not-a-token"); return err },
		"huge":       func() error { _, err := tok.CheckLogin("AWS", strings.Repeat("a", 1<<20)); return err },
		"a bearer token": func() error {
			b, _, _, err := tok.MintBearer(loginAudience, key.AccessKeyID, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = tok.CheckLogin("AWS", b)
			return err
		},
	} {
		if err := check(); !errdefs.IsUnauthorized(err) {
			t.Errorf("%s: %v, want ErrUnauthorized", name, err)
		}
	}

	// Another daemon's secret signs tokens this one refuses.
	other, err := OpenTokens(filepath.Join(t.TempDir(), "token.key"), keys, WithClock(c.now))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.CheckLogin("AWS", pw); !errdefs.IsUnauthorized(err) {
		t.Errorf("foreign secret: %v", err)
	}
	// The same secret, reopened, accepts it.
	again, err := OpenTokens(secret, keys, WithClock(c.now))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := again.CheckLogin("AWS", pw); err != nil {
		t.Errorf("reopened secret: %v", err)
	}
	if fi, err := os.Stat(secret); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("secret file: %v %v", fi, err)
	}

	c.t = c.t.Add(12*time.Hour + time.Second)
	if _, err := tok.CheckLogin("AWS", pw); !errdefs.IsUnauthorized(err) || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired: %v", err)
	}
	c.t = c.t.Add(-time.Hour)
	if err := keys.Remove(key.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	if _, err := tok.CheckLogin("AWS", pw); !errdefs.IsUnauthorized(err) || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("revoked: %v", err)
	}
	if _, _, err := tok.MintLogin(key.AccessKeyID); !errdefs.IsNotFound(err) {
		t.Errorf("mint for a revoked key: %v", err)
	}
}

func TestBearerToken(t *testing.T) {
	tok, keys, c, _ := newTokens(t)
	key, err := keys.Create(mustParse(t, "ecr:pull:team/*"))
	if err != nil {
		t.Fatal(err)
	}
	access := []Access{{Type: "repository", Name: "team/app", Actions: []string{"pull"}}}
	b, _, ttl, err := tok.MintBearer("wharf", key.AccessKeyID, access)
	if err != nil || ttl != BearerTokenTTL {
		t.Fatal(err, ttl)
	}
	got, err := tok.CheckBearer("wharf", b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != key.AccessKeyID || !got.Grants("repository", "team/app", "pull") || got.Grants("repository", "team/app", "push") || got.Grants("repository", "team/other", "pull") {
		t.Fatalf("bearer %+v", got)
	}
	if len(got.Statements) != 1 {
		t.Fatalf("statements %+v", got.Statements)
	}
	if _, err := tok.CheckBearer("other-service", b); !errdefs.IsUnauthorized(err) {
		t.Errorf("other audience: %v", err)
	}
	login, _, err := tok.MintLogin(key.AccessKeyID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tok.CheckBearer(loginAudience, login); !errdefs.IsUnauthorized(err) {
		t.Errorf("a login token as a bearer token: %v", err)
	}
	anon, _, _, err := tok.MintBearer("wharf", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := tok.CheckBearer("wharf", anon); err != nil || got.Subject != "" || got.Grants("repository", "team/app", "pull") {
		t.Fatalf("anonymous: %+v %v", got, err)
	}
	c.t = c.t.Add(BearerTokenTTL + time.Second)
	if _, err := tok.CheckBearer("wharf", b); !errdefs.IsUnauthorized(err) {
		t.Errorf("expired: %v", err)
	}
	c.t = c.t.Add(-time.Minute)
	if err := keys.Remove(key.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	if _, err := tok.CheckBearer("wharf", b); !errdefs.IsUnauthorized(err) {
		t.Errorf("revoked: %v", err)
	}
}
