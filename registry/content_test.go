package registry

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func (tr *testRegistry) push(t *testing.T, ref string) {
	t.Helper()
	img, err := random.Image(1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tr.ref(t, ref), img, tr.opts()...); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
}

// Deleting a repository takes its images and record, and nothing of the
// repositories below its name (Distribution's own RepositoryRemover
// deletes the whole directory, theirs included).
func TestDeleteRepositoryKeepsNested(t *testing.T) {
	tr := newTestRegistry(t)
	ctx := context.Background()
	tr.push(t, "team/app:1")
	tr.push(t, "team/app/cache:1")
	if _, err := tr.r.DeleteRepository(ctx, "team/app", false); !errors.Is(err, ErrRepositoryNotEmpty) {
		t.Fatalf("delete without force: %v", err)
	}
	if _, err := tr.r.DeleteRepository(ctx, "team/app", true); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.r.Repository(ctx, "team/app"); !errors.Is(err, ErrRepositoryNotFound) {
		t.Fatalf("the deleted repository: %v", err)
	}
	if err := tr.complete(t, "team/app/cache:1"); err != nil {
		t.Fatalf("the repository below it: %v", err)
	}
	imgs, err := tr.r.Images(ctx, "team/app/cache")
	if err != nil || len(imgs) != 1 {
		t.Fatalf("images of the repository below: %v %v", imgs, err)
	}
	// Pushed again, it is a new repository with only the new image.
	tr.push(t, "team/app:2")
	if imgs, err := tr.r.Images(ctx, "team/app"); err != nil || len(imgs) != 1 || imgs[0].Tags[0] != "2" {
		t.Fatalf("images after a new push: %+v %v", imgs, err)
	}
}

// The background job applies the policies on its own.
func TestLifecycleJob(t *testing.T) {
	tr := newTestRegistry(t, WithLifecycleInterval(20*time.Millisecond))
	ctx := context.Background()
	for _, tag := range []string{"1", "2", "3"} {
		tr.push(t, "team/app:"+tag)
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := tr.r.SetLifecyclePolicy(ctx, "team/app", `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}`); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		imgs, err := tr.r.Images(ctx, "team/app")
		if err != nil {
			t.Fatal(err)
		}
		if len(imgs) == 1 {
			if imgs[0].Tags[0] != "3" {
				t.Fatalf("the job kept %v, not the newest", imgs[0].Tags)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job left %d images", len(imgs))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
