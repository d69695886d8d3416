package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"sync"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/identity"
)

// Principal is who a session acts for: an access key, or the daemon's
// local root when a sign-in link was minted without a key (the unix
// socket's user, who may do everything already).
type Principal struct {
	// KeyID is the access key; "" is the local root.
	KeyID string
}

// Root reports whether the principal is the local root.
func (p Principal) Root() bool { return p.KeyID == "" }

// String names the principal for the page and the logs (never a secret).
func (p Principal) String() string {
	if p.Root() {
		return "local root"
	}
	return p.KeyID
}

// rootStatements are the local root's: everything, as on the socket.
var rootStatements = []identity.Statement{identity.AdminStatement}

// Session is one signed-in browser. Its ID is known only to the browser
// (an HttpOnly cookie); the store keeps its SHA-256.
type Session struct {
	Principal
	// CSRF is the token the page sends as the X-Wharf-CSRF header on
	// every state-changing call.
	CSRF     string
	Created  time.Time
	LastSeen time.Time
}

// Bounds of the session store.
const (
	// SessionLifetime is how long a session lasts from sign-in, used or
	// not.
	SessionLifetime = 8 * time.Hour
	// SessionIdle ends a session nobody used for this long.
	SessionIdle = time.Hour
	// MaxSessions bounds the sessions kept; signing in past it ends the
	// session used least recently.
	MaxSessions = 256
)

// Sessions is the store of signed-in browsers, in memory: a daemon
// restart signs everyone out. Its methods are safe for concurrent use.
type Sessions struct {
	now            func() time.Time
	lifetime, idle time.Duration
	max            int

	mu   sync.Mutex
	byID map[[32]byte]*Session
}

// NewSessions returns a store with the given clock (nil: time.Now),
// lifetime, idle timeout and bound.
func NewSessions(now func() time.Time, lifetime, idle time.Duration, max int) *Sessions {
	if now == nil {
		now = time.Now
	}
	return &Sessions{now: now, lifetime: lifetime, idle: idle, max: max, byID: map[[32]byte]*Session{}}
}

// randomToken is 32 random bytes, URL-safe base64.
func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		// crypto/rand does not fail on Linux (Go 1.24+ panics itself).
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashToken(tok string) [32]byte { return sha256.Sum256([]byte(tok)) }

// Create starts a session for p and returns its id (the cookie's value)
// and the session.
func (s *Sessions) Create(p Principal) (string, Session) {
	id := randomToken()
	now := s.now()
	sess := &Session{Principal: p, CSRF: randomToken(), Created: now, LastSeen: now}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(now)
	for len(s.byID) >= s.max {
		var oldest [32]byte
		var seen *Session
		for h, o := range s.byID {
			if seen == nil || o.LastSeen.Before(seen.LastSeen) {
				oldest, seen = h, o
			}
		}
		delete(s.byID, oldest)
	}
	s.byID[hashToken(id)] = sess
	return id, *sess
}

// Get returns the live session of id and marks it used. Unknown, expired
// and idle sessions are ErrUnauthorized.
func (s *Sessions) Get(id string) (Session, error) {
	if id == "" {
		return Session{}, fmt.Errorf("not signed in: %w", errdefs.ErrUnauthorized)
	}
	h := hashToken(id)
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.byID[h]
	if !ok {
		return Session{}, fmt.Errorf("not signed in, or the session ended: %w", errdefs.ErrUnauthorized)
	}
	if s.expired(sess, now) {
		delete(s.byID, h)
		return Session{}, fmt.Errorf("the session ended: %w", errdefs.ErrUnauthorized)
	}
	sess.LastSeen = now
	return *sess, nil
}

// Peek reports whether id is a live session, without marking it used.
func (s *Sessions) Peek(id string) bool {
	if id == "" {
		return false
	}
	h := hashToken(id)
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.byID[h]
	return ok && !s.expired(sess, now)
}

