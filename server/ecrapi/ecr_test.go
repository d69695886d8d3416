package ecrapi

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/wharf-dev/wharf/identity"
	"github.com/wharf-dev/wharf/registry"
)

// env is a registry served over httptest, ECR's API over it, and an ECR
// client signed with an admin key.
type env struct {
	reg    *registry.Registry
	keys   *identity.Keys
	tokens *identity.Tokens
	host   string // the registry's host:port
	api    *httptest.Server
	client *ecr.Client
	key    identity.Key
}

func newEnv(t *testing.T, opts ...registry.Option) *env {
	t.Helper()
	dir := t.TempDir()
	keys, err := identity.OpenKeys(filepath.Join(dir, "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := identity.OpenTokens(filepath.Join(dir, "token.key"), keys)
	if err != nil {
		t.Fatal(err)
	}
	var h http.Handler
	regSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	host := strings.TrimPrefix(regSrv.URL, "http://")
	reg, err := registry.New(context.Background(), registry.Config{Addr: host, Root: filepath.Join(dir, "registry")}, tokens, opts...)
	if err != nil {
		t.Fatal(err)
	}
	h = reg.Handler()
	e := &env{reg: reg, keys: keys, tokens: tokens, host: host}
	e.api = httptest.NewServer(New(reg, keys, tokens))
	t.Cleanup(func() {
		e.api.Close()
		regSrv.Close()
		reg.Close()
	})
	e.client, e.key = e.newClient(t, identity.AdminStatement)
	return e
}

func (e *env) newClient(t *testing.T, stmts ...identity.Statement) (*ecr.Client, identity.Key) {
	t.Helper()
	key, err := e.keys.Create(stmts...)
	if err != nil {
		t.Fatal(err)
	}
	return ecr.New(ecr.Options{
		BaseEndpoint: aws.String(e.api.URL), Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider(key.AccessKeyID, key.SecretAccessKey, ""),
		Retryer:     aws.NopRetryer{},
	}), key
}

// push writes a random image to repo:tag over the registry's HTTP API.
func (e *env) push(t *testing.T, repo, tag string) v1.Image {
	t.Helper()
	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	pw, _, err := e.tokens.MintLogin(e.key.AccessKeyID)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(e.host+"/"+repo+":"+tag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: "AWS", Password: pw})); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	return img
}

