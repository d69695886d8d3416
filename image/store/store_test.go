package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/internal/testutil"
)

func newStore(t *testing.T, opts ...Option) *Store {
	t.Helper()
	s, err := New(t.TempDir(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func importBusybox(t *testing.T, s *Store, ref string) *Image {
	t.Helper()
	img, err := s.Import(context.Background(), bytes.NewReader(testutil.BusyboxRootfsTar(t)), ref, &v1.Config{Cmd: []string{"sh"}})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestImportGetTagList(t *testing.T) {
	testutil.RequiresRoot(t)
	ctx := context.Background()
	s := newStore(t)
	img := importBusybox(t, s, "local/busybox:1")
	if len(img.Layers) != 1 || img.Size <= 0 || img.Config.OS != "linux" || !reflect.DeepEqual(img.Config.Config.Cmd, []string{"sh"}) {
		t.Fatalf("imported image = %+v", img)
	}
	if !reflect.DeepEqual(img.RepoTags, []string{"local/busybox:1"}) {
		t.Fatalf("RepoTags = %v", img.RepoTags)
	}
	// The manifest digest is the digest of the manifest blob the store
	// would serve (and a push would upload).
	raw, err := s.content.ReadAll(img.Manifest)
	if err != nil || digestOf(raw) != img.Manifest || img.Manifest == img.ID {
		t.Fatalf("Manifest %q: %v", img.Manifest, err)
	}
	for _, ref := range []string{"local/busybox:1", "docker.io/local/busybox:1", img.ID, idHex(img.ID), idHex(img.ID)[:12], idHex(img.ID)[:4], "sha256:" + idHex(img.ID)[:8]} {
		got, err := s.Get(ctx, ref)
		if err != nil || got.ID != img.ID {
			t.Errorf("Get(%q) = %v, %v", ref, got, err)
		}
	}
	for ref, class := range map[string]error{
		"local/busybox:2":     errdefs.ErrNotFound,
		"nothere":             errdefs.ErrNotFound,
		"sha256:" + "0000":    errdefs.ErrNotFound,
		"UPPER:case":          errdefs.ErrInvalidArgument,
		"bad name with space": errdefs.ErrInvalidArgument,
		"foo::bar":            errdefs.ErrInvalidArgument,
		"sha256:xyz":          errdefs.ErrInvalidArgument,
	} {
		if _, err := s.Get(ctx, ref); !errors.Is(err, class) {
			t.Errorf("Get(%q) = %v, want %v", ref, err, class)
		}
	}
	if err := s.Tag(ctx, "local/busybox:1", "busybox"); err != nil {
		t.Fatal(err)
	}
	if err := s.Tag(ctx, img.ID, "127.0.0.1:5000/x/y:t"); err != nil {
		t.Fatal(err)
	}
	if err := s.Tag(ctx, img.ID, "busybox@sha256:"+idHex(img.ID)); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("Tag to a digest = %v", err)
	}
	// Names that go-containerregistry accepts and dockerd does not are
	// refused as dockerd refuses them.
	for _, bad := range []string{"foo//bar", "foo/-bar:1", "x:-tag", "a..b"} {
		if err := s.Tag(ctx, img.ID, bad); !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.HasPrefix(err.Error(), "invalid reference format") {
			t.Errorf("Tag to %q = %v, want dockerd's invalid reference format", bad, err)
		}
	}
	if err := s.Tag(ctx, "missing:1", "x"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Tag missing = %v", err)
	}
	got, _ := s.Get(ctx, "busybox")
	want := []string{"127.0.0.1:5000/x/y:t", "busybox:latest", "local/busybox:1"}
	if !reflect.DeepEqual(got.RepoTags, want) {
		t.Errorf("RepoTags = %v, want %v", got.RepoTags, want)
	}
	list, err := s.List(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("List = %v %v", list, err)
	}
	// A reopened store sees the same state.
	s2, err := New(s.root)
	if err != nil {
		t.Fatal(err)
	}
	got2, err := s2.Get(ctx, "busybox:latest")
	if err != nil || !reflect.DeepEqual(got2.RepoTags, want) {
		t.Fatalf("reopened Get = %v %v", got2, err)
	}

	dirs, err := s.LayerDirs(ctx, got)
	if err != nil || len(dirs) != 1 {
		t.Fatalf("LayerDirs = %v %v", dirs, err)
	}
	if fi, err := os.Stat(filepath.Join(dirs[0], "bin/busybox")); err != nil || fi.Mode()&0o111 == 0 {
		t.Fatalf("bin/busybox in layer: %v", err)
	}
	if l, _ := os.Readlink(filepath.Join(dirs[0], "bin/sh")); l != "busybox" {
		t.Errorf("bin/sh -> %q", l)
	}

	h, err := s.History(ctx, "busybox")
	if err != nil || len(h) != 1 || h[0].ID != img.ID || h[0].Comment != "Imported from -" || h[0].Size != img.Size {
		t.Fatalf("History = %+v %v", h, err)
	}
}

func TestImportGzipAndUntagged(t *testing.T) {
	testutil.RequiresRoot(t)
	ctx := context.Background()
	s := newStore(t)
	var gz bytes.Buffer
	zr := gzipStream(bytes.NewReader(testutil.BusyboxRootfsTar(t)))
	gz.ReadFrom(zr)
	img, err := s.Import(ctx, &gz, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(img.RepoTags) != 0 || img.Config.Config.Cmd != nil {
		t.Fatalf("untagged import = %+v", img)
	}
	plain := importBusybox(t, s, "")
	if plain.Layers[0].DiffID != img.Layers[0].DiffID {
		t.Errorf("gzip and plain imports differ in diffID")
	}
	if _, err := s.Import(ctx, bytes.NewReader([]byte("garbage that is not a tar at all, not even close.......")), "x", nil); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("import garbage = %v", err)
	}
	if blobs, _ := s.content.List(); len(blobs) != 5 { // two configs, two manifests, one shared layer
		t.Errorf("blobs after failed import: %v", blobs)
	}
}

func idsOf(d []Deleted) (untagged, deleted []string) {
	for _, x := range d {
		if x.Untagged != "" {
			untagged = append(untagged, x.Untagged)
		}
		if x.Deleted != "" {
			deleted = append(deleted, x.Deleted)
		}
	}
	sort.Strings(untagged)
	return
}

func TestRemoveSemantics(t *testing.T) {
	testutil.RequiresRoot(t)
	ctx := context.Background()
	s := newStore(t)
	img := importBusybox(t, s, "a:1")
	s.Tag(ctx, "a:1", "a:2")
	s.Tag(ctx, "a:1", "b:1")
	used := map[string]bool{}
	inUse := func(id string) bool { return used[id] }

	// Untag one of several tags.
	d, err := s.Remove(ctx, "a:2", false, inUse)
	if u, del := idsOf(d); err != nil || !reflect.DeepEqual(u, []string{"a:2"}) || len(del) != 0 {
		t.Fatalf("Remove a:2 = %+v %v", d, err)
	}
	// By ID with tags in two repositories needs force.
	if _, err := s.Remove(ctx, img.ID, false, inUse); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("Remove by ID with 2 repos = %v", err)
	}
	s.Remove(ctx, "b:1", false, inUse)
	// In use: the last tag cannot go without force.
	used[img.ID] = true
	if _, err := s.Remove(ctx, "a:1", false, inUse); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("Remove in-use = %v", err)
	}
	if _, err := s.Remove(ctx, img.ID, false, inUse); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("Remove in-use by ID = %v", err)
	}
	// Forced: untagged, kept while in use.
	d, err = s.Remove(ctx, "a:1", true, inUse)
	if u, del := idsOf(d); err != nil || !reflect.DeepEqual(u, []string{"a:1"}) || len(del) != 0 {
		t.Fatalf("forced Remove in-use = %+v %v", d, err)
	}
	if _, err := s.Get(ctx, img.ID); err != nil {
		t.Fatalf("in-use image deleted: %v", err)
	}
	dirs, _ := s.LayerDirs(ctx, img)
	// Prune keeps in-use images.
	if d, _, _ := s.Prune(ctx, false, inUse); len(d) != 0 {
		t.Fatalf("Prune removed in-use image: %+v", d)
	}
	used[img.ID] = false
	d, reclaimed, err := s.Prune(ctx, false, inUse)
	if _, del := idsOf(d); err != nil || len(del) != 2 || del[0] != img.ID || reclaimed == 0 {
		t.Fatalf("Prune = %+v %d %v", d, reclaimed, err)
	}
	if _, err := os.Stat(dirs[0]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("snapshot kept after prune: %v", err)
	}
	if blobs, _ := s.content.List(); len(blobs) != 0 {
		t.Errorf("blobs kept after prune: %v", blobs)
	}
	if _, err := s.Remove(ctx, img.ID, false, inUse); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Remove gone image = %v", err)
	}
}

