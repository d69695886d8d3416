package store

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/internal/testutil"
)

// tarEntry is one entry of a hand-built archive.
type tarEntry struct {
	name     string
	typ      byte // tar.TypeReg when 0
	body     []byte
	linkname string
}

func buildTar(entries ...tarEntry) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		hdr := &tar.Header{Name: e.name, Typeflag: typ, Mode: 0o644, Linkname: e.linkname, ModTime: time.Unix(0, 0)}
		if typ == tar.TypeReg {
			hdr.Size = int64(len(e.body))
		}
		if typ == tar.TypeChar || typ == tar.TypeBlock {
			hdr.Devmajor, hdr.Devminor = 1, 5 // /dev/zero; 8,0 would be a disk
			if typ == tar.TypeBlock {
				hdr.Devmajor, hdr.Devminor = 7, 0 // /dev/loop0
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			panic(err)
		}
		if _, err := tw.Write(e.body); err != nil {
			panic(err)
		}
	}
	if err := tw.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

func sha(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// testLayer is an uncompressed layer tar holding one file.
func testLayer() []byte {
	return buildTar(tarEntry{name: "hello.txt", body: []byte("hello\n")})
}

func testConfig(layers ...[]byte) []byte {
	ids := []string{}
	for _, l := range layers {
		ids = append(ids, sha(l))
	}
	b, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux",
		"config": map[string]any{"Cmd": []string{"cat", "/hello.txt"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": ids},
	})
	return b
}

// dockerArchive is a small valid docker-archive: one image, one layer,
// tagged local/tiny:1, with extra entries appended.
func dockerArchive(extra ...tarEntry) []byte {
	layer := testLayer()
	cfg := testConfig(layer)
	cfgName := strings.TrimPrefix(sha(cfg), "sha256:") + ".json"
	manifest, _ := json.Marshal([]map[string]any{{"Config": cfgName, "RepoTags": []string{"local/tiny:1"}, "Layers": []string{"abc/layer.tar"}}})
	entries := []tarEntry{
		{name: "abc/", typ: tar.TypeDir},
		{name: "abc/layer.tar", body: layer},
		{name: cfgName, body: cfg},
	}
	entries = append(entries, extra...)
	entries = append(entries, tarEntry{name: "manifest.json", body: manifest})
	return buildTar(entries...)
}

// ociArchive is a small valid OCI layout with one image tagged
// local/oci:1; mutate may change the manifest's descriptors.
func ociArchive(mutate func(layerDesc map[string]any)) []byte {
	layer := testLayer()
	cfg := testConfig(layer)
	ld := map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha(layer), "size": len(layer)}
	if mutate != nil {
		mutate(ld)
	}
	manifest, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(cfg), "size": len(cfg)},
		"layers": []any{ld},
	})
	index, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"manifests": []any{map[string]any{
			"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(manifest), "size": len(manifest),
			"annotations": map[string]string{annotationContainerdName: "docker.io/local/oci:1"},
		}},
	})
	blob := func(b []byte) tarEntry {
		return tarEntry{name: "blobs/sha256/" + strings.TrimPrefix(sha(b), "sha256:"), body: b}
	}
	return buildTar(
		tarEntry{name: "oci-layout", body: []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		blob(layer), blob(cfg), blob(manifest),
		tarEntry{name: "index.json", body: index},
	)
}

// assertStoreEmpty checks that a failed load left no blob, snapshot,
// record, tag or scratch file.
func assertStoreEmpty(t *testing.T, s *Store) {
	t.Helper()
	if blobs, err := s.content.List(); err != nil || len(blobs) != 0 {
		t.Errorf("blobs left: %v %v", blobs, err)
	}
	if snaps, err := s.snapshots.List(); err != nil || len(snaps) != 0 {
		t.Errorf("snapshots left: %v %v", snaps, err)
	}
	for _, d := range []string{"ingest", "tmp", "images"} {
		if ents, _ := os.ReadDir(filepath.Join(s.root, d)); len(ents) != 0 {
			t.Errorf("%s/ not empty: %v", d, ents)
		}
	}
	if l, _ := s.List(context.Background()); len(l) != 0 {
		t.Errorf("images left: %v", l)
	}
}