// apiErr returns the ECR exception name of err ("" for none).
func apiErr(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func digestOf(t *testing.T, img v1.Image) string {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func TestRepositories(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.client
	out, err := c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("team/app"),
		ImageTagMutability: types.ImageTagMutabilityImmutable, Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("a")}}})
	if err != nil {
		t.Fatal(err)
	}
	r := out.Repository
	if aws.ToString(r.RepositoryArn) != "arn:aws:ecr:us-east-1:000000000000:repository/team/app" || aws.ToString(r.RepositoryUri) != e.host+"/team/app" ||
		r.ImageTagMutability != types.ImageTagMutabilityImmutable || r.CreatedAt == nil || time.Since(*r.CreatedAt) > time.Minute {
		t.Fatalf("created %+v", r)
	}
	if _, err := c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("team/app")}); apiErr(err) != "RepositoryAlreadyExistsException" {
		t.Fatalf("second create: %v", err)
	}
	for _, bad := range []*ecr.CreateRepositoryInput{
		{RepositoryName: aws.String("Team/App")},
		{RepositoryName: aws.String("x/y"), ImageScanningConfiguration: &types.ImageScanningConfiguration{ScanOnPush: true}},
		{RepositoryName: aws.String("x/y"), EncryptionConfiguration: &types.EncryptionConfiguration{EncryptionType: types.EncryptionTypeKms}},
	} {
		if _, err := c.CreateRepository(ctx, bad); apiErr(err) != "InvalidParameterException" {
			t.Fatalf("create %+v: %v, want InvalidParameterException", bad, err)
		}
	}
	tags, err := c.ListTagsForResource(ctx, &ecr.ListTagsForResourceInput{ResourceArn: r.RepositoryArn})
	if err != nil || len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Value) != "a" {
		t.Fatalf("tags: %+v %v", tags, err)
	}
	if _, err := c.TagResource(ctx, &ecr.TagResourceInput{ResourceArn: r.RepositoryArn, Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UntagResource(ctx, &ecr.UntagResourceInput{ResourceArn: r.RepositoryArn, TagKeys: []string{"team"}}); err != nil {
		t.Fatal(err)
	}
	tags, _ = c.ListTagsForResource(ctx, &ecr.ListTagsForResourceInput{ResourceArn: r.RepositoryArn})
	if len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Key) != "env" {
		t.Fatalf("tags after tag and untag: %+v", tags.Tags)
	}

	// Pagination over 7 repositories, 3 a page.
	for _, n := range []string{"a1", "a2", "a3", "a4", "a5", "a6"} {
		if _, err := c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(n)}); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	p := ecr.NewDescribeRepositoriesPaginator(c, &ecr.DescribeRepositoriesInput{MaxResults: aws.Int32(3)})
	pages := 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, r := range page.Repositories {
			names = append(names, aws.ToString(r.RepositoryName))
		}
	}
	if pages != 3 || strings.Join(names, ",") != "a1,a2,a3,a4,a5,a6,team/app" {
		t.Fatalf("%d pages: %v", pages, names)
	}
	if _, err := c.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{"nope"}}); apiErr(err) != "RepositoryNotFoundException" {
		t.Fatalf("describe missing: %v", err)
	}

	// Delete: a repository with images needs force.
	e.push(t, "a1", "v1")
	if _, err := c.DeleteRepository(ctx, &ecr.DeleteRepositoryInput{RepositoryName: aws.String("a1")}); apiErr(err) != "RepositoryNotEmptyException" {
		t.Fatalf("delete non-empty: %v", err)
	}
	if _, err := c.DeleteRepository(ctx, &ecr.DeleteRepositoryInput{RepositoryName: aws.String("a1"), Force: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteRepository(ctx, &ecr.DeleteRepositoryInput{RepositoryName: aws.String("a2")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListImages(ctx, &ecr.ListImagesInput{RepositoryName: aws.String("a1")}); apiErr(err) != "RepositoryNotFoundException" {
		t.Fatalf("list images of a deleted repository: %v", err)
	}
}

func TestImages(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.client
	one := e.push(t, "team/app", "1")
	e.push(t, "team/app", "2")
	e.push(t, "team/app", "3")
	d1 := digestOf(t, one)
	// A second tag on image 1, and an untagged image (pushed by tag, then
	// moved away from).
	if _, err := c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String("team/app"), ImageTag: aws.String("latest"), ImageManifest: aws.String(string(mustManifest(t, one)))}); err != nil {
		t.Fatalf("put image (a second tag): %v", err)
	}
	e.push(t, "team/app", "3") // a new image under tag 3: the old one is untagged

	list, err := c.ListImages(ctx, &ecr.ListImagesInput{RepositoryName: aws.String("team/app")})
	if err != nil {
		t.Fatal(err)
	}
	var tagged, untagged int
	for _, id := range list.ImageIds {
		if id.ImageTag == nil {
			untagged++
		} else {
			tagged++
		}
	}
	if tagged != 4 || untagged != 1 {
		t.Fatalf("list images: %d tagged, %d untagged: %+v", tagged, untagged, list.ImageIds)
	}
	un, err := c.ListImages(ctx, &ecr.ListImagesInput{RepositoryName: aws.String("team/app"), Filter: &types.ListImagesFilter{TagStatus: types.TagStatusUntagged}})
	if err != nil || len(un.ImageIds) != 1 {
		t.Fatalf("untagged: %+v %v", un, err)
	}
	var paged int
	for p := ecr.NewListImagesPaginator(c, &ecr.ListImagesInput{RepositoryName: aws.String("team/app"), MaxResults: aws.Int32(2)}); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		paged += len(page.ImageIds)
	}
	if paged != 5 {
		t.Fatalf("paged %d image ids, want 5", paged)
	}

	// Pull image 1 over HTTP: DescribeImages records the pull.
	pw, _, _ := e.tokens.MintLogin(e.key.AccessKeyID)
	ref, _ := name.ParseReference(e.host+"/team/app:latest", name.Insecure)
	if _, err := remote.Image(ref, remote.WithAuth(&authn.Basic{Username: "AWS", Password: pw})); err != nil {
		t.Fatal(err)
	}
	desc, err := c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("team/app"), ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("1")}}})
	if err != nil || len(desc.ImageDetails) != 1 {
		t.Fatalf("describe: %+v %v", desc, err)
	}
	det := desc.ImageDetails[0]
	man, _ := one.Manifest()
	want := man.Config.Size
	for _, l := range man.Layers {
		want += l.Size
	}
	sort.Strings(det.ImageTags)
	if aws.ToString(det.ImageDigest) != d1 || strings.Join(det.ImageTags, ",") != "1,latest" || aws.ToInt64(det.ImageSizeInBytes) != want ||
		det.ImagePushedAt == nil || det.LastRecordedPullTime == nil || time.Since(*det.LastRecordedPullTime) > time.Minute ||
		aws.ToString(det.ImageManifestMediaType) != "application/vnd.docker.distribution.manifest.v2+json" ||
		aws.ToString(det.ArtifactMediaType) != "application/vnd.docker.container.image.v1+json" {
		t.Fatalf("image detail %+v (want digest %s, size %d)", det, d1, want)
	}
	if _, err := c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("team/app"), ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("nope")}}}); apiErr(err) != "ImageNotFoundException" {
		t.Fatalf("describe missing tag: %v", err)
	}
	all, err := c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("team/app"), Filter: &types.DescribeImagesFilter{TagStatus: types.TagStatusTagged}})
	if err != nil || len(all.ImageDetails) != 3 {
		t.Fatalf("describe tagged: %d %v", len(all.ImageDetails), err)
	}

	// BatchGetImage: the manifest as pushed, failures for what is not there.
	got, err := c.BatchGetImage(ctx, &ecr.BatchGetImageInput{RepositoryName: aws.String("team/app"),
		ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("1")}, {ImageTag: aws.String("nope")}, {ImageDigest: aws.String(d1), ImageTag: aws.String("2")}, {}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Images) != 1 || aws.ToString(got.Images[0].ImageManifest) != string(mustManifest(t, one)) || len(got.Failures) != 3 ||
		got.Failures[0].FailureCode != types.ImageFailureCodeImageNotFound || got.Failures[1].FailureCode != types.ImageFailureCodeImageTagDoesNotMatchDigest ||
		got.Failures[2].FailureCode != types.ImageFailureCodeMissingDigestAndTag {
		t.Fatalf("batch get: %+v failures %+v", got.Images, got.Failures)
	}
	// BatchGetImage is how ECR clients pull: it records the pull too.
	d3, _, _ := e.reg.Image(ctx, "team/app", registry.ImageID{Tag: "2"})
	if !d3.LastPull.IsZero() {
		t.Fatalf("image 2 was never pulled, yet shows %s", d3.LastPull)
	}
	if _, err := c.BatchGetImage(ctx, &ecr.BatchGetImageInput{RepositoryName: aws.String("team/app"), ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("2")}}}); err != nil {
		t.Fatal(err)
	}
	if d3, _, _ = e.reg.Image(ctx, "team/app", registry.ImageID{Tag: "2"}); d3.LastPull.IsZero() {
		t.Fatal("BatchGetImage did not record a pull")
	}
	oci, _ := c.BatchGetImage(ctx, &ecr.BatchGetImageInput{RepositoryName: aws.String("team/app"), ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("1")}},
		AcceptedMediaTypes: []string{"application/vnd.oci.image.manifest.v1+json"}})
	if len(oci.Images) != 0 || len(oci.Failures) != 1 {
		t.Fatalf("batch get of a Docker manifest accepting only OCI: %+v", oci)
	}

	// PutImage: the same manifest and tag again is ImageAlreadyExists.
	if _, err := c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String("team/app"), ImageTag: aws.String("latest"), ImageManifest: aws.String(string(mustManifest(t, one)))}); apiErr(err) != "ImageAlreadyExistsException" {
		t.Fatalf("put again: %v", err)
	}
	if _, err := c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String("team/app"), ImageTag: aws.String("x"), ImageDigest: aws.String("sha256:" + strings.Repeat("0", 64)), ImageManifest: aws.String(string(mustManifest(t, one)))}); apiErr(err) != "ImageDigestDoesNotMatchException" {
		t.Fatalf("put with a wrong digest: %v", err)
	}
	missing := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:` + strings.Repeat("1", 64) + `","size":2},"layers":[]}`
	if _, err := c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String("team/app"), ImageTag: aws.String("x"), ImageManifest: aws.String(missing)}); apiErr(err) != "LayersNotFoundException" {
		t.Fatalf("put naming missing blobs: %v", err)
	}

	// BatchDeleteImage: a tag of an image with two tags goes alone; a
	// digest takes the image and its tags.
	del, err := c.BatchDeleteImage(ctx, &ecr.BatchDeleteImageInput{RepositoryName: aws.String("team/app"), ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("latest")}, {ImageTag: aws.String("nope")}}})
	if err != nil || len(del.ImageIds) != 1 || aws.ToString(del.ImageIds[0].ImageTag) != "latest" || len(del.Failures) != 1 || del.Failures[0].FailureCode != types.ImageFailureCodeImageNotFound {
		t.Fatalf("delete a tag: %+v %v", del, err)
	}
	if _, err := c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("team/app"), ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("1")}}}); err != nil {
		t.Fatalf("image 1 went with its other tag: %v", err)
	}
	del, err = c.BatchDeleteImage(ctx, &ecr.BatchDeleteImageInput{RepositoryName: aws.String("team/app"), ImageIds: []types.ImageIdentifier{{ImageDigest: aws.String(d1)}}})
	if err != nil || len(del.ImageIds) != 1 || aws.ToString(del.ImageIds[0].ImageDigest) != d1 {
		t.Fatalf("delete by digest: %+v %v", del, err)
	}
	if _, err := c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("team/app"), ImageIds: []types.ImageIdentifier{{ImageDigest: aws.String(d1)}}}); apiErr(err) != "ImageNotFoundException" {
		t.Fatalf("deleted image still described: %v", err)
	}
}

