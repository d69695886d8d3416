package dockerapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/moby/moby/api/types/registry"

	"github.com/wharf-dev/wharf/errdefs"
)

// Registry credentials reach the daemon in two ways: `docker login` sends
// them to POST /auth, which only verifies them (the CLI stores them), and
// pull and push carry them in the X-Registry-Auth header, base64url JSON
// of an AuthConfig. The image store resolves credentials through a
// keychain; Keychain wraps the daemon's keychain so that the credentials
// of the request being served come first.

type authKey struct{}

// withRequestAuth returns ctx carrying the credentials of an
// X-Registry-Auth header (none for an empty header or "{}").
func withRequestAuth(ctx context.Context, header string) (context.Context, error) {
	if header == "" {
		return ctx, nil
	}
	var raw []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.URLEncoding, base64.RawURLEncoding, base64.StdEncoding, base64.RawStdEncoding} {
		if raw, err = enc.DecodeString(header); err == nil {
			break
		}
	}
	if err != nil {
		return ctx, fmt.Errorf("invalid X-Registry-Auth header: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	var cfg registry.AuthConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return ctx, fmt.Errorf("invalid X-Registry-Auth header: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if cfg.Username == "" && cfg.Password == "" && cfg.Auth == "" && cfg.IdentityToken == "" && cfg.RegistryToken == "" {
		return ctx, nil
	}
	return context.WithValue(ctx, authKey{}, cfg), nil
}

// Keychain returns a keychain that answers with the credentials of the
// Docker API request in the context, if it carried any, and else asks
// fallback (the daemon's own Docker config). The daemon gives it to the
// image store.
func Keychain(fallback authn.Keychain) authn.Keychain { return requestKeychain{fallback} }

type requestKeychain struct{ fallback authn.Keychain }

// Resolve implements authn.Keychain for callers without a context.
func (k requestKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	return k.fallback.Resolve(r)
}

// ResolveContext implements authn.ContextKeychain.
func (k requestKeychain) ResolveContext(ctx context.Context, r authn.Resource) (authn.Authenticator, error) {
	if cfg, ok := ctx.Value(authKey{}).(registry.AuthConfig); ok {
		return authn.FromConfig(authn.AuthConfig{Username: cfg.Username, Password: cfg.Password, Auth: cfg.Auth,
			IdentityToken: cfg.IdentityToken, RegistryToken: cfg.RegistryToken}), nil
	}
	return authn.Resolve(ctx, k.fallback, r)
}

// authChecker verifies credentials against a registry.
type authChecker func(ctx context.Context, cfg registry.AuthConfig, insecure []string) (registry.AuthResponse, error)

// registryHost reduces a login server address ("https://host:5000/v1/")
// to "host:port"; Docker Hub's legacy address becomes its registry host.
func registryHost(addr string) string {
	addr = strings.TrimPrefix(strings.TrimPrefix(addr, "https://"), "http://")
	addr, _, _ = strings.Cut(addr, "/")
	switch addr {
	case "", "index.docker.io", "docker.io":
		return "index.docker.io"
	}
	return addr
}

// registryLogin checks credentials the way the registry itself does: it
// pings /v2/ and, through go-containerregistry's transport, answers any
// Basic or Bearer challenge with them; a 200 from /v2/ with them means
// they are good.
func registryLogin(ctx context.Context, cfg registry.AuthConfig, insecure []string) (registry.AuthResponse, error) {
	host := registryHost(cfg.ServerAddress)
	var opts []name.Option
	for _, h := range insecure {
		if h == host {
			opts = append(opts, name.Insecure)
		}
	}
	reg, err := name.NewRegistry(host, opts...)
	if err != nil {
		return registry.AuthResponse{}, fmt.Errorf("invalid registry address %q: %v: %w", cfg.ServerAddress, err, errdefs.ErrInvalidArgument)
	}
	auth := authn.FromConfig(authn.AuthConfig{Username: cfg.Username, Password: cfg.Password, Auth: cfg.Auth, IdentityToken: cfg.IdentityToken, RegistryToken: cfg.RegistryToken})
	rt, err := transport.NewWithContext(ctx, reg, auth, http.DefaultTransport, []string{reg.Scope(transport.PullScope)})
	if err != nil {
		return registry.AuthResponse{}, loginError(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, reg.Scheme()+"://"+reg.RegistryStr()+"/v2/", nil)
	if err != nil {
		return registry.AuthResponse{}, err
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return registry.AuthResponse{}, loginError(err)
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return registry.AuthResponse{Status: "Login Succeeded"}, nil
	case http.StatusUnauthorized, http.StatusForbidden:
		return registry.AuthResponse{}, fmt.Errorf("login attempt to %s failed with status: %s: %w", host, resp.Status, errdefs.ErrUnauthorized)
	}
	return registry.AuthResponse{}, fmt.Errorf("login to %s: unexpected status %s: %w", host, resp.Status, errdefs.ErrUnavailable)
}

func loginError(err error) error {
	var te *transport.Error
	if errors.As(err, &te) && (te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden) {
		return fmt.Errorf("login failed: %v: %w", err, errdefs.ErrUnauthorized)
	}
	return fmt.Errorf("login failed: %v: %w", err, errdefs.ErrUnavailable)
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	var cfg registry.AuthConfig
	if err := decodeBody(r, &cfg); err != nil {
		return err
	}
	resp, err := s.auth(r.Context(), cfg, s.sys.Info(r.Context()).InsecureRegistries)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, resp)
}
