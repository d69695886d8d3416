package store

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/wharf-dev/wharf/errdefs"
)

// memLoadBlobs keeps an archive's files in memory, within a budget, for
// the fuzz target: it checks digests as the content store does.
type memLoadBlobs struct {
	blobs  map[string][]byte
	budget int
}

func (m *memLoadBlobs) put(ctx context.Context, expected string, r io.Reader) (string, int64, error) {
	b, err := io.ReadAll(io.LimitReader(r, int64(m.budget)+1))
	if err != nil {
		return "", 0, err
	}
	if len(b) > m.budget {
		return "", 0, fmt.Errorf("over the test's budget: %w", errdefs.ErrInvalidArgument)
	}
	m.budget -= len(b)
	sum := sha256.Sum256(b)
	d := "sha256:" + hex.EncodeToString(sum[:])
	if expected != "" && d != expected {
		return "", 0, fmt.Errorf("digest mismatch: %w", errdefs.ErrInvalidArgument)
	}
	m.blobs[d] = b
	return d, int64(len(b)), nil
}

func (m *memLoadBlobs) open(d string) (io.ReadCloser, error) {
	b, ok := m.blobs[d]
	if !ok {
		return nil, fmt.Errorf("blob %s: %w", d, errdefs.ErrNotFound)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// FuzzLoad feeds hostile archives (plain or compressed) to the load
// parser: it must never panic or hang, must fail only with
// ErrInvalidArgument, and whatever it plans must be consistent: a config
// that parses with one diffID per layer, layers that are stored blobs,
// valid tags. Seeds (testdata/fuzz/FuzzLoad) are the attack archives of
// loadarchive_test.go and valid docker-archive and OCI layouts.
func FuzzLoad(f *testing.F) {
	for _, seed := range [][]byte{
		dockerArchive(),
		ociArchive(nil),
		buildTar(tarEntry{name: "manifest.json", typ: tar.TypeFifo}),
		buildTar(tarEntry{name: "manifest.json", typ: tar.TypeChar}),
		dockerArchive(tarEntry{name: "abc/layer.tar", typ: tar.TypeBlock}),
		buildTar(tarEntry{name: "manifest.json", typ: tar.TypeSymlink, linkname: "../../../../etc/passwd"}),
		buildTar(tarEntry{name: "manifest.json", typ: tar.TypeLink, linkname: "/etc/shadow"}),
		buildTar(tarEntry{name: "manifest.json", typ: tar.TypeSymlink, linkname: "manifest.json"}),
		ociArchive(func(d map[string]any) { d["size"] = -1 }),
		sparseTar("abc/layer.tar"),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		plain, err := decompress(bytes.NewReader(data))
		if err != nil {
			if !errdefs.IsInvalidArgument(err) {
				t.Fatalf("decompress: unclassified error %v", err)
			}
			return
		}
		defer plain.Close()
		b := &memLoadBlobs{blobs: map[string][]byte{}, budget: 16 << 20}
		a, err := readLoadArchive(context.Background(), plain, b)
		if err == nil {
			var plans []loadPlan
			plans, err = a.plan(b)
			for _, p := range plans {
				cfg, perr := ParseConfig(p.rawConfig)
				if perr != nil || len(cfg.RootFS.DiffIDs) != len(p.layers) {
					t.Fatalf("planned an image whose config does not match: %v", perr)
				}
				for _, l := range p.layers {
					if _, ok := b.blobs[l.blob]; !ok {
						t.Fatalf("planned layer %s is no stored blob", l.blob)
					}
				}
				for _, tag := range p.tags {
					if got, terr := parseTag(tag); terr != nil || got != tag {
						t.Fatalf("planned tag %q: %q %v", tag, got, terr)
					}
				}
			}
		}
		if err != nil && !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Fatalf("unclassified error: %v", err)
		}
	})
}