func mustManifest(t *testing.T, img v1.Image) []byte {
	t.Helper()
	b, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestImmutableTags(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.client
	e.push(t, "team/app", "1")
	if _, err := c.PutImageTagMutability(ctx, &ecr.PutImageTagMutabilityInput{RepositoryName: aws.String("team/app"), ImageTagMutability: types.ImageTagMutabilityImmutable}); err != nil {
		t.Fatal(err)
	}
	other, _ := random.Image(256, 1)
	if _, err := c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String("team/app"), ImageTag: aws.String("1"), ImageManifest: aws.String(string(mustManifest(t, other)))}); apiErr(err) != "ImageTagAlreadyExistsException" {
		t.Fatalf("PutImage over an immutable tag: %v", err)
	}
	// The registry's own push over the tag: TAG_INVALID with ECR's words.
	pw, _, _ := e.tokens.MintLogin(e.key.AccessKeyID)
	ref, _ := name.ParseReference(e.host+"/team/app:1", name.Insecure)
	err := remote.Write(ref, other, remote.WithAuth(&authn.Basic{Username: "AWS", Password: pw}))
	if err == nil || !strings.Contains(err.Error(), "TAG_INVALID") || !strings.Contains(err.Error(), "cannot be overwritten because the repository is immutable") {
		t.Fatalf("push over an immutable tag: %v", err)
	}
	// A new tag is fine.
	e.push(t, "team/app", "2")
	if _, err := c.PutImageTagMutability(ctx, &ecr.PutImageTagMutabilityInput{RepositoryName: aws.String("team/app"), ImageTagMutability: types.ImageTagMutabilityMutable}); err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, other, remote.WithAuth(&authn.Basic{Username: "AWS", Password: pw})); err != nil {
		t.Fatalf("push over a mutable tag: %v", err)
	}
}

