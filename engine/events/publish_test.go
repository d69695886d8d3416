package events

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/wharf-dev/wharf/engine/volume"
	"github.com/wharf-dev/wharf/image/store"
	"github.com/wharf-dev/wharf/runtime/fake"
)

// collect subscribes to b and returns a function that reads the next n
// events as "type action actor name".
func collect(t *testing.T, b *Bus) func(n int) []string {
	s, err := b.Subscribe(SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return func(n int) []string {
		t.Helper()
		var out []string
		for len(out) < n {
			ev, err := s.Next(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, ev.Type+" "+ev.Action+" "+ev.Actor.ID+" "+ev.Actor.Attributes["name"]+ev.Actor.Attributes["driver"]+ev.Actor.Attributes["reclaimed"])
		}
		return out
	}
}

func expect(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if join(got) != join(want) {
		t.Errorf("%s:\n got  %q\n want %q", what, got, want)
	}
}

// The image store's changes are told as dockerd tells them: the actor is
// the image ID, named by the new tag for a tag and by the ID otherwise.
func TestPublishImages(t *testing.T) {
	st, err := store.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := New()
	next := collect(t, b)
	imgs := PublishImages(st, b)
	ctx := context.Background()
	tb, err := fake.RootfsTar()
	if err != nil {
		t.Fatal(err)
	}
	img, err := imgs.Import(ctx, bytes.NewReader(tb), "local/bb:1", nil)
	if err != nil {
		t.Fatal(err)
	}
	id := img.ID
	expect(t, "import", next(2), "image tag "+id+" local/bb:1", "image import "+id+" "+id)
	if err := imgs.Tag(ctx, "local/bb:1", "other/bb"); err != nil {
		t.Fatal(err)
	}
	expect(t, "tag", next(1), "image tag "+id+" other/bb:latest")
	if err := imgs.Save(ctx, io.Discard, []string{"local/bb:1", "other/bb"}, ""); err != nil {
		t.Fatal(err)
	}
	expect(t, "save of two names of one image", next(1), "image save "+id+" "+id)
	if _, err := imgs.Remove(ctx, "other/bb", false, nil); err != nil {
		t.Fatal(err)
	}
	expect(t, "untag", next(1), "image untag "+id+" "+id)
	if _, err := imgs.Remove(ctx, "local/bb:1", false, nil); err != nil {
		t.Fatal(err)
	}
	expect(t, "delete", next(2), "image untag "+id+" "+id, "image delete "+id+" "+id)
	if _, err := imgs.Remove(ctx, "local/bb:1", false, nil); err == nil {
		t.Fatal("removed a missing image")
	}
	dangling, err := imgs.Import(ctx, bytes.NewReader(tb), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	id = dangling.ID
	expect(t, "untagged import", next(1), "image import "+id+" "+id)
	if _, _, err := imgs.Prune(ctx, false, nil); err != nil {
		t.Fatal(err)
	}
	got := next(2)
	expect(t, "prune of a dangling image", got[:1], "image delete "+id+" "+id)
	if got[1][:len("image prune  ")] != "image prune  " {
		t.Errorf("prune event %q", got[1])
	}
}

// Volumes: a create for every Create (dockerd tells one for a volume that
// existed too), a destroy for each volume removed, pruned ones included.
func TestPublishVolumes(t *testing.T) {
	st, err := volume.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := New()
	next := collect(t, b)
	vols := PublishVolumes(st, b)
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if _, err := vols.Create(ctx, volume.CreateOptions{Name: "data"}); err != nil {
			t.Fatal(err)
		}
	}
	expect(t, "create twice", next(2), "volume create data local", "volume create data local")
	if err := vols.Remove(ctx, "data", false); err != nil {
		t.Fatal(err)
	}
	expect(t, "remove", next(1), "volume destroy data local")
	if err := vols.Remove(ctx, "data", false); err == nil {
		t.Fatal("removed a missing volume")
	}
	anon, err := vols.Create(ctx, volume.CreateOptions{Anonymous: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := vols.Prune(ctx, false, nil); err != nil {
		t.Fatal(err)
	}
	expect(t, "prune", next(3), "volume create "+anon.Name+" local", "volume destroy "+anon.Name+" local", "volume prune  0")
}