// Expires is when a session created at created and last used at seen
// ends, unless used again.
func (s *Sessions) Expires(sess Session) time.Time {
	end := sess.Created.Add(s.lifetime)
	if idle := sess.LastSeen.Add(s.idle); idle.Before(end) {
		return idle
	}
	return end
}

func (s *Sessions) expired(sess *Session, now time.Time) bool {
	return !now.Before(s.Expires(*sess))
}

func (s *Sessions) expireLocked(now time.Time) {
	for h, sess := range s.byID {
		if s.expired(sess, now) {
			delete(s.byID, h)
		}
	}
}

// Delete ends the session of id (signing out); an unknown id is no error.
func (s *Sessions) Delete(id string) {
	s.mu.Lock()
	delete(s.byID, hashToken(id))
	s.mu.Unlock()
}

// DeleteKey ends every session of a key (it was revoked).
func (s *Sessions) DeleteKey(keyID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for h, sess := range s.byID {
		if sess.KeyID == keyID && keyID != "" {
			delete(s.byID, h)
		}
	}
}

// Len is the number of sessions held (expired ones included until the
// next sign-in sweeps them).
func (s *Sessions) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byID)
}

// Active reports whether any session is live at now (signed in, neither
// idle nor past its lifetime): the metrics sampler runs only then.
func (s *Sessions) Active() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.expireLocked(now)
	return len(s.byID) > 0
}

// CheckCSRF reports whether got is the session's CSRF token, in constant
// time. An empty token never matches.
func CheckCSRF(sess Session, got string) bool {
	if got == "" || sess.CSRF == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(sess.CSRF), []byte(got)) == 1
}

// Links are the one-time sign-in links `wharf console --open` prints.
// Each token is random, kept hashed, valid for LinkLifetime and redeemed
// at most once.
type Links struct {
	now func() time.Time
	ttl time.Duration
	max int

	mu     sync.Mutex
	tokens map[[32]byte]link
}

type link struct {
	p       Principal
	expires time.Time
}

// Bounds of sign-in links.
const (
	// LinkLifetime is how long a sign-in link works.
	LinkLifetime = 5 * time.Minute
	// MaxLinks bounds the links not yet redeemed.
	MaxLinks = 64
)

// NewLinks returns a store of sign-in links (now nil: time.Now).
func NewLinks(now func() time.Time, ttl time.Duration, max int) *Links {
	if now == nil {
		now = time.Now
	}
	return &Links{now: now, ttl: ttl, max: max, tokens: map[[32]byte]link{}}
}

// Mint issues a link token for p. Past the bound of outstanding links it
// fails with ErrUnavailable.
func (l *Links) Mint(p Principal) (string, time.Time, error) {
	now := l.now()
	tok := randomToken()
	exp := now.Add(l.ttl)
	l.mu.Lock()
	defer l.mu.Unlock()
	for h, k := range l.tokens {
		if !now.Before(k.expires) {
			delete(l.tokens, h)
		}
	}
	if len(l.tokens) >= l.max {
		return "", time.Time{}, fmt.Errorf("%d sign-in links are outstanding; wait for them to expire (%s): %w", len(l.tokens), l.ttl, errdefs.ErrUnavailable)
	}
	l.tokens[hashToken(tok)] = link{p: p, expires: exp}
	return tok, exp, nil
}

// Redeem uses a link token once. Unknown, used and expired tokens are
// ErrUnauthorized.
func (l *Links) Redeem(tok string) (Principal, error) {
	h := hashToken(tok)
	l.mu.Lock()
	defer l.mu.Unlock()
	k, ok := l.tokens[h]
	delete(l.tokens, h)
	if !ok || !l.now().Before(k.expires) {
		return Principal{}, fmt.Errorf("the sign-in link is unknown, used or expired: %w", errdefs.ErrUnauthorized)
	}
	return k.p, nil
}
