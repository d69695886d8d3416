package container

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/image/changes"
	"github.com/wharf-dev/wharf/image/reference"
	"github.com/wharf-dev/wharf/image/store"
)

// CommitOptions is a docker commit.
type CommitOptions struct {
	// Repo and Tag name the new image as the API's parameters do
	// (reference.WithTag); an empty Repo leaves it untagged.
	Repo, Tag string
	// Author and Comment go in the image's config and history.
	Author, Comment string
	// Changes are Dockerfile instructions applied to the config
	// (image/changes).
	Changes []string
	// Pause freezes a running container while its layer is read.
	Pause bool
	// Config is the client's config for the image; nil takes the
	// container's. Either is merged with the container's as dockerd
	// merges them.
	Config *v1.Config
}

// imageCommitter is what a commit needs of the image store besides
// Images: the daemon's store (wrapped to publish its events) has it.
type imageCommitter interface {
	CommitContainer(ctx context.Context, o store.ContainerCommitOptions) (*store.Image, error)
	Tag(ctx context.Context, src, target string) error
}

// Commit makes an image of the container's writable layer on top of its
// image, as dockerd's commit does: the config is the client's (or the
// container's) with the changes applied and the container's config
// merged in; a running container is frozen meanwhile unless Pause is
// false (dockerd's pause and unpause events are published around it); the
// image is tagged before the container's commit event.
func (e *Engine) Commit(ctx context.Context, ref string, o CommitOptions) (*store.Image, error) {
	ic, ok := e.images.(imageCommitter)
	if !ok {
		return nil, fmt.Errorf("commit: the image store cannot make images: %w", errdefs.ErrNotImplemented)
	}
	var target name.Tag
	imageRef := ""
	if o.Repo != "" {
		t, err := reference.WithTag(o.Repo, o.Tag)
		if err != nil {
			return nil, err
		}
		target = t
		// dockerd's event names the image as it was asked for: without
		// the implied ":latest".
		imageRef = reference.FamiliarName(t.Repository)
		if o.Tag != "" || strings.Contains(o.Repo[strings.LastIndex(o.Repo, "/")+1:], ":") {
			imageRef += ":" + t.TagStr()
		}
	}
	en, c, err := e.lockForFS(ref)
	if err != nil {
		return nil, err
	}
	defer en.op.Unlock()

	cfg := imageConfig(c.Config)
	if o.Config != nil {
		cfg = *o.Config.DeepCopy()
	}
	if err := changes.Apply(&cfg, o.Changes); err != nil {
		return nil, err
	}
	mergeCommitConfig(&cfg, imageConfig(c.Config))

	if o.Pause && c.State.Status == StatusRunning {
		thaw, err := e.freeze(ctx, c)
		if err != nil {
			return nil, err
		}
		e.publish(c, "pause", nil)
		defer func() {
			thaw()
			e.publish(c, "unpause", nil)
		}()
	}

	upper, err := os.OpenFile(filepath.Join(e.dir(c.ID), "upper"), unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if os.IsNotExist(err) {
		// Never started: an empty layer, as dockerd's of a created
		// container.
		if err = os.MkdirAll(filepath.Join(e.dir(c.ID), "upper"), 0o755); err == nil {
			upper, err = os.OpenFile(filepath.Join(e.dir(c.ID), "upper"), unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("commit: writable layer of %s: %w", c.ID, err)
	}
	defer upper.Close()

	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		pw.CloseWithError(writeLayer(ctx, pw, upper))
	}()
	img, err := ic.CommitContainer(ctx, store.ContainerCommitOptions{
		Parent: c.ImageID, Layer: pr, Config: cfg,
		Author: o.Author, Comment: o.Comment, CreatedBy: strings.Join(c.Config.Cmd, " "),
		Container: c.ID,
	})
	pr.CloseWithError(io.ErrClosedPipe) // the writer stops if the store did not read it all
	<-done
	if err != nil {
		return nil, err
	}
	if o.Repo != "" {
		if err := ic.Tag(ctx, img.ID, reference.Familiar(target)); err != nil {
			return nil, err
		}
	}
	e.publish(c, "commit", map[string]string{"comment": o.Comment, "imageID": img.ID, "imageRef": imageRef})
	return img, nil
}

// imageConfig is the container's config in an image's terms.
func imageConfig(c Config) v1.Config {
	out := v1.Config{
		Hostname: c.Hostname, User: c.User, Tty: c.Tty, OpenStdin: c.OpenStdin, StdinOnce: c.StdinOnce,
		Env: append([]string(nil), c.Env...), Cmd: append([]string(nil), c.Cmd...), Image: c.Image,
		WorkingDir: c.WorkingDir, Entrypoint: append([]string(nil), c.Entrypoint...),
		Labels: maps.Clone(c.Labels), StopSignal: c.StopSignal,
		ExposedPorts: maps.Clone(c.ExposedPorts), Volumes: maps.Clone(c.Volumes),
		Shell: append([]string(nil), c.Shell...),
	}
	if h := c.Healthcheck; h != nil {
		out.Healthcheck = &v1.HealthConfig{Test: append([]string(nil), h.Test...), Interval: h.Interval, Timeout: h.Timeout, StartPeriod: h.StartPeriod, Retries: h.Retries}
	}
	return out
}

// mergeCommitConfig fills what the user's config leaves unset from the
// container's, as dockerd's commit merges them (daemon/commit.go merge).
func mergeCommitConfig(u *v1.Config, c v1.Config) {
	if u.User == "" {
		u.User = c.User
	}
	if len(u.ExposedPorts) == 0 {
		u.ExposedPorts = c.ExposedPorts
	} else {
		for p := range c.ExposedPorts {
			u.ExposedPorts[p] = struct{}{}
		}
	}
	if len(u.Env) == 0 {
		u.Env = c.Env
	} else {
		have := map[string]bool{}
		for _, kv := range u.Env {
			k, _, _ := strings.Cut(kv, "=")
			have[k] = true
		}
		for _, kv := range c.Env {
			if k, _, _ := strings.Cut(kv, "="); !have[k] {
				u.Env = append(u.Env, kv)
			}
		}
	}
	if u.Labels == nil {
		u.Labels = map[string]string{}
	}
	for k, v := range c.Labels {
		if _, ok := u.Labels[k]; !ok {
			u.Labels[k] = v
		}
	}
	if len(u.Entrypoint) == 0 {
		if len(u.Cmd) == 0 {
			u.Cmd = c.Cmd
			u.ArgsEscaped = c.ArgsEscaped
		}
		if u.Entrypoint == nil {
			u.Entrypoint = c.Entrypoint
		}
	}
	if c.Healthcheck != nil {
		if u.Healthcheck == nil {
			u.Healthcheck = c.Healthcheck
		} else {
			h := u.Healthcheck
			if len(h.Test) == 0 {
				h.Test = c.Healthcheck.Test
			}
			if h.Interval == 0 {
				h.Interval = c.Healthcheck.Interval
			}
			if h.Timeout == 0 {
				h.Timeout = c.Healthcheck.Timeout
			}
			if h.StartPeriod == 0 {
				h.StartPeriod = c.Healthcheck.StartPeriod
			}
			if h.Retries == 0 {
				h.Retries = c.Healthcheck.Retries
			}
		}
	}
	if u.WorkingDir == "" {
		u.WorkingDir = c.WorkingDir
	}
	if len(u.Volumes) == 0 {
		u.Volumes = c.Volumes
	} else {
		for k := range c.Volumes {
			u.Volumes[k] = struct{}{}
		}
	}
	if u.StopSignal == "" {
		u.StopSignal = c.StopSignal
	}
}
