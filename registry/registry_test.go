package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wharf-dev/wharf/identity"
)

// testRegistry is a registry served by httptest with an admin key.
type testRegistry struct {
	r    *Registry
	srv  *httptest.Server
	host string
	pw   string
	reg  *prometheus.Registry
	keys *identity.Keys
	tok  *identity.Tokens
	root string
}

func newTestRegistry(t *testing.T, opts ...Option) *testRegistry {
	t.Helper()
	dir := t.TempDir()
	keys, err := identity.OpenKeys(filepath.Join(dir, "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := identity.OpenTokens(filepath.Join(dir, "token.key"), keys)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	root := filepath.Join(dir, "registry")
	r, err := New(context.Background(), Config{Root: root}, tok, append([]Option{WithRegisterer(reg)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r.Handler())
	t.Cleanup(func() {
		srv.Close()
		r.Close()
	})
	key, err := keys.Create(identity.AdminStatement)
	if err != nil {
		t.Fatal(err)
	}
	pw, _, err := tok.MintLogin(key.AccessKeyID)
	if err != nil {
		t.Fatal(err)
	}
	return &testRegistry{r: r, srv: srv, host: strings.TrimPrefix(srv.URL, "http://"), pw: pw, reg: reg, keys: keys, tok: tok, root: root}
}

func (tr *testRegistry) ref(t testing.TB, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(tr.host+"/"+s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (tr *testRegistry) opts() []remote.Option {
	return []remote.Option{remote.WithAuth(&authn.Basic{Username: "AWS", Password: tr.pw})}
}

// complete reads every blob of the image ref names; it fails when a blob
// a manifest references is missing.
func (tr *testRegistry) complete(t testing.TB, ref string) error {
	img, err := remote.Image(tr.ref(t, ref), tr.opts()...)
	if err != nil {
		return err
	}
	if _, err := img.RawConfigFile(); err != nil {
		return err
	}
	ls, err := img.Layers()
	if err != nil {
		return err
	}
	for _, l := range ls {
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// GC runs in a loop while images that share a layer with a deleted one
// are pushed. With no grace period the collector may take blobs of a
// push between their upload and the manifest's; the push is then refused
// cleanly (MANIFEST_BLOB_UNKNOWN, no tag): never is a manifest stored
// whose blobs are gone. With a grace period no push fails, though every
// blob is older than it: the pushes' own checks and commits keep theirs.
func TestGCConcurrentWithPushesSharingLayers(t *testing.T) {
	for _, tc := range []struct {
		name    string
		grace   time.Duration
		mayFail bool
	}{
		// Pushes may lose their blobs between upload and manifest:
		// refused, never half-stored.
		{"no grace period", -1, true},
		// The collector's clock runs a minute ahead: every blob is
		// older than the grace period, and only the touches of the
		// pushes in flight (the shared layer's check, each upload's
		// commit) keep their blobs.
		{"touches within the grace period", 30 * time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTestRegistry(t, WithClock(func() time.Time { return time.Now().Add(time.Minute) }))
			shared, err := random.Layer(512<<10, "application/vnd.oci.image.layer.v1.tar+gzip")
			if err != nil {
				t.Fatal(err)
			}
			base, err := mutate.AppendLayers(empty.Image, shared)
			if err != nil {
				t.Fatal(err)
			}
			if err := remote.Write(tr.ref(t, "team/base:1"), base, tr.opts()...); err != nil {
				t.Fatal(err)
			}
			dg, _ := base.Digest()
			if err := remote.Delete(tr.ref(t, "team/base@"+dg.String()), tr.opts()...); err != nil {
				t.Fatal(err)
			}
			// The shared layer is now unreferenced.
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			var gcs int
			var gcErr error
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					if _, err := tr.r.GC(ctx, GCOptions{GracePeriod: tc.grace}); err != nil && ctx.Err() == nil {
						gcErr = err
						return
					}
					gcs++
				}
			}()
			refused := 0
			var stored []string
			for i := range 30 {
				own, err := random.Layer(4<<10, "application/vnd.oci.image.layer.v1.tar+gzip")
				if err != nil {
					t.Fatal(err)
				}
				img, err := mutate.AppendLayers(empty.Image, shared, own)
				if err != nil {
					t.Fatal(err)
				}
				ref := fmt.Sprintf("team/app:%d", i)
				err = remote.Write(tr.ref(t, ref), img, tr.opts()...)
				var terr *transport.Error
				if errors.As(err, &terr) && len(terr.Errors) > 0 && terr.Errors[0].Code == transport.ManifestBlobUnknownErrorCode {
					// Refused cleanly: nothing of it is stored.
					refused++
					if !tc.mayFail {
						t.Fatalf("push %d refused within the grace period: %v", i, err)
					}
					if _, err := remote.Head(tr.ref(t, ref), tr.opts()...); err == nil {
						t.Fatalf("push %d was refused but its tag exists", i)
					}
					continue
				}
				if err != nil {
					t.Fatalf("push %d: %v", i, err)
				}
				if err := tr.complete(t, ref); err != nil {
					t.Fatalf("image %d is incomplete after its push: %v", i, err)
				}
				stored = append(stored, ref)
				// Unreferenced again: the next push's check of the
				// shared layer is all that keeps it.
				dg, _ := img.Digest()
				if err := remote.Delete(tr.ref(t, "team/app@"+dg.String()), tr.opts()...); err != nil {
					t.Fatal(err)
				}
			}
			cancel()
			wg.Wait()
			if gcErr != nil {
				t.Fatal(gcErr)
			}
			// What was deleted is gone.
			for _, ref := range stored {
				if _, err := remote.Head(tr.ref(t, ref), tr.opts()...); err == nil {
					t.Fatalf("%s was deleted but is still there", ref)
				}
			}
			t.Logf("%d collections ran during 30 pushes; %d pushes were refused cleanly, %d stored whole", gcs, refused, len(stored))
		})
	}
}

// An unreferenced blob is collected once the grace period is over, and
// not before; a dry run deletes nothing.
func TestGCGracePeriod(t *testing.T) {
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	tr := newTestRegistry(t, WithClock(clock))
	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tr.ref(t, "team/a:1"), img, tr.opts()...); err != nil {
		t.Fatal(err)
	}
	dg, _ := img.Digest()
	if err := remote.Delete(tr.ref(t, "team/a@"+dg.String()), tr.opts()...); err != nil {
		t.Fatal(err)
	}
	rep, err := tr.r.GC(context.Background(), GCOptions{})
	if err != nil || len(rep.Deleted) != 0 || rep.Kept < 3 {
		t.Fatalf("within the grace period: %+v %v", rep, err)
	}
	mu.Lock()
	now = now.Add(DefaultGracePeriod + time.Minute)
	mu.Unlock()
	rep, err = tr.r.GC(context.Background(), GCOptions{DryRun: true})
	if err != nil || len(rep.Deleted) != 4 {
		t.Fatalf("dry run: %+v %v", rep, err)
	}
	rep, err = tr.r.GC(context.Background(), GCOptions{})
	// The layers, the config, and the deleted manifest's own blob.
	if err != nil || len(rep.Deleted) != 4 || rep.FreedBytes == 0 {
		t.Fatalf("after the grace period: %+v %v", rep, err)
	}
	rep, err = tr.r.GC(context.Background(), GCOptions{})
	if err != nil || len(rep.Deleted) != 0 {
		t.Fatalf("again: %+v %v", rep, err)
	}
}

var _ v1.Image = empty.Image

// The registry's series on the daemon's Prometheus registry.
func TestMetrics(t *testing.T) {
	tr := newTestRegistry(t)
	img, err := random.Image(64<<10, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tr.ref(t, "team/m:1"), img, tr.opts()...); err != nil {
		t.Fatal(err)
	}
	if err := tr.complete(t, "team/m:1"); err != nil {
		t.Fatal(err)
	}
	mfs, err := tr.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			switch {
			case m.Counter != nil:
				got[key] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				got[key] = m.GetGauge().GetValue()
			}
		}
	}
	var size int64
	ls, _ := img.Layers()
	for _, l := range ls {
		s, _ := l.Size()
		size += s
	}
	cfg, _ := img.RawConfigFile()
	raw, _ := img.RawManifest()
	size += int64(len(cfg) + len(raw))
	for key, check := range map[string]func(float64) bool{
		"wharf_registry_requests_total,code=201,method=PUT,route=manifest": func(v float64) bool { return v == 1 },
		"wharf_registry_requests_total,code=401,method=GET,route=base":     func(v float64) bool { return v >= 1 },
		"wharf_registry_requests_total,code=200,method=GET,route=token":    func(v float64) bool { return v >= 1 },
		"wharf_registry_received_bytes_total,route=blob-upload-chunk":      func(v float64) bool { return v >= float64(size-int64(len(raw))) },
		"wharf_registry_sent_bytes_total,route=blob":                       func(v float64) bool { return v >= float64(size-int64(len(raw))) },
		"wharf_registry_repository_storage_bytes,repository=team/m":        func(v float64) bool { return v == float64(size) },
	} {
		if v, ok := got[key]; !ok || !check(v) {
			t.Errorf("%s = %v (present %v); want the pushed image's figures (size %d)", key, v, ok, size)
		}
	}
}
