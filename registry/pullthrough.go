package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/distribution/distribution/v3"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrv1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/wharf-dev/wharf/errdefs"
)

// Pull-through cache (ECR's pull-through cache rules).
//
// A rule maps a repository prefix to an upstream registry: a pull of
// <prefix>/<repo>:<tag> (or @<digest>) that the registry does not hold
// fetches <upstream>/<repo>:<tag> anonymously, stores its manifest (an
// index with its manifests) and blobs in the repository <prefix>/<repo>,
// created then, and serves it. As ECR does, a pull of a cached tag asks
// the upstream at most once every tagRefreshEvery whether the tag moved
// (a HEAD of its manifest), and follows it when it did; an upstream that
// does not answer leaves the cached image served. When a tag was last
// checked is kept in memory: after a restart the first check comes a
// whole interval later. The upstream is "host[:port]" (HTTPS; plain HTTP for loopback
// and private addresses, as go-containerregistry decides) or a URL with
// its scheme.
//
// The rules live in the registry's storage (wharf/pullthrough.json),
// read again after pullRulesTTL so that registries sharing storage agree.
// Only the requests that pull a manifest fetch (the registry's manifest
// GET and HEAD, the engine's local pulls): a push, or ECR's PutImage,
// never reaches upstream. Concurrent pulls of the same missing reference
// fetch once.

// PullThroughRule is one rule.
type PullThroughRule struct {
	Prefix   string
	Upstream string
	Created  time.Time
}

// Errors of the rules.
var (
	ErrRuleExists   = classed("pull-through cache rule already exists", errdefs.ErrConflict)
	ErrRuleNotFound = classed("pull-through cache rule does not exist", errdefs.ErrNotFound)
)

const (
	pullRulesPath = "/wharf/pullthrough.json"
	pullRulesTTL  = 10 * time.Second
	maxPullRules  = 50 // ECR's limit per registry
	// maxFetchChildren bounds the manifests of an upstream index fetched.
	maxFetchChildren = 32
	// maxFetchManifest bounds an upstream manifest.
	maxFetchManifest = 4 << 20
	// maxFetches bounds the fetches running at once; more wait.
	maxFetches = 8
	// tagRefreshEvery is how often a cached tag is checked upstream.
	tagRefreshEvery = 24 * time.Hour
	// maxChecked bounds the tags whose last check is remembered.
	maxChecked = 1 << 14
)

