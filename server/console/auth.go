package console

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/identity"
)

// Bounds of sign-in.
const (
	// maxSignInBody bounds a sign-in's JSON body.
	maxSignInBody = 4 << 10
	// maxSignInFailures failed sign-ins within signInWindow make further
	// attempts wait: a guesser gets that many tries a minute, a person
	// who mistyped is not locked out for long.
	maxSignInFailures = 20
	signInWindow      = time.Minute
)

// SignIn is the body of POST /console/api/session.
type SignIn struct {
	AccessKeyID     string `json:"accessKeyId"`
	SecretAccessKey string `json:"secretAccessKey"`
}

// LinkSignIn is the body of POST /console/api/session/link.
type LinkSignIn struct {
	Token string `json:"token"`
}

// SessionInfo is what the page learns of its session.
type SessionInfo struct {
	Principal string    `json:"principal"`
	KeyID     string    `json:"keyId,omitempty"`
	CSRF      string    `json:"csrf"`
	Admin     bool      `json:"admin"`
	Expires   time.Time `json:"expires"`
}

// decodeSignIn reads a sign-in body: JSON only (a form post from another
// site cannot send it without a CORS preflight, which the console never
// grants), bounded, both fields present.
func decodeSignIn(r *http.Request) (SignIn, error) {
	var in SignIn
	if err := jsonOnly(r); err != nil {
		return in, err
	}
	if err := decodeJSON(r.Body, maxSignInBody, &in); err != nil {
		return in, err
	}
	in.AccessKeyID = strings.TrimSpace(in.AccessKeyID)
	if in.AccessKeyID == "" || in.SecretAccessKey == "" || len(in.AccessKeyID) > 128 || len(in.SecretAccessKey) > 256 {
		return in, fmt.Errorf("an access key id and its secret are needed: %w", errdefs.ErrInvalidArgument)
	}
	return in, nil
}

// decodeLinkSignIn reads the body of a link sign-in.
func decodeLinkSignIn(r *http.Request) (LinkSignIn, error) {
	var in LinkSignIn
	if err := jsonOnly(r); err != nil {
		return in, err
	}
	if err := decodeJSON(r.Body, maxSignInBody, &in); err != nil {
		return in, err
	}
	if in.Token == "" || len(in.Token) > 128 {
		return in, fmt.Errorf("a sign-in link token is needed: %w", errdefs.ErrInvalidArgument)
	}
	return in, nil
}

func jsonOnly(r *http.Request) error {
	ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	if strings.TrimSpace(strings.ToLower(ct)) != "application/json" {
		return fmt.Errorf("the body must be application/json: %w", errdefs.ErrInvalidArgument)
	}
	return nil
}

func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if !sameOrigin(r) {
		writeError(w, fmt.Errorf("cross-origin sign-in refused: %w", errdefs.ErrForbidden))
		return
	}
	if wait := s.signIns.wait(); wait > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
		writeJSON(w, http.StatusTooManyRequests, apiError{Message: "too many failed sign-ins; try again in a minute"})
		return
	}
	in, err := decodeSignIn(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := s.keys.Verify(in.AccessKeyID, in.SecretAccessKey); err != nil {
		s.signIns.fail()
		// The key id is logged, never the secret.
		s.log.Info("console sign-in refused", "key", in.AccessKeyID, "remote", remoteIP(r))
		writeError(w, err)
		return
	}
	s.log.Info("console sign-in", "key", in.AccessKeyID, "remote", remoteIP(r))
	s.startSession(w, r, Principal{KeyID: in.AccessKeyID})
}

func (s *Server) signInLink(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if !sameOrigin(r) {
		writeError(w, fmt.Errorf("cross-origin sign-in refused: %w", errdefs.ErrForbidden))
		return
	}
	in, err := decodeLinkSignIn(r)
	if err != nil {
		writeError(w, err)
		return
	}
	p, err := s.links.Redeem(in.Token)
	if err != nil {
		writeError(w, err)
		return
	}
	if !p.Root() {
		if _, ok := s.keys.Statements(p.KeyID); !ok {
			writeError(w, fmt.Errorf("the access key %s was revoked: %w", p.KeyID, errdefs.ErrUnauthorized))
			return
		}
	}
	s.log.Info("console sign-in with a link", "principal", p.String(), "remote", remoteIP(r))
	s.startSession(w, r, p)
}

