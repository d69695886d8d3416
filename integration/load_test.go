package integration

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/testutil"
)

// hostileTar is an image archive whose manifest.json is a special file
// of type typ (with one regular file before it, which must not stay in
// the store).
func hostileTar(t *testing.T, typ byte) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	layer := []byte("not really a layer")
	for _, h := range []*tar.Header{
		{Name: "abc/layer.tar", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(layer))},
		{Name: "manifest.json", Typeflag: typ, Mode: 0o644, Devmajor: 1, Devminor: 5},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write(layer)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "hostile.tar")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// blobNames lists the daemon's image blobs.
func blobNames(t *testing.T, d *testutil.Daemon) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(d.Root, "image", "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

// TestLoadHostileArchives: `wharf load` and `docker load` of an archive
// whose manifest.json is a FIFO or a character device fail at once with
// the daemon's reason and leave no blob behind; the Docker API answers
// as dockerd does (200, JSON lines, errorDetail); a valid archive still
// loads.
func TestLoadHostileArchives(t *testing.T) {
	t.Parallel()
	d := newDaemon(t)
	before := strings.Join(blobNames(t, d), " ")

	t.Run("FIFO", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		start := time.Now()
		out, err := d.Command(ctx, "load", "-i", hostileTar(t, tar.TypeFifo)).CombinedOutput()
		if ctx.Err() != nil {
			t.Fatalf("wharf load of a FIFO manifest.json hung: %s", out)
		}
		if err == nil || !strings.Contains(string(out), "manifest.json is a FIFO") {
			t.Fatalf("wharf load: %v %q", err, out)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("wharf load took %v to refuse", took)
		}
		if dk := dockerCLIIfInstalled(t, d); dk != nil {
			_, errOut, code := dk.run(t, nil, "load", "-i", hostileTar(t, tar.TypeFifo))
			if code == 0 || !strings.Contains(errOut, "manifest.json is a FIFO") {
				t.Errorf("docker load: exit %d stderr %q", code, errOut)
			}
		}
	})
	t.Run("CharDevice", func(t *testing.T) {
		_, errOut, code := d.Wharf(t, "load", "-i", hostileTar(t, tar.TypeChar))
		if code == 0 || !strings.Contains(errOut, "manifest.json is a character device") {
			t.Errorf("wharf load: exit %d stderr %q", code, errOut)
		}
	})
	t.Run("HTTPShape", func(t *testing.T) {
		// Not an image archive at all: dockerd still answers 200 and
		// streams the error.
		c := http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", d.Socket)
		}}}
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		tw.WriteHeader(&tar.Header{Name: "hello.txt", Typeflag: tar.TypeReg, Mode: 0o644, Size: 2})
		tw.Write([]byte("hi"))
		tw.Close()
		resp, err := c.Post("http://wharf/v1.43/images/load?quiet=1", "application/x-tar", &buf)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		var last map[string]any
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			last = nil
			if err := json.Unmarshal(sc.Bytes(), &last); err != nil {
				t.Fatalf("line %q: %v", sc.Text(), err)
			}
		}
		detail, _ := last["errorDetail"].(map[string]any)
		msg, _ := detail["message"].(string)
		if !strings.Contains(msg, "neither index.json nor manifest.json") || last["error"] != msg {
			t.Fatalf("last line %v, want an errorDetail naming the missing manifest", last)
		}
	})
	if after := strings.Join(blobNames(t, d), " "); after != before {
		t.Errorf("refused loads left blobs:\nbefore %s\nafter  %s", before, after)
	}
	t.Run("Valid", func(t *testing.T) {
		d.MustWharf(t, "tag", busybox, "local/loadok:1")
		file := filepath.Join(t.TempDir(), "ok.tar")
		d.MustWharf(t, "save", "-o", file, "local/loadok:1")
		d.MustWharf(t, "rmi", "local/loadok:1")
		if out := d.MustWharf(t, "load", "-i", file); out != "Loaded image: local/loadok:1\n" {
			t.Errorf("wharf load printed %q", out)
		}
		if dk := dockerCLIIfInstalled(t, d); dk != nil {
			d.MustWharf(t, "rmi", "local/loadok:1")
			if out := dk.must(t, "load", "-i", file); !strings.Contains(out, "Loaded image: local/loadok:1") {
				t.Errorf("docker load printed %q", out)
			}
		}
	})
}

// dockerCLIIfInstalled returns the docker CLI for d, or nil without one.
func dockerCLIIfInstalled(t *testing.T, d *testutil.Daemon) *dockerCLI {
	if _, err := os.Stat("/usr/local/bin/docker"); err != nil {
		return nil
	}
	return newDockerCLI(t, d)
}
