package main

import (
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"

	"github.com/wharf-dev/wharf/api/wharf"
	"github.com/wharf-dev/wharf/functions"
	"github.com/wharf-dev/wharf/identity"
	"github.com/wharf-dev/wharf/registry"
	"github.com/wharf-dev/wharf/server/ecrapi"
	"github.com/wharf-dev/wharf/server/registryapi"
)

// registryFlags holds the daemon's registry flags.
type registryFlags struct {
	addr, tlsCert, tlsKey, root, config string
	// createOnPush: a push creates its repository.
	createOnPush bool
	// lifecycle is the interval of the lifecycle policies' job.
	lifecycle time.Duration
}

func addRegistryFlags(f *pflag.FlagSet, c *registryFlags) {
	f.StringVar(&c.addr, "registry", "", "serve an OCI registry on this address, e.g. 127.0.0.1:5000 (empty: none)")
	f.StringVar(&c.tlsCert, "registry-tls-cert", "", "certificate of the registry's HTTPS (with --registry-tls-key)")
	f.StringVar(&c.tlsKey, "registry-tls-key", "", "private key of the registry's HTTPS")
	f.StringVar(&c.root, "registry-root", "", "directory of the registry's filesystem storage (default <root>/registry)")
	f.StringVar(&c.config, "registry-config", "", "a Distribution configuration file whose storage section the registry uses instead (e.g. s3)")
	f.BoolVar(&c.createOnPush, "registry-create-on-push", true, "create a repository on its first push (false: only ECR's CreateRepository creates one, as on AWS)")
	f.DurationVar(&c.lifecycle, "registry-lifecycle-interval", time.Hour, "how often the repositories' lifecycle policies expire images (0: never)")
}

// openIdentity opens the daemon's key store and token minter. The key
// file stays where the functions' API first kept it.
func openIdentity(root string, log *slog.Logger) (*identity.Keys, *identity.Tokens, error) {
	keys, err := identity.OpenKeys(filepath.Join(root, "functions", "keys.json"), identity.WithLogger(log))
	if err != nil {
		return nil, nil, err
	}
	tokens, err := identity.OpenTokens(filepath.Join(root, "identity", "token.key"), keys, identity.WithTokenLogger(log))
	if err != nil {
		return nil, nil, err
	}
	return keys, tokens, nil
}

// startRegistry starts the registry when --registry is set (nil, nil
// otherwise).
func startRegistry(ctx context.Context, root string, c registryFlags, tokens *identity.Tokens, reg prometheus.Registerer, log *slog.Logger) (*registry.Registry, error) {
	if c.addr == "" {
		return nil, nil
	}
	if c.root == "" {
		c.root = filepath.Join(root, "registry")
	}
	opts := []registry.Option{registry.WithLogger(log), registry.WithRegisterer(reg), registry.WithLifecycleInterval(c.lifecycle)}
	if !c.createOnPush {
		opts = append(opts, registry.WithoutCreateOnPush())
	}
	r, err := registry.New(ctx, registry.Config{Addr: c.addr, TLSCert: c.tlsCert, TLSKey: c.tlsKey, Root: c.root, ConfigFile: c.config}, tokens, opts...)
	if err != nil {
		return nil, err
	}
	l, err := r.Listen()
	if err != nil {
		r.Close()
		return nil, err
	}
	go func() {
		if err := r.Serve(l); err != nil {
			log.Error("registry stopped", "err", err)
		}
	}()
	log.Info("registry listening", "addr", l.Addr().String(), "tls", r.TLS())
	return r, nil
}

// withRegistry routes the native API's registry administration to the
// registry's handler (404 without a registry).
func withRegistry(native http.Handler, r *registry.Registry, tokens *identity.Tokens) http.Handler {
	var admin http.Handler = http.NotFoundHandler()
	if r != nil {
		admin = registryapi.Handler(r.Addr(), tokens, r)
	}
	prefix := wharf.Prefix + "/registry/"
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if len(req.URL.Path) >= len(prefix) && req.URL.Path[:len(prefix)] == prefix {
			admin.ServeHTTP(w, req)
			return
		}
		native.ServeHTTP(w, req)
	})
}

// ecrHandler is ECR's API over the registry, for the --http address.
func ecrHandler(r *registry.Registry, keys *identity.Keys, tokens *identity.Tokens, log *slog.Logger) http.Handler {
	return ecrapi.New(r, keys, tokens, ecrapi.WithLogger(log), ecrapi.WithAccount(functions.DefaultRegion, functions.DefaultAccount))
}

// withECR sends ECR's calls (by their X-Amz-Target) to ecr and every
// other request to next (Lambda's API and the functions' routes).
func withECR(ecr, next http.Handler) http.Handler {
	if ecr == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ecrapi.Matches(r) {
			ecr.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}
