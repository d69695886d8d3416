package registry

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"

	"github.com/distribution/distribution/v3/registry/api/errcode"
	dauth "github.com/distribution/distribution/v3/registry/auth"

	"github.com/wharf-dev/wharf/identity"
)

// Who may do what.
//
// A request to /v2/ carries one of: nothing (an anonymous client), a
// bearer token from the token endpoint (token.go), or HTTP Basic with
// user AWS and a login token, which ECR accepts directly as well. Each
// access Distribution asks about (repository:<name>:pull|push|delete,
// registry:catalog:*) is decided by one of:
//
//   - pull on a repository marked public: anyone, anonymous included;
//   - a bearer token: what it grants (the token endpoint granted it from
//     the key's policy; the key must still exist). A token that lacks an
//     access the policy allows was asked for less: 401 insufficient_scope
//     sends the client back for a new one;
//   - a login token: the key's policy (identity.Allowed with service
//     "ecr": the actions pull, push, delete on the repository's name;
//     the catalog is ECR's DescribeRepositories on every repository).
//
// Missing or bad credentials are 401 with the bearer challenge
// (WWW-Authenticate: Bearer realm="<scheme>://<host>/token",
// service="wharf",scope="..."), so that docker and every other client
// start the token flow; a valid credential whose policy does not allow
// the request is 403 DENIED.

// accessController is Distribution's auth.AccessController for wharf.
type accessController struct{ r *Registry }

// credential is what a request's Authorization header holds.
type credential struct {
	kind           string // "", "bearer", "basic"
	token          string
	user, password string
}

func parseAuthorization(h string) credential {
	scheme, rest, _ := strings.Cut(h, " ")
	rest = strings.TrimSpace(rest)
	switch strings.ToLower(scheme) {
	case "bearer":
		return credential{kind: "bearer", token: rest}
	case "basic":
		raw, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return credential{kind: "basic"}
		}
		u, p, _ := strings.Cut(string(raw), ":")
		return credential{kind: "basic", user: u, password: p}
	}
	if h != "" {
		return credential{kind: "invalid"}
	}
	return credential{}
}

// policyRequest is the identity request an access asks for.
func policyRequest(typ, name, action string) (identity.Request, bool) {
	switch {
	case typ == "repository" && (action == "pull" || action == "push" || action == "delete"):
		return identity.Request{Service: "ecr", Action: action, Resource: name}, true
	case typ == "registry" && name == "catalog":
		return identity.Request{Service: "ecr", Action: "DescribeRepositories"}, true
	}
	return identity.Request{}, false
}

// allowed reports whether a key with stmts (nil: anonymous) may perform
// action on the resource.
func (r *Registry) allowed(ctx context.Context, stmts []identity.Statement, typ, name, action string) bool {
	if typ == "repository" && action == "pull" && r.isPublic(ctx, name) {
		return true
	}
	req, ok := policyRequest(typ, name, action)
	if !ok || stmts == nil {
		return false
	}
	return identity.Allowed(stmts, req)
}

// Authorized implements auth.AccessController.
func (a *accessController) Authorized(req *http.Request, access ...dauth.Access) (*dauth.Grant, error) {
	ctx := req.Context()
	cred := parseAuthorization(req.Header.Get("Authorization"))
	grant := &dauth.Grant{}
	for _, ac := range access {
		grant.Resources = append(grant.Resources, ac.Resource)
	}
	switch cred.kind {
	case "":
		if len(access) > 0 {
			for _, ac := range access {
				if !a.r.allowed(ctx, nil, ac.Type, ac.Name, ac.Action) {
					return nil, a.challenge(req, access, "")
				}
			}
			return grant, nil
		}
		return nil, a.challenge(req, access, "")
	case "bearer":
		b, err := a.r.tokens.CheckBearer(Service, cred.token)
		if err != nil {
			return nil, a.challenge(req, access, "invalid_token")
		}
		for _, ac := range access {
			ok := b.Grants(ac.Type, ac.Name, ac.Action)
			// A token granted pull on a repository that was public is
			// worth no more than the repository's state now.
			if ok && b.Subject == "" {
				ok = a.r.allowed(ctx, nil, ac.Type, ac.Name, ac.Action)
			}
			if !ok {
				// A token without the scope the key's policy allows is
				// one asked for less (a mount asks pull on a second
				// repository): the client asks for a new one. What the
				// policy does not allow is denied.
				if b.Subject == "" || a.r.allowed(ctx, b.Statements, ac.Type, ac.Name, ac.Action) {
					return nil, a.challenge(req, access, "insufficient_scope")
				}
				return nil, a.deny(req, b.Subject, ac)
			}
		}
		grant.User.Name = b.Subject
		return grant, nil
	case "basic":
		p, err := a.r.tokens.CheckLogin(cred.user, cred.password)
		if err != nil {
			return nil, a.challenge(req, access, "invalid_token")
		}
		for _, ac := range access {
			if !a.r.allowed(ctx, p.Statements, ac.Type, ac.Name, ac.Action) {
				return nil, a.deny(req, p.AccessKeyID, ac)
			}
		}
		grant.User.Name = p.AccessKeyID
		return grant, nil
	}
	return nil, a.challenge(req, access, "invalid_request")
}

