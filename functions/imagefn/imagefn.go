// Package imagefn resolves the code of image functions (PackageType
// Image): OCI images whose ENTRYPOINT (and CMD) start a runtime that
// speaks the Runtime API, as the Lambda base images'
// /lambda-entrypoint.sh or a custom bootstrap does.
//
// An image is resolved once, when a function's code is set
// (CreateFunction, UpdateFunctionCode): the reference, read as dockerd
// reads one (image/reference: a reference dockerd refuses is refused with
// its reason), is looked up in the daemon's image store, or pulled into it
// as `docker pull` would, and pinned by manifest digest (ResolvedImageURI)
// and image ID. Published versions copy the pin, so re-tagging or
// re-pushing the reference changes no version. The engine reports pinned
// images through ImageInUse, which the daemon hands to the container
// engine: `wharf rmi` of such an image fails as for an image a container
// uses (with --force it is untagged but kept), and prune keeps it.
// Deleting a function leaves its image alone.
//
// States (functions/store keeps them): a function whose image is in the
// store is Active at once. One whose image must be pulled is Pending while
// the engine pulls it in the background, then Active, or Failed with
// StateReasonCode InvalidImage and the pull's error as reason (the SDK's
// FunctionActiveV2 waiter stops there). UpdateFunctionCode resolves and
// pulls within the request, so the function keeps serving its previous
// image until the new one is pinned, and a missing image is refused with
// InvalidParameterValueException.
//
// Sandboxes run the pinned image ID with a read-only root, a /tmp tmpfs,
// the Lambda environment over the image's ENV, as the sandbox user (as zip
// functions), with ImageConfig's EntryPoint, Command and WorkingDirectory
// each overriding the image's own (Exec).
package imagefn

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/functions"
	"github.com/wharf-dev/wharf/image/reference"
	imagestore "github.com/wharf-dev/wharf/image/store"
)

// ImageStore is what image functions need of the daemon's image store
// (*image/store.Store implements it).
type ImageStore interface {
	// Get finds an image by reference or ID; ErrNotFound when absent.
	Get(ctx context.Context, refOrID string) (*imagestore.Image, error)
	// List returns every image (to find one by its manifest digest).
	List(ctx context.Context) ([]*imagestore.Image, error)
	// Pull fetches a reference into the store.
	Pull(ctx context.Context, ref string, progress func(imagestore.Progress)) (*imagestore.Image, error)
}

// Resolver resolves, pulls and pins the images of image functions in an
// image store.
type Resolver struct {
	images ImageStore
	log    *slog.Logger
}

// New returns a Resolver over images, logging to log.
func New(images ImageStore, log *slog.Logger) *Resolver {
	if log == nil {
		log = slog.Default()
	}
	return &Resolver{images: images, log: log}
}

// parseImageURI reads an ImageUri as dockerd reads a reference
// (image/reference): one dockerd refuses is ErrInvalidArgument, with
// dockerd's reason.
func parseImageURI(ref string) (name.Reference, error) {
	r, err := reference.Parse(ref)
	if err != nil {
		return nil, fmt.Errorf("ImageUri %q is not a valid image reference: %w", ref, err)
	}
	return r, nil
}

// resolvedURI is the digest form of ref for img: the reference itself when
// it names a digest, else its repository as written at the digest the
// registry gave for that repository (a pulled image's RepoDigests), else
// at the stored manifest's. Repositories are compared by their normalised
// names ("alpine" is docker.io/library/alpine, not evil.io/library/alpine).
func resolvedURI(ref string, img *imagestore.Image) string {
	r, err := reference.Parse(ref)
	if err != nil {
		// Never the case: the reference was checked when it was set.
		return ref + "@" + img.Manifest
	}
	if _, ok := r.(name.Digest); ok {
		return ref
	}
	// The repository as written: ref without its tag, if it has one.
	repo := strings.TrimSuffix(ref, ":"+r.Identifier())
	dgst := img.Manifest
	for _, rd := range img.RepoDigests {
		n, d, ok := strings.Cut(rd, "@")
		if !ok {
			continue
		}
		if rr, err := reference.Parse(n); err == nil && rr.Context().Name() == r.Context().Name() {
			dgst = d
			break
		}
	}
	return repo + "@" + dgst
}

// find looks ref up in the store without pulling. A "name@digest" that
// the store knows only as the digest of its own manifest (the
// ResolvedImageUri of an imported image) is found too.
func (r *Resolver) find(ctx context.Context, ref string, parsed name.Reference) (*imagestore.Image, error) {
	img, err := r.images.Get(ctx, ref)
	if err == nil || !errdefs.IsNotFound(err) {
		return img, err
	}
	if d, ok := parsed.(name.Digest); ok {
		all, lerr := r.images.List(ctx)
		if lerr != nil {
			return nil, lerr
		}
		for _, i := range all {
			if i.Manifest == d.DigestStr() {
				return i, nil
			}
		}
	}
	return nil, err
}

// Error is an image that cannot be used: Reason is the StateReason a
// person reads, and the error carries an errdefs class.
type Error struct {
	Reason string
	class  error
}

func (e *Error) Error() string { return e.Reason + ": " + e.class.Error() }
func (e *Error) Unwrap() error { return e.class }

