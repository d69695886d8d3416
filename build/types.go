package build

import (
	"context"
	"io"
	"time"

	"github.com/wharf-dev/wharf/engine/container"
	"github.com/wharf-dev/wharf/image/store"
)

// Images is what a build needs of the image store.
type Images interface {
	Get(ctx context.Context, refOrID string) (*store.Image, error)
	Pull(ctx context.Context, ref string, progress func(store.Progress)) (*store.Image, error)
	LayerDirs(ctx context.Context, img *store.Image) ([]string, error)
	RawConfig(ctx context.Context, id string) ([]byte, error)
	// PutLayer stores a layer made by a step; release once referenced.
	PutLayer(ctx context.Context, parentChain string, r io.Reader) (store.Layer, func(), error)
	Commit(ctx context.Context, rawConfig []byte, layers []store.Layer, o store.CommitOptions) (*store.Image, error)
	Tag(ctx context.Context, src, target string) error
	CacheGet(ctx context.Context, key string) (*store.CacheRecord, bool)
	CachePut(ctx context.Context, rec store.CacheRecord) error
	CacheRecords(ctx context.Context) []store.CacheRecord
	PruneBuildCache(ctx context.Context, inUse func(imageID string) bool) ([]string, uint64, error)
}

// Containers is what a build needs of the container engine: RUN steps
// are containers created, attached, started, waited for and removed, their
// writable layer taken on removal.
type Containers interface {
	Create(ctx context.Context, o container.CreateOptions) (*container.Container, error)
	Attach(ctx context.Context, ref string, o container.AttachOptions) error
	Start(ctx context.Context, ref string) error
	Wait(ctx context.Context, ref, condition string, registered container.WaitRegistered) (int, error)
	Remove(ctx context.Context, ref string, o container.RemoveOptions) error
	ImageInUse(imageID string) bool
}

// Options are one build's inputs.
type Options struct {
	// Context is the build context: a directory the build reads and
	// never writes (ContextFromTar makes one from a tar stream).
	Context *Context
	// Dockerfile is the Dockerfile's path in the context ("Dockerfile"
	// when empty), or, with DockerfileContent set, only its name for
	// messages.
	Dockerfile        string
	DockerfileContent []byte
	Tags              []string
	Target            string
	// BuildArgs are --build-arg values; a nil value means "take it from
	// the client's environment", which the client has done already.
	BuildArgs map[string]*string
	Labels    map[string]string
	NoCache   bool
	Pull      bool
	CacheFrom []string
	// Secrets are --secret values by id; they reach RUN steps that mount
	// them and nothing else (no layer, no history, no cache key).
	Secrets map[string][]byte
	// Network is the network of RUN steps: "none" (the default), "host"
	// or "default" (the default bridge).
	Network string
}

// Event is one thing that happened during a build, for progress displays.
// Steps are numbered from 1 in the order the Dockerfile lists them.
type Event struct {
	Step  int    // 0 for events of the whole build
	Total int    // steps of the build
	Name  string // "[stage 2/3] RUN make", BuildKit's vertex name
	// Status is one of StatusStart, StatusCached, StatusLog, StatusDone,
	// StatusError.
	Status string
	Log    []byte // output of a RUN step (StatusLog)
	Stream int    // 1 stdout, 2 stderr
	Error  string
	Time   time.Time
}

// Event statuses.
const (
	StatusStart  = "start"
	StatusCached = "cached"
	StatusLog    = "log"
	StatusDone   = "done"
	StatusError  = "error"
)

// Result is what a successful build produced.
type Result struct {
	ImageID string
	Tags    []string
}
