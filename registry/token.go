package registry

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/distribution/distribution/v3/registry/api/errcode"
	"github.com/distribution/reference"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/identity"
)

// The token endpoint (Docker's token protocol,
// https://distribution.github.io/distribution/spec/auth/token/):
//
//	GET  /token?service=wharf&scope=repository:team/app:pull,push[&scope=...]
//	     Authorization: Basic base64(AWS:<login token>)   (none: anonymous)
//	POST /token   grant_type=password&username=AWS&password=<login token>
//	              &service=wharf&scope=<scopes separated by spaces>&client_id=...
//	→ 200 {"token": "<jwt>", "access_token": "<jwt>", "expires_in": 300, "issued_at": "..."}
//
// The token grants, of each scope asked, the actions the credentials
// allow (and pull on public repositories to anyone); what is not allowed
// is left out rather than refused, as the protocol says, and the
// registry answers the request that needs it with 403 (401 to an
// anonymous client). Bad credentials are 401.

// Bounds of what a token request may ask.
const (
	maxScopes      = 32
	maxScopeLen    = 512
	maxActions     = 8
	maxTokenFormKB = 64
)

// ParseScope parses one scope, type:name:actions (actions separated by
// commas). The name may hold colons (it runs to the last one). A
// repository name must be valid; errors are ErrInvalidArgument.
func ParseScope(s string) (identity.Access, error) {
	bad := func(why string) (identity.Access, error) {
		return identity.Access{}, fmt.Errorf("scope %.80q: %s: %w", s, why, errdefs.ErrInvalidArgument)
	}
	if len(s) > maxScopeLen {
		return bad("too long")
	}
	typ, rest, ok := strings.Cut(s, ":")
	i := strings.LastIndexByte(rest, ':')
	if !ok || i < 0 {
		return bad("want type:name:actions")
	}
	name, actions := rest[:i], rest[i+1:]
	// Docker adds a class: "repository(plugin)".
	if base, _, found := strings.Cut(typ, "("); found && strings.HasSuffix(typ, ")") {
		typ = base
	}
	if typ == "" || name == "" || actions == "" {
		return bad("want type:name:actions")
	}
	if typ == "repository" {
		if _, err := reference.WithName(name); err != nil {
			return bad("repository name: " + err.Error())
		}
	}
	list := strings.Split(actions, ",")
	if len(list) > maxActions {
		return bad("too many actions")
	}
	out := identity.Access{Type: typ, Name: name}
	for _, a := range list {
		if a == "" || len(a) > 32 || strings.ContainsAny(a, " \t\r\n\"") {
			return bad("bad action")
		}
		out.Actions = append(out.Actions, a)
	}
	return out, nil
}

type tokenResponse struct {
	Token       string `json:"token"`
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
	IssuedAt    string `json:"issued_at"`
}

func (r *Registry) serveToken(w http.ResponseWriter, req *http.Request) {
	var user, password, service string
	var scopes []string
	haveCreds := false
	switch req.Method {
	case http.MethodGet:
		q := req.URL.Query()
		service = q.Get("service")
		for _, s := range q["scope"] {
			scopes = append(scopes, strings.Fields(s)...)
		}
		if h := req.Header.Get("Authorization"); h != "" {
			cred := parseAuthorization(h)
			if cred.kind != "basic" {
				tokenError(w, http.StatusUnauthorized, errcode.ErrorCodeUnauthorized.WithMessage("the token endpoint takes HTTP Basic credentials: user AWS and a login token"))
				return
			}
			user, password, haveCreds = cred.user, cred.password, true
		}
	case http.MethodPost:
		req.Body = http.MaxBytesReader(w, req.Body, maxTokenFormKB<<10)
		if err := req.ParseForm(); err != nil {
			tokenError(w, http.StatusBadRequest, errcode.ErrorCodeUnsupported.WithMessage("bad form: "+err.Error()))
			return
		}
		if gt := req.PostForm.Get("grant_type"); gt != "password" {
			// We issue no refresh tokens.
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "unsupported_grant_type"})
			return
		}
		service = req.PostForm.Get("service")
		scopes = strings.Fields(req.PostForm.Get("scope"))
		user, password, haveCreds = req.PostForm.Get("username"), req.PostForm.Get("password"), true
	default:
		w.Header().Set("Allow", "GET, POST")
		tokenError(w, http.StatusMethodNotAllowed, errcode.ErrorCodeUnsupported.WithMessage("GET or POST"))
		return
	}
	if service != "" && service != Service {
		tokenError(w, http.StatusBadRequest, errcode.ErrorCodeUnsupported.WithMessage(fmt.Sprintf("this registry's token service is %q, not %q", Service, service)))
		return
	}
	if len(scopes) > maxScopes {
		tokenError(w, http.StatusBadRequest, errcode.ErrorCodeUnsupported.WithMessage("too many scopes"))
		return
	}
	var stmts []identity.Statement
	subject := ""
	if haveCreds {
		p, err := r.tokens.CheckLogin(user, password)
		if err != nil {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf("Basic realm=%q", Service))
			tokenError(w, http.StatusUnauthorized, errcode.ErrorCodeUnauthorized.WithMessage(err.Error()))
			return
		}
		stmts, subject = p.Statements, p.AccessKeyID
	}
	granted := []identity.Access{}
	for _, s := range scopes {
		ac, err := ParseScope(s)
		if err != nil {
			tokenError(w, http.StatusBadRequest, errcode.ErrorCodeUnsupported.WithMessage(err.Error()))
			return
		}
		g := identity.Access{Type: ac.Type, Name: ac.Name}
		for _, a := range ac.Actions {
			if r.allowed(req.Context(), stmts, ac.Type, ac.Name, a) {
				g.Actions = append(g.Actions, a)
			}
		}
		if len(g.Actions) > 0 {
			granted = append(granted, g)
		}
	}
	tok, issued, ttl, err := r.tokens.MintBearer(Service, subject, granted)
	if err != nil {
		tokenError(w, http.StatusInternalServerError, errcode.ErrorCodeUnknown.WithMessage(err.Error()))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(tokenResponse{Token: tok, AccessToken: tok, ExpiresIn: int(ttl / time.Second), IssuedAt: issued.Format(time.RFC3339)})
}

func tokenError(w http.ResponseWriter, status int, e errcode.Error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(errcode.Errors{e})
}
