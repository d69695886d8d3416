package store

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/wharf-dev/wharf/internal/testutil"
)

// TestPushProgressOneAtATime: a push uploads layers in parallel, but its
// progress callback is called one message at a time: both APIs write each
// message to one response stream, and two writes at once corrupt it (a
// multi-layer push ended in "reading progress: unexpected EOF").
func TestPushProgressOneAtATime(t *testing.T) {
	testutil.RequiresRoot(t)
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	ctx := context.Background()
	s := newStore(t, WithInsecureRegistries(host), WithKeychain(authn.NewMultiKeychain()))
	var layers []Layer
	var diffIDs []string
	parent := ""
	for i := 0; i < 6; i++ {
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		body := bytes.Repeat([]byte(fmt.Sprintf("layer %d ", i)), 200000)
		_ = tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("f%d", i), Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		_, _ = tw.Write(body)
		_ = tw.Close()
		l, release, err := s.PutLayer(ctx, parent, &b)
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		layers = append(layers, l)
		diffIDs = append(diffIDs, l.DiffID)
		parent = l.ChainID
	}
	raw, _ := json.Marshal(map[string]any{"architecture": "amd64", "os": "linux", "config": map[string]any{},
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs}})
	ref := host + "/test/many:1"
	if _, err := s.Commit(ctx, raw, layers, CommitOptions{Tags: []string{ref}}); err != nil {
		t.Fatal(err)
	}
	var inFlight, overlaps, calls atomic.Int32
	_, err := s.Push(ctx, ref, func(Progress) {
		if inFlight.Add(1) > 1 {
			overlaps.Add(1)
		}
		calls.Add(1)
		time.Sleep(200 * time.Microsecond)
		inFlight.Add(-1)
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := overlaps.Load(); n > 0 {
		t.Errorf("%d of %d progress calls ran while another was running", n, calls.Load())
	}
}
