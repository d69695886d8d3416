package console

import (
	"fmt"
	"net/http"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/identity"
	"github.com/wharf-dev/wharf/internal/sigv4"
)

// KeyStore is what the console needs of the daemon's access keys.
type KeyStore interface {
	// Verify checks an access key pair. A wrong or unknown pair is
	// ErrUnauthorized; the error never carries the secret.
	Verify(id, secret string) error
	// Statements returns a live key's effective statements; false once
	// the key is revoked.
	Statements(id string) ([]identity.Statement, bool)
}

// IdentityKeys is the KeyStore of identity's key file. A sign-in is
// checked as every AWS-shaped API checks a request: the pair signs a
// request with Signature Version 4 and identity's verifier checks it
// against the key file, so the console holds no second way of comparing
// secrets.
type IdentityKeys struct {
	keys   *identity.Keys
	verify *identity.Verifier
	now    func() time.Time
}

// NewIdentityKeys returns the KeyStore over keys.
func NewIdentityKeys(keys *identity.Keys) *IdentityKeys {
	return &IdentityKeys{keys: keys, verify: identity.NewVerifier(keys, nil, 0), now: time.Now}
}

// signInService is the SigV4 service name of the sign-in's request. No
// API serves it: the signature only proves the secret.
const signInService = "console"

// Verify implements KeyStore.
func (k *IdentityKeys) Verify(id, secret string) error {
	if id == "" || secret == "" {
		return fmt.Errorf("an access key id and its secret are needed: %w", errdefs.ErrUnauthorized)
	}
	r, err := http.NewRequest(http.MethodPost, "http://console.wharf.internal/console/api/session", http.NoBody)
	if err != nil {
		return err
	}
	r.Body = nil
	sigv4.Signer{AccessKeyID: id, SecretAccessKey: secret, Region: "us-east-1", Service: signInService}.Sign(r, sigv4.PayloadHash(nil), k.now())
	if _, err := k.verify.Verify(r); err != nil {
		// The verifier's messages are AWS's (UnrecognizedClient...,
		// signature mismatch); the console says one thing for both, so
		// that a guess learns nothing about which key ids exist.
		return fmt.Errorf("the access key id or the secret is wrong: %w", errdefs.ErrUnauthorized)
	}
	return nil
}

// Statements implements KeyStore.
func (k *IdentityKeys) Statements(id string) ([]identity.Statement, bool) {
	for _, key := range k.keys.List() {
		if key.AccessKeyID == id {
			return identity.Effective(key.Statements), true
		}
	}
	return nil, false
}
