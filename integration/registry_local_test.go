package integration

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The engine's pulls from its own registry read the registry's storage:
// the image store hard-links the registry's blob files (same inode, no
// copy), and keeps them when the registry's garbage collection deletes
// its own names, so a running container and the image never depend on
// the registry.
func TestRegistryLocalPullAndGC(t *testing.T) {
	d, addr := registryDaemon(t)
	dk := newDockerCLI(t, d)
	key := createKey(t, d, "--admin")
	pw := loginPassword(t, d, key)
	if out, errOut, code := dk.run(t, []byte(pw), "login", "-u", "AWS", "--password-stdin", addr); code != 0 {
		t.Fatalf("docker login: %d %s %s", code, out, errOut)
	}
	ref := addr + "/team/gc:1"
	dk.must(t, "tag", busybox, ref)
	dk.must(t, "push", ref)
	dk.must(t, "rmi", ref, busybox)
	if out, _, code := dk.run(t, nil, "image", "inspect", ref); code == 0 {
		t.Fatalf("the image is still there: %s", out)
	}
	dk.must(t, "pull", ref)

	var layers []string
	if err := json.Unmarshal([]byte(dk.must(t, "image", "inspect", "--format", "{{json .RootFS.Layers}}", ref)), &layers); err != nil || len(layers) == 0 {
		t.Fatalf("layers: %v %v", layers, err)
	}
	var repoDigests []string
	if err := json.Unmarshal([]byte(dk.must(t, "image", "inspect", "--format", "{{json .RepoDigests}}", ref)), &repoDigests); err != nil || len(repoDigests) != 1 {
		t.Fatalf("repo digests: %v %v", repoDigests, err)
	}
	manifestDigest := repoDigests[0][strings.Index(repoDigests[0], "@")+1:]

	// Every layer blob of the image store is the registry's file.
	imgBlobs := filepath.Join(d.Root, "image", "blobs", "sha256")
	regBlobs := filepath.Join(d.Root, "registry", "docker", "registry", "v2", "blobs", "sha256")
	ents, err := os.ReadDir(regBlobs)
	if err != nil {
		t.Fatal(err)
	}
	linked := 0
	for _, e := range ents {
		hexes, _ := os.ReadDir(filepath.Join(regBlobs, e.Name()))
		for _, h := range hexes {
			rfi, err1 := os.Stat(filepath.Join(regBlobs, e.Name(), h.Name(), "data"))
			ifi, err2 := os.Stat(filepath.Join(imgBlobs, h.Name()))
			if err1 == nil && err2 == nil && os.SameFile(rfi, ifi) {
				linked++
			}
		}
	}
	if linked == 0 {
		t.Fatal("no blob of the pulled image is the registry's file: the pull copied them")
	}
	t.Logf("%d blobs hard-linked from the registry", linked)

	id := strings.TrimSpace(dk.must(t, "run", "-d", ref, "sleep", "300"))
	t.Cleanup(func() { dk.run(t, nil, "rm", "-f", id) })

	// Delete the manifest in the registry and collect at once.
	c := &regClient{addr: addr, pw: pw}
	tok := c.token(t, "repository:team/gc:delete")
	resp := c.do(t, tok, "DELETE", "/v2/team/gc/manifests/"+manifestDigest, nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("DELETE manifest: %d", resp.StatusCode)
	}
	var rep struct {
		Deleted []string
		Kept    int
	}
	if err := json.Unmarshal([]byte(d.MustWharf(t, "registry", "gc", "--json", "--grace-period", "0")), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Deleted) < len(layers)+1 {
		t.Fatalf("gc deleted %v, want the %d layers and the config", rep.Deleted, len(layers))
	}
	for _, dg := range rep.Deleted {
		h := strings.TrimPrefix(dg, "sha256:")
		if _, err := os.Stat(filepath.Join(regBlobs, h[:2], h, "data")); !os.IsNotExist(err) {
			t.Fatalf("registry blob %s still there: %v", dg, err)
		}
	}
	// The engine's image and its container do not depend on the registry.
	if got := strings.TrimSpace(dk.must(t, "exec", id, "echo", "still here")); got != "still here" {
		t.Fatalf("exec: %q", got)
	}
	if got := strings.TrimSpace(dk.must(t, "run", "--rm", ref, "echo", "new container")); got != "new container" {
		t.Fatalf("run: %q", got)
	}
	dk.must(t, "save", "-o", filepath.Join(t.TempDir(), "img.tar"), ref)
	// And the registry no longer serves it.
	resp = c.do(t, c.token(t, "repository:team/gc:pull"), "GET", "/v2/team/gc/manifests/1", nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET the deleted image: %d", resp.StatusCode)
	}
}