// deny marks the request for 403 DENIED (writer.go) and returns the
// challenge Distribution needs to stop the request.
func (a *accessController) deny(req *http.Request, key string, ac dauth.Access) error {
	msg := fmt.Sprintf("access key %s is not allowed to %s %s", key, ac.Action, ac.Name)
	if ac.Type == "registry" {
		msg = fmt.Sprintf("access key %s is not allowed to list the repositories (ecr:DescribeRepositories on *)", key)
	}
	stateOf(req.Context()).setOverride(errcode.ErrorCodeDenied.WithMessage(msg))
	return &challenge{realm: realmOf(req, a.r.TLS()), access: access1(ac), err: "", msg: msg}
}

func access1(ac dauth.Access) []dauth.Access { return []dauth.Access{ac} }

func (a *accessController) challenge(req *http.Request, access []dauth.Access, errCode string) error {
	return &challenge{realm: realmOf(req, a.r.TLS()), access: access, err: errCode}
}

// realmOf is the token endpoint's URL on the host the client reached.
func realmOf(req *http.Request, tls bool) string {
	scheme := "http"
	if tls || req.TLS != nil {
		scheme = "https"
	}
	host := req.Host
	if host == "" || strings.ContainsAny(host, "\" \\/") {
		host = "localhost"
	}
	return scheme + "://" + host + "/token"
}

// challenge is Distribution's auth.Challenge: the WWW-Authenticate
// header of a 401.
type challenge struct {
	realm  string
	access []dauth.Access
	err    string
	msg    string
}

func (c *challenge) Error() string {
	if c.msg != "" {
		return c.msg
	}
	if c.err != "" {
		return "authentication required: " + c.err
	}
	return "authentication required"
}

// SetHeaders implements auth.Challenge.
func (c *challenge) SetHeaders(_ *http.Request, w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", bearerChallenge(c.realm, c.access, c.err))
}

// bearerChallenge formats the header as Docker's token protocol has it.
func bearerChallenge(realm string, access []dauth.Access, errCode string) string {
	s := fmt.Sprintf("Bearer realm=%q,service=%q", realm, Service)
	if sc := scopeString(access); sc != "" {
		s += fmt.Sprintf(",scope=%q", sc)
	}
	if errCode != "" {
		s += fmt.Sprintf(",error=%q", errCode)
	}
	return s
}

// scopeString merges accesses into scopes: "repository:a:pull,push
// repository:b:pull".
func scopeString(access []dauth.Access) string {
	type key struct{ typ, name string }
	var order []key
	actions := map[key][]string{}
	for _, ac := range access {
		k := key{ac.Type, ac.Name}
		if _, ok := actions[k]; !ok {
			order = append(order, k)
		}
		dup := false
		for _, x := range actions[k] {
			dup = dup || x == ac.Action
		}
		if !dup {
			actions[k] = append(actions[k], ac.Action)
		}
	}
	parts := make([]string, 0, len(order))
	for _, k := range order {
		parts = append(parts, k.typ+":"+k.name+":"+strings.Join(actions[k], ","))
	}
	return strings.Join(parts, " ")
}
