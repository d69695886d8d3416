package store

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/internal/testutil"
)

// The daemon's own images (the functions' base image) are not the user's:
// not listed, not pruned, not removable, and not replaceable by a user's
// tag, while the daemon still finds them by name.
func TestInternalRefsAreKeptFromTheUser(t *testing.T) {
	testutil.RequiresRoot(t)
	ctx := context.Background()
	s := newStore(t, WithInternalRefs("wharf/lambda-base:1"))
	base := importBusybox(t, s, "wharf/lambda-base:1")
	user := importBusybox(t, s, "") // untagged: a dangling image of the user's
	if got, err := s.Get(ctx, "wharf/lambda-base:1"); err != nil || got.ID != base.ID {
		t.Fatalf("Get of the internal reference: %v %v", got, err)
	}
	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range list {
		if img.ID == base.ID {
			t.Errorf("List shows the daemon's image: %+v", img.RepoTags)
		}
	}
	// A user's tag on the same image shows, without the internal one.
	if err := s.Tag(ctx, "wharf/lambda-base:1", "mine:1"); err != nil {
		t.Fatal(err)
	}
	list, _ = s.List(ctx)
	var shown []string
	for _, img := range list {
		if img.ID == base.ID {
			shown = img.RepoTags
		}
	}
	if !reflect.DeepEqual(shown, []string{"mine:1"}) {
		t.Errorf("List with a user tag on the daemon's image shows it with %v, want [mine:1]", shown)
	}
	if _, err := s.Remove(ctx, "mine:1", false, nil); err != nil {
		t.Errorf("untagging the user's tag: %v", err)
	}
	for _, ref := range []string{"wharf/lambda-base:1", base.ID} {
		for _, force := range []bool{false, true} {
			if _, err := s.Remove(ctx, ref, force, nil); !errors.Is(err, errdefs.ErrConflict) {
				t.Errorf("Remove(%s, force=%v): %v, want a conflict", ref, force, err)
			}
		}
	}
	del, _, err := s.Prune(ctx, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range del {
		if d.Deleted == base.ID || d.Untagged == "wharf/lambda-base:1" {
			t.Errorf("prune -a removed the daemon's image: %+v", del)
		}
	}
	if _, err := s.Get(ctx, user.ID); !errdefs.IsNotFound(err) {
		t.Errorf("prune kept the user's dangling image: %v", err)
	}
	// No user image takes the daemon's reference.
	other, err := s.Import(ctx, bytes.NewReader(testutil.BusyboxRootfsTar(t)), "other:1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Tag(ctx, "other:1", "wharf/lambda-base:1"); !errors.Is(err, errdefs.ErrForbidden) {
		t.Errorf("tag onto the daemon's reference: %v", err)
	}
	if _, err := s.Import(ctx, bytes.NewReader(testutil.BusyboxRootfsTar(t)), "wharf/lambda-base:1", nil, WithMessage("x")); !errors.Is(err, errdefs.ErrForbidden) {
		t.Errorf("import onto the daemon's reference: %v", err)
	}
	if got, _ := s.Get(ctx, "wharf/lambda-base:1"); got == nil || got.ID != base.ID || got.ID == other.ID {
		t.Errorf("the daemon's reference moved: %+v", got)
	}
}
