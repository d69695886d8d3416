package build

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/wharf-dev/wharf/image/store"
)

// chainKey is the cache key of a step: its parent's key and its
// description (doc.go). Parts are JSON-encoded so that no two different
// descriptions hash alike.
func chainKey(parent string, parts ...any) string {
	h := sha256.New()
	h.Write([]byte("wharf.build.v1\x00"))
	h.Write([]byte(parent))
	h.Write([]byte{0})
	enc := json.NewEncoder(h)
	for _, p := range parts {
		_ = enc.Encode(p)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// imageKey is the key of the committed image of a state, distinct from
// the key of the step that produced the state.
func imageKey(stateKey string) string { return chainKey(stateKey, "image") }

func storeRecordEmpty(key string, created time.Time, desc string) store.CacheRecord {
	return store.CacheRecord{Key: key, Created: created, Description: desc}
}
