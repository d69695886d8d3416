// Package secrets is the cluster's secrets: values created once, stored
// encrypted in the cluster's JetStream KV and decrypted only on the node
// that delivers them to a task's containers.
//
// Encryption. Every value is sealed with AES-256-GCM under the cluster's
// data key, with a fresh 12-byte random nonce and the secret's name as
// additional data (a ciphertext copied under another name does not
// open). The data key is never in the KV: it is the file
//
//	<root>/cluster/secrets.key   32 random bytes, hex, 0600 (dir 0700)
//
// written by the first manager at --cluster-init and handed to every
// node that joins (managers and workers: workers run tasks and decrypt
// their secrets) in the join response, over the join endpoint's TLS
// that the joiner pins to its token's CA fingerprint, after the token's
// secret is checked. A copy of the KV alone (a manager's JetStream
// store, a backup of it, a NATS client reading the bucket) gives each
// secret's name, size, dates and ciphertext, and nothing of its value.
// Whoever holds a node's secrets.key and can read the bucket (any node
// of the cluster can: its certificate opens the NATS) gets every value.
//
// Bucket:
//
//	secrets   <name>  -> Record (JSON: name, key id, nonce||ciphertext, dates)
//
// Names are 1 to 255 characters of letters, digits, '_', '-' and '.', not
// starting with '.' or '-' (a KV key and a file name under /run/secrets
// both). Values are 1 byte to MaxValue bytes.
package secrets

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/wharf-dev/wharf/cluster/state"
	"github.com/wharf-dev/wharf/errdefs"
	"github.com/wharf-dev/wharf/internal/atomicfile"
)

// MaxValue bounds a secret's value (Secrets Manager's limit is 64 KiB).
const MaxValue = 64 << 10

// MaxSecrets bounds how many secrets a cluster keeps.
const MaxSecrets = 10000

// KeyFile is the data key's file name in the cluster directory.
const KeyFile = "secrets.key"

const bucket = "secrets"

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$`)

// ValidName reports whether name may name a secret.
func ValidName(name string) bool { return nameRE.MatchString(name) && !strings.HasSuffix(name, ".") }

// Record is a secret as the KV holds it: the value sealed, never in
// clear.
type Record struct {
	Name string `json:"name"`
	// KeyID names the data key that sealed the value (KeyID), so that a
	// node with another key says so instead of failing to authenticate.
	KeyID     string    `json:"keyId"`
	Sealed    []byte    `json:"sealed"`
	Size      int       `json:"size"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// Key is the cluster's data key.
type Key struct {
	aead cipher.AEAD
	id   string
}

