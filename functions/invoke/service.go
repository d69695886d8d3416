package invoke

import (
	"context"
	"fmt"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/functions"
	"github.com/wharf-dev/wharf/functions/store"
)

// The functions.Service methods that manage functions are the store's;
// the engine adds their code (a zip package stored, an image resolved or
// pulled) and, through the store's changes (changed), what they mean for
// running sandboxes.

var _ functions.Service = (*Engine)(nil)

// Create implements functions.Service.
func (e *Engine) Create(ctx context.Context, in functions.CreateInput) (*functions.Config, error) {
	c := in.Config
	if err := store.Validate(&c); err != nil {
		return nil, err
	}
	pull, err := e.setCode(ctx, &c, in.Code, false)
	if err != nil {
		return nil, err
	}
	out, err := e.st.Create(ctx, c, in.Publish)
	if err != nil {
		return nil, err
	}
	if pull {
		// Pending until the image is pulled; a daemon that stops
		// meanwhile pulls again on its next start.
		e.pullPending(c.FunctionName, c.ImageURI, in.Publish, functions.RequestID(ctx))
		e.log.Info("function created", "function", c.FunctionName, "state", out.State, "image", c.ImageURI)
		return out, nil
	}
	e.log.Info("function created", "function", c.FunctionName, "state", out.State)
	return out, nil
}

// setCode stores the package and records its hash and size in c. An image
// is resolved and pinned; when it must be pulled first, pull says whether
// that happens here (true) or is left to the caller, which setCode then
// reports with pending.
func (e *Engine) setCode(ctx context.Context, c *functions.Config, code functions.Code, pull bool) (pending bool, err error) {
	if c.PackageType == functions.PackageImage {
		if code.ZipFile != nil {
			return false, fmt.Errorf("Please don't provide ZipFile when the intended function PackageType is Image.: %w", errdefs.ErrInvalidArgument)
		}
		if code.ImageURI == "" {
			return false, fmt.Errorf("Please provide ImageUri when the intended function PackageType is Image.: %w", errdefs.ErrInvalidArgument)
		}
		if e.images == nil {
			return false, fmt.Errorf("image functions need the daemon's image store, which this engine was not given: %w", errdefs.ErrUnavailable)
		}
		return e.images.Resolve(ctx, c, code.ImageURI, pull)
	}
	if code.ImageURI != "" {
		return false, fmt.Errorf("Please don't provide ImageUri when the intended function PackageType is Zip.: %w", errdefs.ErrInvalidArgument)
	}
	if code.ZipFile == nil {
		return false, fmt.Errorf("ZipFile is required for Zip functions: %w", errdefs.ErrInvalidArgument)
	}
	return false, e.st.PutCode(c, code.ZipFile)
}

// UpdateCode implements functions.Service. An image is pulled within the
// request: the function keeps serving its previous code until the new
// image is pinned.
func (e *Engine) UpdateCode(ctx context.Context, name string, code functions.Code, publish bool) (*functions.Config, error) {
	c, _, err := e.st.Resolve(name, "")
	if err != nil {
		return nil, err
	}
	if _, err := e.setCode(ctx, &c, code, true); err != nil {
		return nil, err
	}
	return e.st.SetCode(ctx, name, c, publish)
}

// Get implements functions.Service.
func (e *Engine) Get(ctx context.Context, name, qualifier string) (*functions.Config, error) {
	return e.st.Get(ctx, name, qualifier)
}

// List implements functions.Service.
func (e *Engine) List(ctx context.Context) ([]*functions.Config, error) { return e.st.List(ctx) }

// UpdateConfig implements functions.Service.
func (e *Engine) UpdateConfig(ctx context.Context, name string, u functions.ConfigUpdate) (*functions.Config, error) {
	return e.st.UpdateConfig(ctx, name, u)
}

// Delete implements functions.Service: the whole function (with its log),
// or one version.
func (e *Engine) Delete(ctx context.Context, name, qualifier string) error {
	return e.st.Delete(ctx, name, qualifier)
}

// PublishVersion implements functions.Service.
func (e *Engine) PublishVersion(ctx context.Context, name, description string) (*functions.Config, error) {
	return e.st.PublishVersion(ctx, name, description)
}

// ListVersions implements functions.Service.
func (e *Engine) ListVersions(ctx context.Context, name string) ([]*functions.Config, error) {
	return e.st.ListVersions(ctx, name)
}

// CreateAlias implements functions.Service.
func (e *Engine) CreateAlias(ctx context.Context, name string, a functions.Alias) (*functions.Alias, error) {
	return e.st.CreateAlias(ctx, name, a)
}

// UpdateAlias implements functions.Service.
func (e *Engine) UpdateAlias(ctx context.Context, name string, a functions.Alias) (*functions.Alias, error) {
	return e.st.UpdateAlias(ctx, name, a)
}

// GetAlias implements functions.Service.
func (e *Engine) GetAlias(ctx context.Context, name, alias string) (*functions.Alias, error) {
	return e.st.GetAlias(ctx, name, alias)
}

// DeleteAlias implements functions.Service.
func (e *Engine) DeleteAlias(ctx context.Context, name, alias string) error {
	return e.st.DeleteAlias(ctx, name, alias)
}

// ListAliases implements functions.Service.
func (e *Engine) ListAliases(ctx context.Context, name string) ([]*functions.Alias, error) {
	return e.st.ListAliases(ctx, name)
}

// PutConcurrency implements functions.Service.
func (e *Engine) PutConcurrency(ctx context.Context, name string, reserved int) error {
	return e.st.PutConcurrency(ctx, name, reserved)
}

// DeleteConcurrency implements functions.Service.
func (e *Engine) DeleteConcurrency(ctx context.Context, name string) error {
	return e.st.DeleteConcurrency(ctx, name)
}