// loadWithin runs Load and fails the test if it does not return within
// d (the old loader blocked forever opening a FIFO).
func loadWithin(t *testing.T, s *Store, r io.Reader, d time.Duration) ([]*Image, error) {
	t.Helper()
	type result struct {
		imgs []*Image
		err  error
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan result, 1)
	go func() {
		imgs, err := s.Load(ctx, r)
		done <- result{imgs, err}
	}()
	select {
	case res := <-done:
		return res.imgs, res.err
	case <-time.After(d):
		cancel()
		t.Fatalf("Load did not return within %v", d)
		return nil, nil
	}
}

// TestLoadRefusesSpecialFiles: a FIFO, a character device or a block
// device anywhere in the archive (here as manifest.json, or as a layer)
// fails the load at once with ErrInvalidArgument, and the regular files
// read before it are gone from the store.
func TestLoadRefusesSpecialFiles(t *testing.T) {
	testutil.RequiresRoot(t)
	for name, archive := range map[string][]byte{
		"fifo manifest.json": buildTar(
			tarEntry{name: "abc/layer.tar", body: testLayer()},
			tarEntry{name: "manifest.json", typ: tar.TypeFifo},
		),
		"char device manifest.json": buildTar(
			tarEntry{name: "abc/layer.tar", body: testLayer()},
			tarEntry{name: "manifest.json", typ: tar.TypeChar},
		),
		"block device layer": dockerArchive(tarEntry{name: "abc/layer.tar", typ: tar.TypeBlock}),
	} {
		t.Run(name, func(t *testing.T) {
			s := newStore(t)
			start := time.Now()
			_, err := loadWithin(t, s, bytes.NewReader(archive), 5*time.Second)
			if !errdefs.IsInvalidArgument(err) {
				t.Fatalf("Load = %v, want an invalid-argument error", err)
			}
			if took := time.Since(start); took > time.Second {
				t.Errorf("refusing took %v", took)
			}
			if !strings.Contains(err.Error(), "only regular files") {
				t.Errorf("error does not say why: %v", err)
			}
			assertStoreEmpty(t, s)
		})
	}
}

// zeroTar streams a tar whose single entry name has size bytes of zeros,
// without holding them in memory.
func zeroTar(t *testing.T, name string, size int64) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: size}); err != nil {
			pw.CloseWithError(err)
			return
		}
		_, err := io.CopyN(tw, zeros{}, size)
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	t.Cleanup(func() { pr.Close() })
	return pr
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestLoadCapsMetadata: manifest.json, index.json and configs larger than
// maxLoadMetadata are refused with ErrInvalidArgument; a 100 MB
// manifest.json is refused from its header, before its bytes are read.
func TestLoadCapsMetadata(t *testing.T) {
	testutil.RequiresRoot(t)
	for _, name := range []string{"manifest.json", "index.json"} {
		s := newStore(t)
		start := time.Now()
		_, err := loadWithin(t, s, zeroTar(t, name, 100<<20), 10*time.Second)
		if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "bytes allowed") {
			t.Fatalf("%s of 100 MB: %v", name, err)
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("%s of 100 MB: refusing took %v", name, took)
		}
		assertStoreEmpty(t, s)
	}

	// A config is only known as one once manifest.json names it.
	big := bytes.Repeat([]byte(" "), maxLoadMetadata+1)
	manifest, _ := json.Marshal([]map[string]any{{"Config": "big.json", "Layers": []string{}}})
	s := newStore(t)
	_, err := loadWithin(t, s, bytes.NewReader(buildTar(
		tarEntry{name: "big.json", body: big},
		tarEntry{name: "manifest.json", body: manifest},
	)), 10*time.Second)
	if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "bytes allowed") {
		t.Fatalf("config over the cap: %v", err)
	}
	assertStoreEmpty(t, s)
}

