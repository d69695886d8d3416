package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// emptyTarDiffID is the digest of an empty tar (1024 zero bytes): the
// layer of a container that changed nothing.
const emptyTarDiffID = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"

// ContainerCommitOptions describe an image made from a container (docker commit):
// its image's layers and one more.
type ContainerCommitOptions struct {
	// Parent is the ID of the container's image.
	Parent string
	// Layer is the container's writable layer: an uncompressed tar with
	// OCI whiteouts.
	Layer io.Reader
	// Config is the new image's runtime config.
	Config v1.Config
	// Author and Comment go in the config and the new history entry;
	// CreatedBy is the history entry's command.
	Author, Comment, CreatedBy string
	// Container is the ID of the container, recorded as dockerd does.
	Container string
	// Ref tags the image ("" leaves it untagged).
	Ref string
}

// CommitContainer stores a new image: the parent's layers (already stored) and
// o.Layer on top, its history the parent's and one entry more, as
// dockerd's commit makes it.
func (s *Store) CommitContainer(ctx context.Context, o ContainerCommitOptions) (*Image, error) {
	var tags []string
	if o.Ref != "" {
		t, err := parseTag(o.Ref)
		if err != nil {
			return nil, err
		}
		tags = []string{t}
	}
	s.mu.Lock()
	rec, _, err := s.resolveLocked(o.Parent)
	var parent *v1.ConfigFile
	if err == nil {
		parent, err = s.configLocked(rec)
	}
	var layers []Layer
	var mediaTypes []types.MediaType
	if err == nil {
		layers = append(layers, rec.Layers...)
		mediaTypes = append(mediaTypes, rec.LayerMediaTypes...)
	}
	s.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("commit: image %s: %w", o.Parent, err)
	}
	// The parent's blobs stay while the new image is made.
	var keys []string
	for _, l := range layers {
		keys = append(keys, l.Digest)
	}
	defer s.lease(keys...)()

	h := sha256.New()
	blob := gzipStream(io.TeeReader(o.Layer, h))
	dgst, _, err := s.content.Put(ctx, "", blob)
	blob.Close()
	if err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	releaseBlob := sync.OnceFunc(s.lease(dgst))
	defer releaseBlob()
	diffID, _ := v1.NewHash("sha256:" + hex.EncodeToString(h.Sum(nil)))
	// A container that changed nothing adds no layer, only a history
	// entry marked empty, as dockerd's commit does.
	empty := diffID.String() == emptyTarDiffID
	diffIDs := append([]v1.Hash{}, parent.RootFS.DiffIDs...)
	if !empty {
		diffIDs = append(diffIDs, diffID)
	}
	now := time.Now().UTC()
	cf := v1.ConfigFile{
		Architecture: parent.Architecture,
		OS:           parent.OS,
		Variant:      parent.Variant,
		OSVersion:    parent.OSVersion,
		Author:       o.Author,
		Container:    o.Container,
		Created:      v1.Time{Time: now},
		Config:       o.Config,
		RootFS:       v1.RootFS{Type: "layers", DiffIDs: diffIDs},
		History: append(append([]v1.History{}, parent.History...), v1.History{
			Created: v1.Time{Time: now}, Author: o.Author, CreatedBy: o.CreatedBy, Comment: o.Comment, EmptyLayer: empty,
		}),
	}
	raw, err := json.Marshal(cf)
	if err != nil {
		return nil, err
	}
	srcs := make([]layerSource, 0, len(layers)+1)
	for i, l := range layers {
		mt := types.DockerLayer
		if i < len(mediaTypes) && mediaTypes[i] != "" {
			mt = mediaTypes[i]
		}
		srcs = append(srcs, layerSource{digest: l.Digest, mediaType: mt, open: func() (io.ReadCloser, error) { return s.content.Open(l.Digest) }})
	}
	if !empty {
		srcs = append(srcs, layerSource{digest: dgst, mediaType: types.DockerLayer, open: func() (io.ReadCloser, error) { return s.content.Open(dgst) }})
	}
	img, err := s.ingest(ctx, ingestReq{rawConfig: raw, tags: tags, layers: srcs, parent: rec.ID})
	if empty || err != nil {
		releaseBlob()
		s.dropUnreferenced(dgst)
	}
	if err != nil {
		s.dropUnreferenced(digestOf(raw))
		return nil, fmt.Errorf("commit: %w", err)
	}
	return img, nil
}
