package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wharf-dev/wharf/internal/natsbox"
)

// The daemon's NATS keeps the events an older daemon queued in the store
// it kept with the functions.
func TestStartNATSAdoptsTheFunctionsStore(t *testing.T) {
	root := t.TempDir()
	ctx := context.Background()
	old, err := natsbox.Start(natsbox.Options{StoreDir: filepath.Join(root, "functions", "jetstream")})
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(old.Conn())
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "WHARF_FN_ASYNC", Subjects: []string{"wharf.fn.async.>"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "wharf.fn.async.hello", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	old.Close()

	nb, err := startNATS(root, natsConfig{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer nb.Close()
	if _, err := os.Stat(filepath.Join(root, "nats", "jetstream")); err != nil {
		t.Fatalf("the store is not under <root>/nats: %v", err)
	}
	js, _ = jetstream.New(nb.Conn())
	s, err := js.Stream(ctx, "WHARF_FN_ASYNC")
	if err != nil {
		t.Fatal(err)
	}
	if info, err := s.Info(ctx); err != nil || info.State.Msgs != 1 {
		t.Fatalf("the queued event: %+v %v", info, err)
	}
}
