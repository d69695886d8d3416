package integration

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/wharf-dev/wharf/internal/testutil"
)

// ecrEnv is a daemon serving a registry and ECR's API on --http, with an
// access key.
type ecrEnv struct {
	d                *testutil.Daemon
	reg, http        string
	keyID, keySecret string
}

func startECREnv(t *testing.T, extra ...string) *ecrEnv {
	t.Helper()
	httpAddr := freeAddr(t)
	d, addr := registryDaemon(t, append([]string{"--http", httpAddr}, extra...)...)
	e := &ecrEnv{d: d, reg: addr, http: httpAddr}
	e.keyID, e.keySecret = e.key(t, "--admin")
	return e
}

// key creates an access key with args ("--admin", "--policy" ...).
func (e *ecrEnv) key(t *testing.T, args ...string) (string, string) {
	t.Helper()
	var k struct{ AccessKeyId, SecretAccessKey string }
	if err := json.Unmarshal([]byte(e.d.MustWharf(t, append([]string{"keys", "create", "--json"}, args...)...)), &k); err != nil {
		t.Fatal(err)
	}
	return k.AccessKeyId, k.SecretAccessKey
}

func (e *ecrEnv) sdk(id, secret string) *ecr.Client {
	return ecr.New(ecr.Options{BaseEndpoint: aws.String("http://" + e.http), Region: "us-east-1", Retryer: aws.NopRetryer{}, HTTPClient: testutil.AWSHTTPClient(),
		Credentials: credentials.NewStaticCredentialsProvider(id, secret, "")})
}

// awsCLI runs `aws ecr ARGS` against the daemon with a key; it skips the
// test when the aws CLI is not installed.
func (e *ecrEnv) awsCLI(t *testing.T, id, secret string, args ...string) (string, string, error) {
	t.Helper()
	bin, err := exec.LookPath("aws")
	if err != nil {
		t.Skip("the aws CLI is not installed (the SDK tests of server/ecrapi cover every call)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--endpoint-url", "http://" + e.http, "--region", "us-east-1", "--output", "json", "ecr"}, args...)...)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+id, "AWS_SECRET_ACCESS_KEY="+secret,
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_MAX_ATTEMPTS=1", "AWS_PAGER=", "AWS_EC2_METADATA_DISABLED=true")
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