func TestRemoveByIDAndPruneAll(t *testing.T) {
	testutil.RequiresRoot(t)
	ctx := context.Background()
	s := newStore(t)
	img := importBusybox(t, s, "a:1")
	s.Tag(ctx, "a:1", "a:2")
	// Tags of one repository: removal by ID untags both and deletes.
	d, err := s.Remove(ctx, idHex(img.ID)[:12], false, nil)
	if u, del := idsOf(d); err != nil || !reflect.DeepEqual(u, []string{"a:1", "a:2"}) || len(del) != 2 {
		t.Fatalf("Remove by ID = %+v %v", d, err)
	}
	img = importBusybox(t, s, "c:1")
	d, _, err = s.Prune(ctx, true, nil)
	if u, del := idsOf(d); err != nil || !reflect.DeepEqual(u, []string{"c:1"}) || del[0] != img.ID {
		t.Fatalf("Prune all = %+v %v", d, err)
	}
	if l, _ := s.List(ctx); len(l) != 0 {
		t.Fatalf("List after prune all = %v", l)
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	testutil.RequiresRoot(t)
	for _, format := range []string{"docker", "oci"} {
		t.Run(format, func(t *testing.T) {
			ctx := context.Background()
			s := newStore(t)
			img := importBusybox(t, s, "local/busybox:1")
			s.Tag(ctx, img.ID, "local/busybox:2")
			var buf bytes.Buffer
			if err := s.Save(ctx, &buf, []string{"local/busybox"}, format); err != nil {
				t.Fatal(err)
			}
			s2 := newStore(t)
			loaded, err := s2.Load(ctx, bytes.NewReader(buf.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			if len(loaded) == 0 || loaded[0].ID != img.ID {
				t.Fatalf("loaded = %+v", loaded)
			}
			got, err := s2.Get(ctx, "local/busybox:2")
			if err != nil || got.ID != img.ID || !reflect.DeepEqual(got.RepoTags, []string{"local/busybox:1", "local/busybox:2"}) {
				t.Fatalf("Get after load = %+v %v", got, err)
			}
			if got.Layers[0].DiffID != img.Layers[0].DiffID {
				t.Errorf("diffID changed")
			}
			dirs, _ := s2.LayerDirs(ctx, got)
			if _, err := os.Stat(filepath.Join(dirs[0], "bin/busybox")); err != nil {
				t.Error(err)
			}
			// Gzipped archives load too, and loading twice is harmless.
			zr := gzipStream(bytes.NewReader(buf.Bytes()))
			if _, err := s2.Load(ctx, zr); err != nil {
				t.Fatalf("gzip load: %v", err)
			}
			// By ID: saved without names.
			buf.Reset()
			if err := s.Save(ctx, &buf, []string{idHex(img.ID)[:12]}, format); err != nil {
				t.Fatal(err)
			}
			s3 := newStore(t)
			loaded, err = s3.Load(ctx, &buf)
			if err != nil || len(loaded) != 1 || loaded[0].ID != img.ID || len(loaded[0].RepoTags) != 0 {
				t.Fatalf("load by-ID save = %+v %v", loaded, err)
			}
		})
	}
	s := newStore(t)
	if err := s.Save(context.Background(), &bytes.Buffer{}, []string{"nothere"}, "docker"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("save missing = %v", err)
	}
	if err := s.Save(context.Background(), &bytes.Buffer{}, []string{"x"}, "zip"); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("save bad format = %v", err)
	}
	if _, err := s.Load(context.Background(), bytes.NewReader(nil)); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("load empty = %v", err)
	}
}