func (s *Server) startSession(w http.ResponseWriter, r *http.Request, p Principal) {
	id, sess := s.sessions.Create(p)
	if s.sampler != nil {
		s.sampler.Wake()
	}
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: id, Path: Prefix, HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, MaxAge: int(SessionLifetime.Seconds()),
	})
	writeJSON(w, http.StatusOK, s.info(sess))
}

func (s *Server) info(sess Session) SessionInfo {
	stmts := rootStatements
	if !sess.Root() {
		stmts, _ = s.keys.Statements(sess.KeyID)
	}
	return SessionInfo{Principal: sess.Principal.String(), KeyID: sess.KeyID, CSRF: sess.CSRF,
		Admin: identity.IsAdmin(stmts), Expires: s.sessions.Expires(sess)}
}

func (s *Server) session(w http.ResponseWriter, r *http.Request, c *call) error {
	writeJSON(w, http.StatusOK, s.info(c.sess))
	return nil
}

func (s *Server) signOut(w http.ResponseWriter, r *http.Request, c *call) error {
	if ck, _ := r.Cookie(cookieName); ck != nil {
		s.sessions.Delete(ck.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: Prefix, HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// LinkRequest is the body of POST /wharf/v1/console/links (the unix
// socket's native API, for `wharf console`).
type LinkRequest struct {
	// AccessKeyID is the key the session acts for; "" for the local
	// root.
	AccessKeyID string `json:",omitempty"`
}

// LinkResponse is a minted sign-in link.
type LinkResponse struct {
	URL     string
	Expires time.Time
}

// LinkHandler serves POST /wharf/v1/console/links on the daemon's unix
// socket, whose users are root already: it mints a one-time sign-in link.
// The token is in the URL's fragment, which browsers never send to a
// server, so that it reaches no access log; the page posts it once.
func (s *Server) LinkHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			writeError(w, fmt.Errorf("%s: use POST: %w", r.URL.Path, errdefs.ErrInvalidArgument))
			return
		}
		var in LinkRequest
		if r.ContentLength != 0 {
			if err := decodeJSON(r.Body, maxSignInBody, &in); err != nil {
				writeError(w, err)
				return
			}
		}
		p := Principal{KeyID: strings.TrimSpace(in.AccessKeyID)}
		if !p.Root() {
			if _, ok := s.keys.Statements(p.KeyID); !ok {
				writeError(w, fmt.Errorf("no such access key: %s: %w", p.KeyID, errdefs.ErrNotFound))
				return
			}
		}
		if s.baseURL == "" {
			writeError(w, fmt.Errorf("the console is not served: the daemon runs without --http: %w", errdefs.ErrUnavailable))
			return
		}
		tok, exp, err := s.links.Mint(p)
		if err != nil {
			writeError(w, err)
			return
		}
		s.log.Info("console sign-in link minted", "principal", p.String(), "expires", exp)
		writeJSON(w, http.StatusOK, LinkResponse{URL: s.baseURL + Prefix + "#link=" + tok, Expires: exp})
	})
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// failureLimit makes sign-ins wait once max failures fell within window.
type failureLimit struct {
	now    func() time.Time
	max    int
	window time.Duration
	mu     sync.Mutex
	times  []time.Time
}

func newFailureLimit(now func() time.Time, max int, window time.Duration) *failureLimit {
	return &failureLimit{now: now, max: max, window: window}
}

// wait is how long until a sign-in may be tried (0: now).
func (f *failureLimit) wait() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.trimLocked()
	if len(f.times) < f.max {
		return 0
	}
	return f.times[0].Add(f.window).Sub(f.now())
}

func (f *failureLimit) fail() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.trimLocked()
	if len(f.times) < f.max {
		f.times = append(f.times, f.now())
	}
}

func (f *failureLimit) trimLocked() {
	cut := f.now().Add(-f.window)
	i := 0
	for i < len(f.times) && !f.times[i].After(cut) {
		i++
	}
	f.times = f.times[i:]
}
