package functions

// Image functions (PackageType Image). Their code is an OCI image whose
// ENTRYPOINT (and CMD) start a runtime that speaks the Runtime API, as the
// Lambda base images' /lambda-entrypoint.sh or a custom bootstrap does.
//
// The image is resolved once, when the code is set (CreateFunction,
// UpdateFunctionCode): the reference, read as dockerd reads one
// (image/reference: a reference dockerd refuses is refused with its
// reason), is looked up in the daemon's image
// store, or pulled into it as `docker pull` would, and pinned by manifest
// digest (ResolvedImageURI) and image ID. Published versions copy the pin,
// so re-tagging or re-pushing the reference changes no version. The engine
// reports pinned images through ImageInUse, which the daemon hands to the
// container engine: `wharf rmi` of such an image fails as for an image a
// container uses (with --force it is untagged but kept), and prune keeps
// it. Deleting a function leaves its image alone.
//
// States: a function whose image is in the store is Active at once. One
// whose image must be pulled is Pending while the pull runs in the
// background, then Active, or Failed with StateReasonCode InvalidImage and
// the pull's error as reason (the SDK's FunctionActiveV2 waiter stops
// there). UpdateFunctionCode resolves and pulls within the request, so the
// function keeps serving its previous image until the new one is pinned,
// and a missing image is refused with InvalidParameterValueException.
//
// Sandboxes run the pinned image ID with a read-only root, a /tmp tmpfs,
// the Lambda environment over the image's ENV, as the sandbox user (as zip
// functions), with ImageConfig's EntryPoint, Command and WorkingDirectory
// each overriding the image's own.

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/image/reference"
	imagestore "github.com/wharf-dev/wharf/image/store"
)

// ImageStore is what image functions need of the daemon's image store
// (*store.Store implements it).
type ImageStore interface {
	// Get finds an image by reference or ID; ErrNotFound when absent.
	Get(ctx context.Context, refOrID string) (*imagestore.Image, error)
	// List returns every image (to find one by its manifest digest).
	List(ctx context.Context) ([]*imagestore.Image, error)
	// Pull fetches a reference into the store.
	Pull(ctx context.Context, ref string, progress func(imagestore.Progress)) (*imagestore.Image, error)
}

// WithImages gives the engine the image store image functions resolve
// their images in. Without it, creating an image function is refused.
func WithImages(s ImageStore) EngineOption { return func(e *Engine) { e.images = s } }

// StateReasonCode of an image function whose image could not be resolved.
const reasonInvalidImage = "InvalidImage"

// Lambda's limits on ImageConfig.
const (
	maxImageConfigItems = 1500
	maxWorkingDirectory = 1000
)

func validateImageConfig(ic *ImageConfig) error {
	if ic == nil {
		return nil
	}
	switch {
	case len(ic.EntryPoint) > maxImageConfigItems:
		return fmt.Errorf("1 validation error detected: Value at 'imageConfig.entryPoint' failed to satisfy constraint: Member must have length less than or equal to %d: %w", maxImageConfigItems, errdefs.ErrInvalidArgument)
	case len(ic.Command) > maxImageConfigItems:
		return fmt.Errorf("1 validation error detected: Value at 'imageConfig.command' failed to satisfy constraint: Member must have length less than or equal to %d: %w", maxImageConfigItems, errdefs.ErrInvalidArgument)
	case len(ic.WorkingDirectory) > maxWorkingDirectory:
		return fmt.Errorf("1 validation error detected: Value at 'imageConfig.workingDirectory' failed to satisfy constraint: Member must have length less than or equal to %d: %w", maxWorkingDirectory, errdefs.ErrInvalidArgument)
	case ic.WorkingDirectory != "" && !path.IsAbs(ic.WorkingDirectory):
		return fmt.Errorf("ImageConfig.WorkingDirectory %q must be an absolute path: %w", ic.WorkingDirectory, errdefs.ErrInvalidArgument)
	}
	return nil
}

