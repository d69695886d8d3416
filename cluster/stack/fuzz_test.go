package stack

import (
	"context"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
)

// FuzzLoadMap feeds the daemon's stack intake what a client may send: a
// compose file, loaded and mapped, must map or be refused as invalid
// input, never panic or hang.
func FuzzLoadMap(f *testing.F) {
	for _, s := range []string{
		full,
		"services:\n  a:\n    image: x\n",
		"services:\n  a:\n    image: ${X:?required}\n",
		"services:\n  a:\n    image: x\n    extends: {file: /etc/passwd, service: a}\n",
		"include: [/etc/passwd]\nservices:\n  a: {image: x}\n",
		"services:\n  a: &a {image: x, labels: *a}\n",
		"services:\n  a:\n    image: x\n    volumes: [\"../../../etc:/etc\"]\n",
		"x-a: &a [*a]\n",
		"services:\n  a:\n    image: x\n    ports: [\"1-100:1-100\"]\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		p, err := Load(ctx, "app", Input{Files: []File{{Filename: "compose.yml", Content: data}}, WorkingDir: "/srv"})
		if err != nil {
			if !errdefs.IsInvalidArgument(err) {
				t.Fatalf("a load error without its class: %v", err)
			}
			return
		}
		if _, err := Map("app", p); err != nil && !errdefs.IsInvalidArgument(err) {
			t.Fatalf("a map error without its class: %v", err)
		}
	})
}
