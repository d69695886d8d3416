package main

import (
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/wharf-dev/wharf/internal/natsbox"
)

// natsConfig holds the daemon's NATS flags.
type natsConfig struct {
	url string
}

func addNATSFlags(f *pflag.FlagSet, c *natsConfig) {
	f.StringVar(&c.url, "nats-url", "", "NATS server with JetStream the daemon uses, for async invocations and more (default: one embedded in the daemon, its store under --root)")
}

// startNATS starts the daemon's NATS, once for the whole daemon: the
// embedded server with its store under root, or a connection to --nats-url.
func startNATS(root string, c natsConfig, log *slog.Logger) (*natsbox.Box, error) {
	dir := filepath.Join(root, "nats")
	if c.url == "" {
		// Daemons before one NATS for all kept its store with the
		// functions; the events queued there are kept.
		if err := natsbox.AdoptStore(filepath.Join(root, "functions", "jetstream"), dir); err != nil {
			return nil, fmt.Errorf("moving the NATS store to %s: %w", dir, err)
		}
	}
	return natsbox.Start(natsbox.Options{URL: c.url, StoreDir: dir, Name: "wharf-daemon", Log: log})
}