// TestLoadLinksStayInside: links are resolved inside the archive. A layer
// reached through a symlink (as old docker-archives share layers) loads;
// one pointing out of the archive names nothing and fails cleanly.
func TestLoadLinksStayInside(t *testing.T) {
	testutil.RequiresRoot(t)
	ctx := context.Background()
	layer := testLayer()
	cfg := testConfig(layer, layer)
	manifest, _ := json.Marshal([]map[string]any{{"Config": "c.json", "RepoTags": []string{"local/linked:1"}, "Layers": []string{"a/layer.tar", "b/layer.tar"}}})
	s := newStore(t)
	imgs, err := s.Load(ctx, bytes.NewReader(buildTar(
		tarEntry{name: "a/layer.tar", body: layer},
		tarEntry{name: "b/layer.tar", typ: tar.TypeSymlink, linkname: "../a/layer.tar"},
		tarEntry{name: "c.json", typ: tar.TypeLink, linkname: "real/config"},
		tarEntry{name: "real/config", body: cfg},
		tarEntry{name: "manifest.json", body: manifest},
	)))
	if err != nil || len(imgs) != 1 || len(imgs[0].Layers) != 2 {
		t.Fatalf("load with linked layer: %+v %v", imgs, err)
	}

	for name, target := range map[string]string{
		"escape": "../../../../../etc/passwd",
		"abs":    "/etc/passwd",
		"loop":   "b/layer.tar",
	} {
		s := newStore(t)
		_, err := s.Load(ctx, bytes.NewReader(buildTar(
			tarEntry{name: "a/layer.tar", body: layer},
			tarEntry{name: "b/layer.tar", typ: tar.TypeSymlink, linkname: target},
			tarEntry{name: "c.json", body: cfg},
			tarEntry{name: "manifest.json", body: manifest},
		)))
		if !errdefs.IsInvalidArgument(err) {
			t.Errorf("%s: %v", name, err)
		}
		assertStoreEmpty(t, s)
	}
}

// TestLoadOCIChecksBlobs: an OCI layout's blob must hash to its name and
// have the size its descriptor declares.
func TestLoadOCIChecksBlobs(t *testing.T) {
	testutil.RequiresRoot(t)
	ctx := context.Background()
	s := newStore(t)
	imgs, err := s.Load(ctx, bytes.NewReader(ociArchive(nil)))
	if err != nil || len(imgs) != 1 || imgs[0].RepoTags[0] != "local/oci:1" {
		t.Fatalf("valid OCI layout: %+v %v", imgs, err)
	}
	// Only the image's blobs stay: config, manifest, layer.
	if blobs, _ := s.content.List(); len(blobs) != 3 {
		t.Errorf("blobs after load: %v", blobs)
	}

	s = newStore(t)
	_, err = s.Load(ctx, bytes.NewReader(ociArchive(func(d map[string]any) { d["size"] = 1 << 30 })))
	if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "declares") {
		t.Errorf("layer size mismatch: %v", err)
	}
	assertStoreEmpty(t, s)

	s = newStore(t)
	wrong := buildTar(tarEntry{name: "blobs/sha256/" + strings.Repeat("0", 64), body: []byte("not that")})
	if _, err := s.Load(ctx, bytes.NewReader(wrong)); !errdefs.IsInvalidArgument(err) {
		t.Errorf("blob not matching its name: %v", err)
	}
	assertStoreEmpty(t, s)
}

// TestLoadFailureLeavesNothing: a layer that is not a tar fails the
// load after the archive was stored; its blobs and the snapshots of the
// layers before it are removed.
func TestLoadFailureLeavesNothing(t *testing.T) {
	testutil.RequiresRoot(t)
	good := testLayer()
	bad := []byte("this is not a tar archive, just text long enough to be read as a header.......")
	bad = append(bad, make([]byte, 1024)...)
	bad[200] = 'x' // a non-zero byte where a tar's checksum would be
	cfg := testConfig(good, bad)
	manifest, _ := json.Marshal([]map[string]any{{"Config": "c.json", "RepoTags": []string{"local/bad:1"}, "Layers": []string{"good.tar", "bad.tar"}}})
	s := newStore(t)
	_, err := s.Load(context.Background(), bytes.NewReader(buildTar(
		tarEntry{name: "good.tar", body: good},
		tarEntry{name: "bad.tar", body: bad},
		tarEntry{name: "c.json", body: cfg},
		tarEntry{name: "manifest.json", body: manifest},
	)))
	if err == nil {
		t.Fatal("a layer that is not a tar loaded")
	}
	assertStoreEmpty(t, s)
}