// Pull pulls ref into the store and returns it; its errors (*Error) say
// what Lambda says of an image it cannot use. They never carry the pull's
// own error: that may hold another registry's response, which is for the
// daemon's log (with the API request's ID, reqID), not for the client.
func (r *Resolver) Pull(ctx context.Context, ref, reqID string) (*imagestore.Image, error) {
	r.log.Info("pulling function image", "image", ref, "request", reqID)
	img, err := r.images.Pull(ctx, ref, nil)
	if err != nil {
		r.log.Warn("pulling function image failed", "image", ref, "request", reqID, "err", err)
		see := "see the daemon's log"
		if reqID != "" {
			see += " for request " + reqID
		}
		if errdefs.IsNotFound(err) {
			return nil, &Error{Reason: fmt.Sprintf("Source image %s does not exist. Provide a valid source image. (%s)", ref, see), class: errdefs.ErrInvalidArgument}
		}
		return nil, &Error{Reason: fmt.Sprintf("Source image %s could not be pulled (%s).", ref, see), class: errdefs.ErrInvalidArgument}
	}
	return img, nil
}

// Pin records in c which image it runs: its ID, ResolvedImageURI, and the
// manifest digest's hex as CodeSha256 (as Lambda reports it).
func Pin(c *functions.Config, img *imagestore.Image) {
	c.ImageID = img.ID
	c.ResolvedImageURI = resolvedURI(c.ImageURI, img)
	_, dgst, _ := strings.Cut(c.ResolvedImageURI, "@")
	c.CodeSha256, c.CodeSize = strings.TrimPrefix(dgst, "sha256:"), 0
}

// Resolve points c at ref, pinned (Pin) if the image is in the store, or
// pulled and pinned if pull. Otherwise it reports that the image is still
// to be pulled (pending), and c names ref, unpinned.
func (r *Resolver) Resolve(ctx context.Context, c *functions.Config, ref string, pull bool) (pending bool, err error) {
	parsed, err := parseImageURI(ref)
	if err != nil {
		return false, err
	}
	img, err := r.find(ctx, ref, parsed)
	switch {
	case err == nil:
	case errdefs.IsNotFound(err) && !pull:
		c.ImageURI, c.ResolvedImageURI, c.ImageID, c.CodeSha256, c.CodeSize = ref, "", "", "", 0
		return true, nil
	case errdefs.IsNotFound(err):
		if img, err = r.Pull(ctx, ref, functions.RequestID(ctx)); err != nil {
			return false, err
		}
	case errdefs.IsInvalidArgument(err):
		return false, fmt.Errorf("ImageUri %q is not a valid image reference: %w", ref, err)
	default:
		return false, err
	}
	c.ImageURI = ref
	Pin(c, img)
	return false, nil
}

// Exec is what a sandbox of an image function executes.
type Exec struct {
	// Command is the full command line, WorkingDir the working
	// directory ("" for the image's).
	Command    []string
	WorkingDir string
	// Env is the sandbox's environment adjusted to the image's (ImageEnv).
	Env []string
}

// Exec returns what a sandbox of c, whose image is pinned, executes:
// ImageConfig over the image's config, and env (the Lambda environment of
// a zip function) adjusted to the image. An image that is gone, or that
// gives nothing to run, is an *Error.
func (r *Resolver) Exec(ctx context.Context, c *functions.Config, env []string) (*Exec, error) {
	img, err := r.images.Get(ctx, c.ImageID)
	if err != nil {
		return nil, &Error{Reason: fmt.Sprintf("image %s (%s) is not available: %v", c.ResolvedImageURI, c.ImageID, err), class: errdefs.ErrNotFound}
	}
	argv, cmd, wd := imageCommand(c.ImageConfig, img)
	if len(argv) == 0 {
		return nil, &Error{Reason: "the image has no ENTRYPOINT or CMD and ImageConfig sets neither", class: errdefs.ErrInvalidArgument}
	}
	return &Exec{Command: argv, WorkingDir: wd, Env: imageEnv(env, c, img, cmd)}, nil
}

// imageCommand merges ImageConfig with the image's config as Lambda does:
// EntryPoint replaces ENTRYPOINT, Command replaces CMD, WorkingDirectory
// replaces WORKDIR, each on its own. It returns the full command line, the
// CMD part of it, and the working directory ("" for the image's default).
func imageCommand(ic *functions.ImageConfig, img *imagestore.Image) (argv, cmd []string, wd string) {
	var ep []string
	if img.Config != nil {
		ep, cmd, wd = img.Config.Config.Entrypoint, img.Config.Config.Cmd, img.Config.Config.WorkingDir
	}
	if ic != nil {
		if len(ic.EntryPoint) > 0 {
			ep = ic.EntryPoint
		}
		if len(ic.Command) > 0 {
			cmd = ic.Command
		}
		if ic.WorkingDirectory != "" {
			wd = ic.WorkingDirectory
		}
	}
	argv = append(append([]string{}, ep...), cmd...)
	return argv, cmd, wd
}

// imageEnv adapts the Lambda environment of a zip function to an image:
// the image's own PATH, LANG, TZ and AWS_EXECUTION_ENV stand unless the
// function's Environment sets them (Lambda base images set them), and
// _HANDLER is the first word of CMD, as Lambda sets it for images.
func imageEnv(env []string, c *functions.Config, img *imagestore.Image, cmd []string) []string {
	imageSets := map[string]bool{}
	if img.Config != nil {
		for _, kv := range img.Config.Config.Env {
			k, _, _ := strings.Cut(kv, "=")
			imageSets[k] = true
		}
	}
	out := make([]string, 0, len(env))
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		_, userSets := c.Environment[k]
		switch {
		case k == "_HANDLER":
			if len(cmd) > 0 {
				out = append(out, "_HANDLER="+cmd[0])
			}
		case k == "AWS_EXECUTION_ENV" && c.Runtime == "" && !userSets:
		case (k == "PATH" || k == "LANG" || k == "TZ") && imageSets[k] && !userSets:
		default:
			out = append(out, kv)
		}
	}
	return out
}
