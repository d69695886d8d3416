package ecrapi

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/wharf-dev/wharf/registry"
)

// TestPullThroughCache: a rule maps hub/ to an upstream registry (go-
// containerregistry's, in process); a pull of hub/<repo>:<tag> the
// registry lacks is fetched from upstream, stored and served, by tag, by
// digest and as an index.
func TestPullThroughCache(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	up := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(up.Close)
	upHost := strings.TrimPrefix(up.URL, "http://")
	img, _ := random.Image(4096, 2)
	upRef, _ := name.ParseReference(upHost+"/library/app:1", name.Insecure)
	if err := remote.Write(upRef, img, remote.WithAuth(authn.Anonymous)); err != nil {
		t.Fatal(err)
	}
	idx, _ := random.Index(1024, 1, 2)
	idxRef, _ := name.ParseReference(upHost+"/library/multi:1", name.Insecure)
	if err := remote.WriteIndex(idxRef, idx, remote.WithAuth(authn.Anonymous)); err != nil {
		t.Fatal(err)
	}
	other, _ := random.Image(2048, 1)
	otherDigest, _ := other.Digest()
	otherRef, _ := name.ParseReference(upHost+"/library/app@"+otherDigest.String(), name.Insecure)
	if err := remote.Write(otherRef, other, remote.WithAuth(authn.Anonymous)); err != nil {
		t.Fatal(err)
	}

	c := e.client
	if _, err := c.CreatePullThroughCacheRule(ctx, &ecr.CreatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("hub"), UpstreamRegistryUrl: aws.String(upHost)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreatePullThroughCacheRule(ctx, &ecr.CreatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("hub"), UpstreamRegistryUrl: aws.String(upHost)}); apiErr(err) != "PullThroughCacheRuleAlreadyExistsException" {
		t.Fatalf("a second rule for hub: %v", err)
	}
	if _, err := c.CreatePullThroughCacheRule(ctx, &ecr.CreatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("x"), UpstreamRegistryUrl: aws.String(upHost)}); apiErr(err) != "InvalidParameterException" {
		t.Fatalf("a one-letter prefix: %v", err)
	}
	rules, err := c.DescribePullThroughCacheRules(ctx, &ecr.DescribePullThroughCacheRulesInput{})
	if err != nil || len(rules.PullThroughCacheRules) != 1 || aws.ToString(rules.PullThroughCacheRules[0].UpstreamRegistryUrl) != upHost {
		t.Fatalf("rules: %+v %v", rules, err)
	}

	pw, _, _ := e.tokens.MintLogin(e.key.AccessKeyID)
	auth := remote.WithAuth(&authn.Basic{Username: "AWS", Password: pw})
	ref, _ := name.ParseReference(e.host+"/hub/library/app:1", name.Insecure)
	got, err := remote.Image(ref, auth)
	if err != nil {
		t.Fatalf("pull through: %v", err)
	}
	gd, _ := got.Digest()
	wd, _ := img.Digest()
	if gd != wd {
		t.Fatalf("pulled %s, upstream has %s", gd, wd)
	}
	layers, _ := got.Layers()
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		rc.Close()
	}
	// It is stored: DescribeImages knows it, and it serves with the
	// upstream gone.
	desc, err := c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("hub/library/app")})
	if err != nil || len(desc.ImageDetails) != 1 || aws.ToString(desc.ImageDetails[0].ImageDigest) != wd.String() {
		t.Fatalf("describe the cached repository: %+v %v", desc, err)
	}
	byDigest, _ := name.ParseReference(e.host+"/hub/library/app@"+otherDigest.String(), name.Insecure)
	if _, err := remote.Image(byDigest, auth); err != nil {
		t.Fatalf("pull through by digest: %v", err)
	}
	multi, _ := name.ParseReference(e.host+"/hub/library/multi:1", name.Insecure)
	gi, err := remote.Index(multi, auth)
	if err != nil {
		t.Fatalf("pull through of an index: %v", err)
	}
	im, _ := gi.IndexManifest()
	for _, m := range im.Manifests {
		child, _ := name.ParseReference(e.host+"/hub/library/multi@"+m.Digest.String(), name.Insecure)
		ci, err := remote.Image(child, auth)
		if err != nil {
			t.Fatalf("the index's image %s: %v", m.Digest, err)
		}
		if _, err := ci.RawConfigFile(); err != nil {
			t.Fatal(err)
		}
	}
	up.Close()
	if _, err := remote.Image(ref, auth); err != nil {
		t.Fatalf("pull of the cached image with the upstream gone: %v", err)
	}
	missing, _ := name.ParseReference(e.host+"/hub/library/app:nope", name.Insecure)
	if _, err := remote.Image(missing, auth); err == nil || !strings.Contains(err.Error(), "MANIFEST_UNKNOWN") {
		t.Fatalf("a tag upstream lacks: %v", err)
	}
	// No rule, no fetch.
	plain, _ := name.ParseReference(e.host+"/library/app:1", name.Insecure)
	if _, err := remote.Image(plain, auth); err == nil {
		t.Fatal("a repository no rule covers was fetched")
	}
	if _, err := c.DeletePullThroughCacheRule(ctx, &ecr.DeletePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("hub")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeletePullThroughCacheRule(ctx, &ecr.DeletePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("hub")}); apiErr(err) != "PullThroughCacheRuleNotFoundException" {
		t.Fatalf("delete twice: %v", err)
	}
}

