package sandbox

import (
	"reflect"
	"testing"
)

func TestImageContainerSpec(t *testing.T) {
	var cs ContainerSpec
	imageContainer(&cs, Spec{Image: "sha256:abc", Command: []string{"/e", "h"}, WorkingDir: "/w"})
	if cs.Image != "sha256:abc" || !reflect.DeepEqual(cs.Entrypoint, []string{"/e", "h"}) || cs.WorkingDir != "/w" || cs.User != sandboxUser || len(cs.Binds) != 0 {
		t.Fatalf("container of an image function: %+v", cs)
	}
}