var prefixRe = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*$`)

type pullRules struct {
	mu    sync.Mutex
	rules []PullThroughRule
	at    time.Time

	fmu      sync.Mutex
	inflight map[string]*fetchCall
	slots    chan struct{}
	// checked is when each cached tag (repo NUL tag) was last fetched or
	// checked upstream.
	checked map[string]time.Time
}

type fetchCall struct {
	done chan struct{}
	err  error
}

// fetchKey marks a context whose manifest lookups may fetch upstream.
type fetchKey struct{}

func withFetch(ctx context.Context) context.Context { return context.WithValue(ctx, fetchKey{}, true) }

func mayFetch(ctx context.Context) bool { v, _ := ctx.Value(fetchKey{}).(bool); return v }

func (r *Registry) loadRules(ctx context.Context) ([]PullThroughRule, error) {
	p := &r.pull
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.at.IsZero() && r.now().Sub(p.at) < pullRulesTTL {
		return p.rules, nil
	}
	b, err := r.driver.GetContent(ctx, pullRulesPath)
	var nf storagedriver.PathNotFoundError
	var rules []PullThroughRule
	switch {
	case errors.As(err, &nf):
	case err != nil:
		return nil, fmt.Errorf("pull-through cache rules: %w", err)
	default:
		if err := json.Unmarshal(b, &rules); err != nil {
			return nil, fmt.Errorf("pull-through cache rules: %w", err)
		}
	}
	p.rules, p.at = rules, r.now()
	return rules, nil
}

func (r *Registry) saveRules(ctx context.Context, rules []PullThroughRule) error {
	sort.Slice(rules, func(i, j int) bool { return rules[i].Prefix < rules[j].Prefix })
	b, err := json.MarshalIndent(rules, "", "  ")
	if err != nil {
		return err
	}
	if err := r.driver.PutContent(ctx, pullRulesPath, b); err != nil {
		return fmt.Errorf("pull-through cache rules: %w", err)
	}
	r.pull.mu.Lock()
	r.pull.rules, r.pull.at = rules, r.now()
	r.pull.mu.Unlock()
	return nil
}

// PullThroughRules returns the rules, sorted by prefix.
func (r *Registry) PullThroughRules(ctx context.Context) ([]PullThroughRule, error) {
	rules, err := r.loadRules(ctx)
	return append([]PullThroughRule(nil), rules...), err
}

// CreatePullThroughRule adds a rule.
func (r *Registry) CreatePullThroughRule(ctx context.Context, prefix, upstream string) (PullThroughRule, error) {
	if len(prefix) < 2 || len(prefix) > 30 || !prefixRe.MatchString(prefix) {
		return PullThroughRule{}, fmt.Errorf("repository prefix %q: 2 to 30 characters, lower-case letters, digits and . _ - between them: %w", prefix, errdefs.ErrInvalidArgument)
	}
	if _, err := upstreamRegistry(upstream); err != nil {
		return PullThroughRule{}, err
	}
	r.pull.fmu.Lock() // serialises rule changes
	defer r.pull.fmu.Unlock()
	rules, err := r.loadRulesFresh(ctx)
	if err != nil {
		return PullThroughRule{}, err
	}
	for _, ru := range rules {
		if ru.Prefix == prefix {
			return PullThroughRule{}, fmt.Errorf("prefix %s: %w", prefix, ErrRuleExists)
		}
	}
	if len(rules) >= maxPullRules {
		return PullThroughRule{}, fmt.Errorf("at most %d pull-through cache rules: %w", maxPullRules, errdefs.ErrInvalidArgument)
	}
	rule := PullThroughRule{Prefix: prefix, Upstream: upstream, Created: r.now().UTC()}
	if err := r.saveRules(ctx, append(append([]PullThroughRule(nil), rules...), rule)); err != nil {
		return PullThroughRule{}, err
	}
	return rule, nil
}

// DeletePullThroughRule removes the rule of prefix; what it cached stays.
func (r *Registry) DeletePullThroughRule(ctx context.Context, prefix string) (PullThroughRule, error) {
	r.pull.fmu.Lock()
	defer r.pull.fmu.Unlock()
	rules, err := r.loadRulesFresh(ctx)
	if err != nil {
		return PullThroughRule{}, err
	}
	for i, ru := range rules {
		if ru.Prefix == prefix {
			rest := append(append([]PullThroughRule(nil), rules[:i]...), rules[i+1:]...)
			return ru, r.saveRules(ctx, rest)
		}
	}
	return PullThroughRule{}, fmt.Errorf("prefix %s: %w", prefix, ErrRuleNotFound)
}

func (r *Registry) loadRulesFresh(ctx context.Context) ([]PullThroughRule, error) {
	r.pull.mu.Lock()
	r.pull.at = time.Time{}
	r.pull.mu.Unlock()
	return r.loadRules(ctx)
}

// upstreamRegistry parses a rule's upstream.
func upstreamRegistry(upstream string) (name.Registry, error) {
	host := upstream
	var opts []name.Option
	switch {
	case strings.HasPrefix(host, "http://"):
		host = strings.TrimPrefix(host, "http://")
		opts = append(opts, name.Insecure)
	case strings.HasPrefix(host, "https://"):
		host = strings.TrimPrefix(host, "https://")
	}
	host = strings.TrimSuffix(host, "/")
	if host == "" || strings.ContainsAny(host, "/ @") {
		return name.Registry{}, fmt.Errorf("upstream registry %q: want host[:port], or a URL with its scheme and no path: %w", upstream, errdefs.ErrInvalidArgument)
	}
	reg, err := name.NewRegistry(host, append(opts, name.StrictValidation)...)
	if err != nil {
		return name.Registry{}, fmt.Errorf("upstream registry %q: %v: %w", upstream, err, errdefs.ErrInvalidArgument)
	}
	return reg, nil
}

// ruleFor returns the rule whose prefix repo is under, if any.
func (r *Registry) ruleFor(ctx context.Context, repo string) (PullThroughRule, string, bool) {
	rules, err := r.loadRules(ctx)
	if err != nil {
		return PullThroughRule{}, "", false
	}
	for _, ru := range rules {
		if rest, ok := strings.CutPrefix(repo, ru.Prefix+"/"); ok && rest != "" {
			return ru, rest, true
		}
	}
	return PullThroughRule{}, "", false
}

// fetchUpstream fetches ref (a tag or a digest) of repo from its rule's
// upstream into repo, once for concurrent callers. ok is false when no
// rule covers repo.
func (r *Registry) fetchUpstream(ctx context.Context, repo, ref string) (bool, error) {
	rule, upRepo, ok := r.ruleFor(ctx, repo)
	if !ok {
		return false, nil
	}
	key := repo + "\x00" + ref
	p := &r.pull
	p.fmu.Lock()
	if p.inflight == nil {
		p.inflight = map[string]*fetchCall{}
	}
	if c, ok := p.inflight[key]; ok {
		p.fmu.Unlock()
		select {
		case <-c.done:
			return true, c.err
		case <-ctx.Done():
			return true, ctx.Err()
		}
	}
	c := &fetchCall{done: make(chan struct{})}
	p.inflight[key] = c
	if p.slots == nil {
		p.slots = make(chan struct{}, maxFetches)
	}
	slots := p.slots
	p.fmu.Unlock()
	select {
	case slots <- struct{}{}:
		c.err = r.fetch(context.WithoutCancel(ctx), rule, upRepo, repo, ref)
		<-slots
	case <-ctx.Done():
		c.err = ctx.Err()
	}
	p.fmu.Lock()
	delete(p.inflight, key)
	p.fmu.Unlock()
	close(c.done)
	if c.err != nil {
		r.log.Warn("registry: pull-through fetch failed", "repository", repo, "ref", ref, "upstream", rule.Upstream, "err", c.err)
	}
	return true, c.err
}

func (r *Registry) fetch(ctx context.Context, rule PullThroughRule, upRepo, repo, ref string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	reg, err := upstreamRegistry(rule.Upstream)
	if err != nil {
		return err
	}
	upRef, err := name.ParseReference(reg.Name() + "/" + upRepo + refSep(ref) + ref)
	if err != nil {
		return fmt.Errorf("upstream reference: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if reg.Scheme() == "http" {
		if upRef, err = name.ParseReference(upRef.String(), name.Insecure); err != nil {
			return err
		}
	}
	ropts := []remote.Option{remote.WithContext(ctx), remote.WithAuth(authn.Anonymous)}
	desc, err := remote.Get(upRef, ropts...)
	if err != nil {
		return fmt.Errorf("upstream %s: %v: %w", upRef, err, errdefs.ErrNotFound)
	}
	if len(desc.Manifest) > maxFetchManifest {
		return fmt.Errorf("upstream %s: manifest larger than %d bytes: %w", upRef, maxFetchManifest, errdefs.ErrInvalidArgument)
	}
	if _, err := r.meta.update(ctx, repo, func(*RepoMeta, bool) error { return nil }); err != nil {
		return err
	}
	rp, err := r.repo(ctx, repo)
	if err != nil {
		return err
	}
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return err
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return err
		}
		if len(im.Manifests) > maxFetchChildren {
			return fmt.Errorf("upstream %s: an index of more than %d manifests: %w", upRef, maxFetchChildren, errdefs.ErrInvalidArgument)
		}
		for _, child := range im.Manifests {
			img, err := idx.Image(child.Digest)
			if err != nil {
				return fmt.Errorf("upstream %s@%s: %w", upRef, child.Digest, err)
			}
			if err := r.storeImage(ctx, rp, img); err != nil {
				return err
			}
		}
	} else {
		img, err := desc.Image()
		if err != nil {
			return err
		}
		if err := r.storeImage(ctx, rp, img); err != nil {
			return err
		}
	}
	tag := ""
	if _, err := digest.Parse(ref); err != nil {
		tag = ref
	}
	if err := r.storeManifest(ctx, rp, string(desc.MediaType), desc.Manifest, tag); err != nil {
		return err
	}
	if tag != "" {
		r.markChecked(repo, tag)
	}
	return nil
}

func (r *Registry) markChecked(repo, tag string) {
	p := &r.pull
	p.fmu.Lock()
	defer p.fmu.Unlock()
	if p.checked == nil || len(p.checked) >= maxChecked {
		p.checked = map[string]time.Time{}
	}
	p.checked[repo+"\x00"+tag] = r.now()
}

// refreshTag is called on a pull of a tag the registry holds: in a
// pull-through cache's repository, once every tagRefreshEvery, it asks
// the upstream whether the tag moved and fetches it when it did. It
// reports whether the tag moved.
func (r *Registry) refreshTag(ctx context.Context, repo, tag string, cur digest.Digest) bool {
	rule, upRepo, ok := r.ruleFor(ctx, repo)
	if !ok {
		return false
	}
	key := repo + "\x00" + tag
	p := &r.pull
	p.fmu.Lock()
	last, seen := p.checked[key]
	p.fmu.Unlock()
	if !seen {
		// Fetched before this process started: check a whole interval
		// from now, not at once (a restart must not ask for every tag).
		r.markChecked(repo, tag)
		return false
	}
	if r.now().Sub(last) < tagRefreshEvery {
		return false
	}
	r.markChecked(repo, tag)
	reg, err := upstreamRegistry(rule.Upstream)
	if err != nil {
		return false
	}
	opts := []name.Option{}
	if reg.Scheme() == "http" {
		opts = append(opts, name.Insecure)
	}
	upRef, err := name.ParseReference(reg.Name()+"/"+upRepo+":"+tag, opts...)
	if err != nil {
		return false
	}
	hctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	d, err := remote.Head(upRef, remote.WithContext(hctx), remote.WithAuth(authn.Anonymous))
	if err != nil {
		r.log.Warn("registry: pull-through cache: checking a tag upstream", "repository", repo, "tag", tag, "err", err)
		return false
	}
	if d.Digest.String() == cur.String() {
		return false
	}
	if _, err := r.fetchUpstream(ctx, repo, tag); err != nil {
		return false
	}
	r.log.Info("registry: pull-through cache followed a tag upstream", "repository", repo, "tag", tag, "from", cur, "to", d.Digest)
	return true
}

func refSep(ref string) string {
	if strings.Contains(ref, ":") {
		return "@"
	}
	return ":"
}

// storeImage stores an upstream image's blobs and manifest (untagged).
func (r *Registry) storeImage(ctx context.Context, rp distribution.Repository, img ggcrv1.Image) error {
	cfg, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	bs := rp.Blobs(ctx)
	if _, err := bs.Put(ctx, "application/octet-stream", cfg); err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	for _, l := range layers {
		dg, err := l.Digest()
		if err != nil {
			return err
		}
		d := digest.Digest(dg.String())
		if _, err := bs.Stat(ctx, d); err == nil {
			continue
		}
		size, _ := l.Size()
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		err = copyBlob(ctx, bs, rc, v1.Descriptor{Digest: d, Size: size})
		rc.Close()
		if err != nil {
			return fmt.Errorf("upstream layer %s: %w", d, err)
		}
	}
	mt, err := img.MediaType()
	if err != nil {
		return err
	}
	raw, err := img.RawManifest()
	if err != nil {
		return err
	}
	return r.storeManifest(ctx, rp, string(mt), raw, "")
}

// copyBlob uploads rc into the repository; the commit checks its digest.
func copyBlob(ctx context.Context, bs distribution.BlobStore, rc io.Reader, desc v1.Descriptor) error {
	w, err := bs.Create(ctx)
	if err != nil {
		return err
	}
	if _, err := w.ReadFrom(rc); err != nil {
		_ = w.Cancel(ctx)
		return err
	}
	if _, err := w.Commit(ctx, desc); err != nil {
		_ = w.Cancel(ctx)
		return err
	}
	return nil
}

func (r *Registry) storeManifest(ctx context.Context, rp distribution.Repository, mediaType string, payload []byte, tag string) error {
	man, _, err := distribution.UnmarshalManifest(mediaType, payload)
	if err != nil {
		return fmt.Errorf("upstream manifest: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	ms, err := rp.Manifests(ctx)
	if err != nil {
		return err
	}
	var opts []distribution.ManifestServiceOption
	if tag != "" {
		opts = append(opts, distribution.WithTag(tag))
	}
	d, err := ms.Put(ctx, man, opts...)
	if err != nil {
		return err
	}
	if tag != "" {
		return rp.Tags(ctx).Tag(ctx, tag, v1.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(payload))})
	}
	return nil
}
