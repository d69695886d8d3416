package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestRegistryCLI drives `wharf registry repos|images|rm|policy|gc`
// against a daemon's registry filled by docker push, and checks that a
// lifecycle preview is exactly what applying the policy expires.
func TestRegistryCLI(t *testing.T) {
	d, addr := registryDaemon(t)
	dk := newDockerCLI(t, d)
	key := createKey(t, d, "--admin")
	if _, errOut, code := dk.run(t, []byte(loginPassword(t, d, key)), "login", "-u", "AWS", "--password-stdin", addr); code != 0 {
		t.Fatalf("docker login: %s", errOut)
	}
	dir := t.TempDir()
	// Three distinct images under team/app:1..3, and one under team/db.
	for i, tag := range []string{"1", "2", "3"} {
		marker := filepath.Join(dir, "m"+tag)
		os.WriteFile(marker, []byte(tag), 0o644)
		src := "local/v" + tag + ":1"
		d.ImportTar(t, rootfsWith(t, map[string]string{"etc/marker": marker}), src)
		ref := addr + "/team/app:" + tag
		dk.must(t, "tag", src, ref)
		dk.must(t, "push", ref)
		_ = i
	}
	dk.must(t, "tag", busybox, addr+"/team/db:1")
	dk.must(t, "push", addr+"/team/db:1")

	out := d.MustWharf(t, "registry", "repos")
	if !strings.Contains(out, "team/app") || !strings.Contains(out, "team/db") || !strings.Contains(out, "mutable") {
		t.Fatalf("registry repos:\n%s", out)
	}
	var repos []struct {
		Name   string
		Images int
		Size   int64
	}
	json.Unmarshal([]byte(d.MustWharf(t, "registry", "repos", "--json")), &repos)
	if len(repos) != 2 || repos[0].Name != "team/app" || repos[0].Images != 3 || repos[0].Size < 3*100_000 {
		t.Fatalf("registry repos --json: %+v", repos)
	}
	var imgs []struct {
		Digest string
		Tags   []string
	}
	json.Unmarshal([]byte(d.MustWharf(t, "registry", "images", "team/app", "--json")), &imgs)
	if len(imgs) != 3 {
		t.Fatalf("registry images: %+v", imgs)
	}
	if out := d.MustWharf(t, "registry", "images", "team/app"); !strings.Contains(out, "LAST PULL") || !strings.Contains(out, "never") {
		t.Fatalf("registry images table:\n%s", out)
	}

	// Keep the newest two of team/app: preview, then apply; the same image.
	policy := filepath.Join(dir, "keep2.json")
	os.WriteFile(policy, []byte(`{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":2},"action":{"type":"expire"}}]}`), 0o644)
	if _, errOut, code := d.Wharf(t, "registry", "policy", "set", "team/app", filepath.Join(dir, "missing.json")); code == 0 {
		t.Fatalf("policy set of a missing file succeeded: %s", errOut)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"rules":[{"rulePriority":1,"selection":{"tagStatus":"tagged","countType":"imageCountMoreThan","countNumber":2},"action":{"type":"expire"}}]}`), 0o644)
	if _, errOut, code := d.Wharf(t, "registry", "policy", "set", "team/app", bad); code == 0 || !strings.Contains(errOut, "tagPrefixList or a tagPatternList") {
		t.Fatalf("policy set of an invalid policy: %d %s", code, errOut)
	}
	d.MustWharf(t, "registry", "policy", "set", "team/app", policy)
	if out := d.MustWharf(t, "registry", "policy", "get", "team/app"); !strings.Contains(out, `"countNumber":2`) {
		t.Fatalf("policy get: %s", out)
	}
	var preview []struct{ Image struct{ Digest string } }
	json.Unmarshal([]byte(d.MustWharf(t, "registry", "policy", "preview", "team/app", "--json")), &preview)
	if len(preview) != 1 {
		t.Fatalf("preview: %+v", preview)
	}
	out = d.MustWharf(t, "registry", "policy", "apply")
	if strings.TrimSpace(out) != "Expired: team/app@"+preview[0].Image.Digest+" (rule 1)" {
		t.Fatalf("apply expired:\n%s\nthe preview said %s", out, preview[0].Image.Digest)
	}
	json.Unmarshal([]byte(d.MustWharf(t, "registry", "images", "team/app", "--json")), &imgs)
	var tags []string
	for _, im := range imgs {
		tags = append(tags, im.Tags...)
	}
	sort.Strings(tags)
	if strings.Join(tags, ",") != "2,3" {
		t.Fatalf("left after apply: %v", tags)
	}
	if out, _, code := dk.run(t, nil, "pull", addr+"/team/app:1"); code == 0 {
		t.Fatalf("pull of an expired image succeeded: %s", out)
	}

	// rm: a tag, then a repository (force needed).
	d.MustWharf(t, "registry", "rm", "team/app:2")
	if _, errOut, code := d.Wharf(t, "registry", "rm", "team/app"); code == 0 || !strings.Contains(errOut, "holds 1 images") {
		t.Fatalf("rm of a repository with images: %d %s", code, errOut)
	}
	d.MustWharf(t, "registry", "rm", "--force", "team/app")
	if out := d.MustWharf(t, "registry", "repos"); strings.Contains(out, "team/app") {
		t.Fatalf("repos after rm:\n%s", out)
	}
	// What the deletions left is garbage: gc --dry-run lists it.
	if out := d.MustWharf(t, "registry", "gc", "--dry-run", "--grace-period", "0"); !strings.Contains(out, "Would delete") || strings.Contains(out, "Would delete 0 ") {
		t.Fatalf("gc --dry-run:\n%s", out)
	}
	// team/db is untouched.
	dk.must(t, "pull", addr+"/team/db:1")
}
