package store

import (
	"archive/tar"
	"bytes"
	"context"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// A commit adds its layer and history entry on the parent's; its history
// names the parent image for the parent's entries, as dockerd's does,
// and a container that changed nothing adds an empty entry, no layer.
func TestCommitLayersAndHistory(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	base := importBusybox(t, s, "local/base:1")
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	_ = tw.WriteHeader(&tar.Header{Name: "hello", Mode: 0o644, Size: 3, Typeflag: tar.TypeReg})
	_, _ = tw.Write([]byte("hi\n"))
	_ = tw.Close()
	img, err := s.CommitContainer(ctx, ContainerCommitOptions{Parent: base.ID, Layer: &layer, Config: v1.Config{Cmd: []string{"cat", "/hello"}},
		Author: "me", Comment: "msg", CreatedBy: "sh -c x", Container: "c1", Ref: "local/child:1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(img.Layers) != len(base.Layers)+1 || img.Config.Author != "me" || img.Config.Container != "c1" {
		t.Errorf("layers %d (base %d), config %+v", len(img.Layers), len(base.Layers), img.Config)
	}
	h, err := s.History(ctx, "local/child:1")
	if err != nil {
		t.Fatal(err)
	}
	if h[0].ID != img.ID || h[0].Comment != "msg" || h[0].CreatedBy != "sh -c x" || h[1].ID != base.ID {
		t.Errorf("history %+v", h)
	}
	var empty bytes.Buffer
	_ = tar.NewWriter(&empty).Close()
	idle, err := s.CommitContainer(ctx, ContainerCommitOptions{Parent: img.ID, Layer: &empty})
	if err != nil {
		t.Fatal(err)
	}
	h, _ = s.History(ctx, idle.ID)
	if len(idle.Layers) != len(img.Layers) || !h[0].EmptyLayer || h[1].ID != img.ID || h[2].ID != base.ID {
		t.Errorf("empty commit: %d layers (parent %d), history %+v", len(idle.Layers), len(img.Layers), h)
	}
}
