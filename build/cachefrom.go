package build

// --cache-from: a built image carries, in its config, the cache key of
// every step that made (or could have made) one of its layers, as
// BuildKit's inline cache does ("moby.buildkit.cache.v0"). A build given
// --cache-from IMAGE reuses the image's layer for a step whose key is
// listed there, when the layers below it are exactly the ones the build
// has so far. Keys chain from the base image's ID and hold the digests of
// the files a step reads, so a listed key means the same step on the same
// filesystem; the image is trusted to say so truthfully, as BuildKit
// trusts an inline cache: use images you trust as cache sources.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/wharf-dev/wharf/image/store"
)

// inlineCacheField is the image config's top-level field.
const inlineCacheField = "wharf.build.cache.v0"

// inlineStep is one step of an image's inline cache: its key, the number
// of layers of the image after it (one more than before it when the step
// made a layer) and its history time.
type inlineStep struct {
	Key     string    `json:"k"`
	Layers  int       `json:"n"`
	Created time.Time `json:"c"`
}

// withInlineCache adds steps to a marshalled image config.
func withInlineCache(raw []byte, steps []inlineStep) ([]byte, error) {
	if len(steps) == 0 {
		return raw, nil
	}
	b, err := json.Marshal(steps)
	if err != nil {
		return nil, err
	}
	raw = bytes.TrimRight(raw, " \n")
	if len(raw) < 2 || raw[len(raw)-1] != '}' {
		return nil, fmt.Errorf("image config is not a JSON object")
	}
	out := append([]byte(nil), raw[:len(raw)-1]...)
	if len(bytes.TrimSpace(raw[1:len(raw)-1])) > 0 {
		out = append(out, ',')
	}
	out = append(out, fmt.Sprintf("%q:", inlineCacheField)...)
	out = append(out, b...)
	return append(out, '}'), nil
}

// cacheSource is one --cache-from image's steps by key.
type cacheSource struct {
	img   *store.Image
	steps map[string]inlineStep
}

// cacheSources reads the --cache-from images once per build. An image
// that is not in the store is skipped, as dockerd skips it.
func (j *job) cacheSources(ctx context.Context) []cacheSource {
	j.cacheFromOnce.Do(func() {
		for _, ref := range j.o.CacheFrom {
			img, err := j.b.images.Get(ctx, ref)
			if err != nil {
				j.b.log.Debug("build: --cache-from image not used", "image", ref, "err", err)
				continue
			}
			raw, err := j.b.images.RawConfig(ctx, img.ID)
			if err != nil {
				continue
			}
			var cfg map[string]json.RawMessage
			var steps []inlineStep
			if json.Unmarshal(raw, &cfg) != nil || json.Unmarshal(cfg[inlineCacheField], &steps) != nil {
				continue
			}
			src := cacheSource{img: img, steps: map[string]inlineStep{}}
			for _, s := range steps {
				if s.Layers >= 0 && s.Layers <= len(img.Layers) {
					src.steps[s.Key] = s
				}
			}
			j.cacheFrom = append(j.cacheFrom, src)
		}
	})
	return j.cacheFrom
}

// fromCacheSources finds the step under key in a --cache-from image: the
// layer it made (nil for none) and its time. The image's layers below the
// step must be exactly st's.
func (j *job) fromCacheSources(ctx context.Context, st *state, key string) (*store.Layer, time.Time, bool) {
	for _, src := range j.cacheSources(ctx) {
		s, ok := src.steps[key]
		if !ok {
			continue
		}
		n := len(st.layers)
		if s.Layers != n && s.Layers != n+1 {
			continue
		}
		same := true
		for i := 0; i < n && same; i++ {
			same = src.img.Layers[i].ChainID == st.layers[i].ChainID
		}
		if !same {
			continue
		}
		if s.Layers == n {
			return nil, s.Created, true
		}
		l := src.img.Layers[n]
		return &l, s.Created, true
	}
	return nil, time.Time{}, false
}
