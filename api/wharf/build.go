package wharf

import "time"

// BuildRequest is the first line of the body of POST /build: the build's
// options as JSON, followed by a newline and the context as an
// uncompressed tar (with .dockerignore applied by the client).
type BuildRequest struct {
	Tags []string `json:"tags,omitempty"`
	// Dockerfile is the Dockerfile's path in the context; DockerfileContent
	// carries a Dockerfile from elsewhere (stdin, outside the context).
	Dockerfile        string             `json:"dockerfile,omitempty"`
	DockerfileContent []byte             `json:"dockerfileContent,omitempty"`
	Target            string             `json:"target,omitempty"`
	BuildArgs         map[string]*string `json:"buildArgs,omitempty"`
	Labels            map[string]string  `json:"labels,omitempty"`
	NoCache           bool               `json:"noCache,omitempty"`
	Pull              bool               `json:"pull,omitempty"`
	CacheFrom         []string           `json:"cacheFrom,omitempty"`
	// Secrets are --secret values by id; they reach only the RUN steps
	// that mount them.
	Secrets map[string][]byte `json:"secrets,omitempty"`
	// Network is the network of RUN steps: "none" (default), "host",
	// "default".
	Network string `json:"network,omitempty"`
	// ContextKey, when set, asks for a synced context: the client's
	// context (by host and directory) stays on the daemon between builds.
	// The next line of the body is then the manifest (a JSON array of
	// ContextEntry), the daemon answers a BuildNeed line first, and the
	// body goes on with a tar of exactly the files it needs.
	ContextKey string `json:"contextKey,omitempty"`
}

// ContextEntry is one file of a synced context's manifest: its path in
// the context, unix mode (type and permissions), size, modification time
// in nanoseconds and, for a symlink, its target.
type ContextEntry struct {
	Path  string `json:"p"`
	Mode  uint32 `json:"m"`
	Size  int64  `json:"s,omitempty"`
	MTime int64  `json:"t,omitempty"`
	Link  string `json:"l,omitempty"`
}

// BuildNeed is the first answer line of a synced build: the manifest
// indexes of the regular files the daemon needs sent.
type BuildNeed struct {
	Need []int `json:"need"`
}

// MaxBuildRequest bounds the first line of a build request.
const MaxBuildRequest = 16 << 20

// BuildEvent is one line of the answer of POST /build: a step's progress,
// or, last, the result (ImageID) or the failure (Error with Step 0).
type BuildEvent struct {
	Step   int       `json:"step,omitempty"`
	Total  int       `json:"total,omitempty"`
	Name   string    `json:"name,omitempty"`
	Status string    `json:"status,omitempty"` // start, cached, log, done, error
	Log    []byte    `json:"log,omitempty"`
	Stream int       `json:"stream,omitempty"`
	Error  string    `json:"error,omitempty"`
	Time   time.Time `json:"time,omitempty"`
	// ImageID and Tags come with the last event of a successful build.
	ImageID string   `json:"imageID,omitempty"`
	Tags    []string `json:"tags,omitempty"`
}

// BuildPruneResponse is the answer of POST /build/prune.
type BuildPruneResponse struct {
	Deleted        []string `json:"deleted"`
	SpaceReclaimed uint64   `json:"spaceReclaimed"`
}
