package natsbox

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
)

// put stores one message in stream "T" through b's connection.
func put(t *testing.T, b *Box, data string) {
	t.Helper()
	ctx := context.Background()
	js, err := jetstream.New(b.Conn())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "t.x", []byte(data)); err != nil {
		t.Fatal(err)
	}
}

// count returns how many messages stream "T" holds.
func count(t *testing.T, b *Box) uint64 {
	t.Helper()
	js, err := jetstream.New(b.Conn())
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(context.Background(), "T")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// The embedded server keeps JetStream on disk across a restart, and a
// store an older daemon kept elsewhere is adopted with what it holds.
func TestEmbeddedStoreSurvivesAndIsAdopted(t *testing.T) {
	root := t.TempDir()
	old := filepath.Join(root, "functions", "jetstream")
	b, err := Start(Options{StoreDir: old})
	if err != nil {
		t.Fatal(err)
	}
	if !b.Embedded() {
		t.Fatal("not embedded")
	}
	put(t, b, "one")
	b.Close()

	dir := filepath.Join(root, "nats")
	if err := AdoptStore(old, dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Fatalf("the old store is still there: %v", err)
	}
	b, err = Start(Options{StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if n := count(t, b); n != 1 {
		t.Fatalf("the adopted store holds %d messages", n)
	}
	put(t, b, "two")
	b.Close()
	// An existing store is never replaced, and a missing old one is no
	// error.
	if err := os.MkdirAll(old, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := AdoptStore(old, dir); err != nil {
		t.Fatal(err)
	}
	if err := AdoptStore(filepath.Join(root, "none"), filepath.Join(root, "other")); err != nil {
		t.Fatal(err)
	}
	b, err = Start(Options{StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if n := count(t, b); n != 2 {
		t.Fatalf("after a restart: %d messages", n)
	}
}

// With a URL the daemon connects to that server and runs none of its own.
func TestExternalServer(t *testing.T) {
	ext, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ext.Start()
	if !ext.ReadyForConnections(10 * time.Second) {
		t.Fatal("the external server did not start")
	}
	defer func() { ext.Shutdown(); ext.WaitForShutdown() }()
	b, err := Start(Options{URL: ext.ClientURL()})
	if err != nil {
		t.Fatal(err)
	}
	if b.Embedded() {
		t.Fatal("an embedded server was started beside the external one")
	}
	put(t, b, "x")
	if n := count(t, b); n != 1 {
		t.Fatalf("%d messages", n)
	}
	b.Close()
	if !b.Conn().IsClosed() {
		t.Fatal("Close left the connection open")
	}
	if _, err := Start(Options{URL: "nats://127.0.0.1:1"}); err == nil {
		t.Fatal("connected to nothing")
	}
}