func TestAuthorizationAndTokens(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.push(t, "team/app", "1")
	ro, roKey := e.newClient(t, identity.Statement{Service: "ecr", Actions: []string{"pull", "DescribeImages", "GetAuthorizationToken"}, Resource: "team/*"})
	if _, err := ro.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("team/app")}); err != nil {
		t.Fatalf("allowed DescribeImages: %v", err)
	}
	if _, err := ro.BatchGetImage(ctx, &ecr.BatchGetImageInput{RepositoryName: aws.String("team/app"), ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("1")}}}); err != nil {
		t.Fatalf("BatchGetImage through the pull group: %v", err)
	}
	_, err := ro.BatchDeleteImage(ctx, &ecr.BatchDeleteImageInput{RepositoryName: aws.String("team/app"), ImageIds: []types.ImageIdentifier{{ImageTag: aws.String("1")}}})
	if apiErr(err) != "AccessDeniedException" || !strings.Contains(err.Error(), "ecr:BatchDeleteImage on resource: arn:aws:ecr:us-east-1:000000000000:repository/team/app") {
		t.Fatalf("BatchDeleteImage with a read-only key: %v", err)
	}
	if _, err := ro.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("other/app")}); apiErr(err) != "AccessDeniedException" {
		t.Fatalf("DescribeImages outside the key's prefix: %v", err)
	}
	// GetAuthorizationToken names no repository: a statement on "*".
	if _, err := ro.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{}); apiErr(err) != "AccessDeniedException" {
		t.Fatalf("GetAuthorizationToken with a team/* key: %v", err)
	}
	tk, _ := e.newClient(t, identity.Statement{Service: "ecr", Actions: []string{"GetAuthorizationToken"}, Resource: "*"}, identity.Statement{Service: "ecr", Actions: []string{"pull"}, Resource: "team/*"})
	out, err := tk.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil || len(out.AuthorizationData) != 1 {
		t.Fatalf("GetAuthorizationToken: %+v %v", out, err)
	}
	ad := out.AuthorizationData[0]
	raw, _ := base64.StdEncoding.DecodeString(aws.ToString(ad.AuthorizationToken))
	user, pw, _ := strings.Cut(string(raw), ":")
	if user != "AWS" || aws.ToString(ad.ProxyEndpoint) != "http://"+e.host || ad.ExpiresAt == nil || ad.ExpiresAt.Sub(time.Now()) < 11*time.Hour {
		t.Fatalf("authorization data %+v", ad)
	}
	ref, _ := name.ParseReference(e.host+"/team/app:1", name.Insecure)
	if _, err := remote.Image(ref, remote.WithAuth(&authn.Basic{Username: user, Password: pw})); err != nil {
		t.Fatalf("pull with the token: %v", err)
	}
	_ = roKey

	// Unsigned, badly signed, and signed for another service.
	resp, err := http.Post(e.api.URL, "application/x-amz-json-1.1", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-Amzn-ErrorType") != "MissingAuthenticationTokenException" {
		t.Fatalf("unsigned: %d %s", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"))
	}
	bad := ecr.New(ecr.Options{BaseEndpoint: aws.String(e.api.URL), Region: "us-east-1", Retryer: aws.NopRetryer{},
		Credentials: credentials.NewStaticCredentialsProvider(e.key.AccessKeyID, "wrong-secret-wrong-secret-wrong-secret00", "")})
	if _, err := bad.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{}); apiErr(err) == "" || apiErr(err) == "AccessDeniedException" {
		t.Fatalf("bad signature: %v", err)
	}
}

