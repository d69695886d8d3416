// Package identity is the daemon's one key store for every AWS-shaped API
// (Lambda today; ECR, ECS and Batch as they come) and for the registry:
// it issues the access keys clients sign with, verifies AWS Signature
// Version 4 on their requests (sigv4.go), decides what a key's policy
// allows (policy.go), and mints the registry's login and bearer tokens
// (token.go), so that the aws CLI, the SDKs and `docker login -u AWS`
// all work with the same keys.
//
// Keys live in one JSON file readable by root only (<root>/functions/
// keys.json, mode 0600, where the functions' API first kept them), rewritten
// with internal/atomicfile. Secrets never leave it except once, to the user
// who creates the key; no log line carries one.
package identity

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/internal/atomicfile"
)

// Key is one access key pair and what it may do (policy.go; none:
// DefaultStatements).
type Key struct {
	AccessKeyID     string
	SecretAccessKey string `json:",omitempty"`
	Created         time.Time
	Statements      []Statement `json:",omitempty"`
}

// Keys is the key file.
type Keys struct {
	path string
	log  *slog.Logger
	now  func() time.Time
	mu   sync.RWMutex
	keys map[string]Key
	// remote is the cluster's keys once Share was called, and shared
	// what they were when last read (shared.go).
	remote Shared
	shared map[string]Key
}

// KeysOption configures OpenKeys.
type KeysOption func(*Keys)

// WithLogger sets where OpenKeys reports a damaged key file (default:
// discard).
func WithLogger(l *slog.Logger) KeysOption { return func(k *Keys) { k.log = l } }

// OpenKeys loads (or starts) the key file at path. A file that does not
// parse (a disk that lost it, a person's edit) does not stop the daemon:
// it is set aside as keys.json.corrupt-<time>, logged, and the daemon
// starts with no keys, so that root issues new ones with `wharf keys
// create`.
func OpenKeys(path string, opts ...KeysOption) (*Keys, error) {
	k := &Keys{path: path, log: slog.New(slog.DiscardHandler), now: time.Now, keys: map[string]Key{}}
	for _, o := range opts {
		o(k)
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return k, nil
	}
	if err != nil {
		return nil, err
	}
	list, err := parseKeys(data)
	if err != nil {
		moved, merr := atomicfile.SetAside(path, k.now())
		if merr != nil {
			return nil, fmt.Errorf("key file %s is damaged (%v) and cannot be set aside: %w", path, err, merr)
		}
		k.log.Error("access key file is damaged; it was set aside and no key is valid until new ones are created", "file", path, "moved_to", moved, "err", err)
		return k, nil
	}
	for _, key := range list {
		k.keys[key.AccessKeyID] = key
	}
	return k, nil
}

// parseKeys decodes the key file; every key must have an id and a secret.
func parseKeys(data []byte) ([]Key, error) {
	var list []Key
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, err
	}
	for i, key := range list {
		if key.AccessKeyID == "" || key.SecretAccessKey == "" {
			return nil, fmt.Errorf("key %d has no id or secret", i)
		}
		// A statement that does not parse could widen or narrow the key
		// in ways nobody meant: the file is not trusted.
		for _, st := range key.Statements {
			if err := st.Validate(); err != nil {
				return nil, fmt.Errorf("key %s: %w", key.AccessKeyID, err)
			}
		}
	}
	return list, nil
}

const (
	idAlphabet     = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	secretAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
)

func randomString(alphabet string, n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// Create issues a new key pair (AKIA-style id, 40-character secret)
// holding stmts (none: DefaultStatements). Invalid statements are
// ErrInvalidArgument.
func (k *Keys) Create(stmts ...Statement) (Key, error) {
	for _, st := range stmts {
		if err := st.Validate(); err != nil {
			return Key{}, err
		}
	}
	key := Key{
		AccessKeyID:     "AKIA" + randomString(idAlphabet, 16),
		SecretAccessKey: randomString(secretAlphabet, 40),
		Created:         time.Now().UTC().Truncate(time.Second),
		Statements:      append([]Statement(nil), stmts...),
	}
	k.mu.RLock()
	remote := k.remote
	k.mu.RUnlock()
	if remote != nil {
		return k.createShared(remote, key)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys[key.AccessKeyID] = key
	if err := k.saveLocked(); err != nil {
		delete(k.keys, key.AccessKeyID)
		return Key{}, err
	}
	return key, nil
}

// List returns the keys without their secrets.
func (k *Keys) List() []Key {
	k.mu.RLock()
	defer k.mu.RUnlock()
	out := make([]Key, 0, len(k.keys))
	for _, key := range k.keys {
		out = append(out, Key{AccessKeyID: key.AccessKeyID, Created: key.Created, Statements: key.Statements})
	}
	return k.listSharedLocked(out)
}

// Remove revokes a key: this daemon's own, or the cluster's.
func (k *Keys) Remove(id string) error {
	k.mu.Lock()
	old, ok := k.keys[id]
	if !ok {
		remote := k.remote
		k.mu.Unlock()
		if remote != nil {
			return k.removeShared(remote, id)
		}
		return fmt.Errorf("no such access key: %s: %w", id, errdefs.ErrNotFound)
	}
	defer k.mu.Unlock()
	delete(k.keys, id)
	if err := k.saveLocked(); err != nil {
		k.keys[id] = old
		return err
	}
	return nil
}

// lookup returns an active key.
func (k *Keys) lookup(id string) (Key, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	key, ok := k.keys[id]
	if !ok {
		key, ok = k.shared[id]
	}
	return key, ok
}

func (k *Keys) saveLocked() error {
	list := make([]Key, 0, len(k.keys))
	for _, key := range k.keys {
		list = append(list, key)
	}
	data, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(k.path), 0o700); err != nil {
		return err
	}
	return atomicfile.WriteFile(k.path, data, 0o600)
}