// copyImageConfig returns a copy that shares nothing with ic (nil for an
// empty one), so versions never share mutable state with $LATEST.
func copyImageConfig(ic *ImageConfig) *ImageConfig {
	if ic == nil || len(ic.EntryPoint) == 0 && len(ic.Command) == 0 && ic.WorkingDirectory == "" {
		return nil
	}
	return &ImageConfig{
		EntryPoint:       append([]string(nil), ic.EntryPoint...),
		Command:          append([]string(nil), ic.Command...),
		WorkingDirectory: ic.WorkingDirectory,
	}
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

// findImage looks ref up in the store without pulling. A "name@digest"
// that the store knows only as the digest of its own manifest (the
// ResolvedImageUri of an imported image) is found too.
func (e *Engine) findImage(ctx context.Context, ref string, r name.Reference) (*imagestore.Image, error) {
	if e.images == nil {
		return nil, fmt.Errorf("image functions need the daemon's image store, which this engine was not given: %w", errdefs.ErrUnavailable)
	}
	img, err := e.images.Get(ctx, ref)
	if err == nil || !errdefs.IsNotFound(err) {
		return img, err
	}
	if d, ok := r.(name.Digest); ok {
		all, lerr := e.images.List(ctx)
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

// imageError is an image that cannot be used: msg is the StateReason a
// person reads, class the errdefs class.
type imageError struct {
	msg   string
	class error
}

func (e *imageError) Error() string { return e.msg + ": " + e.class.Error() }
func (e *imageError) Unwrap() error { return e.class }

// pullImage pulls ref into the store and returns it; errors say what
// Lambda says of an image it cannot use. They never carry the pull's own
// error: that may hold another registry's response, which is for the
// daemon's log (with the API request's ID, reqID), not for the client.
func (e *Engine) pullImage(ctx context.Context, ref, reqID string) (*imagestore.Image, error) {
	e.log.Info("pulling function image", "image", ref, "request", reqID)
	img, err := e.images.Pull(ctx, ref, nil)
	if err != nil {
		e.log.Warn("pulling function image failed", "image", ref, "request", reqID, "err", err)
		see := "see the daemon's log"
		if reqID != "" {
			see += " for request " + reqID
		}
		if errdefs.IsNotFound(err) {
			return nil, &imageError{msg: fmt.Sprintf("Source image %s does not exist. Provide a valid source image. (%s)", ref, see), class: errdefs.ErrInvalidArgument}
		}
		return nil, &imageError{msg: fmt.Sprintf("Source image %s could not be pulled (%s).", ref, see), class: errdefs.ErrInvalidArgument}
	}
	return img, nil
}

// pinImage records which image c runs.
func pinImage(c *Config, img *imagestore.Image) {
	c.ImageID = img.ID
	c.ResolvedImageURI = resolvedURI(c.ImageURI, img)
	_, dgst, _ := strings.Cut(c.ResolvedImageURI, "@")
	c.CodeSha256, c.CodeSize = strings.TrimPrefix(dgst, "sha256:"), 0
}

// setImage points c at ref. It reports whether the image still has to be
// pulled (when pull is false, the caller pulls it in the background).
func (e *Engine) setImage(ctx context.Context, c *Config, ref string, pull bool) (pending bool, err error) {
	r, err := parseImageURI(ref)
	if err != nil {
		return false, err
	}
	img, err := e.findImage(ctx, ref, r)
	switch {
	case err == nil:
	case errdefs.IsNotFound(err) && !pull:
		c.ImageURI, c.ResolvedImageURI, c.ImageID, c.CodeSha256, c.CodeSize = ref, "", "", "", 0
		return true, nil
	case errdefs.IsNotFound(err):
		if img, err = e.pullImage(ctx, ref, RequestID(ctx)); err != nil {
			return false, err
		}
	case errdefs.IsInvalidArgument(err):
		return false, fmt.Errorf("ImageUri %q is not a valid image reference: %w", ref, err)
	default:
		return false, err
	}
	c.ImageURI = ref
	pinImage(c, img)
	return false, nil
}

// pullPending pulls the image of a Pending image function in the
// background and moves it to Active or Failed, unless its code changed or
// it was deleted meanwhile (a configuration change does not matter: the
// image is still the one to pull). reqID is the API request that set the
// image ("" at a daemon start), for the log. The caller holds e.st.mu.
func (e *Engine) pullPending(r *record, publish bool, reqID string) {
	name, ref := r.Latest.FunctionName, r.Latest.ImageURI
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-e.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		var img *imagestore.Image
		var err error = &imageError{msg: "the daemon has no image store", class: errdefs.ErrUnavailable}
		if e.images != nil {
			img, err = e.pullImage(ctx, ref, reqID)
		}
		if ctx.Err() != nil {
			return // the engine is closing; the next start pulls again
		}
		e.st.mu.Lock()
		defer e.st.mu.Unlock()
		cur, gerr := e.st.get(name)
		if gerr != nil || cur.Latest.State != StatePending || cur.Latest.ImageID != "" || cur.Latest.ImageURI != ref {
			return
		}
		c := &cur.Latest
		if err != nil {
			c.State, c.StateReasonCode, c.StateReason = StateFailed, reasonInvalidImage, "Source image "+ref+" could not be used."
			var ie *imageError
			if errors.As(err, &ie) {
				c.StateReason = ie.msg
			}
			e.log.Warn("function image unavailable", "function", name, "image", ref, "request", reqID, "err", err)
		} else {
			pinImage(c, img)
			c.State, c.StateReason, c.StateReasonCode = StateActive, "", ""
			e.log.Info("function image pulled", "function", name, "image", c.ResolvedImageURI)
		}
		c.LastUpdateStatus = UpdateSuccessful
		_ = e.st.saveLocked(cur)
		if publish && c.State == StateActive {
			e.publishLocked(cur, "")
		}
	}()
}

// ImageInUse reports whether any function or version runs the image with
// this ID. The daemon adds it to the container engine's ImageInUse so that
// image removal and pruning keep such images.
func (e *Engine) ImageInUse(imageID string) bool {
	e.st.mu.Lock()
	defer e.st.mu.Unlock()
	for _, r := range e.st.fns {
		if r.Latest.ImageID == imageID {
			return true
		}
		for _, v := range r.Versions {
			if v.ImageID == imageID {
				return true
			}
		}
	}
	return false
}

// imageLauncher completes the SandboxSpec of image functions before the
// engine's launcher sees it: the pinned image ID instead of the reference,
// the command line and working directory from ImageConfig over the image's
// config, and the environment adjusted to the image's.
type imageLauncher struct {
	next Launcher
	e    *Engine
}

// Launch implements Launcher.
func (l *imageLauncher) Launch(ctx context.Context, spec SandboxSpec) (Sandbox, error) {
	if spec.Image == "" {
		return l.next.Launch(ctx, spec)
	}
	e := l.e
	e.st.mu.Lock()
	var c Config
	r, err := e.st.get(spec.Function)
	if err == nil {
		c, _, err = r.resolve(spec.Version)
	}
	e.st.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if c.ImageID == "" || e.images == nil {
		return nil, fmt.Errorf("function %s has no resolved image: %w", spec.Function, errdefs.ErrUnavailable)
	}
	img, err := e.images.Get(ctx, c.ImageID)
	if err != nil {
		return nil, &initError{typ: "Runtime.InvalidEntrypoint", msg: fmt.Sprintf("image %s (%s) is not available: %v", c.ResolvedImageURI, c.ImageID, err)}
	}
	argv, cmd, wd := imageCommand(c.ImageConfig, img)
	if len(argv) == 0 {
		return nil, &initError{typ: "Runtime.InvalidEntrypoint", msg: "the image has no ENTRYPOINT or CMD and ImageConfig sets neither"}
	}
	spec.Image, spec.Command, spec.WorkingDir = c.ImageID, argv, wd
	spec.Env = imageEnv(spec.Env, &c, img, cmd)
	start := time.Now()
	sb, err := l.next.Launch(ctx, spec)
	if err != nil && ctx.Err() == nil {
		// The runtime could not even start (an entrypoint that is not
		// there or not executable): Lambda's answer is a function error.
		e.log.Warn("image function sandbox did not start", "function", spec.Function, "image", c.ResolvedImageURI, "after", time.Since(start), "err", err)
		return nil, &initError{typ: "Runtime.InvalidEntrypoint", msg: err.Error()}
	}
	return sb, err
}

// imageCommand merges ImageConfig with the image's config as Lambda does:
// EntryPoint replaces ENTRYPOINT, Command replaces CMD, WorkingDirectory
// replaces WORKDIR, each on its own. It returns the full command line, the
// CMD part of it, and the working directory ("" for the image's default).
func imageCommand(ic *ImageConfig, img *imagestore.Image) (argv, cmd []string, wd string) {
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
func imageEnv(env []string, c *Config, img *imagestore.Image, cmd []string) []string {
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
