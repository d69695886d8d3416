package console

import (
	"errors"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
)

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newClock() *clock { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func TestSessionLifetimeAndIdle(t *testing.T) {
	c := newClock()
	s := NewSessions(c.now, 8*time.Hour, time.Hour, 10)
	id, sess := s.Create(Principal{KeyID: "AKIA1"})
	if len(id) < 40 || sess.CSRF == "" || sess.CSRF == id {
		t.Fatalf("id %q, csrf %q: want random, distinct tokens", id, sess.CSRF)
	}
	// Used every 50 minutes, it lives until its lifetime ends.
	for i := 0; i < 12; i++ {
		c.advance(50 * time.Minute)
		if _, err := s.Get(id); err != nil {
			if c.t.Sub(sess.Created) < 8*time.Hour {
				t.Fatalf("after %s: %v", c.t.Sub(sess.Created), err)
			}
			if !errdefs.IsUnauthorized(err) {
				t.Fatalf("an expired session: %v, want ErrUnauthorized", err)
			}
			return
		}
		if c.t.Sub(sess.Created) >= 8*time.Hour {
			t.Fatalf("the session outlived its lifetime: %s", c.t.Sub(sess.Created))
		}
	}
	t.Fatal("the session never expired")
}

func TestSessionIdle(t *testing.T) {
	c := newClock()
	s := NewSessions(c.now, 8*time.Hour, time.Hour, 10)
	id, _ := s.Create(Principal{KeyID: "AKIA1"})
	c.advance(59 * time.Minute)
	if _, err := s.Get(id); err != nil {
		t.Fatal(err)
	}
	c.advance(time.Hour)
	if _, err := s.Get(id); !errdefs.IsUnauthorized(err) {
		t.Fatalf("a session idle for an hour: %v", err)
	}
	if s.Len() != 0 {
		t.Fatalf("an expired session is kept: %d", s.Len())
	}
}

func TestSessionUnknownAndDelete(t *testing.T) {
	s := NewSessions(nil, time.Hour, time.Hour, 10)
	for _, id := range []string{"", "x", randomToken()} {
		if _, err := s.Get(id); !errdefs.IsUnauthorized(err) {
			t.Fatalf("Get(%q): %v", id, err)
		}
	}
	id, _ := s.Create(Principal{KeyID: "AKIA1"})
	id2, _ := s.Create(Principal{KeyID: "AKIA2"})
	root, _ := s.Create(Principal{})
	s.Delete(id)
	if _, err := s.Get(id); err == nil {
		t.Fatal("a deleted session works")
	}
	s.DeleteKey("AKIA2")
	if _, err := s.Get(id2); err == nil {
		t.Fatal("a revoked key's session works")
	}
	s.DeleteKey("")
	if _, err := s.Get(root); err != nil {
		t.Fatalf("DeleteKey(\"\") ended the root's session: %v", err)
	}
}

func TestSessionBound(t *testing.T) {
	c := newClock()
	s := NewSessions(c.now, 8*time.Hour, time.Hour, 3)
	var ids []string
	for i := 0; i < 3; i++ {
		id, _ := s.Create(Principal{KeyID: "AKIA"})
		ids = append(ids, id)
		c.advance(time.Minute)
	}
	// The first is used again: the second is now the least recently used.
	if _, err := s.Get(ids[0]); err != nil {
		t.Fatal(err)
	}
	c.advance(time.Minute)
	s.Create(Principal{KeyID: "AKIA"})
	if s.Len() != 3 {
		t.Fatalf("%d sessions, bound 3", s.Len())
	}
	if _, err := s.Get(ids[1]); err == nil {
		t.Fatal("the least recently used session survived the bound")
	}
	for _, i := range []int{0, 2} {
		if _, err := s.Get(ids[i]); err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
	}
}

func TestCheckCSRF(t *testing.T) {
	s := NewSessions(nil, time.Hour, time.Hour, 10)
	_, sess := s.Create(Principal{KeyID: "AKIA"})
	_, other := s.Create(Principal{KeyID: "AKIA"})
	if !CheckCSRF(sess, sess.CSRF) {
		t.Fatal("the session's own token is refused")
	}
	for _, bad := range []string{"", sess.CSRF + "x", sess.CSRF[1:], other.CSRF} {
		if CheckCSRF(sess, bad) {
			t.Fatalf("token %q accepted", bad)
		}
	}
	if CheckCSRF(Session{}, "") {
		t.Fatal("an empty token matched an empty session")
	}
}

func TestLinksOnceAndExpiry(t *testing.T) {
	c := newClock()
	l := NewLinks(c.now, 5*time.Minute, 2)
	tok, exp, err := l.Mint(Principal{KeyID: "AKIA1"})
	if err != nil || !exp.Equal(c.t.Add(5*time.Minute)) {
		t.Fatal(exp, err)
	}
	p, err := l.Redeem(tok)
	if err != nil || p.KeyID != "AKIA1" {
		t.Fatalf("Redeem: %v %v", p, err)
	}
	if _, err := l.Redeem(tok); !errdefs.IsUnauthorized(err) {
		t.Fatalf("a second redeem: %v", err)
	}
	tok2, _, _ := l.Mint(Principal{})
	c.advance(5 * time.Minute)
	if _, err := l.Redeem(tok2); !errdefs.IsUnauthorized(err) {
		t.Fatalf("an expired link: %v", err)
	}
	// The bound: expired links make room, live ones do not.
	if _, _, err := l.Mint(Principal{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Mint(Principal{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Mint(Principal{}); !errors.Is(err, errdefs.ErrUnavailable) {
		t.Fatalf("past the bound: %v", err)
	}
	c.advance(6 * time.Minute)
	if _, _, err := l.Mint(Principal{}); err != nil {
		t.Fatalf("after the links expired: %v", err)
	}
}

func TestFailureLimit(t *testing.T) {
	c := newClock()
	f := newFailureLimit(c.now, 3, time.Minute)
	for i := 0; i < 3; i++ {
		if f.wait() != 0 {
			t.Fatalf("waiting after %d failures", i)
		}
		f.fail()
		c.advance(10 * time.Second)
	}
	if w := f.wait(); w != 30*time.Second {
		t.Fatalf("wait %s after 3 failures in 30s, want 30s", w)
	}
	c.advance(30 * time.Second)
	if w := f.wait(); w != 0 {
		t.Fatalf("wait %s once the first failure left the window", w)
	}
}
