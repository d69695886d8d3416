package main

import (
	"context"
	"log/slog"
	"path/filepath"

	"github.com/wharf-dev/wharf/build"
	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/image/store"
)

// newBuilder makes the daemon's image builder, after removing the step
// containers of builds a crash interrupted (the engine re-adopted them).
func newBuilder(ctx context.Context, root string, images *store.Store, engine *container.Engine, log *slog.Logger) (*build.Builder, error) {
	for _, c := range engine.List(ctx) {
		if c.Config.Labels["wharf.build"] == "step" {
			if err := engine.Remove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil {
				log.Warn("removing a step container of an interrupted build", "container", c.ID, "err", err)
			}
		}
	}
	return build.New(filepath.Join(root, "build"), images, engine, build.WithLogger(log))
}