// NewKey returns a key from 32 bytes.
func NewKey(raw []byte) (*Key, error) {
	if len(raw) != 32 {
		return nil, fmt.Errorf("a secrets key is 32 bytes, not %d: %w", len(raw), errdefs.ErrInvalidArgument)
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(append([]byte("wharf-secrets-key-id:"), raw...))
	return &Key{aead: aead, id: hex.EncodeToString(sum[:8])}, nil
}

// ID is a fingerprint of the key (not a way back to it).
func (k *Key) ID() string { return k.id }

// aad binds a sealed value to what it is (purpose) and its name: a value
// sealed as one thing does not open as another (a secret's ciphertext
// copied over an access key's, say).
func aad(purpose, name string) []byte { return []byte("wharf-" + purpose + ":" + name) }

// purposeSecret is the secrets' purpose ("wharf-secret:<name>", as
// sealed since secrets exist).
const purposeSecret = "secret"

// Seal encrypts value for the secret name: nonce || ciphertext+tag.
func (k *Key) Seal(name string, value []byte) ([]byte, error) {
	return k.SealFor(purposeSecret, name, value)
}

// SealFor is Seal for another kind of value the cluster keeps sealed
// (purpose names the kind, e.g. "access-key"; never "secret").
func (k *Key) SealFor(purpose, name string, value []byte) ([]byte, error) {
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return k.aead.Seal(nonce, nonce, value, aad(purpose, name)), nil
}

// ErrDecrypt is what opening a value sealed under another key, or
// altered, returns.
var ErrDecrypt = errors.New("the secret's value does not decrypt with this node's key")

// Open decrypts what Seal returned for the same name.
func (k *Key) Open(name string, sealed []byte) ([]byte, error) {
	return k.OpenFor(purposeSecret, name, sealed)
}

// OpenFor decrypts what SealFor returned for the same purpose and name.
func (k *Key) OpenFor(purpose, name string, sealed []byte) ([]byte, error) {
	ns := k.aead.NonceSize()
	if len(sealed) < ns+k.aead.Overhead() {
		return nil, ErrDecrypt
	}
	out, err := k.aead.Open(nil, sealed[:ns], sealed[ns:], aad(purpose, name))
	if err != nil {
		return nil, ErrDecrypt
	}
	return out, nil
}

// KeyPath is the data key's path under a daemon's cluster directory.
func KeyPath(clusterDir string) string { return filepath.Join(clusterDir, KeyFile) }

// NewRawKey returns 32 random bytes.
func NewRawKey() ([]byte, error) {
	raw := make([]byte, 32)
	_, err := rand.Read(raw)
	return raw, err
}

// SaveKey writes raw as the node's data key (0600, atomically).
func SaveKey(clusterDir string, raw []byte) error {
	if err := os.MkdirAll(clusterDir, 0o700); err != nil {
		return err
	}
	return atomicfile.WriteFile(KeyPath(clusterDir), []byte(hex.EncodeToString(raw)+"\n"), 0o600)
}

// ReadRawKey reads the node's data key; ErrNotFound when it has none.
func ReadRawKey(clusterDir string) ([]byte, error) {
	data, err := os.ReadFile(KeyPath(clusterDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("this node has no secrets key (%s): %w", KeyPath(clusterDir), errdefs.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	raw, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(raw) != 32 {
		return nil, fmt.Errorf("%s: not a 32-byte hex key", KeyPath(clusterDir))
	}
	return raw, nil
}

// LoadKey reads the node's data key.
func LoadKey(clusterDir string) (*Key, error) {
	raw, err := ReadRawKey(clusterDir)
	if err != nil {
		return nil, err
	}
	return NewKey(raw)
}

// Store is the cluster's secrets over its state. A nil key (a node that
// has none) lists and removes but neither creates nor reads values.
type Store struct {
	t   state.Table[Record]
	key *Key
	now func() time.Time
}

// New returns the secrets of the cluster st, sealed with key.
func New(st *state.Store, key *Key) *Store {
	return &Store{t: state.NewTable[Record](st, bucket), key: key, now: time.Now}
}

// DataKey is the cluster's data key on this node, nil without one.
func (s *Store) DataKey() *Key { return s.key }

// Info is what may be shown of a secret: no value.
type Info struct {
	Name      string    `json:"name"`
	Size      int       `json:"size"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

func (r Record) info() Info {
	return Info{Name: r.Name, Size: r.Size, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

func (s *Store) needKey() error {
	if s.key == nil {
		return fmt.Errorf("this node has no secrets key (the cluster was created before secrets, or the key file is gone): %w", errdefs.ErrUnavailable)
	}
	return nil
}

func checkName(name string) error {
	if !ValidName(name) {
		return fmt.Errorf("secret name %q: 1 to 255 letters, digits, '_', '-' and '.', starting with a letter, digit or '_': %w", name, errdefs.ErrInvalidArgument)
	}
	return nil
}

// Create stores a new secret; ErrConflict when the name is taken
// (secrets are created once: remove and create again to change one).
func (s *Store) Create(ctx context.Context, name string, value []byte) (Info, error) {
	if err := checkName(name); err != nil {
		return Info{}, err
	}
	if len(value) == 0 || len(value) > MaxValue {
		return Info{}, fmt.Errorf("a secret's value is 1 byte to %d KiB, not %d bytes: %w", MaxValue>>10, len(value), errdefs.ErrInvalidArgument)
	}
	if err := s.needKey(); err != nil {
		return Info{}, err
	}
	all, err := s.t.List(ctx)
	if err != nil {
		return Info{}, err
	}
	if len(all) >= MaxSecrets {
		return Info{}, fmt.Errorf("the cluster keeps %d secrets at most: %w", MaxSecrets, errdefs.ErrConflict)
	}
	sealed, err := s.key.Seal(name, value)
	if err != nil {
		return Info{}, err
	}
	now := s.now().UTC()
	r := Record{Name: name, KeyID: s.key.ID(), Sealed: sealed, Size: len(value), CreatedAt: now, UpdatedAt: now}
	if _, err := s.t.Create(ctx, name, r); err != nil {
		if errdefs.IsConflict(err) {
			return Info{}, fmt.Errorf("secret %s exists: %w", name, errdefs.ErrConflict)
		}
		return Info{}, err
	}
	return r.info(), nil
}

// List returns every secret's info, by name.
func (s *Store) List(ctx context.Context) ([]Info, error) {
	all, err := s.t.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Info, 0, len(all))
	for _, e := range all {
		out = append(out, e.Value.info())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Inspect returns one secret's info.
func (s *Store) Inspect(ctx context.Context, name string) (Info, error) {
	r, err := s.get(ctx, name)
	return r.info(), err
}

func (s *Store) get(ctx context.Context, name string) (Record, error) {
	if err := checkName(name); err != nil {
		return Record{}, fmt.Errorf("secret %q not found: %w", name, errdefs.ErrNotFound)
	}
	e, err := s.t.Get(ctx, name)
	if errdefs.IsNotFound(err) {
		return Record{}, fmt.Errorf("secret %s not found: %w", name, errdefs.ErrNotFound)
	}
	return e.Value, err
}

// Remove deletes a secret.
func (s *Store) Remove(ctx context.Context, name string) error {
	if _, err := s.get(ctx, name); err != nil {
		return err
	}
	return s.t.Delete(ctx, name, 0)
}

// Value decrypts a secret's value. Only the node delivering it to a
// task calls this; the value goes to the task and nowhere else.
func (s *Store) Value(ctx context.Context, name string) ([]byte, error) {
	if err := s.needKey(); err != nil {
		return nil, err
	}
	r, err := s.get(ctx, name)
	if err != nil {
		return nil, err
	}
	if r.KeyID != s.key.ID() {
		return nil, fmt.Errorf("secret %s was sealed with key %s, this node has key %s: %w", name, r.KeyID, s.key.ID(), ErrDecrypt)
	}
	return s.key.Open(name, r.Sealed)
}

// Ref resolves what a container definition's valueFrom names: the
// secret's name, or a Secrets Manager ARN
// arn:aws:secretsmanager:<region>:<account>:secret:<name>, or an SSM
// parameter ARN arn:aws:ssm:<region>:<account>:parameter/<name> (wharf
// keeps both in one store). ErrInvalidArgument for anything else.
func Ref(valueFrom string) (string, error) {
	name := valueFrom
	if strings.HasPrefix(valueFrom, "arn:") {
		parts := strings.SplitN(valueFrom, ":", 6)
		if len(parts) != 6 {
			return "", fmt.Errorf("valueFrom %q: not a secretsmanager or ssm ARN: %w", valueFrom, errdefs.ErrInvalidArgument)
		}
		switch res := parts[5]; parts[2] {
		case "secretsmanager":
			n, ok := strings.CutPrefix(res, "secret:")
			if !ok {
				return "", fmt.Errorf("valueFrom %q: a secretsmanager ARN ends in secret:<name>: %w", valueFrom, errdefs.ErrInvalidArgument)
			}
			// Secrets Manager's ARNs may end in a JSON key and version
			// (name:json-key:version-stage:version-id); those are not kept.
			if strings.Contains(n, ":") {
				return "", fmt.Errorf("valueFrom %q: JSON keys and versions of a secret are not supported: %w", valueFrom, errdefs.ErrInvalidArgument)
			}
			name = n
		case "ssm":
			n, ok := strings.CutPrefix(res, "parameter/")
			if !ok {
				return "", fmt.Errorf("valueFrom %q: an ssm ARN ends in parameter/<name>: %w", valueFrom, errdefs.ErrInvalidArgument)
			}
			name = n
		default:
			return "", fmt.Errorf("valueFrom %q: not a secretsmanager or ssm ARN: %w", valueFrom, errdefs.ErrInvalidArgument)
		}
	}
	if !ValidName(name) {
		return "", fmt.Errorf("valueFrom %q: %q is not a secret name: %w", valueFrom, name, errdefs.ErrInvalidArgument)
	}
	return name, nil
}