func (e *ecrEnv) mustAWS(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := e.awsCLI(t, e.keyID, e.keySecret, args...)
	if err != nil {
		t.Fatalf("aws ecr %s: %v\n%s\n%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// TestRegistryECRWithAWSCLI is the scenario with the aws CLI and
// the docker CLI: create an immutable repository, log docker in with
// get-login-password, push, describe (with the pull recorded), refuse a
// re-push of the tag, and every other ECR call the CLI has.
func TestRegistryECRWithAWSCLI(t *testing.T) {
	e := startECREnv(t)
	repo := "team/app"
	var created struct {
		Repository struct{ RepositoryUri, ImageTagMutability, RepositoryArn string }
	}
	json.Unmarshal([]byte(e.mustAWS(t, "create-repository", "--repository-name", repo, "--image-tag-mutability", "IMMUTABLE")), &created)
	if created.Repository.RepositoryUri != e.reg+"/"+repo || created.Repository.ImageTagMutability != "IMMUTABLE" {
		t.Fatalf("create-repository: %+v", created)
	}
	pw := strings.TrimSpace(e.mustAWS(t, "get-login-password"))
	dk := newDockerCLI(t, e.d)
	if out, errOut, code := dk.run(t, []byte(pw), "login", "-u", "AWS", "--password-stdin", e.reg); code != 0 || !strings.Contains(out, "Login Succeeded") {
		t.Fatalf("docker login: %d %s %s", code, out, errOut)
	}
	ref := e.reg + "/" + repo + ":1"
	dk.must(t, "tag", busybox, ref)
	dk.must(t, "push", ref)
	dk.must(t, "rmi", ref)
	dk.must(t, "pull", ref)

	var described struct {
		ImageDetails []struct {
			ImageDigest          string
			ImageTags            []string
			ImageSizeInBytes     int64
			ImagePushedAt        any
			LastRecordedPullTime any
		}
	}
	json.Unmarshal([]byte(e.mustAWS(t, "describe-images", "--repository-name", repo)), &described)
	if len(described.ImageDetails) != 1 {
		t.Fatalf("describe-images: %+v", described)
	}
	det := described.ImageDetails[0]
	if !strings.HasPrefix(det.ImageDigest, "sha256:") || strings.Join(det.ImageTags, ",") != "1" || det.ImageSizeInBytes < 100_000 ||
		det.ImagePushedAt == nil || det.LastRecordedPullTime == nil {
		t.Fatalf("describe-images: %+v", det)
	}

	// A different image under the immutable tag: docker push fails with
	// ECR's words, and the tag still names the first image.
	marker := filepath.Join(t.TempDir(), "marker")
	os.WriteFile(marker, []byte("2"), 0o644)
	e.d.ImportTar(t, rootfsWith(t, map[string]string{"etc/marker": marker}), "local/other:1")
	dk.must(t, "tag", "local/other:1", ref)
	out, errOut, code := dk.run(t, nil, "push", ref)
	if code == 0 || !strings.Contains(out+errOut, "cannot be overwritten because the repository is immutable") {
		t.Fatalf("push over an immutable tag: exit %d\n%s\n%s", code, out, errOut)
	}
	out = e.mustAWS(t, "batch-get-image", "--repository-name", repo, "--image-ids", "imageTag=1")
	var got struct {
		Images []struct {
			ImageID       struct{ ImageDigest string } `json:"imageId"`
			ImageManifest string
		}
	}
	json.Unmarshal([]byte(out), &got)
	if len(got.Images) != 1 || got.Images[0].ImageID.ImageDigest != det.ImageDigest || !strings.Contains(got.Images[0].ImageManifest, "layers") {
		t.Fatalf("batch-get-image: %s", out)
	}
	// PutImage of the same manifest under a new tag.
	manifest := got.Images[0].ImageManifest
	e.mustAWS(t, "put-image", "--repository-name", repo, "--image-tag", "stable", "--image-manifest", manifest)
	if _, errOut, err := e.awsCLI(t, e.keyID, e.keySecret, "put-image", "--repository-name", repo, "--image-tag", "stable", "--image-manifest", manifest); err == nil || !strings.Contains(errOut, "ImageAlreadyExistsException") {
		t.Fatalf("put-image again: %v %s", err, errOut)
	}
	if out := e.mustAWS(t, "list-images", "--repository-name", repo); !strings.Contains(out, `"stable"`) || !strings.Contains(out, `"1"`) {
		t.Fatalf("list-images: %s", out)
	}
	e.mustAWS(t, "put-image-tag-mutability", "--repository-name", repo, "--image-tag-mutability", "MUTABLE")
	dk.must(t, "push", ref)

	// Lifecycle: keep one image; preview, then the daemon's job.
	dir := t.TempDir()
	policy := filepath.Join(dir, "keep1.json")
	os.WriteFile(policy, []byte(`{"rules":[{"rulePriority":1,"description":"keep 1","selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}`), 0o644)
	e.mustAWS(t, "put-lifecycle-policy", "--repository-name", repo, "--lifecycle-policy-text", "file://"+policy)
	if out := e.mustAWS(t, "get-lifecycle-policy", "--repository-name", repo); !strings.Contains(out, "keep 1") {
		t.Fatalf("get-lifecycle-policy: %s", out)
	}
	e.mustAWS(t, "start-lifecycle-policy-preview", "--repository-name", repo)
	out = e.mustAWS(t, "get-lifecycle-policy-preview", "--repository-name", repo)
	var pv struct {
		Status         string
		PreviewResults []struct{ ImageDigest string }
	}
	json.Unmarshal([]byte(out), &pv)
	if pv.Status != "COMPLETE" || len(pv.PreviewResults) != 1 || pv.PreviewResults[0].ImageDigest != det.ImageDigest {
		t.Fatalf("preview: %s (the first image, now tagged stable, is the older)", out)
	}
	e.mustAWS(t, "delete-lifecycle-policy", "--repository-name", repo)

	// Resource tags.
	arn := created.Repository.RepositoryArn
	e.mustAWS(t, "tag-resource", "--resource-arn", arn, "--tags", "Key=team,Value=a", "Key=env,Value=prod")
	e.mustAWS(t, "untag-resource", "--resource-arn", arn, "--tag-keys", "env")
	if out := e.mustAWS(t, "list-tags-for-resource", "--resource-arn", arn); !strings.Contains(out, `"team"`) || strings.Contains(out, `"env"`) {
		t.Fatalf("list-tags-for-resource: %s", out)
	}

	// Pull-through cache rules (the fetch itself: TestRegistryPullThroughCache).
	e.mustAWS(t, "create-pull-through-cache-rule", "--ecr-repository-prefix", "hub", "--upstream-registry-url", "127.0.0.1:1")
	if out := e.mustAWS(t, "describe-pull-through-cache-rules"); !strings.Contains(out, `"hub"`) || !strings.Contains(out, "127.0.0.1:1") {
		t.Fatalf("describe-pull-through-cache-rules: %s", out)
	}
	e.mustAWS(t, "delete-pull-through-cache-rule", "--ecr-repository-prefix", "hub")
	if _, errOut, err := e.awsCLI(t, e.keyID, e.keySecret, "delete-pull-through-cache-rule", "--ecr-repository-prefix", "hub"); err == nil || !strings.Contains(errOut, "PullThroughCacheRuleNotFoundException") {
		t.Fatalf("delete-pull-through-cache-rule twice: %v %s", err, errOut)
	}

	// A key allowed to read team/* only.
	roID, roSecret := e.key(t, "--policy", "ecr:pull,DescribeImages,ListImages:team/*")
	if _, errOut, err := e.awsCLI(t, roID, roSecret, "list-images", "--repository-name", repo); err != nil {
		t.Fatalf("list-images with a read key: %v %s", err, errOut)
	}
	if _, errOut, err := e.awsCLI(t, roID, roSecret, "batch-delete-image", "--repository-name", repo, "--image-ids", "imageTag=1"); err == nil || !strings.Contains(errOut, "AccessDeniedException") {
		t.Fatalf("batch-delete-image with a read key: %v %s", err, errOut)
	}
	if _, errOut, err := e.awsCLI(t, roID, roSecret, "create-repository", "--repository-name", "other/app"); err == nil || !strings.Contains(errOut, "AccessDeniedException") {
		t.Fatalf("create-repository with a read key: %v %s", err, errOut)
	}

	out = e.mustAWS(t, "batch-delete-image", "--repository-name", repo, "--image-ids", "imageTag=stable")
	if !strings.Contains(out, det.ImageDigest) {
		t.Fatalf("batch-delete-image: %s", out)
	}
	if _, errOut, err := e.awsCLI(t, e.keyID, e.keySecret, "delete-repository", "--repository-name", repo); err == nil || !strings.Contains(errOut, "RepositoryNotEmptyException") {
		t.Fatalf("delete-repository of a repository with images: %v %s", err, errOut)
	}
	e.mustAWS(t, "delete-repository", "--repository-name", repo, "--force")
	if out := e.mustAWS(t, "describe-repositories"); strings.Contains(out, repo) {
		t.Fatalf("describe-repositories after delete: %s", out)
	}
}

// TestRegistryECRWithSDK: the SDK through the daemon (the calls'
// details are server/ecrapi's tests), and a push into a repository
// that was never created refused under --registry-create-on-push=false.
func TestRegistryECRWithSDK(t *testing.T) {
	e := startECREnv(t, "--registry-create-on-push=false")
	ctx := context.Background()
	c := e.sdk(e.keyID, e.keySecret)
	tok, err := c.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil || len(tok.AuthorizationData) != 1 || aws.ToString(tok.AuthorizationData[0].ProxyEndpoint) != "http://"+e.reg {
		t.Fatalf("GetAuthorizationToken: %+v %v", tok, err)
	}
	pw := strings.TrimSpace(e.d.MustWharf(t, "registry", "login-password", "--key", e.keyID))
	dk := newDockerCLI(t, e.d)
	if _, errOut, code := dk.run(t, []byte(pw), "login", "-u", "AWS", "--password-stdin", e.reg); code != 0 {
		t.Fatalf("docker login: %s", errOut)
	}
	ref := e.reg + "/team/new:1"
	dk.must(t, "tag", busybox, ref)
	out, errOut, code := dk.run(t, nil, "push", ref)
	if code == 0 || !strings.Contains(out+errOut, "does not exist in the registry") {
		t.Fatalf("push into a repository never created: exit %d\n%s\n%s", code, out, errOut)
	}
	if _, err := c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("team/new")}); err != nil {
		t.Fatal(err)
	}
	dk.must(t, "push", ref)
	imgs, err := c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String("team/new"), Filter: &types.DescribeImagesFilter{TagStatus: types.TagStatusTagged}})
	if err != nil || len(imgs.ImageDetails) != 1 {
		t.Fatalf("DescribeImages: %+v %v", imgs, err)
	}
	// Lambda's API on the same address is untouched by the ECR routing.
	resp, err := httpPost("http://"+e.http+"/2015-03-31/functions/x/invocations", "{}")
	if err != nil || resp != 403 {
		t.Fatalf("an unsigned Lambda call: %d %v, want Lambda's 403", resp, err)
	}
}

// httpPost posts body and returns the status.
func httpPost(url, body string) (int, error) {
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
