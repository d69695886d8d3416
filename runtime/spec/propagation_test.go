package spec

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestRootfsPropagation(t *testing.T) {
	slave := []specs.Mount{{Destination: "/var/task", Type: "bind", Options: []string{"rbind", "rslave", "ro"}}}
	if got := rootfsPropagation(slave); got != "rslave" {
		t.Errorf("with a slave bind: %q, want rslave", got)
	}
	if got := rootfsPropagation(nil); got != "rslave" {
		t.Errorf("without binds: %q, want rslave (runc's default, which crun must be told)", got)
	}
	shared := append(slave, specs.Mount{Destination: "/data", Type: "bind", Options: []string{"rbind", "rshared"}})
	if got := rootfsPropagation(shared); got != "" {
		t.Errorf("with a shared bind: %q, want the runtime's default", got)
	}
}