// TestPullThroughCacheFollowsTags: a cached tag is checked upstream at
// most once a day (ECR's interval), and followed when it moved.
func TestPullThroughCacheFollowsTags(t *testing.T) {
	var mu sync.Mutex
	var skew time.Duration
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return time.Now().Add(skew) }
	e := newEnv(t, registry.WithClock(clock))
	ctx := context.Background()
	up := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(up.Close)
	upHost := strings.TrimPrefix(up.URL, "http://")
	upRef, _ := name.ParseReference(upHost+"/library/app:latest", name.Insecure)
	first, _ := random.Image(1024, 1)
	second, _ := random.Image(1024, 1)
	if err := remote.Write(upRef, first, remote.WithAuth(authn.Anonymous)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.CreatePullThroughCacheRule(ctx, &ecr.CreatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("hub"), UpstreamRegistryUrl: aws.String(upHost)}); err != nil {
		t.Fatal(err)
	}
	pw, _, _ := e.tokens.MintLogin(e.key.AccessKeyID)
	auth := remote.WithAuth(&authn.Basic{Username: "AWS", Password: pw})
	ref, _ := name.ParseReference(e.host+"/hub/library/app:latest", name.Insecure)
	pulled := func() string {
		t.Helper()
		img, err := remote.Image(ref, auth)
		if err != nil {
			t.Fatal(err)
		}
		d, _ := img.Digest()
		return d.String()
	}
	d1, _ := first.Digest()
	d2, _ := second.Digest()
	if got := pulled(); got != d1.String() {
		t.Fatalf("first pull: %s, want %s", got, d1)
	}
	// The tag moves upstream: within a day the cache keeps its image.
	if err := remote.Write(upRef, second, remote.WithAuth(authn.Anonymous)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	skew = 23 * time.Hour
	mu.Unlock()
	if got := pulled(); got != d1.String() {
		t.Fatalf("a pull within the day: %s, want the cached %s", got, d1)
	}
	mu.Lock()
	skew = 25 * time.Hour
	mu.Unlock()
	if got := pulled(); got != d2.String() {
		t.Fatalf("a pull a day later: %s, want the moved tag's %s", got, d2)
	}
	// An upstream that does not answer leaves the cache serving.
	mu.Lock()
	skew = 50 * time.Hour
	mu.Unlock()
	up.Close()
	if got := pulled(); got != d2.String() {
		t.Fatalf("a pull with the upstream gone: %s", got)
	}
}
