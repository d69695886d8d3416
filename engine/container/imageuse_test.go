package container

import "testing"

func TestImageInUseAsksAddedUsers(t *testing.T) {
	e := &Engine{byID: map[string]*entry{"c1": {c: &Container{ID: "c1", ImageID: "sha256:aaa"}}}}
	if !e.ImageInUse("sha256:aaa") || e.ImageInUse("sha256:bbb") {
		t.Fatal("a container's image is in use, no other")
	}
	e.AddImageUser(func(id string) bool { return id == "sha256:bbb" })
	if !e.ImageInUse("sha256:bbb") || !e.ImageInUse("sha256:aaa") || e.ImageInUse("sha256:ccc") {
		t.Fatal("an added user's image is in use too, and only it")
	}
}
