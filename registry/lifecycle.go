package registry

import (
	"context"
	"fmt"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/registry/lifecycle"
)

// Lifecycle policies (ECR's; the language is package lifecycle).
//
// A repository's policy lives in its record. A background job (every
// WithLifecycleInterval) expires, in every repository that has a policy,
// the images the policy selects: their manifests and tags are deleted;
// their blobs are left to garbage collection. A preview evaluates the same
// function on the same listing and deletes nothing, so that a preview and
// the job run right after it agree image for image.

// Expiry is an image a lifecycle policy expires, and the rule that does.
type Expiry struct {
	Image        Image
	RulePriority int
}

// WithLifecycleInterval runs the lifecycle job every d (0: never; the
// job can still be run with RunLifecycle).
func WithLifecycleInterval(d time.Duration) Option {
	return func(r *Registry) { r.lifecycleEvery = d }
}

// SetLifecyclePolicy validates text and makes it repo's policy. It
// returns the text as stored.
func (r *Registry) SetLifecyclePolicy(ctx context.Context, repo, text string) (RepoMeta, error) {
	if _, err := lifecycle.Parse(text); err != nil {
		return RepoMeta{}, err
	}
	return r.UpdateRepository(ctx, repo, func(m *RepoMeta) error {
		m.LifecyclePolicy = lifecycle.Canonical(text)
		m.LifecyclePolicyUpdated = r.now().UTC()
		return nil
	})
}

// DeleteLifecyclePolicy removes repo's policy, returning the record as it
// was. A repository without one is ErrPolicyNotFound.
func (r *Registry) DeleteLifecyclePolicy(ctx context.Context, repo string) (RepoMeta, error) {
	var old RepoMeta
	_, err := r.UpdateRepository(ctx, repo, func(m *RepoMeta) error {
		if m.LifecyclePolicy == "" {
			return fmt.Errorf("repository %s: %w", repo, ErrPolicyNotFound)
		}
		old = *m
		m.LifecyclePolicy, m.LifecyclePolicyUpdated = "", time.Time{}
		return nil
	})
	return old, err
}

// PreviewLifecycle returns what policy text ("": repo's own) would
// expire in repo now.
func (r *Registry) PreviewLifecycle(ctx context.Context, repo, text string) ([]Expiry, error) {
	if text == "" {
		m, err := r.Repository(ctx, repo)
		if err != nil {
			return nil, err
		}
		if m.LifecyclePolicy == "" {
			return nil, fmt.Errorf("repository %s: %w", repo, ErrPolicyNotFound)
		}
		text = m.LifecyclePolicy
	}
	p, err := lifecycle.Parse(text)
	if err != nil {
		return nil, err
	}
	imgs, err := r.Images(ctx, repo)
	if err != nil {
		return nil, err
	}
	return evaluate(p, imgs, r.now()), nil
}

func evaluate(p lifecycle.Policy, imgs []Image, now time.Time) []Expiry {
	in := make([]lifecycle.Image, len(imgs))
	byDigest := make(map[string]Image, len(imgs))
	for i, im := range imgs {
		in[i] = lifecycle.Image{Digest: im.Digest, Tags: im.Tags, Pushed: im.Pushed}
		byDigest[im.Digest] = im
	}
	var out []Expiry
	for _, e := range lifecycle.Evaluate(p, in, now) {
		out = append(out, Expiry{Image: byDigest[e.Image.Digest], RulePriority: e.RulePriority})
	}
	return out
}

// ApplyLifecycle expires what repo's policy selects now and returns
// what it expired. A repository without a policy expires nothing.
func (r *Registry) ApplyLifecycle(ctx context.Context, repo string) ([]Expiry, error) {
	exp, err := r.PreviewLifecycle(ctx, repo, "")
	if errdefs.IsNotFound(err) {
		if _, rerr := r.Repository(ctx, repo); rerr == nil {
			return nil, nil
		}
	}
	if err != nil {
		return nil, err
	}
	var done []Expiry
	for _, e := range exp {
		if _, err := r.DeleteImage(ctx, repo, ImageID{Digest: e.Image.Digest}); err != nil && !errdefs.IsNotFound(err) {
			return done, fmt.Errorf("lifecycle of %s: expiring %s: %w", repo, e.Image.Digest, err)
		}
		done = append(done, e)
		r.log.Info("registry: lifecycle policy expired an image", "repository", repo, "digest", e.Image.Digest, "tags", e.Image.Tags, "rule", e.RulePriority)
	}
	return done, nil
}

// RunLifecycle applies the policy of every repository that has one and
// returns what it expired, by repository.
func (r *Registry) RunLifecycle(ctx context.Context) (map[string][]Expiry, error) {
	repos, err := r.Repositories(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string][]Expiry{}
	var firstErr error
	for _, m := range repos {
		if m.LifecyclePolicy == "" {
			continue
		}
		exp, err := r.ApplyLifecycle(ctx, m.Name)
		if len(exp) > 0 {
			out[m.Name] = exp
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return out, firstErr
}

// lifecycleLoop runs the job every interval until ctx ends.
func (r *Registry) lifecycleLoop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := r.RunLifecycle(ctx); err != nil && ctx.Err() == nil {
				r.log.Error("registry: lifecycle job", "err", err)
			}
		}
	}
}
