package integration

import (
	"strings"
	"testing"
	"time"
)

// docker commit makes an image of a running container's writable layer
// (a new file, a whiteout for a deleted one), with the changes, author and
// message, the container's config merged in, its history entry, and
// dockerd's events in dockerd's order (pause, image tag, commit, unpause);
// the container keeps running. A container that changed nothing adds an
// empty history entry and no layer. Each expectation is what a dockerd
// 20.10 answered for the same commands.
func TestCommit(t *testing.T) {
	t.Parallel()
	d := newDaemon(t)
	dk := newDockerCLI(t, d)
	since := time.Now().Add(-time.Second).Unix()
	dk.must(t, "run", "-d", "--name", "src", "-e", "A=1", busybox, "sh", "-c", "echo hi > /hello; rm /bin/ls; mkdir -p /d/x; echo ok; sleep 1000")
	if !waitFor(20*time.Second, func() bool { return strings.Contains(dk.must(t, "logs", "src"), "ok") }) {
		t.Fatal("the container never wrote its files")
	}
	id := strings.TrimSpace(dk.must(t, "commit", "-a", "me", "-m", "msg", "-c", "ENV B=2", "-c", `CMD ["cat","/hello"]`, "src", "img:v1"))
	if !strings.HasPrefix(id, "sha256:") {
		t.Fatalf("commit printed %q", id)
	}
	if got := strings.TrimSpace(dk.must(t, "inspect", "-f", "{{.State.Status}}", "src")); got != "running" {
		t.Errorf("the container after its commit: %s", got)
	}
	if got := dk.must(t, "run", "--rm", "img:v1"); got != "hi\n" {
		t.Errorf("the committed command printed %q", got)
	}
	if got := dk.must(t, "run", "--rm", "img:v1", "sh", "-c", "test -e /bin/ls || echo gone; test -d /d/x && echo dir; echo $A $B"); got != "gone\ndir\n1 2\n" {
		t.Errorf("the committed layer: %q", got)
	}
	if got := strings.TrimSpace(dk.must(t, "image", "inspect", "-f", "{{.Author}}|{{.Comment}}|{{.Config.Env}}|{{.Config.Cmd}}", "img:v1")); got != "me|msg|[A=1 B=2]|[cat /hello]" {
		t.Errorf("image inspect: %s", got)
	}
	hist := strings.Split(strings.TrimSpace(dk.must(t, "history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Comment}}", "img:v1")), "\n")
	if hist[0] != "sh -c echo hi > /hello; rm /bin/ls; mkdir -p /d/x; echo ok; sleep 1000|msg" || len(hist) != 2 {
		t.Errorf("history: %q", hist)
	}

	// No body: the image's config is the container's, and the CLI's
	// name without a tag gets ":latest".
	dk.must(t, "commit", "--pause=false", "src", "img2")
	if got := strings.TrimSpace(dk.must(t, "image", "inspect", "-f", "{{.Config.Env}} {{.Config.Cmd}} {{.RepoTags}}", "img2")); got != "[A=1] [sh -c echo hi > /hello; rm /bin/ls; mkdir -p /d/x; echo ok; sleep 1000] [img2:latest]" {
		t.Errorf("img2: %s", got)
	}

	// A created container changed nothing: no layer is added.
	dk.must(t, "create", "--name", "idle", busybox, "true")
	dk.must(t, "commit", "idle", "idle:1")
	layers := func(ref string) string {
		return strings.TrimSpace(dk.must(t, "image", "inspect", "-f", "{{len .RootFS.Layers}}", ref))
	}
	if layers("idle:1") != layers(busybox) || layers("img:v1") == layers(busybox) {
		t.Errorf("layers: base %s, idle %s, img %s", layers(busybox), layers("idle:1"), layers("img:v1"))
	}

	until := time.Now().Add(time.Second).Unix()
	out := dk.must(t, "events", "--since", itoa(since), "--until", itoa(until), "--format", "{{json .}}", "--filter", "event=pause", "--filter", "event=unpause", "--filter", "event=commit", "--filter", "event=tag")
	var lines []string
	for _, l := range eventLines(t, out, "imageRef", "comment", "name") {
		if l != "image tag name="+busybox { // the fixture's import
			lines = append(lines, l)
		}
	}
	got := strings.Join(lines, "\n")
	want := strings.Join([]string{
		"container pause name=src",
		"image tag name=img:v1",
		"container commit imageRef=img:v1 comment=msg name=src",
		"container unpause name=src",
		"image tag name=img2:latest",
		"container commit imageRef=img2:latest comment= name=src",
		"image tag name=idle:1",
		"container commit imageRef=idle:1 comment= name=idle",
	}, "\n")
	if got != want {
		t.Errorf("events\n got %s\nwant %s", got, want)
	}

	// The native API and the wharf CLI.
	d.MustWharf(t, "commit", "--change", "LABEL k=v", "src", "img3")
	if got := strings.TrimSpace(dk.must(t, "image", "inspect", "-f", "{{.Config.Labels.k}}", "img3")); got != "v" {
		t.Errorf("wharf commit's label: %q", got)
	}
	removeAll(t, d)
	assertNoLeaks(t, d)
}