// TestLoadValidDockerArchive: the hand-built docker-archive loads, its
// layer is stored gzipped, and only the image's blobs remain.
func TestLoadValidDockerArchive(t *testing.T) {
	testutil.RequiresRoot(t)
	ctx := context.Background()
	s := newStore(t)
	imgs, err := s.Load(ctx, bytes.NewReader(dockerArchive(tarEntry{name: "repositories", body: []byte(`{}`)})))
	if err != nil || len(imgs) != 1 || fmt.Sprint(imgs[0].RepoTags) != "[local/tiny:1]" {
		t.Fatalf("load: %+v %v", imgs, err)
	}
	blobs, _ := s.content.List()
	if len(blobs) != 3 { // config, gzipped layer, manifest
		t.Errorf("blobs after load: %v", blobs)
	}
	f, err := s.content.Open(imgs[0].Layers[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var magic [2]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil || magic != [2]byte{0x1f, 0x8b} {
		t.Errorf("layer blob is not gzip: %x %v", magic, err)
	}
}

// rawTarHeader encodes a ustar header block by hand, for entries
// archive/tar refuses to write (PAX sparse records).
func rawTarHeader(name string, typ byte, size int64) []byte {
	h := make([]byte, 512)
	copy(h[0:100], name)
	copy(h[100:108], "0000644\x00")
	copy(h[108:116], "0000000\x00")
	copy(h[116:124], "0000000\x00")
	copy(h[124:136], fmt.Sprintf("%011o\x00", size))
	copy(h[136:148], "00000000000\x00")
	h[156] = typ
	copy(h[257:263], "ustar\x00")
	copy(h[263:265], "00")
	copy(h[148:156], "        ")
	sum := 0
	for _, c := range h {
		sum += int(c)
	}
	copy(h[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return h
}

func pad512(b []byte) []byte {
	return append(b, make([]byte, (512-len(b)%512)%512)...)
}

// sparseTar is a PAX (GNU 1.0) sparse entry of 1 TiB holding one byte
// of data: read back, it is a terabyte of zeros.
func sparseTar(name string) []byte {
	rec := func(k, v string) string {
		line := " " + k + "=" + v + "\n"
		n := len(line) + 1
		for len(fmt.Sprint(n))+len(line) != n {
			n++
		}
		return fmt.Sprint(n) + line
	}
	pax := rec("GNU.sparse.major", "1") + rec("GNU.sparse.minor", "0") + rec("GNU.sparse.name", name) + rec("GNU.sparse.realsize", "1099511627776")
	var out []byte
	out = append(out, rawTarHeader("PaxHeaders/"+name, tar.TypeXHeader, int64(len(pax)))...)
	out = append(out, pad512([]byte(pax))...)
	out = append(out, rawTarHeader(name, tar.TypeReg, 1024)...)
	out = append(out, pad512([]byte("1\n1099511627775\n1\n"))...)
	out = append(out, pad512([]byte("x"))...)
	return append(out, make([]byte, 1024)...)
}

// TestLoadRefusesSparseFiles: a sparse entry would be read back with its
// holes as zeros (here a terabyte from 3 KiB); it is refused at once.
func TestLoadRefusesSparseFiles(t *testing.T) {
	testutil.RequiresRoot(t)
	archive := sparseTar("abc/layer.tar")
	if hdr, err := tar.NewReader(bytes.NewReader(archive)).Next(); err != nil || hdr.Size != 1<<40 {
		t.Fatalf("the test's sparse archive does not parse as one: %+v %v", hdr, err)
	}
	s := newStore(t)
	_, err := loadWithin(t, s, bytes.NewReader(archive), 5*time.Second)
	if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "sparse") {
		t.Fatalf("sparse entry: %v", err)
	}
	assertStoreEmpty(t, s)
}