func TestLifecyclePolicy(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.client
	repo := aws.String("team/app")
	for _, tag := range []string{"v1", "v2", "v3", "v4"} {
		e.push(t, "team/app", tag)
		time.Sleep(20 * time.Millisecond) // distinct push times
	}
	e.push(t, "team/app", "v4") // the old v4 is now untagged
	if _, err := c.GetLifecyclePolicy(ctx, &ecr.GetLifecyclePolicyInput{RepositoryName: repo}); apiErr(err) != "LifecyclePolicyNotFoundException" {
		t.Fatalf("get without a policy: %v", err)
	}
	if _, err := c.PutLifecyclePolicy(ctx, &ecr.PutLifecyclePolicyInput{RepositoryName: repo, LifecyclePolicyText: aws.String(`{"rules":[{"rulePriority":1,"selection":{"tagStatus":"tagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}`)}); apiErr(err) != "InvalidParameterException" {
		t.Fatalf("put an invalid policy: %v", err)
	}
	policy := `{"rules":[
	  {"rulePriority":1,"description":"keep two v","selection":{"tagStatus":"tagged","tagPrefixList":["v"],"countType":"imageCountMoreThan","countNumber":2},"action":{"type":"expire"}},
	  {"rulePriority":2,"selection":{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}`
	if _, err := c.PutLifecyclePolicy(ctx, &ecr.PutLifecyclePolicyInput{RepositoryName: repo, LifecyclePolicyText: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetLifecyclePolicy(ctx, &ecr.GetLifecyclePolicyInput{RepositoryName: repo})
	if err != nil || !strings.Contains(aws.ToString(got.LifecyclePolicyText), `"keep two v"`) {
		t.Fatalf("get policy: %+v %v", got, err)
	}
	if _, err := c.GetLifecyclePolicyPreview(ctx, &ecr.GetLifecyclePolicyPreviewInput{RepositoryName: repo}); apiErr(err) != "LifecyclePolicyPreviewNotFoundException" {
		t.Fatalf("preview before start: %v", err)
	}
	if _, err := c.StartLifecyclePolicyPreview(ctx, &ecr.StartLifecyclePolicyPreviewInput{RepositoryName: repo}); err != nil {
		t.Fatal(err)
	}
	pv, err := c.GetLifecyclePolicyPreview(ctx, &ecr.GetLifecyclePolicyPreviewInput{RepositoryName: repo})
	if err != nil || pv.Status != types.LifecyclePolicyPreviewStatusComplete {
		t.Fatalf("preview: %+v %v", pv, err)
	}
	var previewed []string
	for _, r := range pv.PreviewResults {
		previewed = append(previewed, aws.ToString(r.ImageDigest))
	}
	// v1 and v2 (two v kept: v3, v4) — and no untagged image: one is kept.
	if len(previewed) != 2 || aws.ToInt32(pv.Summary.ExpiringImageTotalCount) != 2 || pv.PreviewResults[0].AppliedRulePriority == nil {
		t.Fatalf("preview results %+v", pv.PreviewResults)
	}
	// The job's effect is the preview.
	exp, err := e.reg.ApplyLifecycle(ctx, "team/app")
	if err != nil {
		t.Fatal(err)
	}
	var applied []string
	for _, x := range exp {
		applied = append(applied, x.Image.Digest)
	}
	sort.Strings(previewed)
	sort.Strings(applied)
	if strings.Join(previewed, ",") != strings.Join(applied, ",") {
		t.Fatalf("preview %v, applied %v", previewed, applied)
	}
	left, _ := c.ListImages(ctx, &ecr.ListImagesInput{RepositoryName: repo})
	var tags []string
	for _, id := range left.ImageIds {
		tags = append(tags, aws.ToString(id.ImageTag))
	}
	sort.Strings(tags)
	if strings.Join(tags, ",") != ",v3,v4" {
		t.Fatalf("left after the job: %q", tags)
	}
	if _, err := c.DeleteLifecyclePolicy(ctx, &ecr.DeleteLifecyclePolicyInput{RepositoryName: repo}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteLifecyclePolicy(ctx, &ecr.DeleteLifecyclePolicyInput{RepositoryName: repo}); apiErr(err) != "LifecyclePolicyNotFoundException" {
		t.Fatalf("delete twice: %v", err)
	}
}

func TestNoCreateOnPush(t *testing.T) {
	e := newEnv(t, registry.WithoutCreateOnPush())
	pw, _, _ := e.tokens.MintLogin(e.key.AccessKeyID)
	img, _ := random.Image(64, 1)
	ref, _ := name.ParseReference(e.host+"/team/app:1", name.Insecure)
	err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: "AWS", Password: pw}))
	if err == nil || !strings.Contains(err.Error(), "NAME_UNKNOWN") {
		t.Fatalf("push to a repository never created: %v", err)
	}
	if _, err := e.client.CreateRepository(context.Background(), &ecr.CreateRepositoryInput{RepositoryName: aws.String("team/app")}); err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: "AWS", Password: pw})); err != nil {
		t.Fatalf("push after CreateRepository: %v", err)
	}
}

// TestBodyBounds: a body beyond its operation's bound is refused before
// it is read, and requests beyond the budget of bodies in flight are
// throttled.
func TestBodyBounds(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	big := strings.Repeat("x", maxOtherBody+1)
	_, err := e.client.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{NextToken: aws.String(big)})
	if apiErr(err) != "InvalidParameterException" || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("a 1 MiB DescribeRepositories: %v", err)
	}
	srv := e.api.Config.Handler.(*Server)
	if !srv.in.Budget.Take(bodyBudget) {
		t.Fatal("take")
	}
	_, err = e.client.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{})
	srv.in.Budget.Give(bodyBudget)
	if apiErr(err) != "ThrottlingException" {
		t.Fatalf("a request beyond the budget: %v", err)
	}
	if _, err := e.client.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{}); err != nil {
		t.Fatalf("after the budget is back: %v", err)
	}
}
